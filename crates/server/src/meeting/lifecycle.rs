//! Where a meeting is in its life (status) and what sort of meeting it is (kind), and the one
//! rule that says when a meeting is over for good.

/// A meeting's status as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingStatus {
    /// Not running (yet, or between two occurrences of a recurring meeting).
    Scheduled,
    Live,
    /// The last session ended; for a recurring meeting or a personal room the next one may come.
    Ended,
    Cancelled,
}

impl MeetingStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingStatus::Scheduled => "scheduled",
            MeetingStatus::Live => "live",
            MeetingStatus::Ended => "ended",
            MeetingStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<MeetingStatus> {
        [MeetingStatus::Scheduled, MeetingStatus::Live, MeetingStatus::Ended, MeetingStatus::Cancelled]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What sort of meeting it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingKind {
    /// Planned for a time.
    Scheduled,
    /// Started at once, without a planned time.
    Instant,
    /// A user's personal room: always there, never scheduled or cancelled.
    Personal,
}

impl MeetingKind {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingKind::Scheduled => "scheduled",
            MeetingKind::Instant => "instant",
            MeetingKind::Personal => "personal",
        }
    }

    pub fn parse(s: &str) -> Option<MeetingKind> {
        [MeetingKind::Scheduled, MeetingKind::Instant, MeetingKind::Personal].into_iter().find(|k| k.as_str() == s)
    }
}

/// Why a meeting is over for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Cancelled,
    Ended,
}

impl Closed {
    /// The error code and the one message each reason has, wherever it is reported.
    pub fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            Closed::Cancelled => ("meeting_cancelled", "this meeting was cancelled"),
            Closed::Ended => ("meeting_ended", "this meeting has ended"),
        }
    }
}

/// A meeting's status with what decides whether "ended" is final: its kind and recurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub status: MeetingStatus,
    pub kind: MeetingKind,
    pub recurring: bool,
}

impl Lifecycle {
    /// Over for good: cancelled, or a one-off meeting that ended. A recurring meeting is
    /// `ended` between occurrences and a personal room between uses; both go on.
    pub fn closed(self) -> Option<Closed> {
        match self.status {
            MeetingStatus::Cancelled => Some(Closed::Cancelled),
            MeetingStatus::Ended if !self.recurring && self.kind != MeetingKind::Personal => Some(Closed::Ended),
            _ => None,
        }
    }

    /// People may join (it may be live now, or start when someone enters).
    pub fn is_joinable(self) -> bool {
        self.closed().is_none()
    }

    /// Its details may still change.
    pub fn is_editable(self) -> bool {
        self.closed().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(status: MeetingStatus, kind: MeetingKind, recurring: bool) -> Lifecycle {
        Lifecycle { status, kind, recurring }
    }

    #[test]
    fn ended_is_final_only_for_one_off_meetings() {
        use MeetingKind as K;
        use MeetingStatus as S;
        assert_eq!(life(S::Ended, K::Scheduled, false).closed(), Some(Closed::Ended));
        assert_eq!(life(S::Ended, K::Instant, false).closed(), Some(Closed::Ended));
        assert!(life(S::Ended, K::Scheduled, true).is_joinable(), "a recurring meeting between occurrences");
        assert!(life(S::Ended, K::Personal, false).is_editable(), "a personal room between uses");
        assert_eq!(life(S::Cancelled, K::Scheduled, true).closed(), Some(Closed::Cancelled));
        assert!(life(S::Live, K::Instant, false).is_joinable());
        for s in [S::Scheduled, S::Live, S::Ended, S::Cancelled] {
            assert_eq!(MeetingStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MeetingKind::parse("personal"), Some(K::Personal));
        assert_eq!(MeetingKind::parse("Personal"), None);
    }
}
