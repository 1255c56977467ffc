//! The checked-in OpenAPI document is the one the code generates.

use std::path::PathBuf;

#[test]
fn the_checked_in_openapi_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk.trim_end() == mcpproxy_http::openapi_json().trim_end(),
        "openapi/openapi.json is stale: regenerate it with `cargo run --bin mcpproxy -- openapi > openapi/openapi.json`"
    );
}
