use super::*;
use crate::policy::{Ask, Purpose, Refusal, Subject, ToolFacts, admit};
use crate::{ApprovalState, Config, Settings, ToolAnnotations};

fn token(servers: ServerSet, tier: CallVariant) -> AgentToken {
    AgentToken {
        name: "bot".into(),
        hash: "h".into(),
        prefix: "mcp_agt_abcd".into(),
        servers,
        tier,
        created_at: Timestamp::from_millis(0),
        expires_at: Timestamp::from_millis(1_000),
        revoked: false,
        last_used_at: None,
        profile_pin: None,
    }
}

#[test]
fn the_shape_of_a_token_is_the_prefix_and_64_hex_digits() {
    let good = format!("mcp_agt_{}", "a1".repeat(32));
    assert!(is_agent_token(&good));
    assert!(!is_agent_token(&good[..good.len() - 1]));
    assert!(!is_agent_token(&format!("mcp_agt_{}", "zz".repeat(32))));
    assert!(!is_agent_token(&"a1".repeat(36)));
    assert_eq!(shown_prefix(&good), "mcp_agt_a1a1");
}

#[test]
fn permissions_are_cumulative_and_start_with_read() {
    assert_eq!(parse_permissions(&["read"]), Ok(CallVariant::Read));
    assert_eq!(parse_permissions(&["read,write"]), Ok(CallVariant::Write));
    assert_eq!(
        parse_permissions(&["read", "write", "destructive"]),
        Ok(CallVariant::Destructive)
    );
    assert_eq!(parse_permissions(&["write"]), Err(TokenSpecError::NoRead));
    assert_eq!(parse_permissions::<&str>(&[]), Err(TokenSpecError::NoRead));
    assert!(matches!(
        parse_permissions(&["read,destructive"]),
        Err(TokenSpecError::NotCumulative(..))
    ));
    assert!(matches!(
        parse_permissions(&["read,admin"]),
        Err(TokenSpecError::UnknownPermission(p)) if p == "admin"
    ));
    assert_eq!(permissions(CallVariant::Write), ["read", "write"]);
}

#[test]
fn servers_are_names_or_the_wildcard_alone() {
    assert_eq!(parse_servers(&["*"]), Ok(ServerSet::All));
    let ServerSet::Only(set) = parse_servers(&["github, gitlab"]).unwrap() else {
        panic!("names")
    };
    assert_eq!(set.len(), 2);
    assert_eq!(
        parse_servers(&["*,github"]),
        Err(TokenSpecError::MixedWildcard)
    );
    assert_eq!(parse_servers(&[""]), Err(TokenSpecError::NoServers));
}

#[test]
fn expiry_defaults_to_30_days_and_is_bounded() {
    assert_eq!(parse_expiry(None), Ok(30 * DAY_MS));
    assert_eq!(parse_expiry(Some("7d")), Ok(7 * DAY_MS));
    assert_eq!(parse_expiry(Some("12h")), Ok(12 * 3_600_000));
    assert!(parse_expiry(Some("0d")).is_err());
    assert!(parse_expiry(Some("366d")).is_err());
    assert!(parse_expiry(Some("soon")).is_err());
}

#[test]
fn names_are_short_and_plain() {
    assert!(check_name("deploy-bot.v2").is_ok());
    assert!(check_name("").is_err());
    assert!(check_name("-x").is_err());
    assert!(check_name("a b").is_err());
    assert!(check_name(&"a".repeat(65)).is_err());
}

#[test]
fn revoked_beats_expired_and_expiry_is_exclusive() {
    let mut t = token(ServerSet::All, CallVariant::Read);
    assert_eq!(t.status(Timestamp::from_millis(999)), TokenStatus::Active);
    assert_eq!(
        t.status(Timestamp::from_millis(1_000)),
        TokenStatus::Expired
    );
    t.revoked = true;
    assert_eq!(t.status(Timestamp::from_millis(0)), TokenStatus::Revoked);
}

/// The token's limits are the admission rule's: out-of-scope servers and higher tiers are
/// refused by `admit`, with the token named.
#[test]
fn a_token_caller_is_limited_by_the_admission_rule() {
    let doc = serde_json::json!({"mcpServers": [
        {"name": "github", "command": "x"},
        {"name": "slack", "command": "x"},
    ]});
    let config: Config = serde_json::from_value(doc).unwrap();
    let settings = Settings::from_config(&config);
    let only_github = ServerSet::Only([ServerName::parse("github").unwrap()].into());
    let caller = token(only_github, CallVariant::Read).caller();
    let annotations = ToolAnnotations::default();
    let ask = |server: &str, variant: Option<CallVariant>| {
        let name = ServerName::parse(server).unwrap();
        admit(&Ask {
            caller: &caller,
            purpose: Purpose::Call(variant),
            server_name: &name,
            server: settings.server(server).map(|s| &**s),
            connection: None,
            subject: Subject::Tool {
                name: "t",
                facts: Some(ToolFacts {
                    annotations: &annotations,
                    approval: ApprovalState::Approved,
                    switched_off: false,
                }),
            },
            strict_intent: false,
        })
    };
    assert!(matches!(
        ask("slack", Some(CallVariant::Read)),
        Err(Refusal::OutOfScope { origin: GrantOrigin::Token(n) }) if n == "bot"
    ));
    // An unannotated tool needs write: a read token may not call it with any variant.
    assert!(matches!(
        ask("github", Some(CallVariant::Write)),
        Err(Refusal::TierTooLow {
            allowed: CallVariant::Read,
            ..
        })
    ));
}
