//! The rules of mcpproxy, free of I/O: what a server, a tool and a `server:tool` id are; the
//! configuration document and its validation; tool fingerprints and the approval states that
//! guard against tool poisoning and rug pulls; the connection state machine of an upstream and
//! its backoff; call variants and the intent-vs-annotation rule; the one admission rule (may this caller use
//! this tool now?) and the configuration as the running proxy uses it; the activity record; and the
//! events the rest of the program reacts to. Everything here is plain data and pure functions,
//! so every rule can be tested without a runtime, a file or a socket.
#![forbid(unsafe_code)]

pub mod activity;
pub mod activity_stats;
pub mod approval;
pub mod backoff;
pub mod call;
pub mod code;
pub mod config;
pub mod connection;
pub mod diagnostics;
pub mod duration;
pub mod entropy;
pub mod event;
pub mod fingerprint;
pub mod isolation;
pub mod launch;
pub mod limits;
pub mod load_gate;
pub mod merge;
pub mod name;
pub mod netguard;
pub mod plaintext;
pub mod poison;
pub mod policy;
pub mod profile;
pub mod prompt;
pub mod records;
pub mod redact;
pub mod registry;
pub mod registry_derive;
pub mod secret;
pub mod sensitive;
pub mod settings;
pub mod storage;
pub mod time;
pub mod tls;
pub mod token;
pub mod tool;

pub use activity::{ActivityKind, ActivityRecord, ActivityStatus, Source};
pub use approval::{ApprovalDecision, ApprovalState, ToolApproval, Trust};
pub use backoff::BackoffPolicy;
pub use call::{CallVariant, DataSensitivity, Intent, IntentError};
pub use config::{Config, SearchConfig, ServerConfig, Transport, TrustMode, ValidationError};
pub use connection::{ConnectionEvent, ConnectionState, InvalidTransition};
pub use duration::GoDuration;
pub use event::{DomainEvent, ServerChange};
pub use fingerprint::Fingerprint;
pub use isolation::{Isolation, IsolationMode, IsolationView};
pub use name::{NameError, ServerName, ToolId};
pub use policy::{Admitted, Caller, CallerKind, Purpose, Refusal};
pub use settings::{ServerSettings, Settings};
pub use time::Timestamp;
pub use tool::{Tool, ToolAnnotations};
