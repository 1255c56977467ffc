//! Recording activity: every use case that changes something or calls a tool leaves a record,
//! and every record is announced on the event bus.

use std::sync::Arc;

use mcpproxy_domain::activity::{ActivityKind, ActivityRecord, ActivityStatus, Source};
use mcpproxy_domain::{DomainEvent, Timestamp};
use serde_json::{Map, Value};

use crate::ports::{
    ActivityFilter, ActivityPage, ActivityRepository, Clock, EventPublisher, StorageError,
};
use crate::sensitive::SensitiveScanner;

/// The page size of activity listings, unless asked otherwise.
pub const DEFAULT_ACTIVITY_LIMIT: u32 = 50;
/// The largest page of an activity listing.
pub const MAX_ACTIVITY_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActivityQueryError {
    #[error("limit must be between 1 and {MAX_ACTIVITY_LIMIT}, got {0}")]
    BadLimit(u32),
    #[error("start_time is after end_time")]
    BadRange,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A record before it has an id and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityDraft {
    /// The record's id when it must be known before it is written (a script's record,
    /// which its tool calls name as their parent); a new ULID otherwise.
    pub id: Option<String>,
    pub kind: ActivityKind,
    pub source: Source,
    pub status: ActivityStatus,
    pub server_name: Option<String>,
    pub tool_name: Option<String>,
    pub arguments: Option<Value>,
    pub response: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: Option<i64>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub metadata: Map<String, Value>,
}

impl ActivityDraft {
    pub fn new(kind: ActivityKind, source: Source, status: ActivityStatus) -> Self {
        Self {
            id: None,
            kind,
            source,
            status,
            server_name: None,
            tool_name: None,
            arguments: None,
            response: None,
            error_message: None,
            duration_ms: None,
            session_id: None,
            request_id: None,
            metadata: Map::new(),
        }
    }

    pub fn server(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    pub fn tool(mut self, name: impl Into<String>) -> Self {
        self.tool_name = Some(name.into());
        self
    }

    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    pub fn error(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }
}

/// The activity log use case.
pub struct ActivityLog {
    pub(crate) repo: Arc<dyn ActivityRepository>,
    events: Arc<dyn EventPublisher>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Looks for sensitive data in call records before they are stored.
    sensitive: Option<Arc<SensitiveScanner>>,
    /// The background writer of [`ActivityLog::record_soon`], once started.
    writer: std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>,
    /// The replica whose records these are, when several share one log.
    replica: Option<String>,
}

/// A record on its way to storage, with the full response of a call (the record keeps only
/// its head) while it waits for the sensitive-data scan.
struct Pending {
    record: ActivityRecord,
    response: Option<String>,
}

/// Work for the background writer.
enum Job {
    Write(Box<Pending>),
    /// Answered once everything sent before is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The most records written in one transaction.
const BATCH: usize = 512;

/// Responses above this many bytes in a batch are scanned on a blocking thread.
const LARGE_SCAN: usize = 256 * 1024;

/// How long the writer gathers records before it writes them: one transaction per window
/// instead of one per call, because each wakes SQLite's worker thread and (through the
/// data directory's watch) the config watcher. Readers of the log flush first, so they
/// never see it late; only the live events come up to this much later.
const WINDOW: std::time::Duration = std::time::Duration::from_millis(20);

impl std::fmt::Debug for ActivityLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityLog").finish_non_exhaustive()
    }
}

impl ActivityLog {
    pub fn new(
        repo: Arc<dyn ActivityRepository>,
        events: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            events,
            clock,
            sensitive: None,
            writer: std::sync::OnceLock::new(),
            replica: None,
        }
    }

    /// Marks every record with `replica_id` (the proxies of a team share one log).
    pub fn with_replica(mut self, id: impl Into<String>) -> Self {
        self.replica = Some(id.into());
        self
    }

    /// Scans call records for sensitive data (in the writer, off the call's path).
    pub fn with_sensitive_data(mut self, scanner: Arc<SensitiveScanner>) -> Self {
        self.sensitive = Some(scanner);
        self
    }

    /// Runs the sensitive-data scan over `pending`: on this thread when small, on a blocking
    /// thread when there is a lot to read, so the runtime's threads stay free.
    async fn scan(&self, mut pending: Vec<Pending>) -> Vec<ActivityRecord> {
        let Some(scanner) = self.sensitive.clone() else {
            return pending.into_iter().map(|p| p.record).collect();
        };
        let size: usize = pending
            .iter()
            .map(|p| p.response.as_ref().map_or(0, String::len))
            .sum();
        let run = move |pending: &mut Vec<Pending>| {
            for p in pending.iter_mut() {
                scanner.scan_record(&mut p.record, p.response.as_deref());
            }
        };
        if size > LARGE_SCAN {
            let scanned = tokio::task::spawn_blocking(move || {
                run(&mut pending);
                pending
            })
            .await;
            match scanned {
                Ok(p) => return p.into_iter().map(|p| p.record).collect(),
                Err(e) => {
                    tracing::error!("the sensitive-data scan failed: {e}");
                    return Vec::new();
                }
            }
        }
        run(&mut pending);
        pending.into_iter().map(|p| p.record).collect()
    }

    /// Starts the background writer that [`ActivityLog::record_soon`] uses: it writes what
    /// comes in batches, one transaction each, so recording never holds up a call.
    pub fn start_writer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let (sender, mut jobs) = tokio::sync::mpsc::channel::<Job>(4 * BATCH);
        let _ = self.writer.set(sender);
        let log = self.clone();
        tokio::spawn(async move {
            while let Some(first) = jobs.recv().await {
                let until = tokio::time::Instant::now() + WINDOW;
                let mut pending = Vec::new();
                let mut flushed = Vec::new();
                let mut next = Some(first);
                while let Some(job) = next.take() {
                    match job {
                        Job::Write(p) => pending.push(*p),
                        Job::Flush(ack) => flushed.push(ack),
                    }
                    // A flush is waited for: write at once.
                    if pending.len() < BATCH && flushed.is_empty() {
                        next = tokio::time::timeout_at(until, jobs.recv())
                            .await
                            .ok()
                            .flatten();
                    }
                }
                let records = log.scan(pending).await;
                if !records.is_empty() {
                    match log.repo.append_all(&records).await {
                        Ok(()) => records.iter().for_each(|r| log.announce(r)),
                        Err(e) => tracing::error!(
                            error = %e,
                            lost = records.len(),
                            "could not record activity"
                        ),
                    }
                }
                for ack in flushed {
                    let _ = ack.send(());
                }
            }
        })
    }

    /// Waits until every record handed to the background writer is written.
    pub async fn flush(&self) {
        if let Some(writer) = self.writer.get() {
            let (ack, done) = tokio::sync::oneshot::channel();
            if writer.send(Job::Flush(ack)).await.is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Records in the background when the writer runs (the record is written and
    /// announced a moment later, in a batch), else at once. For the call path, which must
    /// not wait for the database.
    pub async fn record_soon(&self, draft: ActivityDraft) {
        let pending = self.build(draft);
        match self.writer.get() {
            Some(writer) => {
                if let Err(tokio::sync::mpsc::error::SendError(Job::Write(pending))) =
                    writer.send(Job::Write(Box::new(pending))).await
                {
                    self.write_pending(*pending).await;
                }
            }
            None => self.write_pending(pending).await,
        }
    }

    /// Scans and stores one record now.
    async fn write_pending(&self, pending: Pending) {
        for record in self.scan(vec![pending]).await {
            self.write_now(record).await;
        }
    }

    /// Stores the record and announces it, or logs why it could not.
    async fn write_now(&self, record: ActivityRecord) {
        if let Err(e) = self.store(record).await {
            tracing::error!(error = %e, "could not record activity");
        }
    }

    async fn store(&self, record: ActivityRecord) -> Result<ActivityRecord, StorageError> {
        self.repo.append(&record).await?;
        self.announce(&record);
        Ok(record)
    }

    fn announce(&self, record: &ActivityRecord) {
        if let Some(event) = crate::sensitive::detected_event(record) {
            self.events.publish(event);
        }
        self.events.publish(DomainEvent::ActivityRecorded {
            id: record.id.clone(),
            kind: record.kind,
            server_name: record.server_name.clone(),
            tool_name: record.tool_name.clone(),
            status: record.status,
            source: record.source,
            duration_ms: record.duration_ms,
            error_message: record.error_message.clone(),
            timestamp: record.timestamp,
        });
    }

    /// Stores the record and announces it.
    pub async fn record(&self, draft: ActivityDraft) -> Result<ActivityRecord, StorageError> {
        let mut records = self.scan(vec![self.build(draft)]).await;
        match records.pop() {
            Some(record) => self.store(record).await,
            None => Err(StorageError("the record was lost in the scan".to_owned())),
        }
    }

    fn build(&self, draft: ActivityDraft) -> Pending {
        let now = self.clock.now();
        let ms = u64::try_from(now.millis()).unwrap_or(0);
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        let mut record = ActivityRecord {
            id: draft
                .id
                .unwrap_or_else(|| ulid::Ulid::from_datetime(at).to_string()),
            kind: draft.kind,
            source: draft.source,
            server_name: draft.server_name,
            tool_name: draft.tool_name,
            arguments: draft.arguments,
            response: None,
            response_truncated: false,
            status: draft.status,
            error_message: draft.error_message,
            duration_ms: draft.duration_ms,
            timestamp: now,
            session_id: draft.session_id,
            request_id: draft.request_id,
            metadata: draft.metadata,
        };
        if let Some(replica) = &self.replica {
            record
                .metadata
                .insert("replica_id".to_owned(), replica.clone().into());
        }
        let mut full = None;
        if let Some(response) = draft.response {
            // The scan reads the whole answer, up to its own limit.
            if self.sensitive.is_some() && record.kind == ActivityKind::ToolCall {
                record.set_response(response.clone());
                full = Some(response);
            } else {
                record.set_response(response);
            }
        }
        Pending {
            record,
            response: full,
        }
    }

    /// Applies the retention of the config (`activity_retention_days`,
    /// `activity_max_records`): deletes older records and the oldest beyond the cap;
    /// returns how many went. A limit of 0 or less keeps everything on that count.
    pub async fn prune(&self, retention_days: i64, max_records: i64) -> Result<u64, StorageError> {
        const DAY_MS: i64 = 24 * 60 * 60 * 1000;
        let before = if retention_days > 0 {
            self.clock
                .now()
                .plus_millis(-retention_days.saturating_mul(DAY_MS))
        } else {
            Timestamp::from_millis(i64::MIN)
        };
        let cap = u64::try_from(max_records)
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(u64::MAX);
        self.flush().await;
        self.repo.prune(before, cap).await
    }

    /// Prunes now and then every `every`, with the retention the config holds at the time.
    pub async fn prune_forever(
        self: Arc<Self>,
        config: Arc<dyn crate::ports::ConfigStore>,
        every: std::time::Duration,
    ) {
        loop {
            let c = config.current();
            match self
                .prune(c.activity_retention_days, c.activity_max_records)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "activity retention applied"),
                Err(e) => tracing::warn!(error = %e, "cannot apply the activity retention"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// A page of records matching `filter`, newest first; `limit` defaults to 50.
    pub async fn list(
        &self,
        mut filter: ActivityFilter,
        limit: Option<u32>,
    ) -> Result<ActivityPage, ActivityQueryError> {
        let limit = limit.unwrap_or(DEFAULT_ACTIVITY_LIMIT);
        if !(1..=MAX_ACTIVITY_LIMIT).contains(&limit) {
            return Err(ActivityQueryError::BadLimit(limit));
        }
        if let (Some(start), Some(end)) = (filter.start_time, filter.end_time)
            && start > end
        {
            return Err(ActivityQueryError::BadRange);
        }
        filter.limit = limit;
        // What was recorded before this question is in the answer.
        self.flush().await;
        Ok(self.repo.list(&filter).await?)
    }

    pub async fn get(&self, id: &str) -> Result<Option<ActivityRecord>, StorageError> {
        self.flush().await;
        self.repo.get(id).await
    }

    /// Every record matching `filter` (for export), newest first.
    pub async fn export(
        &self,
        filter: ActivityFilter,
    ) -> Result<Vec<ActivityRecord>, ActivityQueryError> {
        if let (Some(start), Some(end)) = (filter.start_time, filter.end_time)
            && start > end
        {
            return Err(ActivityQueryError::BadRange);
        }
        self.flush().await;
        Ok(crate::ports::every_record(self.repo.as_ref(), &filter).await?)
    }

    /// Records, but a storage failure is logged rather than failing the operation that
    /// caused the record: losing an audit line must not undo a user's change.
    pub async fn record_or_log(&self, draft: ActivityDraft) {
        self.write_pending(self.build(draft)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockActivityRepository, MockClock, MockEventPublisher};

    #[tokio::test]
    async fn records_get_an_id_a_time_and_an_event() {
        let mut repo = MockActivityRepository::new();
        repo.expect_append()
            .withf(|r| r.kind == ActivityKind::ServerChange && r.id.len() == 26)
            .times(1)
            .returning(|_| Ok(()));
        let mut events = MockEventPublisher::new();
        events
            .expect_publish()
            .withf(|e| e.name() == "activity.server_change")
            .times(1)
            .return_const(());
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(Timestamp::from_millis(1_700_000_000_000));
        let log = ActivityLog::new(Arc::new(repo), Arc::new(events), Arc::new(clock));
        let draft = ActivityDraft::new(
            ActivityKind::ServerChange,
            Source::Api,
            ActivityStatus::Success,
        )
        .server("gh");
        let rec = log.record(draft).await.unwrap();
        assert_eq!(rec.timestamp.millis(), 1_700_000_000_000);
        assert_eq!(rec.server_name.as_deref(), Some("gh"));
        let ulid: ulid::Ulid = rec.id.parse().unwrap();
        assert_eq!(ulid.timestamp_ms(), 1_700_000_000_000);
    }

    #[tokio::test]
    async fn recorded_soon_means_written_in_batches_and_announced_by_flush() {
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut repo = MockActivityRepository::new();
        let sink = written.clone();
        repo.expect_append_all().returning(move |records| {
            sink.lock().unwrap().push(records.len());
            Ok(())
        });
        repo.expect_append().never();
        let mut events = MockEventPublisher::new();
        events
            .expect_publish()
            .withf(|e| e.name() == "activity.tool_call")
            .times(100)
            .return_const(());
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(Timestamp::from_millis(1_700_000_000_000));
        let log = Arc::new(ActivityLog::new(
            Arc::new(repo),
            Arc::new(events),
            Arc::new(clock),
        ));
        let writer = log.start_writer();
        for _ in 0..100 {
            let draft =
                ActivityDraft::new(ActivityKind::ToolCall, Source::Mcp, ActivityStatus::Success);
            log.record_soon(draft).await;
        }
        log.flush().await;
        let batches = written.lock().unwrap().clone();
        assert_eq!(
            batches.iter().sum::<usize>(),
            100,
            "every record is written"
        );
        assert!(batches.iter().all(|&n| n <= BATCH));
        writer.abort();
    }

    #[tokio::test]
    async fn retention_deletes_before_the_cutoff_and_beyond_the_cap() {
        const NOW: i64 = 1_700_000_000_000;
        let mut repo = MockActivityRepository::new();
        repo.expect_prune()
            .withf(|before, cap| before.millis() == NOW - 90 * 86_400_000 && *cap == 100_000)
            .times(1)
            .returning(|_, _| Ok(7));
        repo.expect_prune()
            .withf(|before, cap| before.millis() == i64::MIN && *cap == u64::MAX)
            .times(1)
            .returning(|_, _| Ok(0));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(Timestamp::from_millis(NOW));
        let log = ActivityLog::new(
            Arc::new(repo),
            Arc::new(MockEventPublisher::new()),
            Arc::new(clock),
        );
        assert_eq!(log.prune(90, 100_000).await.unwrap(), 7);
        assert_eq!(log.prune(0, 0).await.unwrap(), 0, "0 keeps everything");
    }
}
