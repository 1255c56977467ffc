//! The REST API `/api/v1`, end to end: the real binary on loopback, the fixture server and
//! our own client; each route's happy path and its documented errors, the key, request ids.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use reqwest::Method;
use serde_json::{Value, json};

use mcpproxy_tests::rest::{Rest, openapi_document};
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "rest-test-key";

fn fixture(name: &str, quarantined: bool) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name], "quarantined": quarantined})
}

/// A proxy with the trusted fixture `fx` and the quarantined fixture `q`.
async fn start(extra: &[&str]) -> (Home, Proxy, Rest) {
    let home = Home::new();
    let config = json!({"api_key": KEY, "mcpServers": [fixture("fx", false), fixture("q", true)]});
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, extra).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    let fx_ready = || async {
        let servers = api.get("/servers").await.data();
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "fx" && s["status"] == "Ready")
            .then_some(())
    };
    eventually_async("fx ready", fx_ready).await;
    (home, proxy, api)
}

fn path_for(template: &str) -> String {
    template.replace("{id}", "fx").replace("{action}", "enable")
}

#[tokio::test]
async fn every_api_route_needs_the_key_on_tcp() {
    let (_home, proxy, _) = start(&[]).await;
    let doc = openapi_document();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "the spec lists the routes: {paths:?}");
    let mut checked = 0;
    for (template, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for key in [None, Some("wrong-key")] {
                let api = Rest::new(&proxy.url(""), key);
                let answer = api
                    .send(
                        api.request(method.clone(), &path_for(template))
                            .json(&json!({})),
                    )
                    .await;
                let what = format!("{method} {template} with key {key:?}");
                assert_eq!(answer.status, 401, "{what}: {}", answer.text);
                answer.refused(401, "Invalid or missing API key");
                checked += 1;
            }
        }
    }
    println!("{checked} requests without the right key, all refused with 401");

    let open = Rest::new(&proxy.url(""), None);
    let events = open.send(open.http_get("/events")).await;
    events.refused(401, "API key");
    for health in ["/healthz", "/livez", "/readyz"] {
        let answer = open.send(open.http_get(health)).await;
        assert_eq!(answer.status, 200, "{health} is open: {}", answer.text);
    }
    let ready = open.send(open.http_get("/readyz")).await.json();
    assert_eq!(ready["status"], "ready", "{ready}");

    // The three ways to present the key.
    for request in [
        open.request(Method::GET, "/status")
            .header("X-API-Key", KEY),
        open.request(Method::GET, "/status").bearer_auth(KEY),
        open.request(Method::GET, &format!("/status?apikey={KEY}")),
    ] {
        let answer = open.send(request).await;
        assert_eq!(answer.data()["running"], true);
    }
}

#[tokio::test]
async fn request_ids_are_given_and_echoed() {
    let (_home, _proxy, api) = start(&[]).await;
    let fresh = api.get("/status").await;
    let id = fresh
        .request_id
        .clone()
        .expect("every answer has an X-Request-Id");
    assert!(!id.is_empty());
    let other = api.get("/status").await.request_id.unwrap();
    assert_ne!(id, other, "each request gets its own id");

    let mine = api
        .send(
            api.request(Method::GET, "/servers/nope")
                .header("X-Request-Id", "trace-42"),
        )
        .await;
    assert_eq!(mine.request_id.as_deref(), Some("trace-42"));
    let echoed = api
        .send(
            api.request(Method::GET, "/servers/nope/tools")
                .header("X-Request-Id", "trace-43"),
        )
        .await;
    echoed.refused(404, "nope");
    assert_eq!(echoed.json()["request_id"], "trace-43");
}

