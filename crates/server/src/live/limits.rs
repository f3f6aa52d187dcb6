//! Flood limits on the meeting WebSocket: a token bucket per participant for each kind of
//! message (chat, reactions, hand, other state changes, SDP, the rest), strikes for messages
//! refused that way — a participant who keeps flooding is disconnected — and a cap on the
//! sockets open at once from one client address.
//!
//! Buckets are keyed by participant id, so a resume (a new socket for the same seat) does not
//! refill them. A legitimate client stays far below every rate: the SDP and "other" buckets
//! cover renegotiations and tile-size hints of a full gallery; chat allows a quick burst of
//! short lines, then one a second.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convene_protocol::ClientMessage;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The kinds of client message that share a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat,
    Reaction,
    Hand,
    State,
    Sdp,
    Other,
    Poll,
}

/// Each kind's bucket: `burst` messages at once, then one every `every`.
const RULES: [(Kind, u32, Duration); 7] = [
    (Kind::Chat, 10, Duration::from_millis(1000)),
    (Kind::Reaction, 10, Duration::from_millis(300)),
    (Kind::Hand, 6, Duration::from_millis(1000)),
    (Kind::State, 20, Duration::from_millis(200)),
    (Kind::Sdp, 60, Duration::from_millis(100)),
    (Kind::Other, 100, Duration::from_millis(50)),
    // Polls (issue 21): like chat, a quick burst of votes or changes, then one a second.
    (Kind::Poll, 10, Duration::from_millis(1000)),
];

/// Refused messages tolerated before the participant counts as flooding: a burst of
/// `STRIKES`, then one more every [`STRIKE_EVERY`].
const STRIKES: u32 = 20;
const STRIKE_EVERY: Duration = Duration::from_secs(1);

/// What to do with one client message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Refused with `rate_limited`; the bucket has room again after this.
    Limited(Duration),
    /// Disconnect: the participant kept sending past the limits.
    Flooding,
}

/// The limits of this node's meeting sockets.
pub(crate) struct Floodgates {
    buckets: Vec<(Kind, DefaultKeyedRateLimiter<String>)>,
    strikes: DefaultKeyedRateLimiter<String>,
    /// Sockets open per client address.
    sockets: Mutex<HashMap<String, u32>>,
}

impl Default for Floodgates {
    fn default() -> Floodgates {
        let quota = |burst: u32, every: Duration| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            Quota::with_period(every).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst)
        };
        Floodgates {
            buckets: RULES
                .iter()
                .map(|(kind, burst, every)| (*kind, RateLimiter::keyed(quota(*burst, *every))))
                .collect(),
            strikes: RateLimiter::keyed(quota(STRIKES, STRIKE_EVERY)),
            sockets: Mutex::new(HashMap::new()),
        }
    }
}

/// The buckets a message is charged to (`None`: a frame that did not parse).
pub(crate) fn kinds(msg: Option<&ClientMessage>) -> &'static [Kind] {
    match msg {
        // A help call and a broadcast reach people like chat does (live/breakout.rs).
        Some(
            ClientMessage::ChatSend { .. } | ClientMessage::BreakoutHelp | ClientMessage::BreakoutBroadcast { .. },
        ) => &[Kind::Chat],
        Some(ClientMessage::React { .. }) => &[Kind::Reaction],
        Some(ClientMessage::SetState { muted, camera_on, hand_raised, recording_locally }) => {
            let state = muted.is_some() || camera_on.is_some() || recording_locally.is_some();
            match (hand_raised.is_some(), state) {
                (true, true) => &[Kind::Hand, Kind::State],
                (true, false) => &[Kind::Hand],
                (false, _) => &[Kind::State],
            }
        }
        // Choosing a breakout room makes new peer connections: charged like SDP.
        Some(
            ClientMessage::PublishOffer { .. }
            | ClientMessage::SubscribeAnswer { .. }
            | ClientMessage::BreakoutChoose { .. },
        ) => &[Kind::Sdp],
        Some(
            ClientMessage::PollCreate { .. }
            | ClientMessage::PollVote { .. }
            | ClientMessage::PollEnd { .. }
            | ClientMessage::PollShare { .. },
        ) => &[Kind::Poll],
        _ => &[Kind::Other],
    }
}

impl Floodgates {
    /// Charges one message from `participant` to its buckets.
    pub(crate) fn check(&self, participant: &str, msg: Option<&ClientMessage>) -> Verdict {
        let key = participant.to_owned();
        for kind in kinds(msg) {
            let Some((_, bucket)) = self.buckets.iter().find(|(k, _)| k == kind) else { continue };
            if let Err(not_until) = bucket.check_key(&key) {
                if self.strikes.check_key(&key).is_err() {
                    return Verdict::Flooding;
                }
                return Verdict::Limited(not_until.wait_time_from(DefaultClock::default().now()));
            }
        }
        Verdict::Pass
    }

    /// Forgets buckets that have refilled (they equal fresh ones), keeping memory bounded.
    pub(crate) fn prune(&self) {
        for (_, bucket) in &self.buckets {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
        self.strikes.retain_recent();
        self.strikes.shrink_to_fit();
    }

    /// Takes one of the `max` sockets `ip` may hold open at once; `None` if all are taken.
    /// The slot is given back when dropped.
    pub(crate) fn open_socket(self: &Arc<Self>, ip: &str, max: u32) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let open = sockets.entry(ip.to_owned()).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(SocketSlot { gates: self.clone(), ip: ip.to_owned() })
    }

    /// Sockets open from `ip` now.
    #[cfg(test)]
    pub(crate) fn sockets_of(&self, ip: &str) -> u32 {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).get(ip).copied().unwrap_or(0)
    }
}

/// One open socket counted against its address (see [`Floodgates::open_socket`]).
pub(crate) struct SocketSlot {
    gates: Arc<Floodgates>,
    ip: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.gates.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = sockets.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                sockets.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> ClientMessage {
        ClientMessage::ChatSend { text: "hi".into(), to: None }
    }

    #[test]
    fn a_burst_passes_then_messages_are_refused_then_the_sender_counts_as_flooding() {
        let gates = Floodgates::default();
        for i in 0..10 {
            assert_eq!(gates.check("p1", Some(&chat())), Verdict::Pass, "chat {i} of the burst");
        }
        for _ in 0..STRIKES {
            assert!(matches!(gates.check("p1", Some(&chat())), Verdict::Limited(d) if d <= Duration::from_secs(1)));
        }
        assert_eq!(gates.check("p1", Some(&chat())), Verdict::Flooding);
        // Buckets are per participant and per kind.
        assert_eq!(gates.check("p2", Some(&chat())), Verdict::Pass);
        assert_eq!(gates.check("p1", Some(&ClientMessage::React { emoji: "👍".into() })), Verdict::Pass);
    }

    #[test]
    fn socket_slots_are_counted_per_address_and_given_back() {
        let gates = Arc::new(Floodgates::default());
        let a = gates.open_socket("10.0.0.1", 2).unwrap();
        let _b = gates.open_socket("10.0.0.1", 2).unwrap();
        assert!(gates.open_socket("10.0.0.1", 2).is_none(), "a third socket from the same address");
        assert!(gates.open_socket("10.0.0.2", 2).is_some(), "another address has its own");
        drop(a);
        assert_eq!(gates.sockets_of("10.0.0.1"), 1);
        assert!(gates.open_socket("10.0.0.1", 2).is_some());
    }
}
