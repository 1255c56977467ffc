//! Activity summaries, usage, the tool-call history and replay (issue 21, item 4), against
//! the real binary and the fixture server: the numbers add up to the records `activity list`
//! shows, in every grouping; a replay reaches the upstream again, is recorded, and is
//! refused under `read_only_mode` when the tool could change something.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::collections::BTreeMap;

use serde_json::{Value, json};

use mcpproxy_tests::mcp::{Client, text};
use mcpproxy_tests::rest::Rest;
use mcpproxy_tests::{Home, Proxy, eventually_async, fixture_bin};

const KEY: &str = "summary-test-key";

fn fixture(name: &str, quarantined: bool) -> Value {
    json!({"name": name, "command": fixture_bin(), "args": ["--name", name], "quarantined": quarantined})
}

/// A proxy with the trusted fixture `fx` (its tools indexed) and the quarantined `q`.
async fn start(extra: &[&str]) -> (Home, Proxy, Rest) {
    let home = Home::new();
    let config = json!({"api_key": KEY, "mcpServers": [fixture("fx", false), fixture("q", true)]});
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, extra).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    eventually_async("fx ready with its tools", || async {
        let tools = api.get("/tools?server=fx").await.data();
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo" && t["enabled"] == true)
            .then_some(())
    })
    .await;
    (home, proxy, api)
}

/// Calls `tool` through REST as `api`'s caller; the answer's HTTP status (the answers are
/// printed, for a failure's report).
async fn call(api: &Rest, tool: &str, arguments: Value, timeout: Option<&str>) -> u16 {
    let mut body = json!({"tool_name": tool, "arguments": arguments});
    if let Some(t) = timeout {
        body["timeout"] = json!(t);
    }
    let answer = api.post("/tools/call", &body).await;
    println!("{tool}: {} {}", answer.status, answer.text);
    answer.status.as_u16()
}

/// The id of the newest `tool_call` record of `fx:<tool>`.
async fn call_id(api: &Rest, tool: &str) -> String {
    let page = api
        .get(&format!(
            "/activity?type=tool_call&server=fx&tool={tool}&limit=1"
        ))
        .await
        .data();
    page["activities"][0]["id"].as_str().unwrap().to_owned()
}

