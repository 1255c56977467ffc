use std::sync::Arc;

use mcpproxy_domain::activity::Source;
use mcpproxy_domain::diagnostics as catalog;
use mcpproxy_domain::{ServerConfig, ServerName};

use super::*;
use crate::ports::{DataDirCheck, MockHostProbe};
use crate::testkit::Mem;

fn stdio(name: &str, command: &str) -> ServerConfig {
    let mut s = ServerConfig::new(ServerName::parse(name).unwrap());
    s.command = command.to_owned();
    s
}

fn mem(servers: Vec<ServerConfig>) -> Arc<Mem> {
    let mem = Arc::new(Mem::default());
    mem.config.lock().unwrap().servers = servers;
    mem
}

fn private_dir(host: &mut MockHostProbe) {
    host.expect_data_dir().returning(|| DataDirCheck {
        path: "/d".into(),
        mode: Some(0o700),
        problem: None,
    });
}

#[tokio::test]
async fn a_missing_runtime_is_named_with_the_path_used_and_how_to_install_it() {
    let mut host = MockHostProbe::new();
    private_dir(&mut host);
    host.expect_address_taken().returning(|_| None);
    host.expect_launch_check().returning(|_, s| match s.command.as_str() {
        "npx" => LaunchCheck::Problem {
            reason: r#"command "npx" was not found on PATH (/usr/bin:/bin); install it or give its full path"#.into(),
        },
        _ => LaunchCheck::Ready { program: "/bin/ok".into() },
    });
    let doctor = DiagnosticsService::offline(
        mem(vec![stdio("web", "npx"), stdio("fine", "ok")]),
        Arc::new(host),
    );
    let report = doctor.diagnose(None).await.unwrap();
    assert!(!report.proxy_running);
    assert_eq!(report.servers_checked, 2);
    assert_eq!(report.errors, 1, "{report:?}");
    let f = &report.findings[0];
    assert_eq!(f.code, catalog::STDIO_SPAWN_ENOENT);
    assert_eq!(f.server.as_deref(), Some("web"));
    assert!(f.detail.contains("/usr/bin:/bin"), "{}", f.detail);
    assert!(f.cause.contains("Node.js"), "{}", f.cause);
    assert!(f.fixable);
    let one = doctor.diagnose(Some("fine")).await.unwrap();
    assert!(one.findings.is_empty(), "{one:?}");
    assert!(matches!(
        doctor.diagnose(Some("nope")).await,
        Err(DiagnosticsError::UnknownServer(_))
    ));
}

#[tokio::test]
async fn the_data_dir_and_the_port_are_checked_and_the_data_dir_is_fixed() {
    let mut host = MockHostProbe::new();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let seen = open.clone();
    host.expect_data_dir().returning(move || DataDirCheck {
        path: "/d".into(),
        mode: Some(0o777),
        problem: seen
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| "writable by other users (mode 0777)".into()),
    });
    let closed = open.clone();
    host.expect_tighten_data_dir().times(1).returning(move || {
        closed.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    });
    host.expect_address_taken()
        .returning(|l| Some(format!("{l} is taken")));
    host.expect_launch_check().never();
    let doctor = DiagnosticsService::offline(mem(vec![]), Arc::new(host));
    let report = doctor.diagnose(None).await.unwrap();
    let codes: Vec<_> = report.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            catalog::NETWORK_PORT_IN_USE,
            catalog::SYSTEM_DATA_DIR_PERMISSIONS
        ]
    );
    let fixed = doctor
        .fix(catalog::SYSTEM_DATA_DIR_PERMISSIONS, None, Source::Cli)
        .await
        .unwrap();
    assert_eq!(fixed.action, FixAction::TightenDataDir);
    let again = doctor
        .fix(catalog::SYSTEM_DATA_DIR_PERMISSIONS, None, Source::Cli)
        .await
        .unwrap();
    assert!(again.message.contains("nothing to do"), "{}", again.message);
}

#[tokio::test]
async fn fixes_are_refused_with_what_to_do_instead() {
    let mut host = MockHostProbe::new();
    private_dir(&mut host);
    let mem = mem(vec![stdio("web", "npx")]);
    mem.config.lock().unwrap().read_only_mode = true;
    let doctor = DiagnosticsService::offline(mem, Arc::new(host));
    let err = |r: Result<FixOutcome, DiagnosticsError>| r.unwrap_err();
    assert!(matches!(
        err(doctor.fix("MCPX_NOPE", None, Source::Cli).await),
        DiagnosticsError::UnknownCode(_)
    ));
    assert!(matches!(
        err(doctor
            .fix(catalog::NETWORK_PORT_IN_USE, None, Source::Cli)
            .await),
        DiagnosticsError::NotFixable { .. }
    ));
    assert!(matches!(
        err(doctor
            .fix(catalog::STDIO_SPAWN_ENOENT, None, Source::Cli)
            .await),
        DiagnosticsError::NeedsServer(_)
    ));
    assert!(matches!(
        err(doctor
            .fix(catalog::SYSTEM_DATA_DIR_PERMISSIONS, None, Source::Cli)
            .await),
        DiagnosticsError::Forbidden(Gate::ReadOnly)
    ));
}

#[test]
fn a_config_that_cannot_be_read_is_one_finding() {
    let report = DiagnosticsReport::config_unreadable("expected value at line 3 column 1");
    assert_eq!(report.errors, 1);
    assert_eq!(report.findings[0].code, catalog::CONFIG_PARSE_ERROR);
    assert!(report.findings[0].detail.contains("line 3"));
}
