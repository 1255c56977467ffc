//! `bench [--duration SECONDS] [--quick] [--write FILE] [--peers DIR]`: every benchmark
//! scenario of mcpproxy in one run, printed as Markdown tables (ratios to the direct
//! baseline, measured in the same run), and written between the markers of `FILE`
//! (BENCHMARKS.md) when asked. `scripts/bench` builds the release binaries, installs the
//! peers and runs this.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mcpproxy_bench::load::{Load, Target, list_all_tools, run};
use mcpproxy_bench::peers::{self, Peer};
use mcpproxy_bench::procs::{
    Proxy, Running, cpu_time, free_port, memory_text, sibling, spawn, spawn_with_stderr,
};
use mcpproxy_bench::search;
use mcpproxy_bench::stats::{Stats, short};
use serde_json::{Value, json};
use tokio::process::Command;

struct Options {
    duration: Duration,
    quick: bool,
    write: Option<PathBuf>,
    peers: Option<PathBuf>,
    /// Scenarios to run (by the start of their name); all when empty.
    only: Vec<String>,
}

fn options() -> Options {
    let mut o = Options {
        duration: Duration::from_secs(5),
        quick: false,
        write: None,
        peers: None,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                o.duration = Duration::from_secs_f64(
                    args.next().and_then(|s| s.parse().ok()).unwrap_or(5.0),
                );
            }
            "--quick" => {
                o.quick = true;
                o.duration = Duration::from_secs(1);
            }
            "--write" => o.write = args.next().map(PathBuf::from),
            "--peers" => o.peers = args.next().map(PathBuf::from),
            "--only" => o.only.extend(args.next()),
            other => eprintln!("bench: ignoring unknown argument {other}"),
        }
    }
    o
}

fn echo(message: &str) -> Value {
    json!({"message": message})
}

fn load(
    tool: &str,
    arguments: Value,
    expect: &str,
    concurrency: usize,
    duration: Duration,
) -> Load {
    Load {
        tool: tool.to_owned(),
        arguments,
        expect: expect.to_owned(),
        concurrency,
        duration,
    }
}

fn http(url: String) -> Target {
    Target::Http {
        url,
        headers: Vec::new(),
    }
}

/// One row of a throughput table; `cpu`: the proxy's CPU time over the run, if it was the
/// proxy that was measured.
fn row(
    out: &mut String,
    label: &str,
    c: usize,
    s: &Result<Stats, String>,
    base: Option<&Stats>,
    cpu: Option<Duration>,
) {
    match s {
        Ok(s) => {
            let (overhead, ratio) = match base {
                Some(b) => (
                    format!("+{}", short(s.p50.saturating_sub(b.p50))),
                    format!("{:.0} %", 100.0 * s.rps() / b.rps().max(1e-9)),
                ),
                None => ("—".into(), "100 %".into()),
            };
            let cpu = cpu.map_or_else(
                || "—".to_owned(),
                |t| short(t / u32::try_from(s.requests.max(1)).unwrap_or(u32::MAX)),
            );
            let _ = writeln!(
                out,
                "| {label} | {c} | {:.0} | {} | {} | {} | {} | {} | {overhead} | {ratio} | {cpu} |",
                s.rps(),
                short(s.p50),
                short(s.p90),
                short(s.p99),
                short(s.max),
                s.errors
            );
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "| {label} | {c} | failed: {} | | | | | | | | |",
                e.replace('|', "/")
            );
        }
    }
}

const HEADER: &str = "| path | concurrency | req/s | p50 | p90 | p99 | max | errors | p50 over direct | throughput vs direct | proxy CPU per call |\n|---|---|---|---|---|---|---|---|---|---|---|\n";

/// The fast upstream over HTTP on a free port, once it takes requests; and its URL.
async fn http_upstream(work: &str) -> Result<(Running, String), String> {
    let port = free_port();
    let upstream = spawn(
        "bench-upstream",
        Command::new(sibling("bench-upstream")).args([
            "--http",
            &format!("127.0.0.1:{port}"),
            "--work",
            work,
        ]),
    )?;
    let url = format!("http://127.0.0.1:{port}/mcp");
    until_ok_post(&url).await?;
    Ok((upstream, url))
}

