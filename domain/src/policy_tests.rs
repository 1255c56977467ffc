use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::settings::Settings;

fn name(n: &str) -> ServerName {
    ServerName::parse(n).unwrap()
}

fn settings(server: serde_json::Value) -> Settings {
    let doc = json!({"mcpServers": [server]});
    Settings::from_config(&serde_json::from_value(doc).unwrap())
}

fn ann(read_only: Option<bool>, destructive: Option<bool>) -> ToolAnnotations {
    ToolAnnotations {
        read_only_hint: read_only,
        destructive_hint: destructive,
        ..Default::default()
    }
}

struct World {
    settings: Settings,
    annotations: ToolAnnotations,
    approval: ApprovalState,
    connection: Option<ConnectionState>,
    strict: bool,
}

impl World {
    fn plain() -> Self {
        Self {
            settings: settings(json!({"name": "s", "command": "x"})),
            annotations: ToolAnnotations::default(),
            approval: ApprovalState::Approved,
            connection: Some(ConnectionState::Ready),
            strict: true,
        }
    }

    fn ask(&self, caller: &Caller, purpose: Purpose, tool: &str) -> Result<Admitted, Refusal> {
        let server = name("s");
        let facts = (tool != "missing").then_some(ToolFacts {
            annotations: &self.annotations,
            approval: self.approval,
        });
        admit(&Ask {
            caller,
            purpose,
            server_name: &server,
            server: self.settings.server(&server).map(|s| &**s),
            connection: self.connection,
            subject: Subject::Tool { name: tool, facts },
            strict_intent: self.strict,
        })
    }
}

const CALL: Purpose = Purpose::Call(None);

#[test]
fn an_approved_tool_of_a_trusted_server_is_admitted_for_everyone() {
    let w = World::plain();
    for caller in [
        Caller::agent(),
        Caller::from(Source::Cli),
        Caller::from(Source::Api),
    ] {
        assert_eq!(w.ask(&caller, CALL, "t"), Ok(Admitted::default()));
        assert_eq!(
            w.ask(&caller, Purpose::Discover, "t"),
            Ok(Admitted::default())
        );
    }
}

#[test]
fn server_refusals_come_first_and_carry_the_go_codes() {
    let agent = Caller::agent();
    let mut w = World::plain();
    w.settings = settings(json!({"name": "s", "command": "x", "quarantined": true}));
    w.approval = ApprovalState::Pending;
    let refused = w.ask(&agent, CALL, "missing").unwrap_err();
    assert_eq!(refused, Refusal::ServerQuarantined);
    assert_eq!(refused.code(), "QUARANTINED_SERVER_BLOCKED");

    w.settings =
        settings(json!({"name": "s", "command": "x", "enabled": false, "quarantined": true}));
    assert_eq!(
        w.ask(&agent, CALL, "t").unwrap_err(),
        Refusal::ServerDisabled
    );

    w.settings = settings(json!({"name": "other", "command": "x"}));
    assert_eq!(
        w.ask(&agent, CALL, "t").unwrap_err(),
        Refusal::UnknownServer
    );
}

#[test]
fn tool_refusals_name_why() {
    let agent = Caller::agent();
    let mut w = World::plain();
    assert_eq!(
        w.ask(&agent, CALL, "missing").unwrap_err(),
        Refusal::UnknownTool
    );
    w.approval = ApprovalState::Changed;
    let refused = w.ask(&agent, Purpose::Discover, "t").unwrap_err();
    assert_eq!(refused, Refusal::NotApproved(ApprovalState::Changed));
    assert_eq!(refused.code(), "TOOL_QUARANTINED");
    w.settings = settings(json!({"name": "s", "command": "x", "disabled_tools": ["t"]}));
    assert_eq!(
        w.ask(&agent, CALL, "t").unwrap_err(),
        Refusal::NotApproved(ApprovalState::Changed),
        "the approval before the filter"
    );
    w.approval = ApprovalState::Approved;
    let refused = w.ask(&agent, CALL, "t").unwrap_err();
    assert_eq!(refused, Refusal::ToolDisabled);
    assert!(
        refused.is_tool_filter(),
        "only the filter stands in the way"
    );
}

#[test]
fn the_variant_is_checked_against_the_annotations_only_for_calls() {
    let agent = Caller::agent();
    let mut w = World::plain();
    w.annotations = ann(None, Some(true));
    let read = Purpose::Call(Some(CallVariant::Read));
    assert_eq!(
        w.ask(&agent, read, "t").unwrap_err(),
        Refusal::WrongVariant {
            used: CallVariant::Read,
            needed: CallVariant::Destructive
        }
    );
    assert!(w.ask(&agent, Purpose::Discover, "t").is_ok());
    assert!(
        w.ask(&agent, Purpose::Call(Some(CallVariant::Destructive)), "t")
            .is_ok()
    );
    w.strict = false;
    assert_eq!(
        w.ask(&agent, read, "t").unwrap().warning,
        Some(Warning::DestructiveVariant {
            used: CallVariant::Read
        })
    );
    w.annotations = ann(Some(true), None);
    assert_eq!(
        w.ask(&agent, Purpose::Call(Some(CallVariant::Write)), "t")
            .unwrap()
            .warning,
        Some(Warning::ReadOnlyTool)
    );
}

