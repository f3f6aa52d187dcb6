//! Attempt limits: a keyed fixed-window counter on the server clock.
//!
//! Used both for "attempts per IP per minute" (counted before the attempt) and "failures per
//! account / per IP" (counted only when the attempt fails), which a token bucket cannot peek at.

use std::collections::HashMap;
use std::sync::Mutex;

/// Counts events per key in windows of `window_ms`; more than `limit` in one window blocks
/// the key until the window ends.
pub struct Limiter {
    limit: u32,
    window_ms: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl Limiter {
    pub fn new(limit: u32, window_ms: i64) -> Limiter {
        Limiter { limit, window_ms, windows: Mutex::new(HashMap::new()) }
    }

    /// If the key is blocked now, the seconds until it is not.
    pub fn blocked(&self, key: &str, now_ms: i64) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some(&(start, count)) if now_ms < start + self.window_ms && count >= self.limit => {
                Some(((start + self.window_ms - now_ms) as u64).div_ceil(1000))
            }
            _ => None,
        }
    }

    /// Counts one event for the key.
    pub fn record(&self, key: &str, now_ms: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows.entry(key.to_owned()).or_insert((now_ms, 0));
        if now_ms >= entry.0 + self.window_ms {
            *entry = (now_ms, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Counts one event and reports whether the key was already over its limit.
    pub fn hit(&self, key: &str, now_ms: i64) -> Option<u64> {
        let blocked = self.blocked(key, now_ms);
        if blocked.is_none() {
            self.record(key, now_ms);
        }
        blocked
    }

    /// Counts `n` events at once if they fit in the key's window; if they do not, counts
    /// nothing and gives the seconds until the window ends (an allowance, e.g. mails per hour).
    pub fn take(&self, key: &str, n: u32, now_ms: i64) -> Option<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows.entry(key.to_owned()).or_insert((now_ms, 0));
        if now_ms >= entry.0 + self.window_ms {
            *entry = (now_ms, 0);
        }
        if entry.1.saturating_add(n) > self.limit {
            return Some(((entry.0 + self.window_ms - now_ms) as u64).div_ceil(1000).max(1));
        }
        entry.1 += n;
        None
    }

    /// Forgets a key (e.g. after a successful login).
    pub fn clear(&self, key: &str) {
        self.windows.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Drops expired windows so memory stays bounded by recent activity.
    pub fn prune(&self, now_ms: i64) {
        let window = self.window_ms;
        self.windows.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (start, _)| now_ms < *start + window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_until_window_ends() {
        let l = Limiter::new(3, 60_000);
        for _ in 0..3 {
            assert_eq!(l.hit("ip", 0), None);
        }
        assert_eq!(l.hit("ip", 1_000), Some(59));
        assert_eq!(l.hit("other", 1_000), None, "keys are independent");
        assert_eq!(l.hit("ip", 60_000), None, "new window");
        assert_eq!(l.take("mail", 2, 0), None);
        assert_eq!(l.take("mail", 2, 1_000), Some(59), "2 + 2 > 3: nothing counted");
        assert_eq!(l.take("mail", 1, 1_000), None, "the one that fits is");
        assert_eq!(l.take("mail", 3, 60_000), None, "new window");
        l.prune(200_000);
        assert!(l.windows.lock().unwrap().is_empty());
    }
}
