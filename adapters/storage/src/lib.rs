//! Storage of what the proxy must remember across restarts: the run-time state and last tool
//! list of each upstream, tool and prompt approvals (with scans and switches), the activity
//! log, the cache of full tool responses, the OAuth tokens and clients of upstream servers,
//! and agent tokens. Two backends behind the same ports: SQLite (sqlx, WAL), the embedded
//! default for one proxy, and PostgreSQL for the replicas of a team ([`Location`]).
//! Migrations per dialect (`migrations/`, `migrations/postgres/`) are applied when the
//! database opens. Each write is one transaction, so a crash never leaves half a change behind.
#![forbid(unsafe_code)]

mod activity;
mod approvals;
mod cache;
mod db;
mod oauth;
mod postgres;
mod prompt_approvals;
mod rows;
mod servers;
mod store;
mod tokens;

pub use db::{Database, OpenError};
pub use postgres::{PgChanges, PgDatabase, redact_url};
pub use store::{Location, Store, open};
