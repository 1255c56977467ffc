//! Sensitive-data detection on tool calls, off the call's path: the activity log's writer asks
//! [`SensitiveScanner`] about each call record before storing it, and the findings (types,
//! where, severity — never the values) go into the record's metadata as `sensitive_data` and
//! out on the event bus as `sensitive_data.detected`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use mcpproxy_domain::DomainEvent;
use mcpproxy_domain::activity::{ActivityKind, ActivityRecord};
use mcpproxy_domain::config::SensitiveDataConfig;
use mcpproxy_domain::sensitive::{Detector, ScanReport};
use serde_json::Value;

use crate::ports::ConfigStore;

/// The detector of the config in force, compiled once per change of its settings.
pub struct SensitiveScanner {
    config: Arc<dyn ConfigStore>,
    compiled: Mutex<Option<(SensitiveDataConfig, Option<Arc<Detector>>)>>,
}

impl std::fmt::Debug for SensitiveScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensitiveScanner").finish_non_exhaustive()
    }
}

impl SensitiveScanner {
    pub fn new(config: Arc<dyn ConfigStore>) -> Self {
        Self {
            config,
            compiled: Mutex::new(None),
        }
    }

    /// The detector, or `None` when detection is off (or its patterns do not compile, which
    /// config validation refuses before it gets here).
    pub fn detector(&self) -> Option<Arc<Detector>> {
        let config = self.config.current();
        let settings = config.sensitive_data();
        let mut slot = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, detector)) = slot.as_ref()
            && seen == settings.as_ref()
        {
            return detector.clone();
        }
        let detector = if settings.enabled {
            match Detector::new(&settings) {
                Ok(d) => Some(Arc::new(d)),
                Err(errors) => {
                    tracing::error!(
                        ?errors,
                        "sensitive data detection is off: its patterns do not compile"
                    );
                    None
                }
            }
        } else {
            None
        };
        *slot = Some((settings.into_owned(), detector.clone()));
        detector
    }

    /// Scans a call record (its arguments, and `response`: the full answer, of which the
    /// record keeps only the head); puts what was found into its metadata.
    pub fn scan_record(&self, record: &mut ActivityRecord, response: Option<&str>) {
        if record.kind != ActivityKind::ToolCall {
            return;
        }
        let Some(detector) = self.detector() else {
            return;
        };
        let started = Instant::now();
        let report = detector.scan_call(
            record.arguments.as_ref(),
            response.or(record.response.as_deref()),
        );
        if !report.detected {
            return;
        }
        let mut value = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Some(obj) = value.as_object_mut() {
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            obj.insert("scan_duration_ms".to_owned(), ms.into());
        }
        record.metadata.insert("sensitive_data".to_owned(), value);
    }
}

/// The event for a record with detections, if it has any.
pub fn detected_event(record: &ActivityRecord) -> Option<DomainEvent> {
    let report: ScanReport =
        serde_json::from_value(record.metadata.get("sensitive_data")?.clone()).ok()?;
    Some(DomainEvent::SensitiveDataDetected {
        activity_id: record.id.clone(),
        server_name: record.server_name.clone(),
        tool_name: record.tool_name.clone(),
        highest_severity: report.highest_severity?,
        detection_count: report.detection_count,
        types: report.types().into_iter().map(str::to_owned).collect(),
        locations: {
            let mut l: Vec<String> = report
                .detections
                .iter()
                .map(|d| d.location.clone())
                .collect();
            l.dedup();
            l
        },
    })
}
