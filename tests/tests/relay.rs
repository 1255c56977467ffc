//! The protocol relayed beyond what the conformance suite covers: sampling, elicitation and
//! progress through the aggregated endpoints, prompts and resources of two servers behind
//! one endpoint (names and URIs routed to their owners), the quarantine gate on all of it,
//! a server's own endpoint across an upstream restart, and 404 for a dead session.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports
#![allow(deprecated)] // sampling is deprecated by SEP-2577 and still relayed

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, Implementation,
    ProgressNotificationParam, ReadResourceRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};

use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::upstream::everything_js;
use mcpproxy_tests::{Home, Proxy, conformance_bin, eventually_async};

/// An agent that answers sampling and elicitation and notes what it was asked and told.
#[derive(Debug, Clone, Default)]
struct Agent {
    asked: Arc<Mutex<Vec<Value>>>,
    progress: Arc<Mutex<Vec<Value>>>,
}

impl ClientHandler for Agent {
    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities =
            serde_json::from_value(json!({"sampling": {}, "elicitation": {}})).unwrap();
        ClientConfig::new(capabilities, Implementation::new("relay-test-agent", "1"))
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.asked
            .lock()
            .unwrap()
            .push(serde_json::to_value(&params).unwrap());
        Ok(
            serde_json::from_value(json!({"model": "test-llm", "role": "assistant",
            "content": {"type": "text", "text": "sampled by the agent"}}))
            .unwrap(),
        )
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.asked
            .lock()
            .unwrap()
            .push(serde_json::to_value(&params).unwrap());
        Ok(serde_json::from_value(json!({"action": "accept",
            "content": {"username": "ada", "email": "ada@example.com"}}))
        .unwrap())
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress
            .lock()
            .unwrap()
            .push(serde_json::to_value(&params).unwrap());
    }
}

async fn connect(url: &str) -> (Agent, RunningService<RoleClient, Agent>) {
    let agent = Agent::default();
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    let running = agent.clone().serve(transport).await.unwrap();
    (agent, running)
}

