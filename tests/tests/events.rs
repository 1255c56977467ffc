//! The live side of the management API: the `/events` stream and the unix socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::time::Instant;

use serde_json::json;

use mcpproxy_tests::rest::{EventStream, Rest};
use mcpproxy_tests::{Home, Proxy, fixture_bin};

const KEY: &str = "events-test-key";

async fn start() -> (Home, Proxy, Rest) {
    let home = Home::new();
    let config = json!({"api_key": KEY, "mcpServers": [
        {"name": "fx", "command": fixture_bin(), "args": ["--name", "fx"], "quarantined": false}
    ]});
    home.write_config(&config.to_string());
    let proxy = Proxy::start(&home, &[]).await;
    let api = Rest::new(&proxy.url(""), Some(KEY));
    (home, proxy, api)
}

#[tokio::test]
async fn subscribers_see_servers_changed_after_an_enable() {
    let (_home, _proxy, api) = start().await;
    let mut first = EventStream::open(&api).await;
    let mut second = EventStream::open(&api).await;
    for stream in [&mut first, &mut second] {
        let status = stream.next().await.unwrap();
        assert_eq!(status.name, "status", "the status comes first");
        assert!(status.retry.is_some(), "with a retry hint");
        assert_eq!(status.data["payload"]["running"], true, "{:?}", status.data);
        assert!(status.data["timestamp"].is_string());
    }

    api.post("/servers/fx/disable", &json!({})).await.data();
    first
        .until("servers.changed", |d| d["payload"]["change"] == "disabled")
        .await;

    let asked = Instant::now();
    api.post("/servers/fx/enable", &json!({})).await.data();
    let enabled = first
        .until("servers.changed", |d| {
            d["payload"]["server"] == "fx" && d["payload"]["change"] == "enabled"
        })
        .await;
    println!(
        "servers.changed reached the subscriber {:?} after the enable was asked",
        asked.elapsed()
    );
    assert!(enabled.data["timestamp"].is_string());
    second
        .until("servers.changed", |d| d["payload"]["change"] == "enabled")
        .await;
    // The connection that follows is announced too.
    first
        .until("servers.changed", |d| d["payload"]["state"] == "Ready")
        .await;
}

#[tokio::test]
async fn the_stream_ends_when_the_proxy_stops() {
    let (_home, mut proxy, api) = start().await;
    let mut events = EventStream::open(&api).await;
    assert_eq!(events.next().await.unwrap().name, "status");
    let status = proxy.stop().await;
    assert_eq!(status.code(), Some(0));
    let rest = tokio::time::timeout(mcpproxy_tests::PATIENCE, async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended with the proxy");
}

/// Runs Python as `uid` to connect to the socket and ask for `/api/v1/status`; returns what
/// happened: `connect-refused`, or `answer <status line>`, or `answer none`.
fn connect_as(uid: Option<u32>, socket: &std::path::Path) -> String {
    const SCRIPT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect-refused", e.strerror); sys.exit(0)
s.settimeout(10)
data = b""
try:
    s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print("answer", data.split(b"\r\n")[0].decode() if data else "none")
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", SCRIPT]).arg(socket);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn the_socket_answers_its_user_without_a_key_and_no_one_else() {
    let (home, _proxy, _) = start().await;
    let socket = home.data_dir().join("mcpproxy.sock");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "only the owner may connect");
    assert_eq!(mode(&home.data_dir()), 0o700);

    // The same user, no key.
    let answer = connect_as(None, &socket);
    assert_eq!(answer, "answer HTTP/1.1 200 OK");

    let me = std::fs::metadata(home.path()).unwrap().uid();
    if me != 0 {
        println!("not root: cannot act as another user here; checked the socket's mode only");
        return;
    }
    let nobody = 65534;
    // Let the other user reach the socket file: its own mode refuses them.
    for dir in [home.path(), &home.data_dir()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let refused = connect_as(Some(nobody), &socket);
    assert!(refused.starts_with("connect-refused"), "{refused}");
    // With the file opened to everyone, the proxy still refuses another user's connection.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let dropped = connect_as(Some(nobody), &socket);
    assert_eq!(dropped, "answer none", "another user got an answer");
    println!("another user: {refused}; with the file opened: {dropped}");
    // And its owner is still served.
    assert_eq!(connect_as(None, &socket), "answer HTTP/1.1 200 OK");
}
