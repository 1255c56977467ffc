//! Connections being closed in the background, so a restart does not wait for the old
//! process to exit, yet nothing is forgotten: at shutdown every one is awaited, and what is
//! still running then is killed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use crate::connect::Connection;
use crate::process::Grace;

#[derive(Debug, Clone, Default)]
pub struct Graveyard {
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl Graveyard {
    pub fn bury(&self, connection: Connection, grace: Grace) {
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(connection.close(grace));
    }

    /// Waits up to `max` for the closings under way; aborts the rest, which drops their
    /// processes and so kills their groups.
    pub async fn drain(&self, max: Duration) {
        let mut tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let _ =
            tokio::time::timeout(max, async { while tasks.join_next().await.is_some() {} }).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
