//! Writes that must not be lost when the database is unreachable: chat messages and
//! attendance of live meetings. They queue here in order and a background task writes them
//! once the database answers again — each exactly once (inserts are idempotent by id).
//!
//! The queue lives in memory: a node that dies while the database is away loses what it
//! held (its meetings are rebuilt elsewhere, without those messages).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AttendanceRow, ChatRow, Store};

/// How long a write waits for the database before it queues instead.
pub const DIRECT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a non-empty backlog retries.
const RETRY: Duration = Duration::from_secs(1);

/// One write to replay.
#[derive(Debug, Clone)]
pub enum Pending {
    Chat(ChatRow),
    Join(AttendanceRow),
    Leave { attendance_id: String, at: i64 },
}

/// The write-behind queue; cheap to clone.
#[derive(Clone, Default)]
pub struct Backlog {
    queue: Arc<Mutex<VecDeque<Pending>>>,
    wake: Arc<tokio::sync::Notify>,
}

impl Backlog {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Writes now if nothing is queued and the database answers in time; otherwise queues
    /// (behind what is already queued, so order is kept).
    pub async fn write(&self, store: &Store, p: Pending) {
        if self.is_empty() {
            match tokio::time::timeout(DIRECT_WRITE_TIMEOUT, apply(store, &p)).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => tracing::warn!(error = %e, "database write failed; queued for later"),
                Err(_) => tracing::warn!("database write timed out; queued for later"),
            }
        }
        self.lock().push_back(p);
        metrics::gauge!("db_backlog_items").set(self.len() as f64);
        self.wake.notify_one();
    }

    /// Writes queued items in order until the queue is empty or the database fails.
    pub async fn flush(&self, store: &Store) -> usize {
        let mut written = 0;
        loop {
            let Some(next) = self.lock().front().cloned() else { break };
            match apply(store, &next).await {
                Ok(()) => {
                    self.lock().pop_front();
                    written += 1;
                }
                Err(e) => {
                    tracing::debug!(error = %e, queued = self.len(), "database still unavailable");
                    break;
                }
            }
        }
        if written > 0 {
            tracing::info!(written, left = self.len(), "queued database writes caught up");
        }
        metrics::gauge!("db_backlog_items").set(self.len() as f64);
        written
    }

    /// Retries the queue until the process ends.
    pub fn spawn(&self, store: Store) -> tokio::task::JoinHandle<()> {
        let backlog = self.clone();
        tokio::spawn(async move {
            loop {
                if backlog.is_empty() {
                    backlog.wake.notified().await;
                }
                backlog.flush(&store).await;
                if !backlog.is_empty() {
                    tokio::time::sleep(RETRY).await;
                }
            }
        })
    }
}

async fn apply(store: &Store, p: &Pending) -> crate::error::Result<()> {
    match p {
        Pending::Chat(row) => store.insert_chat(row).await,
        Pending::Join(row) => store.record_join(row).await,
        Pending::Leave { attendance_id, at } => store.record_leave(attendance_id, *at).await,
    }
}
