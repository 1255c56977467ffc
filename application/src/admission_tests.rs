//! The admission rule and every listing agree: a tool is listed (direct mode, its server's
//! endpoint, the REST listing), found by search and described exactly when a call to it is
//! admitted — over random worlds of servers (enabled or not, quarantined or not, trusting
//! changes or not, filtering tools) and tools (annotated, changed, new, approved, blocked).

use std::collections::BTreeSet;
use std::sync::Arc;

use mcpproxy_domain::{Caller, Config, ServerConfig, ServerName, Tool, ToolAnnotations, ToolId};
use proptest::prelude::*;
use serde_json::json;

use crate::activity::ActivityLog;
use crate::call::{CallRequest, CallService};
use crate::catalog::{Listing, ToolCatalog};
use crate::search::RetrieveRequest;
use crate::testkit::{Mem, catalog};

/// What happens to a tool between the first and the second discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Kept,
    /// Its description changes (a rug pull).
    Changed,
    /// It changes, and a person approves the new version.
    ChangedApproved,
    /// It appears only in the second discovery.
    New,
    NewApproved,
    /// A person withdraws its approval.
    Blocked,
}

#[derive(Debug, Clone)]
struct ToolPlan {
    read_only: Option<bool>,
    destructive: Option<bool>,
    fate: Fate,
}

#[derive(Debug, Clone, Copy)]
enum Filter {
    None,
    /// `disabled_tools` names this tool.
    Disable(usize),
    /// `enabled_tools` names only this tool.
    Enable(usize),
}

#[derive(Debug, Clone)]
struct ServerPlan {
    enabled: bool,
    quarantined: bool,
    auto: bool,
    filter: Filter,
    tools: Vec<ToolPlan>,
}

fn any_tool() -> impl Strategy<Value = ToolPlan> {
    let hint = || prop_oneof![Just(None), Just(Some(true)), Just(Some(false))];
    let fate = prop_oneof![
        Just(Fate::Kept),
        Just(Fate::Changed),
        Just(Fate::ChangedApproved),
        Just(Fate::New),
        Just(Fate::NewApproved),
        Just(Fate::Blocked),
    ];
    (hint(), hint(), fate).prop_map(|(read_only, destructive, fate)| ToolPlan {
        read_only,
        destructive,
        fate,
    })
}

fn any_server() -> impl Strategy<Value = ServerPlan> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(Filter::None),
            (0..4usize).prop_map(Filter::Disable),
            (0..4usize).prop_map(Filter::Enable)
        ],
        prop::collection::vec(any_tool(), 1..5),
    )
        .prop_map(|(enabled, quarantined, auto, filter, tools)| ServerPlan {
            enabled,
            quarantined,
            auto,
            filter,
            tools,
        })
}

fn server_name(i: usize) -> ServerName {
    ServerName::parse(format!("s{i}")).unwrap()
}

/// Names no other name contains, for the naive search of the test index.
fn tool_name(i: usize, j: usize) -> String {
    format!("s{i}_t{j}_x")
}

fn tool(i: usize, j: usize, plan: &ToolPlan, version: &str) -> Tool {
    let mut t = Tool::new(tool_name(i, j), version, json!({"type": "object"}));
    t.annotations = ToolAnnotations {
        read_only_hint: plan.read_only,
        destructive_hint: plan.destructive,
        ..Default::default()
    };
    t
}

fn config(plans: &[ServerPlan]) -> Config {
    let servers = plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut s = ServerConfig::new(server_name(i));
            s.command = "x".into();
            s.enabled = p.enabled;
            s.quarantined = Some(p.quarantined);
            if p.auto {
                s.trust_mode = Some("auto".into());
            }
            match p.filter {
                Filter::None => {}
                Filter::Disable(j) => s.disabled_tools = vec![tool_name(i, j)],
                Filter::Enable(j) => s.enabled_tools = vec![tool_name(i, j)],
            }
            s
        })
        .collect();
    Config {
        servers,
        ..Config::default()
    }
}

