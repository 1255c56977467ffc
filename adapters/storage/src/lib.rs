//! SQLite storage (sqlx, WAL) for what the proxy must remember across restarts: the run-time
//! state and last tool list of each upstream, tool approvals, the activity log, and the cache
//! of full tool responses, and the OAuth tokens of upstream servers. Migrations in `migrations/` are applied when the database opens.
//! Each write is one transaction, so a crash never leaves half a change behind.
#![forbid(unsafe_code)]

mod activity;
mod approvals;
mod cache;
mod db;
mod oauth;
mod prompt_approvals;
mod servers;
mod tokens;

pub use db::{Database, OpenError};
