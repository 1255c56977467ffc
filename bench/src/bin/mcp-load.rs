//! `mcp-load (--url URL | --stdio "CMD ARGS") [--header "K: V"]… [--tool echo]
//! [--arguments JSON] [--expect TEXT] [-c N] [-d SECONDS]`: one load run; prints the
//! statistics as one JSON line on stdout and a summary on stderr.

use std::time::Duration;

use mcpproxy_bench::load::{Load, Target, run};
use mcpproxy_bench::stats::short;
use serde_json::json;

fn usage(why: &str) -> ! {
    eprintln!(
        "mcp-load: {why}\nusage: mcp-load (--url URL | --stdio \"CMD ARGS\") [--header \"K: V\"] [--tool NAME] [--arguments JSON] [--expect TEXT] [-c N] [-d SECONDS]"
    );
    #[allow(clippy::disallowed_methods)] // a command line tool ends here on bad input
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut url, mut stdio, mut headers) = (None, None, Vec::new());
    let mut load = Load {
        tool: "echo".into(),
        arguments: json!({"message": "bench"}),
        expect: "bench".into(),
        concurrency: 1,
        duration: Duration::from_secs(5),
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--url" => url = Some(value()),
            "--stdio" => stdio = Some(value()),
            "--header" => {
                let h = value();
                let (k, v) = h
                    .split_once(':')
                    .unwrap_or_else(|| usage("--header is 'Name: value'"));
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            "--tool" => load.tool = value(),
            "--arguments" => {
                load.arguments = serde_json::from_str(&value())
                    .unwrap_or_else(|e| usage(&format!("--arguments: {e}")));
            }
            "--expect" => load.expect = value(),
            "-c" | "--concurrency" => {
                load.concurrency = value()
                    .parse()
                    .unwrap_or_else(|_| usage("-c takes a number"))
            }
            "-d" | "--duration" => {
                let secs: f64 = value()
                    .parse()
                    .unwrap_or_else(|_| usage("-d takes seconds"));
                load.duration = Duration::from_secs_f64(secs);
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let target = match (url, stdio) {
        (Some(url), None) => Target::Http { url, headers },
        (None, Some(cmd)) => Target::Stdio {
            command: cmd.split_whitespace().map(str::to_owned).collect(),
        },
        _ => usage("give --url or --stdio"),
    };
    match run(&target, &load).await {
        Ok(stats) => {
            eprintln!(
                "{:.0} req/s, p50 {}, p90 {}, p99 {}, max {}, {} errors",
                stats.rps(),
                short(stats.p50),
                short(stats.p90),
                short(stats.p99),
                short(stats.max),
                stats.errors
            );
            println!("{}", stats.to_json());
        }
        Err(e) => usage(&e),
    }
}
