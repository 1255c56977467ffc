use std::sync::Arc;

use mcpproxy_domain::policy::GrantOrigin;
use mcpproxy_domain::profile::ProfileConfig;
use mcpproxy_domain::{Caller, Config, DomainEvent, ServerConfig, ServerName};

use super::*;
use crate::testkit::{Mem, catalog};

fn service() -> (Arc<Mem>, ProfileService) {
    let mem = Arc::new(Mem::default());
    let server = |n: &str| {
        let mut s = ServerConfig::new(ServerName::parse(n).unwrap());
        s.command = "x".into();
        s
    };
    *mem.config.lock().unwrap() = Config {
        servers: vec![server("arxiv"), server("k8s")],
        profiles: vec![
            ProfileConfig {
                name: "research".into(),
                servers: vec!["arxiv".into(), "gone".into()],
            },
            ProfileConfig {
                name: "deploy".into(),
                servers: vec!["k8s".into()],
            },
        ],
        ..Config::default()
    };
    let profiles = ProfileService::new(catalog(&mem), mem.clone());
    (mem, profiles)
}

fn profile_of(caller: &Caller) -> Vec<GrantOrigin> {
    caller
        .scope()
        .grants()
        .iter()
        .map(|g| g.origin.clone())
        .collect()
}

#[tokio::test]
async fn a_session_choice_scopes_only_that_session_until_cleared_or_closed() {
    let (_, profiles) = service();
    let choice = profiles.choose(Some("s1"), "research", None).unwrap();
    assert_eq!(choice.active_profile, "research");
    assert_eq!(choice.servers, ["arxiv"], "unknown servers are skipped");
    let s1 = profiles.scoped(Caller::agent(), false, None, Some("s1"));
    assert_eq!(profile_of(&s1), [GrantOrigin::Profile("research".into())]);
    let s2 = profiles.scoped(Caller::agent(), false, None, Some("s2"));
    assert!(s2.scope().is_unlimited());
    // The URL outranks the session's choice.
    let url = profiles.scoped(Caller::agent(), false, Some("deploy"), Some("s1"));
    assert_eq!(profile_of(&url), [GrantOrigin::Profile("deploy".into())]);
    let cleared = profiles.choose(Some("s1"), "", None).unwrap();
    assert_eq!(cleared.active_profile, "");
    assert_eq!(cleared.servers, ["arxiv", "k8s"]);
    assert!(
        profiles
            .scoped(Caller::agent(), false, None, Some("s1"))
            .scope()
            .is_unlimited()
    );
    profiles.choose(Some("s1"), "deploy", None).unwrap();
    profiles.forget("s1");
    assert!(
        profiles
            .scoped(Caller::agent(), false, None, Some("s1"))
            .scope()
            .is_unlimited()
    );
}

#[tokio::test]
async fn unknown_and_pinned_choices_are_refused_with_what_to_use() {
    let (_, profiles) = service();
    let e = profiles.choose(Some("s"), "nope", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown profile 'nope' (available: research, deploy)"
    );
    let e = profiles
        .choose(Some("s"), "deploy", Some("research"))
        .unwrap_err();
    assert!(matches!(e, ProfileError::Pinned { .. }), "{e}");
    let own = profiles.choose(Some("s"), "", Some("research")).unwrap();
    assert_eq!(
        (own.active_profile.as_str(), own.servers),
        ("research", vec!["arxiv".to_owned()])
    );
    assert_eq!(
        profiles.choose(None, "deploy", None),
        Err(ProfileError::NoSession)
    );
    assert!(matches!(
        profiles.check_endpoint("deploy", Some("research")),
        Err(ProfileError::Pinned { .. })
    ));
    assert!(
        profiles
            .check_endpoint("research", Some("research"))
            .is_ok()
    );
    assert!(matches!(
        profiles.check_endpoint("x", None),
        Err(ProfileError::Unknown { .. })
    ));
}

#[tokio::test]
async fn the_default_profile_is_checked_and_announced_once_per_change() {
    let (mem, profiles) = service();
    assert_eq!(profiles.active(), "");
    assert!(profiles.set_active("nope").is_err());
    assert_eq!(profiles.set_active("deploy").unwrap(), "deploy");
    profiles.set_active("deploy").unwrap();
    assert_eq!(profiles.active(), "deploy");
    let announced = mem
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, DomainEvent::ActiveProfileChanged { .. }))
        .count();
    assert_eq!(announced, 1);
    let listed = profiles.list(&Caller::agent());
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].servers, ["arxiv"]);
}
