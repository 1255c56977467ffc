//! `/activity`: the activity log.

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcpproxy_application::ports::ActivityFilter;
use mcpproxy_domain::Timestamp;
use mcpproxy_domain::activity::{ActivityRecord, ActivityStatus};
use mcpproxy_domain::sensitive::Severity;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::State;
use super::envelope::{ApiError, ApiResult, Envelope, ErrorEnvelope, ok};

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ActivityQuery {
    /// tool_call, policy_decision, quarantine_change, server_change, system_start,
    /// system_stop, config_change or tool_quarantine_change; several separated by commas
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub server: Option<String>,
    pub tool: Option<String>,
    /// success, error, blocked or rejected
    pub status: Option<String>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    /// RFC 3339
    pub start_time: Option<String>,
    /// RFC 3339
    pub end_time: Option<String>,
    /// 1–100, default 50
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// Only records where sensitive data was detected
    pub sensitive_data: Option<bool>,
    /// Only records with a detection of this type (aws_access_key, credit_card, …)
    pub detection_type: Option<String>,
    /// Only records whose worst detection is at least this severe: low, medium, high or
    /// critical
    pub severity: Option<String>,
    /// Only calls made with the agent token of this name
    pub agent: Option<String>,
    /// admin or agent
    pub auth_type: Option<String>,
}

fn time(field: &str, raw: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            Timestamp::parse_rfc3339(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field} {s:?} is not an RFC 3339 time (like 2026-11-25T12:00:00Z)"
                ))
            })
        })
        .transpose()
}

impl ActivityQuery {
    fn filter(&self) -> Result<ActivityFilter, ApiError> {
        // One type, or several separated by commas (`tool_call,policy_decision`).
        let kinds = super::activity_summary::kinds(self.kind.as_deref())?;
        let status = self
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                ActivityStatus::parse(s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "status {s:?} is not success, error, blocked or rejected"
                    ))
                })
            })
            .transpose()?;
        let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let min_severity = text(&self.severity)
            .map(|s| {
                Severity::parse(&s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "severity {s:?} is not low, medium, high or critical"
                    ))
                })
            })
            .transpose()?;
        let auth_type = text(&self.auth_type);
        if let Some(a) = auth_type.as_deref()
            && !matches!(a, "admin" | "agent")
        {
            return Err(ApiError::bad_request(format!(
                "auth_type {a:?} is not admin or agent"
            )));
        }
        Ok(ActivityFilter {
            kinds,
            server: text(&self.server),
            tool: text(&self.tool),
            status,
            session_id: text(&self.session_id),
            request_id: text(&self.request_id),
            start_time: time("start_time", self.start_time.as_deref())?,
            end_time: time("end_time", self.end_time.as_deref())?,
            limit: 0,
            offset: self.offset.unwrap_or(0),
            sensitive_data: self.sensitive_data.unwrap_or(false),
            detection_type: text(&self.detection_type),
            min_severity,
            agent: text(&self.agent),
            auth_type,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityList {
    pub activities: Vec<ActivityRecord>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// Activity records, newest first.
#[utoipa::path(get, operation_id = "list_activity", path = "/activity", tag = "activity", params(ActivityQuery),
    responses((status = 200, description = "Done", body = Envelope<ActivityList>), (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn list(state: State, Query(q): Query<ActivityQuery>) -> ApiResult<ActivityList> {
    let filter = q.filter()?;
    let offset = filter.offset;
    let page = state.0.activity.list(filter, q.limit).await?;
    Ok(ok(ActivityList {
        total: page.total,
        limit: q
            .limit
            .unwrap_or(mcpproxy_application::activity::DEFAULT_ACTIVITY_LIMIT),
        offset,
        activities: page.records,
    }))
}

/// One activity record.
#[utoipa::path(get, operation_id = "get_activity", path = "/activity/{id}", tag = "activity",
    params(("id" = String, Path, description = "The record id (a ULID)")),
    responses((status = 200, description = "Done", body = Envelope<ActivityRecord>), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope), (status = 404, description = "No such server, tool, action or record", body = ErrorEnvelope)))]
pub async fn get(state: State, Path(id): Path<String>) -> ApiResult<ActivityRecord> {
    let record = state
        .0
        .activity
        .get(&id)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no activity record {id:?}"))
        })?;
    Ok(ok(record))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// json (default) or csv
    pub format: Option<String>,
    /// Keep each call's arguments and response in JSON exports (left out by default, as
    /// the Go MCPProxy does; `GET /activity/{id}` has them)
    pub include_bodies: Option<bool>,
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Every matching record as a file: a JSON array, or CSV.
#[utoipa::path(get, operation_id = "export_activity", path = "/activity/export", tag = "activity", params(ExportQuery, ActivityQuery),
    responses((status = 200, description = "The records", content((Vec<ActivityRecord> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad input; the error says what is wrong", body = ErrorEnvelope), (status = 401, description = "Missing or wrong API key", body = ErrorEnvelope)))]
pub async fn export(
    state: State,
    Query(format): Query<ExportQuery>,
    Query(q): Query<ActivityQuery>,
) -> Result<Response, ApiError> {
    let mut records = state.0.activity.export(q.filter()?).await?;
    if !format.include_bodies.unwrap_or(false) {
        for r in &mut records {
            r.arguments = None;
            r.response = None;
        }
    }
    match format.format.as_deref().unwrap_or("json") {
        "json" => {
            let body = serde_json::to_string(&records)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response())
        }
        "csv" => {
            let mut out = String::from(
                "id,timestamp,type,source,server_name,tool_name,status,duration_ms,error_message,request_id,session_id\n",
            );
            for r in &records {
                let line = [
                    r.id.clone(),
                    r.timestamp.to_string(),
                    r.kind.as_str().to_owned(),
                    r.source.as_str().to_owned(),
                    r.server_name.clone().unwrap_or_default(),
                    r.tool_name.clone().unwrap_or_default(),
                    r.status.as_str().to_owned(),
                    r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                    r.error_message.clone().unwrap_or_default(),
                    r.request_id.clone().unwrap_or_default(),
                    r.session_id.clone().unwrap_or_default(),
                ]
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(",");
                out.push_str(&line);
                out.push('\n');
            }
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/csv; charset=utf-8"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_static("attachment; filename=\"activity.csv\""),
                    ),
                ],
                out,
            )
                .into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "format {other:?} is not json or csv"
        ))),
    }
}