async fn call(client: &RunningService<RoleClient, Agent>, tool: &str, args: Value) -> Value {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = args.as_object().cloned();
    serde_json::to_value(client.call_tool(params).await.unwrap()).unwrap()
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A proxy with the conformance server `conf`, server-everything `everything` (both
/// trusted) and a quarantined conformance server `held`; `conf` and `everything` ready.
/// The servers' prompts are aggregated (`aggregate_upstream_prompts`, off by default).
async fn proxy() -> (Home, Proxy, Rest) {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "aggregate_upstream_prompts": true, "mcpServers": [
            {"name": "conf", "command": conformance_bin(), "quarantined": false},
            {"name": "everything", "command": "node", "args": [everything_js(), "stdio"], "quarantined": false},
            {"name": "held", "command": conformance_bin(), "quarantined": true}
        ]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    eventually_async("conf and everything ready", || async {
        let servers = api.get("/servers").await.data();
        let ready = servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "Ready" && s["name"] != "held")
            .count();
        (ready == 2).then_some(())
    })
    .await;
    (home, proxy, api)
}

#[tokio::test]
async fn sampling_elicitation_and_progress_reach_the_agent_through_the_aggregated_endpoints() {
    let (_home, proxy, _api) = proxy().await;
    let (agent, all) = connect(&proxy.url("/mcp/all")).await;

    let sampled = call(
        &all,
        "conf__test_sampling",
        json!({"prompt": "What is 2+2?"}),
    )
    .await;
    assert_eq!(
        text(&sampled),
        "LLM response: sampled by the agent",
        "{sampled}"
    );
    let asked = agent.asked.lock().unwrap()[0].clone();
    assert_eq!(
        asked["messages"][0]["content"]["text"], "What is 2+2?",
        "{asked}"
    );

    let elicited = call(
        &all,
        "conf__test_elicitation",
        json!({"message": "Who are you?"}),
    )
    .await;
    assert!(text(&elicited).contains("ada@example.com"), "{elicited}");
    assert_eq!(agent.asked.lock().unwrap()[1]["message"], "Who are you?");

    call(&all, "conf__test_tool_with_progress", json!({})).await;
    let progress = agent.progress.lock().unwrap().clone();
    assert!(
        progress.len() >= 3,
        "three progress notifications: {progress:?}"
    );
    let values: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");

    // The retrieve mode relays too: sampling during call_tool_read.
    let (agent, retrieve) = connect(&proxy.url("/mcp/call")).await;
    let read = call(
        &retrieve,
        "call_tool_read",
        json!({"name": "conf:test_sampling", "args": {"prompt": "again"}}),
    )
    .await;
    assert_eq!(text(&read), "LLM response: sampled by the agent", "{read}");
    assert_eq!(agent.asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_agent_without_sampling_gets_a_clear_refusal_not_a_hang() {
    let (_home, proxy, _api) = proxy().await;
    let client = mcpproxy_tests::mcp::Client::connect(&proxy.url("/mcp/all")).await;
    let result = client
        .call("conf__test_sampling", json!({"prompt": "hello"}))
        .await;
    let said = result.to_string();
    assert!(
        said.contains("does not support sampling/createMessage"),
        "the refusal names what is missing: {said}"
    );
}

#[tokio::test]
async fn prompts_and_resources_of_two_servers_are_routed_to_their_owners() {
    let (_home, proxy, _api) = proxy().await;
    let (_agent, all) = connect(&proxy.url("/mcp/all")).await;

    let prompts: Vec<String> = all
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    assert!(
        prompts.contains(&"conf__test_simple_prompt".to_owned()),
        "{prompts:?}"
    );
    assert!(
        prompts.contains(&"everything__simple-prompt".to_owned()),
        "{prompts:?}"
    );
    assert!(
        !prompts.iter().any(|p| p.starts_with("held__")),
        "quarantined: {prompts:?}"
    );
    let mut get = rmcp::model::GetPromptRequestParams::new("conf__test_prompt_with_arguments");
    get.arguments = json!({"arg1": "one", "arg2": "two"}).as_object().cloned();
    let prompt = serde_json::to_value(all.get_prompt(get).await.unwrap()).unwrap();
    assert!(prompt.to_string().contains("arg1='one'"), "{prompt}");

    let resources: Vec<String> = all
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert!(
        resources.contains(&"test://static-text".to_owned()),
        "{resources:?}"
    );
    let theirs = resources
        .iter()
        .find(|u| u.starts_with("demo://"))
        .unwrap_or_else(|| panic!("server-everything's resources are listed: {resources:?}"))
        .clone();
    let read = |uri: String| all.read_resource(ReadResourceRequestParams::new(uri));
    let ours = serde_json::to_value(read("test://static-text".into()).await.unwrap()).unwrap();
    assert_eq!(
        ours["contents"][0]["text"],
        "This is the content of the static text resource."
    );
    let everything = serde_json::to_value(read(theirs.clone()).await.unwrap()).unwrap();
    assert_eq!(
        everything["contents"][0]["uri"],
        theirs.as_str(),
        "{everything}"
    );
    // A URI no listed resource has, but the template of one server fits.
    let templated =
        serde_json::to_value(read("test://template/42/data".into()).await.unwrap()).unwrap();
    assert!(
        templated["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("42")
    );
    let unknown = read("nowhere://x".into()).await.unwrap_err().to_string();
    assert!(unknown.contains("no server offers"), "{unknown}");
}

#[tokio::test]
async fn a_servers_own_endpoint_is_that_server_and_survives_its_restart() {
    let (_home, proxy, api) = proxy().await;
    let (_agent, conf) = connect(&proxy.url("/mcp/server/conf")).await;
    let info = serde_json::to_value(conf.peer().peer_info().unwrap()).unwrap();
    assert_eq!(info["serverInfo"]["name"], "mcp-conformance", "{info}");
    assert!(
        info["instructions"]
            .as_str()
            .unwrap()
            .contains("conformance suite")
    );
    assert!(info["capabilities"]["prompts"].is_object(), "{info}");
    let tools: Vec<String> = conf
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        tools.contains(&"test_simple_text".to_owned()),
        "original names: {tools:?}"
    );

    api.post("/servers/conf/restart", &json!({})).await.data();
    let again = eventually_async("a call after the restart", || async {
        let mut params = CallToolRequestParams::new("test_simple_text");
        params.arguments = Some(serde_json::Map::new());
        conf.call_tool(params)
            .await
            .ok()
            .filter(|r| r.is_error != Some(true))
    })
    .await;
    assert!(
        serde_json::to_value(again)
            .unwrap()
            .to_string()
            .contains("simple text")
    );

    // A quarantined server's endpoint relays nothing.
    let (_agent, held) = connect(&proxy.url("/mcp/server/held")).await;
    let refused = held.list_all_tools().await.unwrap_err().to_string();
    assert!(refused.contains("quarantined"), "{refused}");
}

#[tokio::test]
async fn a_dead_or_unknown_session_gets_404() {
    let (_home, proxy, _api) = proxy().await;
    let http = reqwest::Client::new();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let post = |url: String, session: &str| {
        http.post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .json(&ping)
            .send()
    };
    for path in ["/mcp/server/conf", "/mcp/all", "/mcp"] {
        let answer = post(proxy.url(path), "no-such-session").await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
    // A session that ended is unknown too.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let opened = http
        .post(proxy.url("/mcp/server/conf"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(opened);
    let closed = http
        .delete(proxy.url("/mcp/server/conf"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    let after = post(proxy.url("/mcp/server/conf"), &session).await.unwrap();
    assert_eq!(after.status(), 404, "a deleted session is gone");

    let unknown_server = post(proxy.url("/mcp/server/ghost"), "x").await.unwrap();
    assert_eq!(unknown_server.status(), 404);
    let body: Value = unknown_server.json().await.unwrap();
    assert!(body.to_string().contains("no server named"), "{body}");
}

#[tokio::test]
async fn a_client_that_cancels_a_call_cancels_it_upstream() {
    let home = Home::new();
    home.write_config(
        &json!({"api_key": "k", "mcpServers": [
            {"name": "fx", "command": mcpproxy_tests::fixture_bin(), "args": ["--name", "fx"], "quarantined": false}
        ]})
        .to_string(),
    );
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some("k"));
    eventually_async("fx ready", || async {
        let servers = api.get("/servers").await.data();
        (servers["servers"][0]["status"] == "Ready").then_some(())
    })
    .await;
    let (_agent, fx) = connect(&proxy.url("/mcp/server/fx")).await;
    let mut params = CallToolRequestParams::new("hang");
    params.arguments = Some(serde_json::Map::new());
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::Request::new(params));
    let handle = fx
        .peer()
        .send_cancellable_request(request, rmcp::service::PeerRequestOptions::default())
        .await
        .unwrap();
    // Once the server works on the call, give up on it.
    eventually_async("the server working on the call", || async {
        let logs = api.get("/servers/fx/logs?tail=50").await.data();
        Some(()).filter(|()| logs.to_string().contains("hang: never answering"))
    })
    .await;
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    let line = eventually_async("the upstream hears the cancellation", || async {
        let logs = api.get("/servers/fx/logs?tail=50").await.data();
        logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .find(|l| l.contains("cancelled request"))
            .map(str::to_owned)
    })
    .await;
    assert!(line.contains("cancelled"), "{line}");
    // The server is still there for the next call.
    let next = call(&fx, "echo", json!({"message": "still here"})).await;
    assert_eq!(text(&next), "still here");
}