#[tokio::test]
async fn status_info_and_config() {
    let (home, proxy, api) = start(&[]).await;
    let status = api.get("/status").await.data();
    assert_eq!(status["running"], true);
    assert_eq!(status["servers"]["total"], 2);
    assert_eq!(status["servers"]["quarantined"], 1);
    assert_eq!(status["listen_addr"], proxy.addr);

    let info = api.get("/info").await.data();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["endpoints"]["http"], proxy.url(""));
    assert_eq!(info["endpoints"]["mcp"], proxy.url("/mcp"));
    let socket = home.data_dir().join("mcpproxy.sock");
    assert_eq!(info["endpoints"]["socket"], socket.display().to_string());

    let config = api.get("/config").await.data();
    assert_ne!(config["api_key"], KEY, "the key is masked: {config}");
    assert_eq!(config["mcpServers"].as_array().unwrap().len(), 2);

    // Validate: a good document, a bad one with the field named, and not JSON at all.
    let valid = api.post("/config/validate", &config).await.data();
    assert_eq!(valid, json!({"valid": true, "errors": []}));
    let bad = json!({"mcpServers": [{"name": "x"}], "listen": "nowhere"});
    let invalid = api.post("/config/validate", &bad).await.data();
    assert_eq!(invalid["valid"], false);
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"mcpServers[0].command"), "{invalid}");
    let not_json = api
        .send(
            api.request(Method::POST, "/config/validate")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    not_json.refused(400, "");

    // Apply: the masked key sent back keeps the key; a new server appears live and on disk.
    let mut next = config.clone();
    next["mcpServers"]
        .as_array_mut()
        .unwrap()
        .push(fixture("added", false));
    let applied = api.post("/config/apply", &next).await.data();
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["added"], json!(["added"]));
    let saved = home.read_config();
    assert_eq!(
        saved["api_key"], KEY,
        "the masked key did not replace the key"
    );
    assert!(
        saved["mcpServers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "added")
    );
    api.get("/servers/added/tools").await.data();
    let refused = api.post("/config/apply", &bad).await;
    refused.refused(400, "command");
    assert_eq!(
        home.read_config()["mcpServers"].as_array().unwrap().len(),
        3,
        "a refused document changes nothing"
    );
}

