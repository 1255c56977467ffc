//! Registries: the recorded official-API and Docker Hub pages found and added from, the
//! built-in reference list offline, the SSRF guard, and a registry that does not answer.

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::registry::FixtureRegistry;
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, free_port};
use serde_json::{Value, json};

use crate::start;

/// The recorded registry, and a proxy whose sources are it (official API and Docker Hub
/// shapes) and a registry that does not answer, with its REST and MCP clients. Bind every
/// field: the registry and the proxy stop when dropped.
struct Setup {
    registry: FixtureRegistry,
    home: Home,
    api: Rest,
    client: Client,
    _proxy: Proxy,
}

async fn setup(allow_private: bool) -> Setup {
    let registry = FixtureRegistry::start().await;
    let config = json!({
        "allow_private_registry_fetch": allow_private,
        "registries": [
            {"id": "fixture", "name": "Fixture Registry", "url": registry.base},
            {"id": "docker-fixture", "name": "Docker Fixture", "url": registry.base,
             "servers_url": format!("{}/v2/repositories/mcp/", registry.base), "protocol": "custom/docker"},
            {"id": "dead", "name": "Dead Registry", "url": format!("http://127.0.0.1:{}", free_port())}
        ]
    });
    let (home, proxy, api) = start(&config).await;
    let client = Client::connect(&proxy.url("/mcp")).await;
    Setup {
        registry,
        home,
        api,
        client,
        _proxy: proxy,
    }
}

/// The JSON body of a tool's error answer.
fn error_body(answer: &Value) -> Value {
    assert_eq!(answer["isError"], true, "{answer}");
    serde_json::from_str(&text(answer)).unwrap()
}

fn ids(found: &Value) -> Vec<String> {
    found["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_servers_reads_every_page_skips_deprecated_entries_caches_and_names_a_silent_registry()
 {
    let Setup {
        registry,
        home,
        api,
        client,
        _proxy,
    } = setup(true).await;

    let listed = client.call_json("list_registries", json!({})).await;
    let registries = listed["registries"].as_array().unwrap();
    let find = |id: &str| registries.iter().find(|r| r["id"] == id).unwrap().clone();
    for id in ["official", "reference", "docker-mcp-catalog"] {
        assert_eq!(find(id)["provenance"], "official", "{listed}");
        assert_eq!(find(id)["trusted"], true);
    }
    assert_eq!(find("fixture")["provenance"], "custom");
    assert_eq!(find("fixture")["trusted"], false);

    let all = client
        .call_json(
            "search_servers",
            json!({"registry": "fixture", "limit": 50}),
        )
        .await;
    assert_eq!(
        ids(&all),
        [
            "io.github.upstash/context7",
            "io.github.Brody900/excel-lsp",
            "com.apify/apify-mcp-server",
            "io.github.github/github-mcp-server",
            "io.github.basicmachines-co/basic-memory"
        ],
        "both pages, without the deprecated entry"
    );
    let servers = all["servers"].as_array().unwrap();
    assert_eq!(
        servers[0]["installCmd"],
        "npx -y @upstash/context7-mcp@1.0.26"
    );
    assert_eq!(servers[1]["installCmd"], "uvx excel-lsp@0.1.0 serve");
    assert_eq!(servers[2]["url"], "https://mcp.apify.com/");
    assert_eq!(servers[2]["required_inputs"][0]["name"], "Authorization");
    assert_eq!(servers[2]["required_inputs"][0]["required"], true);

    let found = client
        .call_json(
            "search_servers",
            json!({"registry": "Fixture Registry", "search": "context7"}),
        )
        .await;
    assert_eq!(ids(&found), ["io.github.upstash/context7"]);
    // The same search again is answered from the cache; a refresh forgets it.
    let asked = registry.requests();
    client
        .call_json(
            "search_servers",
            json!({"registry": "fixture", "search": "context7"}),
        )
        .await;
    assert_eq!(registry.requests(), asked, "cached");
    let refreshed = api
        .post("/registries/fixture/refresh", &json!({}))
        .await
        .data();
    assert!(refreshed["cleared"].as_u64().unwrap() >= 2, "{refreshed}");
    api.get("/registries/fixture/servers?search=context7")
        .await
        .data();
    assert_eq!(registry.requests(), asked + 1);

    let docker = client
        .call_json(
            "search_servers",
            json!({"registry": "docker-fixture", "search": "time"}),
        )
        .await;
    assert_eq!(ids(&docker), ["time"], "found on the second page");
    assert_eq!(
        docker["servers"][0]["installCmd"],
        "docker run -i --rm mcp/time"
    );

    let cli = home
        .cli(&["registry", "search", "excel", "-r", "fixture", "-o", "json"])
        .await;
    assert_eq!(ids(&cli.json()), ["io.github.Brody900/excel-lsp"]);

    // A registry that does not answer is named in the error.
    let dead = client
        .call("search_servers", json!({"registry": "dead"}))
        .await;
    let body = error_body(&dead);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("registry \"dead\"") && message.contains("did not answer"),
        "{message}"
    );
    client.close().await;
}

#[tokio::test]
async fn add_from_registry_derives_the_command_quarantines_and_names_missing_headers() {
    let Setup {
        registry: _registry,
        home,
        api,
        client,
        _proxy,
    } = setup(true).await;

    // npm, over MCP (disabled, so nothing is downloaded or run).
    let added = client
        .call_json(
            "upstream_servers",
            json!({"operation": "add_from_registry", "registry": "fixture",
                   "id": "io.github.upstash/context7", "enabled": false}),
        )
        .await;
    assert_eq!(added["server"]["name"], "context7", "{added}");
    assert_eq!(added["server"]["quarantined"], true);
    assert_eq!(added["unset_inputs"][0]["name"], "CONTEXT7_API_KEY");
    // PyPI, over REST (the id URL-encoded).
    let pypi = api
        .post(
            "/registries/fixture/servers/io.github.Brody900%2Fexcel-lsp/add",
            &json!({"enabled": false}),
        )
        .await
        .data();
    assert_eq!(pypi["server"]["command"], "uvx");
    // And over the command line.
    home.cli(&[
        "registry",
        "add",
        "fixture",
        "io.github.basicmachines-co/basic-memory",
        "--name",
        "memory",
        "--enabled",
        "false",
    ])
    .await
    .ok();

    let saved = home.read_config();
    let server = |name: &str| {
        saved["mcpServers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} not saved: {saved}"))
            .clone()
    };
    let npm = server("context7");
    assert_eq!(npm["command"], "npx");
    assert_eq!(npm["args"], json!(["-y", "@upstash/context7-mcp@1.0.26"]));
    assert_eq!(npm["quarantined"], true);
    assert_eq!(npm["source_registry_id"], "fixture");
    let py = server("excel-lsp");
    assert_eq!(py["args"], json!(["excel-lsp@0.1.0", "serve"]));
    assert_eq!(py["quarantined"], true);
    assert_eq!(server("memory")["args"], json!(["basic-memory", "mcp"]));

    // A remote that needs a header says so, over MCP and REST, and adds nothing.
    let refused = client
        .call(
            "upstream_servers",
            json!({"operation": "add_from_registry", "registry": "fixture", "id": "com.apify/apify-mcp-server"}),
        )
        .await;
    let body = error_body(&refused);
    assert_eq!(body["code"], "missing_required_input", "{body}");
    assert_eq!(body["missing_inputs"], json!(["Authorization"]));
    let rest = api
        .post(
            "/registries/fixture/servers/com.apify%2Fapify-mcp-server/add",
            &json!({}),
        )
        .await;
    rest.refused(400, "Authorization (header)");
    assert_eq!(rest.json()["code"], "missing_required_input");
    assert_eq!(
        home.read_config()["mcpServers"].as_array().unwrap().len(),
        3
    );
    // With the header it is an HTTP server.
    let remote = client
        .call_json(
            "upstream_servers",
            json!({"operation": "add_from_registry", "registry": "fixture", "id": "com.apify/apify-mcp-server",
                   "env_json": "{\"Authorization\": \"Bearer ${env:APIFY_TOKEN}\"}", "enabled": false}),
        )
        .await;
    assert_eq!(remote["server"]["url"], "https://mcp.apify.com/");
    assert_eq!(
        remote["server"]["headers"]["Authorization"],
        "Bearer ${env:APIFY_TOKEN}"
    );
    client.close().await;
}