/// The fixture's count of the tool calls it has received (this one included).
async fn fixture_calls(api: &Rest) -> u64 {
    let answer = api
        .post("/tools/call", &json!({"tool_name": "fx:call_count"}))
        .await
        .data();
    answer["content"][0]["text"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

/// Every tool_call record `GET /activity` lists between `start` and `end`.
async fn listed(api: &Rest, start: &str, end: &str) -> Vec<Value> {
    let page = api
        .get(&format!(
            "/activity?type=tool_call&limit=100&start_time={start}&end_time={end}"
        ))
        .await
        .data();
    assert!(count(&page["total"]) <= 100);
    page["activities"].as_array().unwrap().clone()
}

/// The records counted by `key` (`null` for none), as a summary's groups should be.
fn tally(records: &[Value], key: impl Fn(&Value) -> Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in records {
        *out.entry(key(r).to_string()).or_default() += 1;
    }
    out
}

fn groups(summary: &Value) -> BTreeMap<String, u64> {
    summary["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("groups: {summary}"))
        .iter()
        .map(|g| (g["name"].to_string(), count(&g["count"])))
        .collect()
}

#[tokio::test]
async fn summaries_and_usage_add_up_to_the_recorded_calls_in_every_grouping() {
    let (home, proxy, api) = start(&[]).await;
    let created = home
        .cli(&[
            "token",
            "create",
            "--name",
            "bot",
            "--servers",
            "fx",
            "--permissions",
            "read",
            "-o",
            "json",
        ])
        .await
        .json();
    let bot = Client::connect_as(&proxy.url("/mcp/call"), created["token"].as_str().unwrap())
        .await
        .unwrap();

    // Nine calls: five succeed (two of them the agent's), two time out at the upstream,
    // one has bad arguments, one is on a quarantined server.
    for m in ["a", "b", "c"] {
        assert_eq!(
            call(&api, "fx:echo", json!({"message": m}), None).await,
            200
        );
    }
    for m in ["d", "e"] {
        let answer = bot
            .call(
                "call_tool_read",
                json!({"name": "fx:echo", "args": {"message": m}}),
            )
            .await;
        assert_eq!(text(&answer), m, "{answer}");
    }
    for _ in 0..2 {
        let status = call(&api, "fx:slow", json!({"ms": 5000}), Some("200ms")).await;
        assert!(status >= 500, "a timeout fails: {status}");
    }
    assert_eq!(
        call(&api, "fx:slow", json!({"ms": "soon"}), None).await,
        400
    );
    assert_eq!(
        call(&api, "q:echo", json!({"message": "x"}), None).await,
        403
    );

    let summary = eventually_async("nine calls counted", || async {
        let s = api
            .get("/activity/summary?type=tool_call&group_by=status")
            .await
            .data();
        (s["total_count"] == 9).then_some(s)
    })
    .await;
    assert_eq!(summary["period"], "24h");
    let (start, end) = (
        summary["start_time"].as_str().unwrap().to_owned(),
        summary["end_time"].as_str().unwrap().to_owned(),
    );
    let records = listed(&api, &start, &end).await;
    assert_eq!(records.len(), 9, "the list holds what the summary counts");
    let by_status = tally(&records, |r| r["status"].clone());
    assert_eq!(groups(&summary), by_status);
    for (status, field) in [
        ("success", "success_count"),
        ("error", "error_count"),
        ("blocked", "blocked_count"),
        ("rejected", "rejected_count"),
    ] {
        let listed = by_status
            .get(&format!("\"{status}\""))
            .copied()
            .unwrap_or(0);
        assert_eq!(count(&summary[field]), listed, "{field}: {summary}");
    }
    assert_eq!(
        (
            count(&summary["success_count"]),
            count(&summary["error_count"]),
            count(&summary["blocked_count"]),
            count(&summary["rejected_count"])
        ),
        (5, 2, 1, 1),
        "{summary}"
    );
    assert_eq!(summary["top_servers"][0], json!({"name": "fx", "count": 8}));
    assert_eq!(
        summary["top_tools"][0],
        json!({"server": "fx", "tool": "echo", "count": 5})
    );

    // Every grouping adds up to the same records.
    let key_of = |by: &str, r: &Value| -> Value {
        match by {
            "server" => r["server_name"].clone(),
            "tool" => json!(format!(
                "{}:{}",
                r["server_name"].as_str().unwrap(),
                r["tool_name"].as_str().unwrap()
            )),
            _ => r["metadata"]["_auth_agent"].clone(),
        }
    };
    for by in ["server", "tool", "agent"] {
        let grouped = api
            .get(&format!("/activity/summary?type=tool_call&group_by={by}"))
            .await
            .data();
        assert_eq!(grouped["group_by"], by);
        assert_eq!(grouped["total_count"], 9);
        assert_eq!(groups(&grouped), tally(&records, |r| key_of(by, r)), "{by}");
    }
    let agents = api
        .get("/activity/summary?type=tool_call&group_by=agent")
        .await
        .data();
    assert_eq!(
        groups(&agents),
        BTreeMap::from([("\"bot\"".to_owned(), 2), ("null".to_owned(), 7)])
    );

    // The command line shows the same numbers; a bad period is a usage error (exit 1: our
    // usage errors never exit 2, which means "port in use").
    let cli = home
        .cli(&[
            "activity",
            "summary",
            "-t",
            "tool_call",
            "--by",
            "agent",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(cli["total_count"], 9);
    assert_eq!(groups(&cli), groups(&agents));
    let table = home
        .cli(&["activity", "summary", "-t", "tool_call", "--by", "server"])
        .await;
    let shown = table.ok();
    assert!(shown.contains("Activity Summary (last 24h)"), "{shown}");
    assert!(
        shown.contains("Errors") && shown.contains("2 (22.2%)"),
        "{shown}"
    );
    assert!(shown.contains("fx:echo"), "{shown}");
    home.cli(&["activity", "summary", "-p", "2h"])
        .await
        .failed(1, "2h");
    api.get("/activity/summary?period=2h")
        .await
        .refused(400, "period");
    api.get("/activity/summary?group_by=colour")
        .await
        .refused(400, "group_by");

    // Usage: per tool, calls that ran, their latency and sizes.
    let usage = api.get("/activity/usage?sort=calls").await.data();
    assert_eq!(usage["window"], "24h");
    assert_eq!(usage["token_source"], "bytes");
    assert!(usage["tokens_saved"].is_u64(), "{usage}");
    let tools = usage["tools"].as_array().unwrap();
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| {
                format!(
                    "{}:{}",
                    t["server"].as_str().unwrap(),
                    t["tool"].as_str().unwrap()
                ) == name
            })
            .unwrap_or_else(|| panic!("{name} in {usage}"))
            .clone()
    };
    let echo = tool("fx:echo");
    assert_eq!((count(&echo["calls"]), count(&echo["errors"])), (5, 0));
    assert_eq!(count(&echo["sized_calls"]), 5);
    assert!(count(&echo["total_resp_bytes"]) > 0);
    assert_eq!(
        count(&echo["avg_resp_bytes"]),
        count(&echo["total_resp_bytes"]) / 5
    );
    let (p50, p95, p99) = (
        count(&echo["p50_ms"]),
        count(&echo["p95_ms"]),
        count(&echo["p99_ms"]),
    );
    assert!(p50 <= p95 && p95 <= p99, "{echo}");
    let slow = tool("fx:slow");
    assert_eq!(
        (
            count(&slow["calls"]),
            count(&slow["errors"]),
            count(&slow["rejected"])
        ),
        (2, 2, 1)
    );
    assert_eq!(slow["error_rate"], 1.0);
    let quarantined = tool("q:echo");
    assert_eq!(
        (count(&quarantined["calls"]), count(&quarantined["blocked"])),
        (0, 1)
    );
    assert!(quarantined["avg_resp_bytes"].is_null());
    let totals = &usage["totals"];
    assert_eq!(
        count(&totals["calls"]),
        count(&summary["success_count"]) + count(&summary["error_count"])
    );
    assert_eq!(count(&totals["errors"]), count(&summary["error_count"]));
    assert_eq!(count(&totals["blocked"]), 1);
    assert_eq!(count(&totals["rejected"]), 1);
    let timeline: u64 = usage["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| count(&b["calls"]))
        .sum();
    assert_eq!(timeline, count(&totals["calls"]));
    let top_one = api.get("/activity/usage?top=1&sort=calls").await.data();
    assert_eq!(top_one["tools"].as_array().unwrap().len(), 1);
    assert_eq!(top_one["other"]["tools_folded"], 2);
    api.get("/activity/usage?window=1y")
        .await
        .refused(400, "window");

    // Export leaves the bodies out unless asked.
    let bare = export(&home, &[]).await;
    assert_eq!(bare.len(), 9);
    assert!(
        bare.iter()
            .all(|r| r.get("arguments").is_none() && r.get("response").is_none()),
        "{bare:?}"
    );
    let full = export(&home, &["--include-bodies"]).await;
    assert!(
        full.iter().any(|r| r["arguments"]["message"] == "a"),
        "{full:?}"
    );
}

/// `activity export -t tool_call --output FILE <extra>`: the records written.
async fn export(home: &Home, extra: &[&str]) -> Vec<Value> {
    let file = home.path().join("calls.json");
    let mut args = vec![
        "activity",
        "export",
        "-t",
        "tool_call",
        "--output",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    home.cli(&args).await.ok();
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

#[tokio::test]
async fn the_history_lists_a_servers_calls_and_a_replay_runs_one_again() {
    let (_home, _proxy, api) = start(&[]).await;
    assert_eq!(
        call(&api, "fx:echo", json!({"message": "first"}), None).await,
        200
    );
    assert_eq!(
        call(&api, "fx:delete_item", json!({"id": "a1"}), None).await,
        200
    );
    let history = eventually_async("two calls in fx's history", || async {
        let h = api.get("/servers/fx/tool-calls").await.data();
        (h["total"] == 2).then_some(h)
    })
    .await;
    assert_eq!(history["server_name"], "fx");
    let calls = history["tool_calls"].as_array().unwrap();
    let find = |name: &str| {
        calls
            .iter()
            .find(|c| c["tool_name"] == name)
            .unwrap_or_else(|| panic!("{name} in {history}"))
            .clone()
    };
    let (delete, echo) = (find("delete_item"), find("echo"));
    assert_eq!(delete["arguments"], json!({"id": "a1"}));
    assert_eq!(delete["status"], "success");
    assert_eq!(delete["execution_type"], "direct");
    assert_eq!(
        count(&delete["duration"]),
        count(&delete["duration_ms"]) * 1_000_000
    );
    assert_eq!(delete["response"]["content"][0]["text"], "deleted a1");
    let echo_id = echo["id"].as_str().unwrap();
    assert_eq!(
        api.get(&format!("/tool-calls/{echo_id}")).await.data(),
        echo
    );
    let all = api.get("/tool-calls?limit=1").await.data();
    assert_eq!(
        (
            count(&all["total"]),
            all["tool_calls"].as_array().unwrap().len()
        ),
        (2, 1)
    );
    api.get("/servers/nope/tool-calls")
        .await
        .refused(404, "nope");
    api.get("/tool-calls/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .refused(404, "01ARZ3NDEKTSV4RRFFQ69G5FAV");

    // The replay reaches the fixture: its call count moves by the replay and the count
    // call itself.
    let before = fixture_calls(&api).await;
    let replayed = api
        .post(&format!("/tool-calls/{echo_id}/replay"), &json!({}))
        .await
        .data();
    assert_eq!(fixture_calls(&api).await, before + 2);
    assert_eq!(replayed["success"], true, "{replayed}");
    assert_eq!(replayed["replayed_from"], echo_id);
    let new = &replayed["new_tool_call"];
    assert_eq!(new["id"], replayed["new_call_id"]);
    assert_eq!(new["replayed_from"], echo_id);
    assert_eq!(new["response"]["content"][0]["text"], "first");
    assert_eq!(new["source"], "api");
    // With other arguments, and with no body at all.
    let changed = api
        .post(
            &format!("/tool-calls/{echo_id}/replay"),
            &json!({"arguments": {"message": "second"}}),
        )
        .await
        .data();
    assert_eq!(
        changed["new_tool_call"]["response"]["content"][0]["text"],
        "second"
    );
    let bare = api
        .send(api.request(
            reqwest::Method::POST,
            &format!("/tool-calls/{echo_id}/replay"),
        ))
        .await
        .data();
    assert_eq!(
        bare["new_tool_call"]["arguments"],
        json!({"message": "first"})
    );
    // Each replay is a record of its own, naming the call it replayed.
    let replays = api.get("/activity?type=tool_call&tool=echo").await.data()["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["metadata"]["replayed_from"] == echo_id)
        .count();
    assert_eq!(replays, 3);
    // Bad arguments are refused by the tool's schema, as for any call.
    api.post(
        &format!("/tool-calls/{echo_id}/replay"),
        &json!({"arguments": {"message": 5}}),
    )
    .await
    .refused(400, "message");
    api.post("/tool-calls/01ARZ3NDEKTSV4RRFFQ69G5FAV/replay", &json!({}))
        .await
        .refused(404, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
}

#[tokio::test]
async fn read_only_mode_refuses_to_replay_a_destructive_call_but_not_a_read() {
    let (_home, _proxy, api) = start(&["--read-only"]).await;
    assert_eq!(
        call(&api, "fx:delete_item", json!({"id": "a1"}), None).await,
        200
    );
    assert_eq!(
        call(&api, "fx:echo", json!({"message": "hi"}), None).await,
        200
    );
    let history = eventually_async("two calls recorded", || async {
        let h = api.get("/servers/fx/tool-calls").await.data();
        (h["total"] == 2).then_some(h)
    })
    .await;
    assert_eq!(history["tool_calls"].as_array().unwrap().len(), 2);
    let delete_id = call_id(&api, "delete_item").await;
    let echo_id = call_id(&api, "echo").await;

    let before = fixture_calls(&api).await;
    let refused = api
        .post(&format!("/tool-calls/{delete_id}/replay"), &json!({}))
        .await;
    refused.refused(403, "read_only_mode");
    assert_eq!(refused.json()["code"], "READ_ONLY_MODE");
    assert_eq!(
        fixture_calls(&api).await,
        before + 1,
        "the fixture never saw the refused replay"
    );
    let blocked = api
        .get("/activity?type=tool_call&status=blocked")
        .await
        .data();
    let record = &blocked["activities"][0];
    assert_eq!(record["tool_name"], "delete_item", "{blocked}");
    assert_eq!(record["metadata"]["replayed_from"], delete_id.as_str());
    assert_eq!(record["metadata"]["reason_code"], "READ_ONLY_MODE");

    let read = api
        .post(&format!("/tool-calls/{echo_id}/replay"), &json!({}))
        .await
        .data();
    assert_eq!(
        read["success"], true,
        "re-running a read changes nothing: {read}"
    );
}