#[tokio::test]
async fn servers_routes_and_their_errors() {
    let (home, _proxy, api) = start(&[]).await;
    let list = api.get("/servers").await.data();
    assert_eq!(list["total"], 2);
    let fx = &list["servers"].as_array().unwrap()[0];
    for field in [
        "name",
        "enabled",
        "quarantined",
        "connected",
        "status",
        "tool_count",
    ] {
        assert!(fx.get(field).is_some(), "{field} missing: {fx}");
    }

    // Add: happy, duplicate, bad shape, not JSON.
    let added = api.post("/servers", &fixture("new", false)).await.data();
    assert_eq!(added["name"], "new");
    assert_eq!(added["quarantined"], false);
    let quarantined = api
        .post(
            "/servers",
            &json!({"name": "careful", "command": fixture_bin()}),
        )
        .await
        .data();
    assert_eq!(
        quarantined["quarantined"], true,
        "new servers start quarantined"
    );
    api.post("/servers", &fixture("new", false))
        .await
        .refused(409, "already exists");
    api.post("/servers", &json!({"name": "nothing"}))
        .await
        .refused(400, "command");
    api.post("/servers", &json!({"name": 7}))
        .await
        .refused(400, "invalid server");
    api.post("/servers", &json!({"name": "a:b", "command": "x"}))
        .await
        .refused(400, ":");
    assert!(
        home.read_config()["mcpServers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "new"),
        "saved"
    );

    // Patch.
    let patched = api
        .patch(
            "/servers/new",
            &json!({"args": ["--name", "new", "--tools", "3"]}),
        )
        .await
        .data();
    assert_eq!(patched["args"], json!(["--name", "new", "--tools", "3"]));
    api.patch("/servers/ghost", &json!({"enabled": false}))
        .await
        .refused(404, "ghost");
    api.patch("/servers/new", &json!({"url": 5}))
        .await
        .refused(400, "");

    // Actions.
    for action in [
        "disable",
        "enable",
        "restart",
        "quarantine",
        "unquarantine",
        "discover-tools",
    ] {
        let done = api.post(&format!("/servers/fx/{action}"), &json!({})).await;
        if action == "discover-tools" {
            // It needs the server connected again after the restart.
            eventually_async("fx back after restart", || async {
                let answer = api.post("/servers/fx/discover-tools", &json!({})).await;
                answer.status.is_success().then_some(())
            })
            .await;
            continue;
        }
        let done = done.data();
        assert_eq!(done["success"], true);
        assert_eq!(done["action"], action);
        assert_eq!(done["server"], "fx");
    }
    api.post("/servers/ghost/enable", &json!({}))
        .await
        .refused(404, "ghost");
    api.post("/servers/fx/explode", &json!({}))
        .await
        .refused(404, "enable, disable");

    // Bulk operations.
    let bulk = api.post("/servers/disable_all", &json!({})).await.data();
    for field in ["total", "successful", "failed", "errors"] {
        assert!(bulk.get(field).is_some(), "{field} missing: {bulk}");
    }
    assert_eq!(bulk["total"], 4);
    assert_eq!(bulk["failed"], 0);
    let servers = api.get("/servers").await.data();
    assert!(
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["enabled"] == false)
    );
    api.post("/servers/enable_all", &json!({})).await.data();
    api.post("/servers/restart_all", &json!({})).await.data();
    api.post("/servers/explode_all", &json!({}))
        .await
        .refused(404, "restart_all");

    // Tools, approval, logs.
    eventually_async("fx tools after the restart", || async {
        let tools = api.get("/servers/fx/tools").await.data();
        (tools["tools"].as_array().unwrap().len() >= 5).then_some(())
    })
    .await;
    let q_tools = eventually_async("q's tools listed for review", || async {
        let tools = api.get("/servers/q/tools").await.data();
        let tools = tools["tools"].as_array().unwrap().clone();
        (!tools.is_empty()).then_some(tools)
    })
    .await;
    assert!(
        q_tools.iter().all(|t| t["state"] != "approved"),
        "{q_tools:?}"
    );
    api.get("/servers/ghost/tools").await.refused(404, "ghost");
    let approved = api
        .post("/servers/q/tools/approve", &json!({"tools": ["echo"]}))
        .await
        .data();
    assert_eq!(approved["approved"], json!(["echo"]));
    api.post(
        "/servers/q/tools/approve",
        &json!({"tools": ["no_such_tool"]}),
    )
    .await
    .refused(404, "no_such_tool");
    api.post("/servers/ghost/tools/approve", &json!({}))
        .await
        .refused(404, "ghost");
    let logs = api.get("/servers/fx/logs?tail=5").await.data();
    let lines = logs["logs"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 5, "{logs}");
    api.get("/servers/fx/logs?tail=0")
        .await
        .refused(400, "tail");
    api.get("/servers/ghost/logs").await.refused(404, "ghost");

    // Remove.
    assert_eq!(api.delete("/servers/new").await.data()["removed"], "new");
    api.delete("/servers/new").await.refused(404, "new");
    assert!(
        !home.read_config()["mcpServers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "new"),
        "removed from the file"
    );
}

#[tokio::test]
async fn tools_search_and_calls() {
    let (_home, _proxy, api) = start(&[]).await;
    let all = eventually_async("fx's tools indexed", || async {
        let all = api.get("/tools").await.data();
        (all["tools"].as_array().unwrap().len() >= 16).then_some(all)
    })
    .await;
    let echo = all["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fx:echo" || (t["server"] == "fx" && t["name"] == "echo"))
        .unwrap_or_else(|| panic!("fx's echo listed: {all}"))
        .clone();
    assert!(echo.get("description").is_some(), "{echo}");

    let found = api
        .get("/index/search?q=echo%20message&limit=3")
        .await
        .data();
    assert_eq!(found["results"][0]["name"], "fx:echo", "{found}");
    assert!(found["results"].as_array().unwrap().len() <= 3);
    assert!(
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["server"] != "q"),
        "quarantined tools are not found: {found}"
    );
    api.get("/index/search").await.refused(400, "q is required");
    api.get("/index/search?q=echo&limit=0")
        .await
        .refused(400, "limit");

    let result = api
        .post(
            "/tools/call",
            &json!({"tool_name": "fx:echo", "arguments": {"message": "through REST"}}),
        )
        .await
        .data();
    assert_eq!(result["content"][0]["text"], "through REST", "{result}");
    api.post("/tools/call", &json!({"tool_name": "fx:missing"}))
        .await
        .refused(404, "missing");
    api.post("/tools/call", &json!({"tool_name": "no-colon"}))
        .await
        .refused(400, "server:tool");
    api.post(
        "/tools/call",
        &json!({"tool_name": "q:echo", "arguments": {"message": "x"}}),
    )
    .await
    .refused(403, "quarantine");
    api.post("/tools/call", &json!({"arguments": {}}))
        .await
        .refused(400, "tool_name");
    api.post(
        "/tools/call",
        &json!({"tool_name": "fx:slow", "arguments": {"ms": "soon"}}),
    )
    .await
    .refused(400, "ms");
}

