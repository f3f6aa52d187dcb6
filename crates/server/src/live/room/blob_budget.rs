//! How many E2EE key blobs each participant may still relay in the current window, so one
//! cannot flood the others.

use std::collections::HashMap;
use std::sync::Mutex;

/// Window of the per-sender blob budget.
const BUDGET_WINDOW_MS: i64 = 2_000;

/// Blobs each sender may relay per window, so one participant cannot flood the others.
#[derive(Default)]
pub(crate) struct BlobBudget {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl BlobBudget {
    /// Counts one blob of `sender`; `false` when over `limit` in the current window.
    pub(in crate::live) fn spend(&self, sender: &str, limit: u32, now_ms: i64) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 1024 {
            windows.retain(|_, (start, _)| now_ms < *start + BUDGET_WINDOW_MS);
        }
        let entry = windows.entry(sender.to_owned()).or_insert((now_ms, 0));
        if now_ms >= entry.0 + BUDGET_WINDOW_MS {
            *entry = (now_ms, 0);
        }
        if entry.1 >= limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refills_each_window() {
        let b = BlobBudget::default();
        assert!((0..3).all(|_| b.spend("p", 3, 0)));
        assert!(!b.spend("p", 3, 1_999));
        assert!(b.spend("q", 3, 1_999), "senders are independent");
        assert!(b.spend("p", 3, 2_000));
    }
}
