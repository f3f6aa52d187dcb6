//! Writes that must not be lost when the database is unreachable: chat messages and
//! attendance of live meetings. They queue here in order and a background task writes them
//! once the database answers again — each exactly once (inserts are idempotent by id).
//!
//! The queue is also journaled to a file in the data directory (one JSON line per write,
//! synced to disk before the write counts as done): a node that crashes while the database
//! is away replays it when it starts again. A node that never comes back loses what it held.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AttendanceRow, ChatRow, Store};

/// How long a write waits for the database before it queues instead.
pub const DIRECT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a non-empty backlog retries.
const RETRY: Duration = Duration::from_secs(1);

/// One write to replay.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    Chat(ChatRow),
    Join(AttendanceRow),
    Leave { attendance_id: String, at: i64 },
}

/// The write-behind queue; cheap to clone.
#[derive(Clone, Default)]
pub struct Backlog {
    queue: Arc<Mutex<Queue>>,
    wake: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Pending>,
    journal: Option<Journal>,
}

struct Journal {
    path: PathBuf,
    file: File,
}

impl std::ops::Deref for Queue {
    type Target = VecDeque<Pending>;
    fn deref(&self) -> &VecDeque<Pending> {
        &self.items
    }
}

impl Backlog {
    /// A backlog journaled at `path`, holding what a previous run left there (written to the
    /// database first, in order, once it answers).
    pub fn open(path: &Path) -> std::io::Result<Backlog> {
        let mut items = VecDeque::new();
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines() {
                // A torn last line (the crash came mid-write) was never acknowledged: skip it.
                if let Ok(p) = serde_json::from_str::<Pending>(&line?) {
                    items.push_back(p);
                }
            }
        }
        if !items.is_empty() {
            tracing::warn!(items = items.len(), path = %path.display(), "replaying database writes a previous run could not make");
        }
        let file = File::options().create(true).append(true).open(path)?;
        let backlog = Backlog::default();
        *backlog.lock() = Queue { items, journal: Some(Journal { path: path.to_owned(), file }) };
        Ok(backlog)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `p` behind the rest, journaled first.
    fn enqueue(&self, p: Pending) {
        let mut q = self.lock();
        if let Some(j) = &mut q.journal {
            let line = serde_json::to_string(&p).unwrap_or_default();
            if let Err(e) = writeln!(j.file, "{line}").and_then(|()| j.file.sync_data()) {
                tracing::error!(error = %e, path = %j.path.display(), "cannot journal a queued database write");
            }
        }
        q.items.push_back(p);
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
        self.enqueue(p);
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
                    let mut q = self.lock();
                    q.items.pop_front();
                    if q.items.is_empty() {
                        // Everything is in the database: the journal starts over.
                        if let Some(j) = &mut q.journal {
                            if let Err(e) = j.file.set_len(0) {
                                tracing::warn!(error = %e, "cannot clear the write journal; it will be replayed (harmlessly)");
                            }
                        }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(n: usize) -> Pending {
        Pending::Chat(ChatRow {
            id: format!("m{n}"),
            meeting_id: 1234567890,
            from_participant: "p1".into(),
            from_user_id: None,
            from_name: "Hana".into(),
            to_participant: None,
            to_user_id: None,
            to_name: None,
            text: format!("message {n}"),
            file_id: None,
            sent_at: 1_700_000_000_000 + n as i64,
            breakout_room: None,
        })
    }

    #[test]
    fn queued_writes_survive_a_crash_in_order_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-backlog.jsonl");
        let first = Backlog::open(&path).unwrap();
        for n in 0..3 {
            first.enqueue(chat(n));
        }
        first.enqueue(Pending::Leave { attendance_id: "a1".into(), at: 42 });
        drop(first); // the process dies: nothing but the journal remains
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"kind\":\"chat\",\"id\"").unwrap();

        let again = Backlog::open(&path).unwrap();
        let items: Vec<Pending> = again.lock().items.iter().cloned().collect();
        assert_eq!(items, [chat(0), chat(1), chat(2), Pending::Leave { attendance_id: "a1".into(), at: 42 }]);
    }

    #[test]
    fn an_unjournaled_backlog_writes_no_file() {
        let b = Backlog::default();
        b.enqueue(chat(1));
        assert_eq!(b.len(), 1);
    }
}
