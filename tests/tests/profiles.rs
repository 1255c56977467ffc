//! Profiles end to end (issue 21), against the real binary and real stdio servers: a profile
//! endpoint lists, searches and calls only its servers (a call elsewhere refused with the
//! admission rule's reason), an unknown slug answers 404 with the profiles there are,
//! `set_profile` narrows one session, a token pinned to a profile reaches nothing else, the
//! REST routes list profiles and keep the UI's default, and a config reload changes a profile
//! for the sessions already open.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use reqwest::Method;
use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::{EventStream, Rest};
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "profiles-test-admin-key";

fn server(name: &str) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name], "quarantined": false})
}

/// The config: servers `fx` and `other`, profiles `dev` (fx, and a server that does not
/// exist) and `ops` (other).
fn config(profiles: Value) -> Value {
    json!({
        "api_key": KEY,
        "mcpServers": [server("fx"), server("other")],
        "profiles": profiles,
    })
}

fn two_profiles() -> Value {
    json!([
        {"name": "dev", "servers": ["fx", "ghost"]},
        {"name": "ops", "servers": ["other"]},
    ])
}

async fn start() -> (Home, Proxy, Rest) {
    let home = Home::new();
    home.write_config(&config(two_profiles()).to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    eventually_async("both servers ready with their tools indexed", || async {
        let tools = api.get("/tools").await.data();
        let ready = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["enabled"] == true && t["name"] == "echo")
            .count();
        (ready == 2).then_some(())
    })
    .await;
    eventually_async("both servers' tools searchable", || async {
        let found = api
            .get("/index/search?q=echo+message&limit=50")
            .await
            .data();
        let mut servers: Vec<&str> = found["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["server"].as_str())
            .collect();
        servers.sort_unstable();
        servers.dedup();
        (servers == ["fx", "other"]).then_some(())
    })
    .await;
    (home, proxy, api)
}

/// The servers of a `retrieve_tools` answer, sorted, once each.
fn servers_of(found: &Value) -> Vec<String> {
    let mut servers: Vec<String> = found["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("not a search answer: {found}"))
        .iter()
        .map(|t| t["server"].as_str().unwrap_or_default().to_owned())
        .collect();
    servers.sort();
    servers.dedup();
    servers
}

async fn search(client: &Client) -> Vec<String> {
    let found = client
        .call_json(
            "retrieve_tools",
            json!({"query": "echo message", "limit": 50}),
        )
        .await;
    servers_of(&found)
}

async fn echo(client: &Client, server: &str) -> Value {
    client
        .call(
            "call_tool_read",
            json!({"name": format!("{server}:echo"), "args": {"message": format!("hi {server}")}}),
        )
        .await
}

/// A raw `initialize` POST to `path`, as any MCP client would open a session.
async fn initialize(proxy: &Proxy, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(proxy.url(path))
        .header("Accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "profiles-test", "version": "1"}}}),
        );
    if let Some(b) = bearer {
        request = request.bearer_auth(b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test]
async fn a_profile_endpoint_lists_searches_and_calls_only_its_servers() {
    let (_home, proxy, api) = start().await;
    let dev = Client::connect(&proxy.url("/mcp/p/dev")).await;
    let offered = dev.tool_names().await;
    for tool in ["retrieve_tools", "call_tool_read", "set_profile"] {
        assert!(offered.contains(&tool.to_owned()), "{offered:?}");
    }
    // Under a profile nobody administers: the management tools are not offered.
    assert!(
        !offered.contains(&"upstream_servers".to_owned()),
        "{offered:?}"
    );

    assert_eq!(search(&dev).await, ["fx"]);
    let all = Client::connect(&proxy.url("/mcp/call")).await;
    assert_eq!(search(&all).await, ["fx", "other"]);

    let ok = echo(&dev, "fx").await;
    assert_eq!(text(&ok), "hi fx", "{ok}");
    let refused = echo(&dev, "other").await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("profile 'dev'"), "{refused}");
    let described = dev
        .call_json("describe_tool", json!({"tool_ids": ["other:echo"]}))
        .await;
    assert_eq!(described["definitions"], json!([]), "{described}");

    // The refusal is the admission rule's, with its reason code, and is recorded as such.
    let activity = api.get("/activity?type=tool_call&limit=50").await.data();
    let records = activity["activities"].as_array().unwrap();
    let blocked = records
        .iter()
        .find(|r| r["server_name"] == "other")
        .unwrap_or_else(|| panic!("the refused call is recorded: {activity}"));
    assert_eq!(blocked["status"], "blocked", "{blocked}");
    assert_eq!(blocked["metadata"]["profile"], "dev", "{blocked}");
    assert_eq!(blocked["metadata"]["reason_code"], "SERVER_NOT_IN_SCOPE");
    let done = records.iter().find(|r| r["server_name"] == "fx").unwrap();
    assert_eq!(done["metadata"]["profile"], "dev", "{done}");

    // REST lists both profiles with their configured servers; the unknown one is skipped.
    let listed = api.get("/profiles").await.data();
    let profiles = listed["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2, "{listed}");
    assert_eq!(profiles[0]["name"], "dev");
    assert_eq!(profiles[0]["servers"], json!(["fx"]));
    assert_eq!(profiles[1]["servers"], json!(["other"]));
    let fx_tools = api.get("/servers/fx/tools").await.data();
    let fx_count = fx_tools["tools"].as_array().map_or(0, Vec::len);
    assert!(fx_count > 0, "{fx_tools}");
    assert_eq!(profiles[0]["tool_count"], fx_count, "{listed}");
}

#[tokio::test]
async fn an_unknown_slug_is_404_with_the_available_profiles() {
    let (_home, proxy, api) = start().await;
    let (status, body) = initialize(&proxy, "/mcp/p/nope", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body,
        json!({"error": "unknown profile 'nope'", "available": ["dev", "ops"]})
    );
    let (status, _) = initialize(&proxy, "/mcp/p/dev", None).await;
    assert_eq!(status, 200);

    // Bad, reserved and duplicate names are refused with the key they are at.
    let mut bad = config(json!([
        {"name": "Dev", "servers": []},
        {"name": "code", "servers": []},
        {"name": "ops", "servers": []},
        {"name": "ops", "servers": []},
    ]));
    bad["api_key"] = json!(KEY);
    let checked = api.post("/config/validate", &bad).await.data();
    assert_eq!(checked["valid"], false, "{checked}");
    let fields: Vec<&str> = checked["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["profiles[0].name", "profiles[1].name", "profiles[3].name"],
        "{checked}"
    );
}

#[tokio::test]
async fn set_profile_narrows_one_session_until_cleared() {
    let (_home, proxy, _api) = start().await;
    let session = Client::connect(&proxy.url("/mcp/call")).await;
    let other_session = Client::connect(&proxy.url("/mcp/call")).await;

    let chosen = session
        .call_json("set_profile", json!({"profile": "ops"}))
        .await;
    assert_eq!(
        chosen,
        json!({"active_profile": "ops", "servers": ["other"]})
    );
    assert_eq!(search(&session).await, ["other"]);
    let refused = echo(&session, "fx").await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("profile 'ops'"), "{refused}");
    assert_eq!(text(&echo(&session, "other").await), "hi other");
    // Another session is not affected.
    assert_eq!(search(&other_session).await, ["fx", "other"]);

    let unknown = session
        .call("set_profile", json!({"profile": "nope"}))
        .await;
    assert_eq!(unknown["isError"], true);
    assert_eq!(
        text(&unknown),
        "unknown profile 'nope' (available: dev, ops)"
    );
    // A profile URL outranks the session's choice.
    let dev = Client::connect(&proxy.url("/mcp/p/dev")).await;
    dev.call_json("set_profile", json!({"profile": "ops"}))
        .await;
    assert_eq!(search(&dev).await, ["fx"]);

    let cleared = session
        .call_json("set_profile", json!({"profile": ""}))
        .await;
    assert_eq!(
        cleared,
        json!({"active_profile": "", "servers": ["fx", "other"]})
    );
    assert_eq!(search(&session).await, ["fx", "other"]);
}

#[tokio::test]
async fn a_token_pinned_to_a_profile_cannot_reach_other_servers() {
    let (home, proxy, api) = start().await;
    let created = home
        .cli(&[
            "token",
            "create",
            "--name",
            "dev-agent",
            "--servers",
            "*",
            "--permissions",
            "read",
            "--profile-pin",
            "dev",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(created["profile_pin"], "dev", "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    home.cli(&[
        "token",
        "create",
        "--name",
        "x",
        "--servers",
        "*",
        "--permissions",
        "read",
        "--profile-pin",
        "nope",
    ])
    .await
    .failed(1, "profile \"nope\" is not configured");
    let listed = home.cli(&["token", "list"]).await;
    assert!(listed.ok().contains("PROFILE PIN"), "{}", listed.ok());

    // The base endpoint is the pinned profile, whatever the session chooses.
    let agent = Client::connect_as(&proxy.url("/mcp/call"), &token)
        .await
        .unwrap();
    assert_eq!(search(&agent).await, ["fx"]);
    assert_eq!(text(&echo(&agent, "fx").await), "hi fx");
    let refused = echo(&agent, "other").await;
    assert_eq!(refused["isError"], true, "{refused}");
    let switched = agent.call("set_profile", json!({"profile": "ops"})).await;
    assert_eq!(switched["isError"], true);
    assert!(
        text(&switched).contains("pinned to profile 'dev'"),
        "{switched}"
    );
    assert_eq!(search(&agent).await, ["fx"]);
    let cleared = agent.call_json("set_profile", json!({"profile": ""})).await;
    assert_eq!(cleared, json!({"active_profile": "dev", "servers": ["fx"]}));

    // Another profile's URL is forbidden; its own works.
    let (status, body) = initialize(&proxy, "/mcp/p/ops", Some(&token)).await;
    assert_eq!(status, 403, "{body}");
    let own = Client::connect_as(&proxy.url("/mcp/p/dev"), &token)
        .await
        .unwrap();
    assert_eq!(search(&own).await, ["fx"]);

    // The refusal is the admission rule's, recorded with its reason code and the agent.
    let activity = api
        .get("/activity?type=tool_call&agent=dev-agent&limit=50")
        .await
        .data();
    let blocked = activity["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["server_name"] == "other")
        .unwrap_or_else(|| panic!("the refused call is recorded: {activity}"));
    assert_eq!(blocked["status"], "blocked", "{blocked}");
    assert_eq!(blocked["metadata"]["reason_code"], "SERVER_NOT_IN_SCOPE");
    assert_eq!(blocked["metadata"]["profile"], "dev", "{blocked}");

    // REST reads are bounded by the pin too.
    let as_agent = Rest::new(&proxy.url(""), Some(&token));
    let found = as_agent
        .get("/index/search?q=echo+message&limit=50")
        .await
        .data();
    let servers: Vec<&str> = found["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"))
        .iter()
        .filter_map(|r| r["server"].as_str())
        .collect();
    assert!(
        !servers.is_empty() && servers.iter().all(|s| *s == "fx"),
        "{found}"
    );

    let tools = as_agent.get("/tools").await.data();
    let listed: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["server"].as_str())
        .collect();
    assert!(
        !listed.is_empty() && listed.iter().all(|s| *s == "fx"),
        "{tools}"
    );

    // The admin's view is unchanged.
    let admin = api
        .post(
            "/tools/call",
            &json!({"tool_name": "other:echo", "arguments": {"message": "admin"}}),
        )
        .await
        .data();
    assert!(admin.to_string().contains("admin"), "{admin}");
}

#[tokio::test]
async fn the_default_profile_is_set_over_rest_and_announced() {
    let (_home, _proxy, api) = start().await;
    assert_eq!(
        api.get("/profiles/active").await.data(),
        json!({"active_profile": ""})
    );
    let mut events = EventStream::open(&api).await;
    let put = |body: Value| {
        let api = api.clone();
        async move {
            api.send(api.request(Method::PUT, "/profiles/active").json(&body))
                .await
        }
    };
    let set = put(json!({"profile": "ops"})).await.data();
    assert_eq!(set, json!({"active_profile": "ops"}));
    events
        .until("active_profile.changed", |d| {
            d["payload"]["active_profile"] == "ops"
        })
        .await;
    assert_eq!(
        api.get("/profiles/active").await.data(),
        json!({"active_profile": "ops"})
    );
    put(json!({"profile": "nope"}))
        .await
        .refused(404, "unknown profile 'nope'");
    // The Go proxy's other spelling, and clearing.
    let cleared = put(json!({"active_profile": ""})).await.data();
    assert_eq!(cleared, json!({"active_profile": ""}));
}

#[tokio::test]
async fn a_config_reload_changes_a_profile_live() {
    let (home, proxy, _api) = start().await;
    let dev = Client::connect(&proxy.url("/mcp/p/dev")).await;
    assert_eq!(search(&dev).await, ["fx"]);

    // dev now names `other` instead of `fx`: the open session follows.
    home.write_config(
        &config(json!([{"name": "dev", "servers": ["other"]}, {"name": "ops", "servers": []}]))
            .to_string(),
    );
    eventually_async("the open session sees the new profile", || async {
        (search(&dev).await == ["other"]).then_some(())
    })
    .await;
    assert_eq!(echo(&dev, "fx").await["isError"], true);
    // An empty profile reaches nothing.
    let ops = Client::connect(&proxy.url("/mcp/p/ops")).await;
    assert_eq!(search(&ops).await, Vec::<String>::new());

    // Without profiles, the profile URLs are gone.
    home.write_config(&config(json!([])).to_string());
    eventually_async("the profiles are gone", || async {
        let (status, body) = initialize(&proxy, "/mcp/p/dev", None).await;
        (status == 404 && body == json!({"error": "no profiles configured"})).then_some(())
    })
    .await;
}