#[tokio::test]
async fn activity_list_get_and_export() {
    let (_home, _proxy, api) = start(&[]).await;
    for message in ["one", "two", "three"] {
        api.post(
            "/tools/call",
            &json!({"tool_name": "fx:echo", "arguments": {"message": message}}),
        )
        .await
        .data();
    }
    let calls = eventually_async("three calls recorded", || async {
        let page = api
            .get("/activity?type=tool_call&server=fx&limit=2")
            .await
            .data();
        (page["total"] == 3).then_some(page)
    })
    .await;
    assert_eq!(calls["activities"].as_array().unwrap().len(), 2);
    assert_eq!(calls["limit"], 2);
    let first = &calls["activities"][0];
    assert_eq!(first["type"], "tool_call");
    assert_eq!(first["source"], "api");
    assert_eq!(first["status"], "success");
    let second_page = api
        .get("/activity?type=tool_call&limit=2&offset=2")
        .await
        .data();
    assert_eq!(second_page["activities"].as_array().unwrap().len(), 1);

    let id = first["id"].as_str().unwrap();
    let one = api.get(&format!("/activity/{id}")).await.data();
    assert_eq!(one["id"], id);
    assert_eq!(one["tool_name"], "echo");
    api.get("/activity/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .refused(404, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    api.get("/activity?type=nonsense")
        .await
        .refused(400, "type");
    api.get("/activity?limit=101").await.refused(400, "limit");
    api.get("/activity?start_time=yesterday")
        .await
        .refused(400, "start_time");

    let json_export = api.get("/activity/export?format=json&type=tool_call").await;
    assert_eq!(json_export.status, 200);
    assert!(json_export.content_type.starts_with("application/json"));
    let exported = json_export.json();
    let rows = exported
        .as_array()
        .or_else(|| exported["activities"].as_array())
        .unwrap_or_else(|| panic!("an array of records: {exported}"));
    assert_eq!(rows.len(), 3);
    let csv = api.get("/activity/export?format=csv&type=tool_call").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows: {}", csv.text);
    assert!(
        lines[0].contains("id") && lines[0].contains("tool_name"),
        "{}",
        lines[0]
    );
    api.get("/activity/export?format=xml")
        .await
        .refused(400, "format");
}

#[tokio::test]
async fn activity_retention_keeps_the_newest_records_up_to_the_cap() {
    let home = Home::new();
    let config = json!({"api_key": KEY, "activity_max_records": 3,
        "mcpServers": [fixture("fx", false)]});
    home.write_config(&config.to_string());
    let mut proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    for message in ["one", "two", "three", "four", "five"] {
        eventually_async("fx answers", || async {
            let answer = api
                .post(
                    "/tools/call",
                    &json!({"tool_name": "fx:echo", "arguments": {"message": message}}),
                )
                .await;
            (answer.status == reqwest::StatusCode::OK).then_some(())
        })
        .await;
    }
    let before = api.get("/activity?type=tool_call").await.data();
    assert!(before["total"].as_u64().unwrap() >= 5, "{before}");
    proxy.stop().await;

    // The retention is applied at start (and every ten minutes after).
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    let kept = eventually_async("the retention applied", || async {
        let page = api.get("/activity?limit=100").await.data();
        (page["total"].as_u64().unwrap() <= 4).then_some(page)
    })
    .await;
    // Kept, newest first: the new start (when written before the pruning), the stop, the
    // last call… so the newest call survives and the oldest do not.
    let messages: Vec<String> = kept["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "tool_call")
        .map(|a| a["arguments"]["message"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!messages.iter().any(|m| m == "one"), "{kept}");
    assert!(messages.iter().any(|m| m == "five"), "{kept}");
}

#[tokio::test]
async fn gated_operations_are_refused_with_403() {
    let (home, _proxy, api) = start(&["--read-only"]).await;
    let before = std::fs::read_to_string(home.config_path()).unwrap();
    api.post("/servers", &fixture("new", false))
        .await
        .refused(403, "read");
    api.delete("/servers/fx").await.refused(403, "read");
    api.patch("/servers/fx", &json!({"enabled": false}))
        .await
        .refused(403, "read");
    let config = api.get("/config").await.data();
    api.post("/config/apply", &config)
        .await
        .refused(403, "read");
    assert_eq!(
        std::fs::read_to_string(home.config_path()).unwrap(),
        before,
        "nothing was written"
    );
    // Reading still works.
    assert_eq!(api.get("/servers").await.data()["total"], 2);

    let (_home, _proxy, api) = start(&["--disable-management"]).await;
    api.post("/servers", &fixture("new", false))
        .await
        .refused(403, "management");
    api.post("/servers/fx/disable", &json!({}))
        .await
        .refused(403, "management");
}

#[tokio::test]
async fn the_spec_and_the_interactive_docs_are_served() {
    let (_home, proxy, _) = start(&[]).await;
    let open = Rest::new(&proxy.url(""), None);
    let served = open.send(open.http_get("/openapi.json")).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.json(),
        openapi_document(),
        "the served spec is the checked-in one"
    );
    let page = open.send(open.http_get("/swagger/")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    // The page's script comes from the binary, not from a CDN.
    let script = open
        .send(open.http_get("/swagger/swagger-ui-bundle.js"))
        .await;
    assert_eq!(script.status, 200);
    assert!(script.text.len() > 100_000, "the bundle is embedded");
    assert!(
        !page.text.contains("https://"),
        "nothing loaded from elsewhere: {}",
        page.text
    );
}
