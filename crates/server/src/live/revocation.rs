//! Live access that ends with the account. Disabling an account, deleting it or changing its
//! password ([`revoke`]) closes its meeting sockets on every node (close 4003 after an
//! `error` frame `account_disabled` / `access_revoked`) and voids what it got before: join
//! tickets issued and seats (resume tokens) taken before that moment are refused.
//!
//! The rule lives in one place, [`standing`]: the account exists, is enabled, and what is
//! presented dates from after its `sessions_valid_after`. The socket asks it when a ticket is
//! presented, and again once the seat is taken ([`hold`]) — so a revocation racing an entry
//! either finds the seat to close or is found by the check. A resume is checked against the
//! time its seat was taken. Refresh tokens and access tokens end with the account's sessions
//! (revoked in the same requests), not here.

use convene_protocol::{LeaveReason, Participant, ServerMessage};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::Live;
use super::{Entered, Room};
use crate::error::{Error, Result};
use crate::services::Services;

/// The NATS subject (after the cluster name) on which nodes tell each other about revocations.
const TOPIC: &str = "revoked";

/// Why an account's live access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Revoked {
    Disabled,
    PasswordChanged,
    Deleted,
}

impl Revoked {
    /// The `error` frame's code and message for someone whose socket closes for this reason.
    fn farewell(self) -> (&'static str, &'static str) {
        match self {
            Revoked::Disabled => ("account_disabled", "an administrator disabled your account"),
            Revoked::PasswordChanged => {
                ("access_revoked", "your account's password was changed: sign in again to rejoin")
            }
            Revoked::Deleted => ("access_revoked", "your account was deleted"),
        }
    }
}

/// Whether an error code is one of this module's refusals (they close with 4003).
pub(crate) fn is_revocation(code: &str) -> bool {
    matches!(code, "account_disabled" | "access_revoked")
}

/// The one rule: may what `user_id` got at `since_ms` (a ticket's issue, a seat's start; Unix
/// ms on the server clock) still be used?
///
/// Without the database (a partition) the answer is yes: a revocation is written there first,
/// so none can have happened meanwhile, and a live meeting does not stop for the database.
pub(crate) async fn standing(state: &Services, user_id: &str, since_ms: i64) -> Result<()> {
    let found = match state.store.account_standing(user_id).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, user_id, "account standing unknown (database away): let in");
            return Ok(());
        }
    };
    match found {
        None => Err(Error::unauthorized("access_revoked", "this account no longer exists")),
        Some(s) if s.disabled => Err(Error::unauthorized("account_disabled", "an administrator disabled this account")),
        Some(s) if since_ms < s.valid_after => Err(Error::unauthorized(
            "access_revoked",
            "this account's access was revoked after this was issued (its password was changed): join again",
        )),
        Some(_) => Ok(()),
    }
}

/// Checks the account of someone who just took (or took back) a seat, against the time
/// `since_ms` their ticket was issued or their seat was taken. A refused seat is given up at
/// once, without waiting for a reconnect.
pub(crate) async fn hold(state: &Services, live: &Live, entered: &Entered, since_ms: i64) -> Result<()> {
    let p = &entered.attached.participant;
    let Some(user_id) = &p.user_id else { return Ok(()) };
    if let Err(e) = standing(state, user_id, since_ms).await {
        give_up(state, live, &entered.room, &p.participant_id, None).await;
        return Err(e);
    }
    Ok(())
}

/// When a seat was taken (its participant's `joined_at`), in Unix ms.
pub(crate) fn seated_ms(p: &Participant) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&p.joined_at).map(|t| t.timestamp_millis()).unwrap_or(0)
}

/// Ends the account's live access everywhere: voids its tickets and seats from before now,
/// and closes its sockets on this node and (cluster mode) on every other.
pub(crate) async fn revoke(state: &Services, live: &Live, user_id: &str, why: Revoked) -> Result<()> {
    // First the rule, then the sockets: an entry racing this either sees the new rule in
    // `hold` or has its seat already, for `close_sockets` to find.
    state.store.void_live_access(user_id, state.clock.now_ms()).await?;
    close_sockets(state, live, user_id, why).await;
    let notice = serde_json::to_vec(&Notice { user_id: user_id.to_owned(), why }).unwrap_or_default();
    state.cluster.publish(TOPIC, notice).await;
    tracing::info!(user_id, ?why, "live access revoked");
    Ok(())
}

/// What one node tells the others.
#[derive(Serialize, Deserialize)]
struct Notice {
    user_id: String,
    why: Revoked,
}

/// Closes every seat and waiting place the account holds in the rooms of this node.
async fn close_sockets(state: &Services, live: &Live, user_id: &str, why: Revoked) {
    let (code, message) = why.farewell();
    let rooms: Vec<_> = live.rooms().values().cloned().collect();
    for room in rooms {
        let seated = room.participants().into_iter().filter(|p| p.user_id.as_deref() == Some(user_id));
        let mut ids: Vec<String> = seated.map(|p| p.participant_id).collect();
        let waiting = room.waiting_list().into_iter().filter(|w| w.user_id.as_deref() == Some(user_id));
        ids.extend(waiting.map(|w| w.participant_id));
        for pid in ids {
            give_up(state, live, &room, &pid, Some(ServerMessage::error(code, message, None))).await;
        }
    }
}

/// Vacates a seat for good; its socket gets `farewell` (if any) and then closes.
async fn give_up(
    state: &Services,
    live: &Live,
    room: &std::sync::Arc<Room>,
    pid: &str,
    farewell: Option<ServerMessage>,
) {
    if let Some((v, _)) = room.remove(pid, LeaveReason::Disconnected, farewell) {
        live.vacated(state, room, v).await;
    }
}

/// Cluster mode: listens for revocations made through other nodes, and closes the sockets
/// they concern here. Subscribed before this returns, so nothing said after is missed.
pub(crate) async fn spawn_listener(state: &Services, live: &Live) -> Option<tokio::task::JoinHandle<()>> {
    let mut notices = state.cluster.subscribe(TOPIC).await?;
    let (state, live) = (state.clone(), live.clone());
    Some(tokio::spawn(async move {
        while let Some(bytes) = notices.next().await {
            match serde_json::from_slice::<Notice>(&bytes) {
                Ok(n) => close_sockets(&state, &live, &n.user_id, n.why).await,
                Err(e) => tracing::warn!(error = %e, "unreadable revocation notice"),
            }
        }
    }))
}