/// `tools/call` through the proxy against the same upstream called directly; `work`: the
/// CPU milliseconds the upstream spends per call ("0": the harsh case, where only the
/// proxy's own cost shows; "1": a server doing some real work). With work, only the
/// direct-mode path is run (the three paths differ by the proxy's cost alone).
async fn overhead(o: &Options, out: &mut String, work: &str) -> Result<(), String> {
    let upstream_bin = sibling("bench-upstream");
    let (upstream, direct_url) = http_upstream(work).await?;
    let servers = json!([
        {"name": "h", "url": direct_url, "protocol": "streamable-http", "quarantined": false},
        {"name": "s", "command": upstream_bin, "args": ["--work", work], "quarantined": false}
    ]);
    let pid = |p: &Proxy| p.process.pid();
    let (proxy, _) = Proxy::start(&sibling("mcpproxy"), servers).await?;
    proxy
        .until_servers_ready(2, Duration::from_secs(30))
        .await?;
    let levels: &[usize] = if o.quick { &[1, 16] } else { &[1, 16, 64] };
    let worked = work != "0";
    let levels: &[usize] = if worked { &[16, 64] } else { levels };
    for (kind, name) in [("stdio", "s"), ("streamable HTTP", "h")] {
        let title = if worked {
            format!("`tools/call` of a {kind} upstream spending {work} ms of CPU per call")
        } else {
            format!("`tools/call` of a {kind} upstream")
        };
        let _ = write!(out, "\n### {title}\n\n{HEADER}");
        for &c in levels {
            let direct = match kind {
                "stdio" => Target::Stdio {
                    command: vec![
                        upstream_bin.display().to_string(),
                        "--work".into(),
                        work.into(),
                    ],
                },
                _ => http(direct_url.clone()),
            };
            let base = run(
                &direct,
                &load("echo", echo("direct"), "direct", c, o.duration),
            )
            .await;
            row(out, "direct to the upstream", c, &base, None, None);
            let base = base.ok();
            let paths = [
                (
                    "through `/mcp/all` (direct mode)",
                    proxy.mcp("/mcp/all"),
                    format!("{name}__echo"),
                    echo("all"),
                ),
                (
                    "through `/mcp`, `call_tool_read`",
                    proxy.mcp("/mcp"),
                    "call_tool_read".to_owned(),
                    json!({"name": format!("{name}:echo"), "args": echo("all")}),
                ),
                (
                    "through `/mcp/server/<name>`",
                    proxy.mcp(&format!("/mcp/server/{name}")),
                    "echo".to_owned(),
                    echo("all"),
                ),
            ];
            let paths = if worked { &paths[..1] } else { &paths[..] };
            for (label, url, tool, arguments) in paths {
                let before = cpu_time(pid(&proxy));
                let s = run(
                    &http(url.clone()),
                    &load(tool, arguments.clone(), "all", c, o.duration),
                )
                .await;
                let cpu = before
                    .zip(cpu_time(pid(&proxy)))
                    .map(|(b, a)| a.saturating_sub(b));
                row(out, label, c, &s, base.as_ref(), cpu);
            }
        }
    }
    proxy.process.stop().await;
    upstream.stop().await;
    Ok(())
}

/// Waits until an MCP endpoint takes POSTs (any answer).
async fn until_ok_post(url: &str) -> Result<(), String> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if http.post(url).body("{}").send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{url} never answered"))
}