#[test]
fn a_call_needs_a_connection_a_listing_does_not() {
    let agent = Caller::agent();
    let mut w = World::plain();
    w.connection = Some(ConnectionState::Error);
    assert_eq!(
        w.ask(&agent, CALL, "t").unwrap_err(),
        Refusal::Unavailable(ConnectionState::Error)
    );
    assert!(w.ask(&agent, Purpose::Discover, "t").is_ok());
    w.connection = None;
    assert!(
        w.ask(&agent, CALL, "t").is_ok(),
        "unknown: let the pool say"
    );
    w.settings = settings(json!({"name": "s", "command": "x", "reconnect_on_use": true}));
    w.connection = Some(ConnectionState::Disconnected);
    assert!(
        w.ask(&agent, CALL, "t").is_ok(),
        "it reconnects for the call"
    );
    w.connection = Some(ConnectionState::PendingAuth);
    assert!(
        w.ask(&agent, CALL, "t").is_err(),
        "a login is not a reconnect"
    );
}

fn token(servers: &[&str], tier: CallVariant) -> Grant {
    Grant {
        origin: GrantOrigin::Token("bot".into()),
        servers: ServerSet::Only(servers.iter().map(|s| name(s)).collect::<BTreeSet<_>>()),
        tier,
    }
}

#[test]
fn a_scope_limits_servers_before_anything_is_revealed() {
    let w = World::plain();
    let bot = Caller::agent().within(token(&["other"], CallVariant::Destructive));
    let refused = w.ask(&bot, Purpose::Discover, "missing").unwrap_err();
    assert_eq!(refused.code(), "SERVER_NOT_IN_SCOPE");
    let everywhere = Caller::agent().within(Grant {
        origin: GrantOrigin::Profile("all".into()),
        servers: ServerSet::All,
        tier: CallVariant::Destructive,
    });
    assert!(w.ask(&everywhere, CALL, "t").is_ok());
}

#[test]
fn a_permission_tier_covers_the_tool_and_the_variant_used() {
    let mut w = World::plain();
    let reader = Caller::agent().within(token(&["s"], CallVariant::Read));
    assert!(w.ask(&reader, Purpose::Discover, "t").is_ok());
    let refused = w
        .ask(&reader, Purpose::Call(Some(CallVariant::Write)), "t")
        .unwrap_err();
    assert_eq!(refused.code(), "INSUFFICIENT_PERMISSION");
    w.annotations = ann(None, Some(true));
    for purpose in [Purpose::Discover, CALL] {
        assert!(matches!(
            w.ask(&reader, purpose, "t"),
            Err(Refusal::TierTooLow {
                needed: CallVariant::Destructive,
                ..
            })
        ));
    }
    // Grants intersect: a profile and a token must both allow.
    let both = Caller::agent()
        .within(token(&["s"], CallVariant::Destructive))
        .within(Grant {
            origin: GrantOrigin::Profile("research".into()),
            servers: ServerSet::Only(BTreeSet::new()),
            tier: CallVariant::Destructive,
        });
    assert_eq!(
        w.ask(&both, Purpose::Discover, "t").unwrap_err(),
        Refusal::OutOfScope {
            origin: GrantOrigin::Profile("research".into())
        }
    );
}

#[test]
fn a_server_alone_is_admitted_when_it_may_be_relayed() {
    let s = settings(json!({"name": "s", "command": "x", "quarantined": true}));
    let server = name("s");
    let ask = |settings: &Settings| {
        admit(&Ask {
            caller: &Caller::agent(),
            purpose: Purpose::Discover,
            server_name: &server,
            server: settings.server(&server).map(|s| &**s),
            connection: None,
            subject: Subject::Server,
            strict_intent: true,
        })
    };
    assert_eq!(ask(&s).unwrap_err(), Refusal::ServerQuarantined);
    assert!(ask(&settings(json!({"name": "s", "command": "x"}))).is_ok());
}

fn any_state() -> impl Strategy<Value = ApprovalState> {
    prop_oneof![
        Just(ApprovalState::Approved),
        Just(ApprovalState::Pending),
        Just(ApprovalState::Changed)
    ]
}

fn any_hint() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![Just(None), Just(Some(true)), Just(Some(false))]
}

proptest! {
    /// A tool is discoverable exactly when a call with the variant it asks for would be
    /// admitted over a live connection: listings never show what cannot be called, and
    /// never hide what can.
    #[test]
    fn discovery_and_calls_agree(
        enabled in any::<bool>(),
        quarantined in any::<bool>(),
        hidden in any::<bool>(),
        approval in any_state(),
        read_only in any_hint(),
        destructive in any_hint(),
        strict in any::<bool>(),
        tier in prop_oneof![Just(None), Just(Some(CallVariant::Read)), Just(Some(CallVariant::Write)), Just(Some(CallVariant::Destructive))],
    ) {
        let mut w = World::plain();
        w.settings = settings(json!({
            "name": "s", "command": "x", "enabled": enabled, "quarantined": quarantined,
            "disabled_tools": if hidden { json!(["t"]) } else { json!([]) },
        }));
        w.approval = approval;
        w.annotations = ann(read_only, destructive);
        w.strict = strict;
        let caller = match tier {
            None => Caller::agent(),
            Some(t) => Caller::agent().within(token(&["s"], t)),
        };
        let seen = w.ask(&caller, Purpose::Discover, "t");
        let called = w.ask(&caller, Purpose::Call(Some(w.annotations.call_with())), "t");
        prop_assert_eq!(seen.is_ok(), called.is_ok());
        prop_assert_eq!(seen.err(), called.err());
        let admitted_by_hand = enabled && !quarantined && !hidden
            && approval == ApprovalState::Approved
            && tier.is_none_or(|t| t >= w.annotations.call_with());
        prop_assert_eq!(w.ask(&caller, CALL, "t").is_ok(), admitted_by_hand);
    }
}
