//! `retrieve_tools` finds the right tool the way an agent asks for it: through the real
//! binary, with the real memory and everything servers (npm) and the recorded tool lists of
//! GitHub, GitLab, Microsoft 365 and a mail server replayed (`bench-upstream --replay`, the
//! dev set's `bench/quality/tools`), so that several servers compete for every query.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use serde_json::{Value, json};

use mcpproxy_tests::mcp::Client;
use mcpproxy_tests::upstream::{everything_js, memory_js};
use mcpproxy_tests::{Home, Proxy, bench_upstream_bin};

fn replayed(name: &str) -> Value {
    let dump = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/quality/tools");
    json!({"name": name, "command": bench_upstream_bin(),
           "args": ["--replay", format!("{dump}/{name}.json")]})
}

async fn start() -> (Home, Proxy, Client) {
    let home = Home::new();
    let config = json!({
        "mcpServers": [
            {"name": "everything", "command": "node", "args": [everything_js(), "stdio"]},
            {"name": "memory", "command": "node", "args": [memory_js()],
             "env": {"MEMORY_FILE_PATH": home.path().join("memory.json")}},
            replayed("github"), replayed("gitlab"), replayed("ms365"), replayed("email"),
        ],
        "search": {"aliases": {"email": ["fastmail"]}},
    });
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let client = Client::connect(&proxy.url("/mcp")).await;
    // Every server's tools are indexed once its first tool can be found by its id.
    for id in [
        "everything:echo",
        "memory:create_entities",
        "github:create_issue",
        "gitlab:create_issue",
        "ms365:send-mail",
        "email:send_email",
    ] {
        client.wait_for_tool(id, id).await;
    }
    (home, proxy, client)
}

async fn retrieve(client: &Client, query: &str) -> Value {
    client
        .call_json("retrieve_tools", json!({"query": query, "limit": 5}))
        .await
}

fn names(found: &Value) -> Vec<String> {
    found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn product_named_paraphrased_and_unanswerable_queries() {
    let (_home, mut proxy, client) = start().await;

    // A product named in the query wins over the same capability elsewhere.
    let found = retrieve(&client, "send an email from my Outlook").await;
    assert_eq!(names(&found)[0], "ms365:send-mail", "{:?}", names(&found));
    let found = retrieve(&client, "open a GitLab issue").await;
    assert_eq!(
        names(&found)[0],
        "gitlab:create_issue",
        "{:?}",
        names(&found)
    );
    // The alias the user gave the mail server in search.aliases.
    let found = retrieve(&client, "send a message with Fastmail").await;
    assert_eq!(names(&found)[0], "email:send_email", "{:?}", names(&found));

    // Paraphrases, none of the tool's own words.
    let found = retrieve(&client, "copy a repository into my account").await;
    assert!(
        names(&found)[..3]
            .iter()
            .any(|n| n.ends_with(":fork_repository")),
        "{:?}",
        names(&found)
    );
    let found = retrieve(&client, "which files does this pull request touch").await;
    assert!(
        names(&found)[..3]
            .iter()
            .any(|n| n == "github:get_pull_request_files" || n.ends_with("_changed_files")),
        "{:?}",
        names(&found)
    );
    assert_eq!(found["low_confidence"], false, "{}", found["confidence"]);

    // Nothing here books flights: the answer says so instead of guessing.
    let found = retrieve(&client, "book a flight to Lisbon next Tuesday").await;
    assert_eq!(found["low_confidence"], true, "{:?}", names(&found));
    assert!(
        found["confidence"].as_f64().unwrap() < 0.45,
        "{:?}",
        names(&found)
    );
    proxy.stop().await;
}

/// The default build ranks lexically only: `search.embedding_model` set in it stops the start
/// (exit 4) with an error that names the key and the cargo feature that builds the stage.
#[cfg(not(feature = "semantic"))]
#[tokio::test]
async fn a_sentence_model_in_a_build_without_the_semantic_stage_is_refused_clearly() {
    let home = Home::new();
    let model = home.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    home.write_config(
        &json!({"mcpServers": [replayed("github")], "search": {"embedding_model": model}})
            .to_string(),
    );
    let (code, stderr) = home.run_to_end(&["serve"]).await;
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("search.embedding_model")
            && stderr.contains("built without the semantic search stage")
            && stderr.contains("--features semantic"),
        "{stderr}"
    );
}

/// With `search.embedding_model` the proxy loads the model folder at start, embeds every
/// tool it indexes and fuses both rankings; a folder that holds no model stops the start
/// (exit 4) naming the key and the missing file. The model is a tiny one built here with
/// fixed weights: it proves the wiring and the fusion, not semantic quality (that is
/// measured by `scripts/search-quality --semantic DIR`, BENCHMARKS.md). Needs the binary
/// built with the stage: `cargo build -p mcpproxy -p mcp-fixture --bins --features
/// mcpproxy/semantic`, then `cargo test -p mcpproxy-tests --features semantic --test search`.
#[cfg(feature = "semantic")]
#[tokio::test]
async fn a_configured_sentence_model_is_loaded_fused_and_a_missing_one_refused() {
    let home = Home::new();
    let model = home.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    home.write_config(
        &json!({"mcpServers": [replayed("github")], "search": {"embedding_model": model}})
            .to_string(),
    );
    let (code, stderr) = home.run_to_end(&["serve"]).await;
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("search.embedding_model") && stderr.contains("config.json"),
        "{stderr}"
    );

    mcpproxy_embed::fixture::write_tiny_model(&model, false).unwrap();
    home.write_config(
        &json!({"mcpServers": [replayed("github"), replayed("gitlab"), replayed("ms365")],
                "search": {"embedding_model": model}})
        .to_string(),
    );
    let mut proxy = Proxy::start(&home, &[]).await;
    let client = Client::connect(&proxy.url("/mcp")).await;
    for id in [
        "github:create_issue",
        "gitlab:create_issue",
        "ms365:send-mail",
    ] {
        client.wait_for_tool(id, id).await;
    }
    let found = client
        .call_json(
            "retrieve_tools",
            json!({"query": "send an email from my Outlook", "limit": 10}),
        )
        .await;
    let found = names(&found);
    assert_eq!(found.len(), 10, "{found:?}");
    // The lexical vote keeps the product-named tool near the top whatever the tiny model
    // thinks; fusion reorders, it does not lose what the lexical ranking found.
    assert!(
        found[..5].contains(&"ms365:send-mail".to_owned()),
        "{found:?}"
    );
    let logs = proxy.stderr() + &std::fs::read_to_string(home.main_log()).unwrap_or_default();
    assert!(logs.contains("fused with a sentence model"), "{logs}");
    proxy.stop().await;
}