/// Discovers, changes, approves and blocks as `plans` say.
async fn build(mem: &Arc<Mem>, plans: &[ServerPlan]) -> Arc<ToolCatalog> {
    *mem.config.lock().unwrap() = config(plans);
    let cat = catalog(mem);
    let api = Caller::from(mcpproxy_domain::activity::Source::Api);
    for (i, plan) in plans.iter().enumerate() {
        let first = plan
            .tools
            .iter()
            .enumerate()
            .filter(|(_, t)| !matches!(t.fate, Fate::New | Fate::NewApproved))
            .map(|(j, t)| tool(i, j, t, "v1"))
            .collect();
        cat.discovered(&server_name(i), first).await.unwrap();
        let second = plan
            .tools
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let changed = matches!(t.fate, Fate::Changed | Fate::ChangedApproved);
                tool(i, j, t, if changed { "v2" } else { "v1" })
            })
            .collect();
        cat.discovered(&server_name(i), second).await.unwrap();
        for (j, t) in plan.tools.iter().enumerate() {
            let name = vec![tool_name(i, j)];
            let server = format!("s{i}");
            match t.fate {
                Fate::ChangedApproved | Fate::NewApproved => {
                    cat.approve(&server, Some(&name), &api).await.unwrap();
                }
                Fate::Blocked => {
                    cat.block(&server, Some(&name), &api).await.unwrap();
                }
                _ => {}
            }
        }
    }
    cat
}

/// What a careful reader of the rules expects, written out by hand.
fn expected(plan: &ServerPlan, j: usize) -> bool {
    let tool = &plan.tools[j];
    // A trusted server whose first list was empty has its second list as the baseline.
    let first_empty = plan
        .tools
        .iter()
        .all(|t| matches!(t.fate, Fate::New | Fate::NewApproved));
    let approved = match tool.fate {
        Fate::Kept => !plan.quarantined || plan.auto,
        Fate::New => plan.auto || (!plan.quarantined && first_empty),
        Fate::Changed => plan.auto,
        Fate::ChangedApproved | Fate::NewApproved => true,
        Fate::Blocked => false,
    };
    let filtered = match plan.filter {
        Filter::None => true,
        Filter::Disable(k) => k != j,
        Filter::Enable(k) => k == j,
    };
    plan.enabled && !plan.quarantined && filtered && approved
}

/// Every page of a listing, by name.
fn paged(cat: &ToolCatalog, listing: Listing<'_>) -> BTreeSet<String> {
    let caller = Caller::agent();
    let mut names = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        // Small pages: every cursor is exercised.
        let page = cat
            .view()
            .page(&caller, listing, cursor.as_deref(), 200)
            .unwrap();
        for json in &page.tools {
            let tool: serde_json::Value = serde_json::from_str(json).unwrap();
            assert!(
                names.insert(tool["name"].as_str().unwrap().to_owned()),
                "listed twice: {tool}"
            );
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return names,
        }
    }
}

async fn check(plans: Vec<ServerPlan>) -> Result<(), TestCaseError> {
    let mem = Arc::new(Mem::default());
    let cat = build(&mem, &plans).await;
    let activity = Arc::new(ActivityLog::new(mem.clone(), mem.clone(), mem.clone()));
    let calls = CallService::new(cat.clone(), mem.clone(), mem.clone(), activity, mem.clone());
    let agent = Caller::agent();
    let direct = paged(&cat, Listing::Direct);
    let listing = cat.all_tools(&agent);
    for (i, plan) in plans.iter().enumerate() {
        let server = server_name(i);
        let own = paged(&cat, Listing::Server(&server));
        for j in 0..plan.tools.len() {
            let id = ToolId::new(server.clone(), tool_name(i, j)).unwrap();
            let variant = cat.view().tool(&id).unwrap().tool.annotations.call_with();
            let called = calls
                .call(CallRequest {
                    tool: id.to_string(),
                    variant: Some(variant),
                    ..CallRequest::default()
                })
                .await
                .is_ok();
            prop_assert_eq!(called, expected(plan, j), "call of {}", id);
            let listed = id.direct_name().is_some_and(|n| direct.contains(&n));
            prop_assert_eq!(listed, called, "direct {}", id);
            prop_assert_eq!(own.contains(id.tool()), called, "own endpoint {}", id);
            let found = cat
                .retrieve(
                    &RetrieveRequest {
                        query: id.tool().to_owned(),
                        limit: Some(100),
                        ..RetrieveRequest::default()
                    },
                    &agent,
                )
                .await
                .unwrap();
            let searchable = found.tools.iter().any(|t| t.name == id.to_string());
            prop_assert_eq!(searchable, called, "search {}", id);
            let described = cat.describe(&[id.to_string()], &agent).unwrap();
            prop_assert_eq!(described.definitions.len() == 1, called, "describe {}", id);
            let row = listing
                .tools
                .iter()
                .find(|r| r.id == id.to_string())
                .unwrap();
            prop_assert_eq!(row.enabled, called, "REST listing {}", id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_tool_is_listed_or_searchable_iff_a_call_to_it_is_admitted(
        plans in prop::collection::vec(any_server(), 1..4)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check(plans))?;
    }
}
