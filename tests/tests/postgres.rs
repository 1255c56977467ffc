//! The proxy on PostgreSQL (issue 23): the real binary with its state in a real PostgreSQL
//! server that each test starts (initdb and pg_ctl in a temp directory, as `nobody` when the
//! tests run as root) and stops. One proxy keeps approvals and activity across restarts with no
//! database file of its own; two replicas on one database share approvals (a change seen or an
//! approval given through one holds on the other, through LISTEN/NOTIFY) and one activity log,
//! each naming itself; readiness follows the database while calls that do not need it keep
//! working.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_test_postgres::TestPostgres;
use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::upstream::Background;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "k";

/// A config with the HTTP fixture `web` (trusted), shared by every replica.
fn config(web: &Background, extra: Value) -> String {
    let mut config = json!({"api_key": KEY, "mcpServers": [
        {"name": "web", "url": web.url("/mcp"), "protocol": "streamable-http", "quarantined": false}
    ]});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

/// `mcpproxy serve` with its state in the database at `url` (through the environment, as a
/// container would get it) and `replica` as its name.
async fn start(home: &Home, url: Option<&str>, replica: &str) -> Proxy {
    let (url, replica) = (url.map(str::to_owned), replica.to_owned());
    Proxy::start_with(home, &[], move |cmd| {
        if let Some(url) = url {
            cmd.env("MCPPROXY_DATABASE_URL", url);
        }
        cmd.env("MCPPROXY_REPLICA_ID", replica);
    })
    .await
}

fn api(proxy: &Proxy) -> Rest {
    Rest::new(&proxy.url(""), Some(KEY))
}

/// Waits until the replica is connected to `web`.
async fn wait_ready(api: &Rest) {
    eventually_async("web ready", || async {
        let servers = api.get("/servers").await.data();
        servers["servers"]
            .as_array()?
            .iter()
            .any(|s| s["name"] == "web" && s["status"] == "Ready")
            .then_some(())
    })
    .await;
}

async fn echo_state(api: &Rest) -> Option<String> {
    let tools = api.get("/servers/web/tools").await.data();
    tools["tools"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "echo")
        .map(|t| t["state"].as_str().unwrap().to_owned())
}

async fn wait_echo(api: &Rest, state: &str) {
    eventually_async(&format!("echo {state}"), || async {
        (echo_state(api).await.as_deref() == Some(state)).then_some(())
    })
    .await;
}

/// Calls `web:echo` through `proxy`; `Ok` with the answer, `Err` with the refusal's code.
async fn echo(proxy: &Proxy, message: &str) -> Result<String, String> {
    let client = Client::connect(&proxy.url("/mcp/all")).await;
    let result = client.call("web__echo", json!({"message": message})).await;
    client.close().await;
    if result["isError"] == true {
        let body: Value = serde_json::from_str(&text(&result)).unwrap_or(Value::Null);
        Err(body["status"]
            .as_str()
            .map_or_else(|| text(&result), str::to_owned))
    } else {
        Ok(text(&result))
    }
}

/// Changes echo's description at the fixture (through `proxy`, whose session hears the
/// change): a new version that needs a person's approval.
async fn change_echo(proxy: &Proxy, version: u32) {
    let client = Client::connect(&proxy.url("/mcp/all")).await;
    let changed = client
        .call(
            "web__set_description",
            json!({"name": "echo", "description": format!("Echo, version {version}")}),
        )
        .await;
    assert_ne!(changed["isError"], true, "{changed}");
    client.close().await;
}

/// The tool calls of the shared log, newest first, as `(replica_id, message)`.
async fn tool_calls(api: &Rest) -> Vec<(String, String)> {
    let list = api.get("/activity?type=tool_call&limit=100").await.data();
    list["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tool_name"] == "echo")
        .map(|r| {
            (
                r["metadata"]["replica_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                r["arguments"]["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_on_postgresql_keeps_approvals_and_activity_across_restarts_with_no_database_file()
{
    let pg = TestPostgres::start();
    let url = pg.create_database("solo");
    let web = Background::fixture_http("web", &[]);
    let home = Home::new();
    // Here the URL comes from the config file, with the pool's size.
    home.write_config(&config(
        &web,
        json!({"storage": {"url": url, "pool_size": 3}}),
    ));
    let mut proxy = start(&home, None, "solo").await;
    let rest = api(&proxy);
    wait_echo(&rest, "approved").await;

    let status = rest.get("/status").await.data();
    assert_eq!(status["storage"], "postgres", "{status}");
    assert_eq!(status["replica_id"], "solo", "{status}");

    change_echo(&proxy, 2).await;
    wait_echo(&rest, "changed").await;
    assert_eq!(echo(&proxy, "early").await, Err("TOOL_QUARANTINED".into()));
    let approved = rest
        .post("/servers/web/tools/approve", &json!({"tools": ["echo"]}))
        .await
        .data();
    assert_eq!(approved["approved"], json!(["echo"]));
    assert_eq!(
        echo(&proxy, "before the restart").await,
        Ok("before the restart".into())
    );
    assert!(
        tool_calls(&rest)
            .await
            .contains(&("solo".into(), "before the restart".into())),
        "the call is recorded with the replica's name"
    );
    proxy.stop().await;

    let proxy = start(&home, None, "solo").await;
    let rest = api(&proxy);
    wait_ready(&rest).await;
    assert_eq!(
        echo_state(&rest).await.as_deref(),
        Some("approved"),
        "the approval of version 2 is read back from PostgreSQL"
    );
    assert_eq!(
        echo(&proxy, "after the restart").await,
        Ok("after the restart".into())
    );
    let calls = tool_calls(&rest).await;
    for message in ["before the restart", "after the restart"] {
        assert!(
            calls.contains(&("solo".into(), message.into())),
            "{message}: {calls:?}"
        );
    }
    assert!(
        !home.data_dir().join("mcpproxy.db").exists(),
        "no SQLite database is made when PostgreSQL holds the state"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_database_share_approvals_and_one_activity_log() {
    let pg = TestPostgres::start();
    let url = pg.create_database("team");
    let web = Background::fixture_http("web", &[]);
    let (home_a, home_b) = (Home::new(), Home::new());
    home_a.write_config(&config(&web, json!({})));
    home_b.write_config(&config(&web, json!({})));
    // Started together: the schema is made once, under PostgreSQL's advisory lock.
    let (a, mut b) = tokio::join!(
        start(&home_a, Some(&url), "replica-a"),
        start(&home_b, Some(&url), "replica-b")
    );
    let (rest_a, rest_b) = (api(&a), api(&b));
    wait_echo(&rest_a, "approved").await;
    wait_echo(&rest_b, "approved").await;
    assert_eq!(
        rest_a.get("/status").await.data()["replica_id"],
        "replica-a"
    );
    assert_eq!(
        rest_b.get("/status").await.data()["replica_id"],
        "replica-b"
    );
    assert_eq!(echo(&a, "one").await, Ok("one".into()));
    assert_eq!(echo(&b, "two").await, Ok("two".into()));

    // The tool changes at the server. Only a's connection hears it; a records the change,
    // and b learns it from the database (LISTEN/NOTIFY): both refuse the new version.
    change_echo(&a, 2).await;
    wait_echo(&rest_a, "changed").await;
    wait_echo(&rest_b, "changed").await;
    assert_eq!(echo(&a, "x").await, Err("TOOL_QUARANTINED".into()));
    assert_eq!(echo(&b, "x").await, Err("TOOL_QUARANTINED".into()));

    // Approved through a's REST: callable through a at once, and through b once the notice
    // is in (no restart).
    rest_a
        .post("/servers/web/tools/approve", &json!({"tools": ["echo"]}))
        .await
        .data();
    assert_eq!(echo(&a, "three").await, Ok("three".into()));
    wait_echo(&rest_b, "approved").await;
    assert_eq!(echo(&b, "four").await, Ok("four".into()));

    // A replica that restarts reads the approval back from the database.
    b.stop().await;
    let b = start(&home_b, Some(&url), "replica-b").await;
    let rest_b = api(&b);
    wait_ready(&rest_b).await;
    assert_eq!(echo_state(&rest_b).await.as_deref(), Some("approved"));
    assert_eq!(echo(&b, "five").await, Ok("five".into()));

    // One log: each replica's calls, each with its name, read through either replica
    // (another replica's records show once its writer's batch is in, within milliseconds).
    let expected: Vec<(String, String)> = [
        ("replica-a", "one"),
        ("replica-b", "two"),
        ("replica-a", "three"),
        ("replica-b", "four"),
        ("replica-b", "five"),
    ]
    .into_iter()
    .map(|(r, m)| (r.to_owned(), m.to_owned()))
    .collect();
    for rest in [&rest_a, &rest_b] {
        eventually_async("every replica's calls in the log", || async {
            let calls = tool_calls(rest).await;
            expected.iter().all(|e| calls.contains(e)).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_postgresql_while_calls_that_do_not_need_it_keep_working() {
    let mut pg = TestPostgres::start();
    let url = pg.create_database("outage");
    // A local (stdio) server: its calls need nothing of the database. (An HTTP server's
    // transport reads its OAuth state from the database on every request, so its calls
    // fail while the database is down; see the closing note of issue 23.)
    let home = Home::new();
    home.write_config(
        &json!({"api_key": KEY, "mcpServers": [
            {"name": "web", "command": fixture_bin(), "args": ["--name", "web"], "quarantined": false}
        ]})
        .to_string(),
    );
    let proxy = start(&home, Some(&url), "r").await;
    let rest = api(&proxy);
    wait_echo(&rest, "approved").await;
    let open = Rest::new(&proxy.url(""), None);
    let probe = |path: &'static str| {
        let open = &open;
        async move { open.send(open.http_get(path)).await }
    };
    assert_eq!(probe("/readyz").await.status, 200);

    pg.stop_server();
    let ready = probe("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    let storage = ready.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "storage")
        .cloned()
        .unwrap();
    assert_eq!(storage["ok"], false, "{storage}");
    assert_eq!(probe("/healthz").await.status, 200, "alive all the same");
    // The catalog and the upstream are in memory: calls go on.
    assert_eq!(echo(&proxy, "during").await, Ok("during".into()));
    // Reading the log needs the database: a clear failure, not a hang or an empty list.
    let log = rest.get("/activity?limit=5").await;
    assert!(log.status.is_server_error(), "{}", log.text);
    assert_eq!(log.json()["success"], false, "{}", log.text);

    pg.start_server();
    eventually_async("ready again", || async {
        (probe("/readyz").await.status == 200).then_some(())
    })
    .await;
    assert_eq!(echo(&proxy, "after").await, Ok("after".into()));
    assert!(
        tool_calls(&rest)
            .await
            .contains(&("r".into(), "after".into()))
    );
}
