//! Reading records out of rows, once for both databases: each backend only says how to get a
//! column ([`Cols`]); what a row means is written here.

use std::collections::BTreeSet;

use mcpproxy_application::ports::{CachedResponse, ServerRuntime, StorageError};
use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, ActivityStatus, Source};
use mcpproxy_domain::policy::ServerSet;
use mcpproxy_domain::token::AgentToken;
use mcpproxy_domain::{
    ApprovalState, CallVariant, ConnectionState, Fingerprint, ServerName, Timestamp, ToolApproval,
};
use sqlx::Row;

use crate::db::storage_err;

/// The columns of one row, as the records need them. JSON is kept as text in both databases.
pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String, StorageError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StorageError>;
    fn int(&self, col: &str) -> Result<i64, StorageError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StorageError>;
    fn flag(&self, col: &str) -> Result<bool, StorageError>;

    fn json(&self, col: &str) -> Result<Option<serde_json::Value>, StorageError> {
        self.opt_text(col)?
            .map(|t| serde_json::from_str(&t).map_err(storage_err))
            .transpose()
    }
}

macro_rules! cols_for {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, col: &str) -> Result<String, StorageError> {
                self.try_get(col).map_err(storage_err)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StorageError> {
                self.try_get(col).map_err(storage_err)
            }
            fn int(&self, col: &str) -> Result<i64, StorageError> {
                self.try_get(col).map_err(storage_err)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StorageError> {
                self.try_get(col).map_err(storage_err)
            }
            fn flag(&self, col: &str) -> Result<bool, StorageError> {
                self.try_get(col).map_err(storage_err)
            }
        }
    };
}
cols_for!(sqlx::sqlite::SqliteRow);
cols_for!(sqlx::postgres::PgRow);

pub(crate) fn runtime(row: &impl Cols) -> Result<ServerRuntime, StorageError> {
    let state = row.text("state")?;
    Ok(ServerRuntime {
        name: ServerName::parse(row.text("name")?).map_err(storage_err)?,
        state: ConnectionState::from_label(&state)
            .ok_or_else(|| StorageError(format!("unknown connection state {state:?}")))?,
        last_error: row.opt_text("last_error")?,
        tool_count: usize::try_from(row.int("tool_count")?).unwrap_or(0),
        connected_at: row.opt_int("connected_at")?.map(Timestamp::from_millis),
        updated_at: Timestamp::from_millis(row.int("updated_at")?),
    })
}

pub(crate) fn approval(row: &impl Cols) -> Result<ToolApproval, StorageError> {
    let state = row.text("state")?;
    let current_fingerprint = Fingerprint::from_hex(row.text("current_fingerprint")?);
    let approved_fingerprint = row
        .opt_text("approved_fingerprint")?
        .map(Fingerprint::from_hex);
    let current_schema: std::sync::Arc<serde_json::Value> =
        row.json("current_schema")?.unwrap_or_default().into();
    // An approved tool that has not changed has one schema: read it once.
    let approved_schema = if approved_fingerprint.as_ref() == Some(&current_fingerprint) {
        Some(current_schema.clone())
    } else {
        row.json("approved_schema")?.map(Into::into)
    };
    Ok(ToolApproval {
        server: ServerName::parse(row.text("server")?).map_err(storage_err)?,
        tool: row.text("tool")?,
        state: ApprovalState::parse(&state)
            .ok_or_else(|| StorageError(format!("unknown approval state {state:?}")))?,
        current_fingerprint,
        current_description: row.text("current_description")?,
        current_schema,
        approved_fingerprint,
        approved_description: row.opt_text("approved_description")?,
        approved_schema,
        scan: row
            .json("scan")?
            .map(|v| serde_json::from_value(v).map_err(storage_err))
            .transpose()?,
        disabled: row.flag("disabled")?,
    })
}

pub(crate) fn activity(row: &impl Cols) -> Result<ActivityRecord, StorageError> {
    let kind = row.text("type")?;
    let source = row.text("source")?;
    let status = row.text("status")?;
    let bad = |what: &str, v: &str| StorageError(format!("unknown activity {what} {v:?}"));
    Ok(ActivityRecord {
        id: row.text("id")?,
        kind: ActivityKind::parse(&kind).ok_or_else(|| bad("type", &kind))?,
        source: Source::parse(&source).ok_or_else(|| bad("source", &source))?,
        server_name: row.opt_text("server_name")?,
        tool_name: row.opt_text("tool_name")?,
        arguments: row.json("arguments")?,
        response: row.opt_text("response")?,
        response_truncated: row.flag("response_truncated")?,
        status: ActivityStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        error_message: row.opt_text("error_message")?,
        duration_ms: row.opt_int("duration_ms")?,
        timestamp: Timestamp::from_millis(row.int("timestamp")?),
        session_id: row.opt_text("session_id")?,
        request_id: row.opt_text("request_id")?,
        metadata: match row.opt_text("metadata")? {
            Some(t) => serde_json::from_str(&t).map_err(storage_err)?,
            None => Default::default(),
        },
    })
}

pub(crate) fn cached(row: &impl Cols) -> Result<CachedResponse, StorageError> {
    Ok(CachedResponse {
        key: row.text("key")?,
        value: row.text("value")?,
        created_at: Timestamp::from_millis(row.int("created_at")?),
        expires_at: Timestamp::from_millis(row.int("expires_at")?),
    })
}

pub(crate) fn agent_token(row: &impl Cols) -> Result<AgentToken, StorageError> {
    let servers: Vec<String> = serde_json::from_str(&row.text("servers")?).map_err(storage_err)?;
    let servers = if servers.iter().any(|s| s == "*") {
        ServerSet::All
    } else {
        ServerSet::Only(
            servers
                .into_iter()
                .map(ServerName::parse)
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(storage_err)?,
        )
    };
    let tier = row.text("tier")?;
    let tier = CallVariant::ALL
        .into_iter()
        .find(|v| v.operation() == tier)
        .ok_or_else(|| StorageError(format!("unknown token tier {tier:?}")))?;
    Ok(AgentToken {
        name: row.text("name")?,
        hash: row.text("hash")?,
        prefix: row.text("prefix")?,
        servers,
        tier,
        created_at: Timestamp::from_millis(row.int("created_at")?),
        expires_at: Timestamp::from_millis(row.int("expires_at")?),
        revoked: row.flag("revoked")?,
        last_used_at: row.opt_int("last_used_at")?.map(Timestamp::from_millis),
        profile_pin: row.opt_text("profile_pin")?,
    })
}

/// The text stored for an optional JSON value.
pub(crate) fn json_text<T: serde::Serialize>(
    value: Option<&T>,
) -> Result<Option<String>, StorageError> {
    value
        .map(serde_json::to_string)
        .transpose()
        .map_err(storage_err)
}
