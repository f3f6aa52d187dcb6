//! Whether a room's live captions are on, and since when (caption times count from it).
//! Turning them on and off is in live/captions.rs.

use std::sync::Mutex;
use std::time::Instant;

/// The captions state of one room.
#[derive(Default)]
pub(crate) struct RoomCaptions {
    pub(in crate::live) inner: Mutex<State>,
}

#[derive(Default)]
pub(in crate::live) struct State {
    pub(in crate::live) on: bool,
    /// When captions were first turned on in this live meeting (caption times count from
    /// it), as an instant and in Unix ms.
    pub(in crate::live) epoch: Option<(Instant, i64)>,
}

impl RoomCaptions {
    pub(in crate::live) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether captions are on.
    pub(crate) fn is_on(&self) -> bool {
        self.lock().on
    }

    /// Unix ms that caption times count from, once captions were on.
    pub(in crate::live) fn epoch_ms(&self) -> Option<i64> {
        self.lock().epoch.map(|(_, ms)| ms)
    }
}
