//! The harness measures: one second of load against the fast upstream, over HTTP and over
//! stdio, produces numbers and no errors. (No timing is asserted: speed is reported by
//! `scripts/bench`, not tested.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::time::Duration;

use mcpproxy_bench::load::{Load, Target, run};
use mcpproxy_bench::procs::{free_port, sibling, spawn};
use serde_json::json;

fn load() -> Load {
    Load {
        tool: "echo".into(),
        arguments: json!({"message": "smoke"}),
        expect: "smoke".into(),
        concurrency: 2,
        duration: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn one_second_of_load_produces_numbers() {
    let upstream = sibling("bench-upstream");
    assert!(
        upstream.exists(),
        "{} is missing: cargo build --workspace --bins",
        upstream.display()
    );
    let port = free_port();
    let server = spawn(
        "bench-upstream",
        tokio::process::Command::new(&upstream).args(["--http", &format!("127.0.0.1:{port}")]),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let target = Target::Http {
        url,
        headers: Vec::new(),
    };
    let mut stats = None;
    for _ in 0..100 {
        if let Ok(s) = run(&target, &load()).await {
            stats = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = stats.expect("the HTTP upstream answered");
    println!("HTTP: {}", http.to_json());
    assert!(http.requests > 0 && http.errors == 0, "{http:?}");
    assert!(http.p50 > Duration::ZERO && http.p99 >= http.p50 && http.max >= http.p99);
    server.stop().await;

    let stdio = run(
        &Target::Stdio {
            command: vec![upstream.display().to_string()],
        },
        &load(),
    )
    .await
    .unwrap();
    println!("stdio: {}", stdio.to_json());
    assert!(stdio.requests > 0 && stdio.errors == 0, "{stdio:?}");

    // A wrong expectation counts as an error: answers are checked, not just counted.
    let mut wrong = load();
    wrong.expect = "something else".into();
    let checked = run(
        &Target::Stdio {
            command: vec![upstream.display().to_string()],
        },
        &wrong,
    )
    .await
    .unwrap();
    assert_eq!(checked.requests, 0);
    assert!(checked.errors > 0);
}