#[tokio::test]
async fn private_addresses_are_refused_and_sources_are_managed() {
    let Setup {
        registry,
        home,
        api,
        client,
        _proxy,
    } = setup(false).await;

    // The registry on loopback is not fetched while private fetches are not allowed.
    let refused = client
        .call(
            "search_servers",
            json!({"registry": "fixture", "search": "x"}),
        )
        .await;
    let body = error_body(&refused);
    assert_eq!(body["code"], "invalid_registry_url", "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("\"fixture\"") && message.contains("private or loopback"),
        "{message}"
    );
    assert_eq!(registry.requests(), 0, "nothing reached the registry");

    // A source at the cloud metadata address is refused when it is added.
    let metadata = api
        .post(
            "/registries",
            &json!({"url": "https://169.254.169.254/latest/meta-data"}),
        )
        .await;
    metadata.refused(400, "169.254.169.254");
    assert_eq!(metadata.json()["code"], "invalid_registry_url");
    home.cli(&["registry", "add-source", "https://10.1.2.3/"])
        .await
        .failed(1, "private or loopback");

    // A public source is added, edited and removed; the built-ins are left alone.
    let added = api
        .post(
            "/registries",
            &json!({"url": "https://registry.example.com", "name": "Example"}),
        )
        .await
        .data();
    assert_eq!(added["registry"]["id"], "registry-example-com");
    let listed = api.get("/registries").await.data();
    let custom = listed["registries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "registry-example-com")
        .cloned()
        .unwrap();
    assert_eq!(custom["provenance"], "custom");
    api.send(
        api.request(reqwest::Method::PUT, "/registries/registry-example-com")
            .json(&json!({"name": "Acme"})),
    )
    .await
    .data();
    assert_eq!(home.read_config()["registries"][3]["name"], "Acme");
    let builtin = api.delete("/registries/official").await;
    builtin.refused(409, "built-in");
    assert_eq!(builtin.json()["code"], "registry_shadows_builtin");
    api.delete("/registries/registry-example-com").await.data();

    client.close().await;
}

#[tokio::test]
async fn the_reference_servers_are_found_without_a_network_or_a_proxy() {
    let home = Home::new();
    let found = home
        .cli(&[
            "search-servers",
            "-r",
            "reference",
            "-s",
            "time",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(found["servers"][0]["installCmd"], "uvx mcp-server-time");
    let table = home.cli(&["search-servers", "--list-registries"]).await;
    for id in ["official", "reference", "docker-mcp-catalog"] {
        assert!(table.ok().contains(id), "{}", table.stdout);
    }
}
