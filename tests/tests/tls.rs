//! HTTPS on the listener (issue 21, `tls`), against the real binary: the local CA and the
//! localhost certificate it makes on first start, clients that trust that CA and clients that
//! do not, HSTS, the certificates kept across a restart, client certificates when required,
//! the command line still reaching the proxy, and `trust-cert`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use mcpproxy_tests::mcp::Client;
use mcpproxy_tests::{Home, Proxy, fixture_bin};

const KEY: &str = "tls-test-key";
/// What Go's proxy sends, a year.
const HSTS: &str = "max-age=31536000; includeSubDomains; preload";

fn config(tls: Value, extra: Value) -> String {
    let mut config = json!({
        "api_key": KEY,
        "tls": tls,
        "mcpServers": [{"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"]}],
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn status(
    http: &reqwest::Client,
    proxy: &Proxy,
) -> Result<reqwest::Response, reqwest::Error> {
    http.get(proxy.url("/api/v1/status"))
        .header("X-API-Key", KEY)
        .send()
        .await
}

#[tokio::test]
async fn https_serves_the_local_certificate_to_clients_that_trust_the_local_ca() {
    let home = Home::new();
    home.write_config(&config(json!({"enabled": true}), json!({})));
    let certs = home.data_dir().join("certs");
    let mut proxy = Proxy::start_https(&home, &certs, &[]).await;
    let tls = proxy.tls().clone();

    // Go's file names, private: the keys never leave this user.
    assert_eq!(mode(&certs), 0o700);
    for file in [tls.ca(), tls.cert(), tls.key(), certs.join("ca.key")] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    // A client that trusts the CA gets the REST API, with HSTS.
    let trusting = tls.client(false);
    let answer = status(&trusting, &proxy).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["strict-transport-security"], HSTS);
    // The addresses the proxy gives out say https.
    let info: Value = trusting
        .get(proxy.url("/api/v1/info"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let http = info["data"]["endpoints"]["http"].as_str().unwrap();
    assert!(http.starts_with("https://"), "{info}");

    // And the MCP endpoint: an agent lists and calls tools over HTTPS.
    let agent = Client::connect_with(&proxy.url("/mcp"), tls.client(false))
        .await
        .unwrap();
    let names = agent.tool_names().await;
    assert!(names.contains(&"retrieve_tools".to_owned()), "{names:?}");
    agent.close().await;

    // A client that does not trust the CA (the system's roots only) is refused the
    // handshake, and plain HTTP gets no answer on the HTTPS port.
    let stranger = reqwest::Client::new();
    let refused = status(&stranger, &proxy).await.unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");
    let plain = format!("http://{}/healthz", proxy.addr);
    assert!(
        reqwest::get(&plain).await.is_err_and(|e| !e.is_status()),
        "plain HTTP must not be served"
    );

    // The command line still reaches it (over the unix socket) and gives https addresses.
    let shown = home.cli(&["status", "-o", "json"]).await.json();
    assert_eq!(shown["state"], "running", "{shown}");
    assert!(
        shown["endpoints"]["mcp"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{shown}"
    );

    // A restart keeps the certificates: a client that trusted the CA still does.
    let (ca, cert) = (fs::read(tls.ca()).unwrap(), fs::read(tls.cert()).unwrap());
    proxy.stop().await;
    let proxy = Proxy::start_https_on(&home, &certs, &proxy.addr.clone(), &[], |_| {}).await;
    assert_eq!(fs::read(tls.ca()).unwrap(), ca, "the CA is reused");
    assert_eq!(
        fs::read(tls.cert()).unwrap(),
        cert,
        "the certificate is reused"
    );
    assert_eq!(status(&trusting, &proxy).await.unwrap().status(), 200);
}

#[tokio::test]
async fn hsts_can_be_turned_off_and_the_certs_dir_moved() {
    let home = Home::new();
    let certs = home.path().join("elsewhere/certs");
    home.write_config(&config(
        json!({"enabled": true, "hsts": false, "certs_dir": certs}),
        json!({}),
    ));
    let proxy = Proxy::start_https(&home, &certs, &[]).await;
    let answer = status(&proxy.tls().client(false), &proxy).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("strict-transport-security").is_none());
    assert!(!home.data_dir().join("certs").exists());
}

#[tokio::test]
async fn a_client_certificate_is_required_when_configured() {
    let home = Home::new();
    // No socket: the command line must come over HTTPS too, with its certificate.
    home.write_config(&config(
        json!({"enabled": true, "require_client_cert": true}),
        json!({"enable_socket": false}),
    ));
    let certs = home.data_dir().join("certs");
    let proxy = Proxy::start_https(&home, &certs, &[]).await;
    let tls = proxy.tls();

    // Trusting the CA is not enough: the proxy wants a certificate the CA signed.
    let refused = status(&tls.client(false), &proxy).await;
    assert!(refused.is_err(), "{refused:?}");
    let answer = status(&tls.client(true), &proxy).await.unwrap();
    assert_eq!(answer.status(), 200);

    let listed = home.cli(&["upstream", "list", "-o", "json"]).await.json();
    assert!(listed.to_string().contains("\"fx\""), "{listed}");
}

#[tokio::test]
async fn the_environment_turns_https_on_as_in_go() {
    let home = Home::new();
    home.write_config(&config(json!({}), json!({})));
    let certs = home.path().join("env-certs");
    let addr = format!("127.0.0.1:{}", mcpproxy_tests::free_port());
    let proxy = Proxy::start_https_on(&home, &certs, &addr, &[], |cmd| {
        cmd.env("MCPPROXY_TLS_ENABLED", "true")
            .env("MCPPROXY_CERTS_DIR", &certs);
    })
    .await;
    let answer = status(&proxy.tls().client(false), &proxy).await.unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn trust_cert_prints_the_ca_and_makes_it_once() {
    let home = Home::new();
    home.write_config(&config(json!({}), json!({})));
    let first = home.cli(&["trust-cert", "-o", "json"]).await.json();
    let ca = home.data_dir().join("certs/ca.pem");
    assert_eq!(first["ca_cert"], ca.display().to_string());
    assert_eq!(first["created"], true);
    assert_eq!(first["tls_enabled"], false);
    assert_eq!(first["installed"], Value::Null);
    assert_eq!(first["pem"], fs::read_to_string(&ca).unwrap());
    assert!(
        first["pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let again = home.cli(&["trust-cert"]).await;
    let text = again.ok();
    assert!(text.contains(&ca.display().to_string()), "{text}");
    assert!(text.contains("NODE_EXTRA_CA_CERTS"), "{text}");
    assert!(
        !text.contains("Made a new local CA"),
        "the CA is made once: {text}"
    );
}
