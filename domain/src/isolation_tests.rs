//! Tests of the isolation rules: the Go precedence, the Docker and sandbox plans, validation.

use super::*;
use serde_json::json;

fn config(doc: Value) -> Config {
    serde_json::from_value(doc).unwrap()
}

fn isolation_of(doc: Value) -> Isolation {
    let c = config(doc);
    c.isolation(&c.servers[0])
}

#[test]
fn the_mode_follows_the_go_precedence() {
    let mode = |global: Value, server: Value| {
        isolation_of(json!({
            "docker_isolation": global,
            "mcpServers": [{"name": "s", "command": "npx", "isolation": server}]
        }))
        .mode()
    };
    assert_eq!(mode(json!({}), json!({})), IsolationMode::None);
    assert_eq!(
        mode(json!({"enabled": true}), json!({})),
        IsolationMode::Docker
    );
    assert_eq!(
        mode(json!({"enabled": true, "mode": "sandbox"}), json!({})),
        IsolationMode::Sandbox
    );
    assert_eq!(
        mode(json!({"mode": "docker"}), json!({"enabled": false})),
        IsolationMode::None
    );
    assert_eq!(
        mode(json!({"enabled": false}), json!({"enabled": true})),
        IsolationMode::Docker,
        "a server's own opt-in is honoured even with the global switch off"
    );
    assert_eq!(
        mode(
            json!({"mode": "docker"}),
            json!({"enabled": true, "mode": "none"})
        ),
        IsolationMode::None
    );
}

#[test]
fn docker_defaults_are_the_go_ones_and_the_image_follows_the_runtime() {
    let Isolation::Docker(run) = isolation_of(json!({
        "docker_isolation": {"enabled": true},
        "mcpServers": [{"name": "s", "command": "/usr/local/bin/npx", "args": ["-y", "x"]}]
    })) else {
        panic!("docker expected");
    };
    assert_eq!(run.image, "node:22");
    assert_eq!(run.runtime, "npx");
    assert_eq!(run.memory_limit, "512m");
    assert_eq!(run.cpu_limit, "1.0");
    assert_eq!(run.network_mode, "bridge");
    assert_eq!(
        run.cache_volume,
        Some(("mcpproxy-npm-cache".into(), "/root/.npm".into()))
    );
    assert_eq!(run.start_timeout, GoDuration::from_secs(30));

    let Isolation::Docker(run) = isolation_of(json!({
        "docker_isolation": {"enabled": true, "registry": "mirror.example.com",
                             "default_images": {"my-server": "me/mine:1"},
                             "extra_args": ["--cap-drop=ALL"], "enable_cache_volume": false},
        "mcpServers": [{"name": "s", "command": "uvx", "isolation": {
            "network_mode": "none", "memory_limit": "1g", "extra_args": ["--read-only"],
            "volumes": ["/data:/data:ro"], "working_dir": "/app"}}]
    })) else {
        panic!("docker expected");
    };
    assert_eq!(run.image, PYTHON_IMAGE, "an image with a registry is kept");
    assert_eq!(run.network_mode, "none");
    assert_eq!(run.memory_limit, "1g");
    assert_eq!(run.extra_args, ["--cap-drop=ALL", "--read-only"]);
    assert_eq!(run.volumes[0].docker_arg(), "/data:/data:ro");
    assert_eq!(run.workdir.as_deref(), Some("/app"));
    assert_eq!(run.cache_volume, None);

    let Isolation::Docker(run) = isolation_of(json!({
        "docker_isolation": {"enabled": true, "registry": "mirror.example.com"},
        "mcpServers": [{"name": "s", "command": "my-tool"}]
    })) else {
        panic!("docker expected");
    };
    assert_eq!(run.runtime, "binary");
    assert_eq!(run.image, "mirror.example.com/alpine:3.18");
}