async fn peer_scenarios(o: &Options, out: &mut String) -> Result<(), String> {
    let (upstream, upstream_url) = http_upstream("0").await?;
    let levels: &[usize] = if o.quick { &[16] } else { &[1, 16, 64] };
    let _ = write!(
        out,
        "\n### The same HTTP upstream behind each proxy\n\n{HEADER}"
    );
    let mut baseline = Vec::new();
    for &c in levels {
        let s = run(
            &http(upstream_url.clone()),
            &load("echo", echo("peer"), "peer", c, o.duration),
        )
        .await;
        row(out, "direct to the upstream", c, &s, None, None);
        baseline.push(s.ok());
    }
    let servers = json!([{"name": "h", "url": upstream_url, "protocol": "streamable-http", "quarantined": false}]);
    let (proxy, _) = Proxy::start(&sibling("mcpproxy"), servers).await?;
    proxy
        .until_servers_ready(1, Duration::from_secs(30))
        .await?;
    let mut ours = Vec::new();
    for (i, &c) in levels.iter().enumerate() {
        let before = cpu_time(proxy.process.pid());
        let s = run(
            &http(proxy.mcp("/mcp/all")),
            &load("h__echo", echo("peer"), "peer", c, o.duration),
        )
        .await;
        let cpu = before
            .zip(cpu_time(proxy.process.pid()))
            .map(|(b, a)| a.saturating_sub(b));
        row(
            out,
            "mcpproxy (`/mcp/all`)",
            c,
            &s,
            baseline[i].as_ref(),
            cpu,
        );
        ours.push(s.ok());
    }
    proxy.process.stop().await;
    let mut notes = String::new();
    // The best Python peer's throughput at each concurrency, for the "10x" target.
    let mut best_python = vec![0.0f64; levels.len()];
    for peer in peers::all(o.peers.as_deref()) {
        match start_peer(&peer, &upstream_url).await {
            Ok((running, target)) => {
                for (i, &c) in levels.iter().enumerate() {
                    let s = run(
                        &target,
                        &load(&peer.tool, echo("peer"), "peer", c, o.duration),
                    )
                    .await;
                    if let Ok(s) = &s
                        && !peer.name.starts_with("mcp-hub")
                    {
                        best_python[i] = best_python[i].max(s.rps());
                    }
                    row(out, &peer.name, c, &s, baseline[i].as_ref(), None);
                }
                running.stop().await;
            }
            Err(e) => {
                let _ = writeln!(out, "| {} | — | did not run | | | | | | | |", peer.name);
                let _ = writeln!(notes, "- {}: {}", peer.name, e.replace('\n', " "));
            }
        }
    }
    let _ = writeln!(out);
    for (i, &c) in levels.iter().enumerate() {
        if let Some(ours) = &ours[i]
            && best_python[i] > 0.0
        {
            let _ = writeln!(
                out,
                "- concurrency {c}: mcpproxy {:.0} req/s = {:.1}× the best Python peer ({:.0} req/s)",
                ours.rps(),
                ours.rps() / best_python[i],
                best_python[i]
            );
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nPeers that did not run:\n\n{notes}");
    }
    upstream.stop().await;
    Ok(())
}

async fn start_peer(peer: &Peer, upstream: &str) -> Result<(Running, Target), String> {
    let port = free_port();
    let mut command = peer.command(upstream, port)?;
    // The peer's stderr goes to a file, so a peer that fails says why in the report.
    let log = std::env::temp_dir().join(format!("mcpproxy-bench-peer-{port}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut running = spawn_with_stderr(&peer.name, &mut command, file)?;
    let target = peer.target(port);
    let probe = load(
        &peer.tool,
        echo("ready"),
        "ready",
        1,
        Duration::from_millis(200),
    );
    let started = Instant::now();
    // A peer is ready when a session opens and the tool answers.
    let outcome = loop {
        let last = match run(&target, &probe).await {
            Ok(s) if s.requests > 0 => break Ok(()),
            Ok(s) => format!("{} failed calls", s.errors),
            Err(e) => e,
        };
        if let Ok(Some(status)) = running.child.try_wait() {
            break Err(format!("exited with {status}"));
        }
        if started.elapsed() > Duration::from_secs(60) {
            break Err(format!("did not answer a call within 60 s (last: {last})"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match outcome {
        Ok(()) => Ok((running, target)),
        Err(e) => {
            running.stop().await;
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!("{e}; stderr ends: {}", tail.join(" / ")))
        }
    }
}

/// Waits until `load`'s call gets a good answer from `target`.
async fn until_good(target: &Target, load: &Load, within: Duration) -> Result<(), String> {
    let probe = Load {
        concurrency: 1,
        duration: Duration::from_millis(50),
        ..load.clone()
    };
    let started = Instant::now();
    loop {
        match run(target, &probe).await {
            Ok(s) if s.requests > 0 && s.errors == 0 => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < within => {}
            Ok(s) => return Err(format!("{} calls failed for {within:?}", s.errors)),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn retrieve(o: &Options, out: &mut String) -> Result<(), String> {
    let _ = writeln!(
        out,
        "\n### `retrieve_tools`\n\n| tools indexed | where | p50 | p90 | p99 | max | req/s | errors |\n|---|---|---|---|---|---|---|---|"
    );
    for count in [1_000usize, 10_000] {
        let inproc = search::measure(count, if o.quick { 200 } else { 2000 }).await?;
        let _ = writeln!(
            out,
            "| {count} | in-process (the index, as `retrieve_tools` queries it) | {} | {} | {} | {} | — | — |",
            short(inproc.query.p50),
            short(inproc.query.p90),
            short(inproc.query.p99),
            short(inproc.query.max)
        );
        let servers = json!([{"name": "many", "command": sibling("bench-upstream"),
            "args": ["--tools", count.to_string()], "quarantined": false}]);
        let (proxy, _) = Proxy::start(&sibling("mcpproxy"), servers).await?;
        proxy
            .until_servers_ready(count, Duration::from_secs(120))
            .await?;
        let query = load(
            "retrieve_tools",
            json!({"query": "create issue in workspace 3"}),
            "create_issue",
            1,
            o.duration,
        );
        // Servers are ready before the index has all their tools: measure once it has.
        let target = http(proxy.mcp("/mcp"));
        until_good(&target, &query, Duration::from_secs(60)).await?;
        let s = run(&target, &query).await;
        match &s {
            Ok(s) => {
                let _ = writeln!(
                    out,
                    "| {count} | end to end (HTTP, MCP, `/mcp`) | {} | {} | {} | {} | {:.0} | {} |",
                    short(s.p50),
                    short(s.p90),
                    short(s.p99),
                    short(s.max),
                    s.rps(),
                    s.errors
                );
            }
            Err(e) => {
                let _ = writeln!(out, "| {count} | end to end | failed: {e} | | | | | |");
            }
        }
        proxy.process.stop().await;
        if count == 10_000 {
            let _ = writeln!(
                out,
                "\nIndex build, 10,000 tools (100 servers, in-process): {:.2} s",
                inproc.build.as_secs_f64()
            );
        }
    }
    Ok(())
}

async fn footprint(out: &mut String, quick: bool) -> Result<(), String> {
    let mcpproxy = sibling("mcpproxy");
    let upstream = sibling("bench-upstream");
    let _ = writeln!(
        out,
        "\n### Memory and start-up\n\n| measure | result |\n|---|---|"
    );
    let rounds = if quick { 2 } else { 5 };
    for count in [0usize, 20] {
        let servers: Vec<Value> = (0..count)
            .map(|i| json!({"name": format!("u{i}"), "command": upstream, "quarantined": false}))
            .collect();
        let mut times = Vec::new();
        for _ in 0..rounds {
            let (proxy, ready) = Proxy::start(&mcpproxy, json!(servers)).await?;
            times.push(ready);
            proxy.process.stop().await;
        }
        times.sort();
        let _ = writeln!(
            out,
            "| `serve` to `/readyz` 200, {count} upstreams (median of {rounds}) | {} |",
            short(times[times.len() / 2])
        );
    }
    let (idle, _) = Proxy::start(&mcpproxy, json!([])).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = writeln!(
        out,
        "| resident memory, idle | {} |",
        memory_text(idle.process.pid())
    );
    idle.process.stop().await;

    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({"name": format!("u{i}"), "command": upstream, "quarantined": false}))
        .collect();
    let (proxy, _) = Proxy::start(&mcpproxy, json!(hundred)).await?;
    let took = proxy
        .until_servers_ready(100, Duration::from_secs(120))
        .await?;
    let _ = writeln!(
        out,
        "| resident memory, 100 stdio upstreams connected (all ready after {:.1} s) | {} |",
        took.as_secs_f64(),
        memory_text(proxy.process.pid())
    );
    proxy.process.stop().await;

    let servers = json!([{"name": "many", "command": upstream, "args": ["--tools", "20000"], "quarantined": false}]);
    let (proxy, _) = Proxy::start(&mcpproxy, servers).await?;
    let took = proxy
        .until_servers_ready(20_000, Duration::from_secs(180))
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = writeln!(
        out,
        "| resident memory, 20,000 tools indexed (ready after {:.1} s) | {} |",
        took.as_secs_f64(),
        memory_text(proxy.process.pid())
    );
    // The view is compiled once the catalog has them all; the first full listing also
    // renders each tool's JSON once (then kept), so both the first and a later one count.
    for which in ["first", "second"] {
        match list_all_tools(&proxy.mcp("/mcp/all")).await {
            Ok((tools, pages, took)) => {
                let _ = writeln!(
                    out,
                    "| `tools/list` of `/mcp/all`, every page, {which} time | {tools} tools in {pages} pages: {} |",
                    short(took)
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| `tools/list` of `/mcp/all`, every page | failed: {e} |"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "| resident memory, 20,000 tools, after the listings | {} |",
        memory_text(proxy.process.pid())
    );
    proxy.process.stop().await;
    Ok(())
}

/// A cold start of many CPU-heavy stdio servers (each spends `burn` of CPU before it
/// answers, like a Python server importing its modules): the time until all are Ready,
/// against the CPU work alone (their summed start CPU over the cores).
async fn cold_start(out: &mut String, quick: bool) -> Result<(), String> {
    let (count, burn_ms) = if quick { (20u32, 300u32) } else { (75, 600) };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let servers: Vec<Value> = (0..count)
        .map(|i| {
            json!({"name": format!("heavy{i}"), "command": sibling("bench-upstream"),
                "args": ["--burn-ms", burn_ms.to_string()], "quarantined": false})
        })
        .collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let started = Instant::now();
    let (proxy, _) = Proxy::start(&sibling("mcpproxy"), json!(servers)).await?;
    let ready = proxy
        .until_servers_ready(count as usize, Duration::from_secs(600))
        .await
        .map(|_| started.elapsed());
    let work =
        Duration::from_millis(u64::from(count * burn_ms)) / u32::try_from(cores).unwrap_or(1);
    let _ = writeln!(
        out,
        "\n### Cold start of {count} CPU-heavy stdio servers\n\n| measure | result |\n|---|---|\n| servers × CPU each before `initialize` | {count} × {burn_ms} ms on {cores} cores: {} of CPU work alone |\n| target (1.5 × that) | {} |",
        short(work),
        short(work * 3 / 2),
    );
    match ready {
        Ok(took) => {
            let _ = writeln!(
                out,
                "| all Ready after (`serve` started to the last Ready) | {} ({:.2} × the CPU work) |",
                short(took),
                took.as_secs_f64() / work.as_secs_f64()
            );
        }
        Err(e) => {
            let _ = writeln!(out, "| all Ready | failed: {e} |");
        }
    }
    let _ = writeln!(
        out,
        "| machine load average at the start (1, 5, 15 min) | {} |",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(", ")
    );
    proxy.process.stop().await;
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or_else(
            || "?".into(),
            |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0),
        );
    format!("{cores} cores ({cpu}), {mem}")
}

#[tokio::main]
async fn main() {
    let o = options();
    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}. Release build. Load: {} s per run; every ratio compares runs of this one invocation.",
        machine(),
        o.duration.as_secs_f64()
    );
    type Scenario<'a> =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'a>>;
    let mut sections: Vec<(&str, String)> = Vec::new();
    for (name, which) in [
        ("overhead", 0),
        ("overhead with a 1 ms upstream", 4),
        ("peers", 1),
        ("retrieve", 2),
        ("footprint", 3),
        ("cold start", 5),
    ] {
        if !o.only.is_empty() && !o.only.iter().any(|x| name.starts_with(x.as_str())) {
            continue;
        }
        let mut part = String::new();
        let scenario: Scenario = match which {
            0 => Box::pin(overhead(&o, &mut part, "0")),
            4 => Box::pin(overhead(&o, &mut part, "1")),
            1 => Box::pin(peer_scenarios(&o, &mut part)),
            2 => Box::pin(retrieve(&o, &mut part)),
            5 => Box::pin(cold_start(&mut part, o.quick)),
            _ => Box::pin(footprint(&mut part, o.quick)),
        };
        eprintln!("bench: {name}…");
        if let Err(e) = scenario.await {
            let _ = writeln!(part, "\n{name}: failed: {e}");
        }
        eprintln!("{part}");
        sections.push((name, part));
    }
    for (_, part) in &sections {
        out.push_str(part);
    }
    let _ = writeln!(
        out,
        "\nThe whole run took {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    println!("{out}");
    if let Some(path) = &o.write {
        match write_between_markers(path, &out) {
            Ok(()) => eprintln!("bench: wrote {}", path.display()),
            Err(e) => eprintln!("bench: cannot write {}: {e}", path.display()),
        }
    }
}

const START: &str = "<!-- bench:start -->";
const END: &str = "<!-- bench:end -->";

/// Replaces what is between the markers of `path` with `tables` (the markers are added at
/// the end when missing).
fn write_between_markers(path: &std::path::Path, tables: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{START}\n{tables}\n{END}");
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{block}{}", &old[..a], &old[b + END.len()..]),
        _ => format!("{old}\n{block}\n"),
    };
    std::fs::write(path, new)
}
