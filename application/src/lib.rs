//! The use cases of mcpproxy and the ports they need.
//!
//! Every interface (REST, MCP tools, CLI, tray) manages the proxy through the services here, so
//! each rule (config gates, quarantine on add, who may unquarantine) is enforced in one place,
//! and every tool call, listing, search and relay asks the domain's admission rule of the
//! compiled catalog ([`catalog::CatalogView`]).
//! The services reach the outside world only through the port traits in [`ports`], which the
//! adapters implement and `bootstrap` wires; tests replace them with mockall mocks.
#![forbid(unsafe_code)]

pub mod activity;
pub mod activity_stats;
pub mod auth;
pub mod call;
pub mod catalog;
pub mod code;
pub mod connect;
pub mod diagnostics;
pub mod events;
pub mod gates;
pub mod history;
pub mod import;
pub mod isolation;
pub mod launch;
pub mod load_gate;
pub mod management;
pub mod ports;
pub mod profiles;
pub mod prompts;
pub mod registry;
pub mod relay;
pub mod savings;
pub mod search;
pub mod secrets;
pub mod semantic;
pub mod sensitive;
pub mod settings;
pub mod tokens;
pub mod upstream;

#[cfg(test)]
mod admission_tests;
#[cfg(test)]
mod testkit;

pub use activity::{ActivityDraft, ActivityLog};
pub use auth::{AuthRefusal, AuthService, ServerAuth};
pub use call::{CallError, CallRequest, CallService};
pub use catalog::{CatalogError, CatalogView, ToolCatalog, ToolEntry, ToolListing};
pub use code::{CodeError, CodeRequest, CodeService};
pub use connect::ClientService;
pub use events::EventBus;
pub use history::ToolCallHistory;
pub use import::ImportService;
pub use isolation::{DockerStatus, IsolationReport, IsolationService, ServerIsolation};
pub use management::{
    AddServer, Allowed, BulkError, BulkResult, Gate, ManagementError, ManagementService, ServerView,
};
pub use profiles::{ProfileError, ProfileService};
pub use prompts::PromptService;
pub use registry::RegistryService;
pub use relay::{ProtocolRelay, RelayRefusal};
pub use savings::TokenSavings;
pub use secrets::{SecretsError, SecretsService};
pub use sensitive::SensitiveScanner;
pub use tokens::{TokenError, TokenService};
pub use upstream::UpstreamTracker;