#[test]
fn docker_commands_and_remote_servers_are_not_wrapped() {
    let doc =
        |server: Value| json!({"docker_isolation": {"mode": "docker"}, "mcpServers": [server]});
    assert_eq!(
        isolation_of(doc(
            json!({"name": "d", "command": "docker", "args": ["run", "-i", "x"]})
        )),
        Isolation::OwnContainer
    );
    assert_eq!(
        isolation_of(doc(json!({"name": "h", "url": "https://example.com/mcp"}))),
        Isolation::None
    );
}

#[test]
fn sandbox_has_no_network_unless_host_is_asked_for() {
    let network = |global: Value, server: Value| match isolation_of(json!({
        "docker_isolation": global,
        "mcpServers": [{"name": "s", "command": "x", "isolation": server}]
    })) {
        Isolation::Sandbox(s) => s.network,
        other => panic!("sandbox expected, got {other:?}"),
    };
    assert!(!network(json!({"mode": "sandbox"}), json!({})));
    assert!(!network(
        json!({"mode": "sandbox", "network_mode": "bridge"}),
        json!({})
    ));
    assert!(network(
        json!({"mode": "sandbox"}),
        json!({"network_mode": "host"})
    ));
    assert!(!network(
        json!({"mode": "sandbox", "network_mode": "host"}),
        json!({"network_mode": "none"})
    ));
}

#[test]
fn the_view_says_how_a_server_runs() {
    let view = |doc| isolation_of(doc).view().summary();
    assert_eq!(
        view(json!({"mcpServers": [{"name": "s", "command": "npx"}]})),
        "none"
    );
    assert_eq!(
        view(json!({"docker_isolation": {"enabled": true},
                    "mcpServers": [{"name": "s", "command": "npx"}]})),
        "docker node:22"
    );
    assert_eq!(
        view(
            json!({"mcpServers": [{"name": "s", "command": "x", "isolation": {"mode": "sandbox"}}]})
        ),
        "sandbox"
    );
    assert_eq!(
        view(json!({"docker_isolation": {"enabled": true},
                    "mcpServers": [{"name": "s", "command": "docker"}]})),
        "docker (own)"
    );
}

#[test]
fn a_config_keeps_its_isolation_blocks_as_written() {
    let doc = json!({
        "docker_isolation": {"enabled": false, "memory_limit": "512m", "future": 1},
        "mcpServers": [{"name": "s", "command": "x", "isolation": {"image": "node:22", "x": 2}}]
    });
    let back = serde_json::to_value(config(doc.clone())).unwrap();
    assert_eq!(back["docker_isolation"], doc["docker_isolation"]);
    assert_eq!(
        back["mcpServers"][0]["isolation"],
        doc["mcpServers"][0]["isolation"]
    );
}

#[test]
fn bad_values_name_their_key() {
    let c = config(json!({
        "docker_isolation": {"mode": "sandbx", "memory_limit": "lots", "cpu_limit": "0"},
        "mcpServers": [{"name": "s", "command": "x", "isolation": {
            "mode": "vm", "volumes": ["relative:dir", "/a:/b:maybe"], "working_dir": "app",
            "memory_limit": "2x"}}]
    }));
    let fields: Vec<String> = c.validate().into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "docker_isolation.mode",
            "docker_isolation.memory_limit",
            "docker_isolation.cpu_limit",
            "mcpServers[0].isolation.mode",
            "mcpServers[0].isolation.memory_limit",
            "mcpServers[0].isolation.volumes[0]",
            "mcpServers[0].isolation.volumes[1]",
            "mcpServers[0].isolation.working_dir",
        ]
    );
}

#[test]
fn sizes_and_volumes() {
    for ok in ["512m", "1g", "1048576", "64M"] {
        assert!(is_memory_size(ok), "{ok}");
    }
    for bad in ["", "m", "1.5g", "12mb", "-1m"] {
        assert!(!is_memory_size(bad), "{bad}");
    }
    assert_eq!(
        Volume::parse("/x").unwrap(),
        Volume {
            source: "/x".into(),
            target: "/x".into(),
            read_only: false
        }
    );
    assert!(Volume::parse("cache:/root/.npm").unwrap().source == "cache");
    assert!(!Volume::parse("cache:/root/.npm").unwrap().is_host_path());
    assert!(Volume::parse("/a:b").is_err());
}
