use super::*;
use crate::policy::{Ask, Caller, Purpose, Refusal, Subject, admit};

fn p(name: &str, servers: &[&str]) -> ProfileConfig {
    ProfileConfig {
        name: name.to_owned(),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn names(list: &[&str]) -> Vec<ServerName> {
    list.iter()
        .map(|s| ServerName::parse(*s).unwrap())
        .collect()
}

#[test]
fn slugs_follow_the_go_syntax() {
    for good in ["research", "a", "0", "dev-2_b", &"a".repeat(63)] {
        assert!(is_valid_slug(good), "{good}");
    }
    for bad in [
        "",
        "Research",
        "-a",
        "_a",
        "a b",
        "a/b",
        "ü",
        &"a".repeat(64),
    ] {
        assert!(!is_valid_slug(bad), "{bad}");
    }
}

#[test]
fn bad_reserved_and_duplicate_slugs_are_fatal_and_name_their_key() {
    let errors = validate(&[p("ok", &[]), p("Bad", &[]), p("code", &[]), p("ok", &["x"])]);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["profiles[1].name", "profiles[2].name", "profiles[3].name"]
    );
    assert!(errors[1].message.contains("reserved"), "{}", errors[1]);
    assert!(errors[2].message.contains("duplicate"), "{}", errors[2]);
}

#[test]
fn unknown_servers_warn_and_are_skipped() {
    let servers = names(&["github", "fs"]);
    let config = [p("dev", &["github", "nope", "github"]), p("empty", &[])];
    let notes = warnings(&config, &servers);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("\"nope\"")));
    assert!(notes.iter().any(|n| n.contains("deny-all")));
    let profiles = Profiles::new(&config, &servers);
    assert_eq!(profiles.get("dev").unwrap().servers, names(&["github"]));
    assert!(profiles.get("empty").unwrap().servers.is_empty());
    assert_eq!(profiles.names(), ["dev", "empty"]);
}

#[test]
fn the_pin_wins_then_the_url_then_the_session() {
    let profiles = Profiles::new(&[p("a", &["s1"]), p("b", &["s2"])], &names(&["s1", "s2"]));
    let origin = |g: Option<Grant>| g.map(|g| g.origin);
    let prof = |n: &str| Some(GrantOrigin::Profile(n.into()));
    let all = Selection {
        pin: Some("a"),
        url: Some("b"),
        session: Some("b"),
    };
    assert_eq!(origin(resolve(&profiles, all)), prof("a"));
    let url_and_session = Selection { pin: None, ..all };
    assert_eq!(origin(resolve(&profiles, url_and_session)), prof("b"));
    let session = Selection {
        session: Some("a"),
        ..Selection::default()
    };
    assert_eq!(origin(resolve(&profiles, session)), prof("a"));
    assert_eq!(resolve(&profiles, Selection::default()), None);
    // A stale session choice is dropped; a stale pin denies everything.
    let stale = Selection {
        session: Some("gone"),
        ..Selection::default()
    };
    assert_eq!(resolve(&profiles, stale), None);
    let pinned = Selection {
        pin: Some("gone"),
        ..Selection::default()
    };
    assert_eq!(resolve(&profiles, pinned), Some(deny_all("gone")));
}

#[test]
fn a_profile_grant_refuses_other_servers_through_the_one_rule() {
    let profiles = Profiles::new(&[p("research", &["arxiv"])], &names(&["arxiv", "k8s"]));
    let caller = Caller::agent().within(profiles.get("research").unwrap().grant());
    let mut config = crate::Config::default();
    for n in ["arxiv", "k8s"] {
        let mut s = crate::ServerConfig::new(ServerName::parse(n).unwrap());
        s.command = "x".into();
        s.quarantined = Some(false);
        config.servers.push(s);
    }
    let settings = crate::Settings::from_config(&config);
    let ask = |name: &str| {
        let server = settings.server(name).unwrap();
        admit(&Ask {
            caller: &caller,
            purpose: Purpose::Discover,
            server_name: &server.name,
            server: Some(server.as_ref()),
            connection: None,
            subject: Subject::Server,
            strict_intent: true,
        })
    };
    assert_eq!(
        ask("k8s"),
        Err(Refusal::OutOfScope {
            origin: GrantOrigin::Profile("research".into())
        })
    );
    assert!(ask("arxiv").is_ok());
}

#[test]
fn profiles_round_trip_and_an_absent_key_stays_absent() {
    let text = r#"{"mcpServers": [], "profiles": [{"name": "dev", "servers": ["a", "b"]}]}"#;
    let config: crate::Config = serde_json::from_str(text).unwrap();
    assert_eq!(config.profiles, [p("dev", &["a", "b"])]);
    let saved = serde_json::to_value(&config).unwrap();
    assert_eq!(
        saved["profiles"],
        serde_json::json!([{"name": "dev", "servers": ["a", "b"]}])
    );
    let none: crate::Config = serde_json::from_str(r#"{"mcpServers": []}"#).unwrap();
    assert!(
        serde_json::to_value(&none)
            .unwrap()
            .get("profiles")
            .is_none()
    );
}
