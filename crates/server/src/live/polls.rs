//! Polls in a live meeting: moderators create, end and share them, everyone votes (and may
//! change their vote while the poll is open). Each participant is sent the poll as they may
//! see it: counts and ballots for moderators, counts for everyone once shared, their own
//! choices always. An anonymous poll's ballots live only here, in memory, never in the store;
//! the store keeps who voted in it (not what), so nobody votes twice after a restart or a move.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use convene_protocol::{
    Participant, Poll, PollBallot, PollResults, PollStatus, ServerMessage, MAX_POLL_OPTIONS, MAX_POLL_OPTION_CHARS,
    MAX_POLL_QUESTION_CHARS, MIN_POLL_OPTIONS,
};

use super::permit::moderator;
use super::room::Room;
use super::{Acted, Refused};
use crate::clock::from_ms;
use crate::services::Services;
use crate::store::{BallotRow, PollRow, VoteChange};

/// The polls of the meetings live on this node, by meeting id. A meeting's polls are read
/// from the store the first time they are needed here (after a restart or a move), so what
/// was stored survives; only an anonymous poll's ballots do not.
#[derive(Default)]
pub(crate) struct Book {
    meetings: Mutex<HashMap<i64, Vec<PollRow>>>,
}

/// A new poll as a moderator asked for it.
pub(super) struct NewPoll {
    pub(super) question: String,
    pub(super) options: Vec<String>,
    pub(super) multiple: bool,
    pub(super) anonymous: bool,
}

impl Book {
    fn with<T>(&self, meeting_id: i64, f: impl FnOnce(&mut Vec<PollRow>) -> T) -> T {
        let mut meetings = self.meetings.lock().unwrap_or_else(|p| p.into_inner());
        f(meetings.entry(meeting_id).or_default())
    }

    /// Reads the meeting's stored polls unless they are here already.
    async fn ensure(&self, state: &Services, meeting_id: i64) -> Result<(), Refused> {
        if self.meetings.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&meeting_id) {
            return Ok(());
        }
        let stored = state.store.polls_of(meeting_id).await.map_err(|e| {
            tracing::error!(error = %e, "could not read polls");
            unavailable("poll")
        })?;
        self.meetings.lock().unwrap_or_else(|p| p.into_inner()).entry(meeting_id).or_insert(stored);
        Ok(())
    }

    /// The meeting is over on this node.
    pub(crate) fn forget(&self, meeting_id: i64) {
        self.meetings.lock().unwrap_or_else(|p| p.into_inner()).remove(&meeting_id);
    }

    /// The polls `me` may see now, oldest first (for `welcome`).
    pub(crate) async fn visible_to(&self, state: &Services, meeting_id: i64, me: &Participant) -> Vec<Poll> {
        if self.ensure(state, meeting_id).await.is_err() {
            return Vec::new();
        }
        self.with(meeting_id, |polls| {
            polls.iter().filter(|p| !p.ended || p.shared || me.role.is_moderator()).map(|p| view(p, me)).collect()
        })
    }

    /// `poll_create`.
    pub(super) async fn create(&self, state: &Services, room: &Room, me: &Participant, new: NewPoll) -> Acted {
        const REQ: &str = "poll_create";
        moderator(me, REQ)?;
        let (question, options) = checked(new.question, new.options)?;
        self.ensure(state, room.meeting_id).await?;
        let poll = PollRow {
            id: format!("poll_{}", uuid::Uuid::now_v7().simple()),
            meeting_id: room.meeting_id,
            question,
            counts: vec![0; options.len()],
            options,
            multiple: new.multiple,
            anonymous: new.anonymous,
            ended: false,
            shared: false,
            voters: 0,
            created_by: me.participant_id.clone(),
            created_at: state.clock.now_ms(),
            ended_at: None,
            ballots: Vec::new(),
            sealed_voters: Vec::new(),
        };
        state.store.insert_poll(&poll).await.map_err(|e| {
            tracing::error!(error = %e, "could not store a poll");
            unavailable(REQ)
        })?;
        self.with(room.meeting_id, |polls| polls.push(poll.clone()));
        tell_everyone(room, &poll);
        Ok(())
    }

    /// `poll_vote`: replaces the voter's earlier choices.
    pub(super) async fn vote(
        &self,
        state: &Services,
        room: &Room,
        me: &Participant,
        poll_id: &str,
        choices: Vec<u32>,
    ) -> Acted {
        const REQ: &str = "poll_vote";
        self.ensure(state, room.meeting_id).await?;
        let voter = voter_key(me);
        let (anonymous, before) = self.with(room.meeting_id, |polls| {
            let poll = find(polls, poll_id, REQ)?;
            if poll.ended {
                return Err(("poll_ended", "this poll has ended and takes no more votes".to_owned(), REQ));
            }
            check_choices(poll, &choices)?;
            let ballot = poll.ballots.iter().find(|b| b.voter == voter);
            if ballot.is_none() && poll.sealed_voters.contains(&voter) {
                // Their anonymous choice was never stored, so it cannot be taken back.
                return Err((
                    "vote_counted",
                    "your vote in this anonymous poll is counted and can no longer be changed".to_owned(),
                    REQ,
                ));
            }
            let before = ballot.map(|b| b.choices.clone()).unwrap_or_default();
            Ok((poll.anonymous, before))
        })?;
        let mut after = choices;
        after.sort_unstable();
        let change = VoteChange {
            poll_id,
            anonymous,
            voter: &voter,
            user_id: me.user_id.as_deref(),
            name: &me.display_name,
            before: &before,
            after: &after,
        };
        state.store.record_vote(&change).await.map_err(|e| {
            tracing::error!(error = %e, "could not store a vote");
            unavailable(REQ)
        })?;
        let updated = self.with(room.meeting_id, |polls| {
            let poll = polls.iter_mut().find(|p| p.id == poll_id)?;
            apply(poll, me, &voter, &before, after);
            Some(poll.clone())
        });
        if let Some(poll) = updated {
            // Counts change for moderators (and everyone, were they shared); the voter sees their choice.
            for p in room.participants() {
                if p.role.is_moderator() || p.participant_id == me.participant_id || poll.shared {
                    room.send_to(&p.participant_id, ServerMessage::PollUpdated { poll: view(&poll, &p) });
                }
            }
        }
        Ok(())
    }

    /// `poll_end`.
    pub(super) async fn end(&self, state: &Services, room: &Room, me: &Participant, poll_id: &str) -> Acted {
        const REQ: &str = "poll_end";
        moderator(me, REQ)?;
        self.ensure(state, room.meeting_id).await?;
        self.with(room.meeting_id, |polls| match find(polls, poll_id, REQ)? {
            p if p.ended => Err(("poll_ended", "this poll has already ended".to_owned(), REQ)),
            _ => Ok(()),
        })?;
        let now = state.clock.now_ms();
        state.store.end_poll(poll_id, now).await.map_err(|e| {
            tracing::error!(error = %e, "could not end a poll");
            unavailable(REQ)
        })?;
        self.change(room, poll_id, |p| {
            p.ended = true;
            p.ended_at = Some(now);
        });
        Ok(())
    }

    /// `poll_share`: an ended poll's counts, to everyone.
    pub(super) async fn share(&self, state: &Services, room: &Room, me: &Participant, poll_id: &str) -> Acted {
        const REQ: &str = "poll_share";
        moderator(me, REQ)?;
        self.ensure(state, room.meeting_id).await?;
        self.with(room.meeting_id, |polls| match find(polls, poll_id, REQ)? {
            p if !p.ended => Err(("poll_open", "end the poll before sharing its results".to_owned(), REQ)),
            _ => Ok(()),
        })?;
        state.store.share_poll(poll_id).await.map_err(|e| {
            tracing::error!(error = %e, "could not share a poll");
            unavailable(REQ)
        })?;
        self.change(room, poll_id, |p| p.shared = true);
        Ok(())
    }

    /// Changes a poll here and tells everyone.
    fn change(&self, room: &Room, poll_id: &str, f: impl FnOnce(&mut PollRow)) {
        let updated = self.with(room.meeting_id, |polls| {
            let poll = polls.iter_mut().find(|p| p.id == poll_id)?;
            f(poll);
            Some(poll.clone())
        });
        if let Some(poll) = updated {
            tell_everyone(room, &poll);
        }
    }
}

/// The question and options, trimmed, or the refusal that says what is wrong with them.
fn checked(question: String, options: Vec<String>) -> Result<(String, Vec<String>), Refused> {
    const REQ: &str = "poll_create";
    let bad = |why: String| -> Refused { ("invalid_poll", why, REQ) };
    let question = question.trim().to_owned();
    if question.is_empty() || question.chars().count() > MAX_POLL_QUESTION_CHARS {
        return Err(bad(format!("a poll's question has 1 to {MAX_POLL_QUESTION_CHARS} characters")));
    }
    let options: Vec<String> = options.into_iter().map(|o| o.trim().to_owned()).collect();
    if !(MIN_POLL_OPTIONS..=MAX_POLL_OPTIONS).contains(&options.len()) {
        return Err(bad(format!("a poll has {MIN_POLL_OPTIONS} to {MAX_POLL_OPTIONS} options")));
    }
    if options.iter().any(|o| o.is_empty() || o.chars().count() > MAX_POLL_OPTION_CHARS) {
        return Err(bad(format!("each option has 1 to {MAX_POLL_OPTION_CHARS} characters")));
    }
    let mut seen: Vec<String> = options.iter().map(|o| o.to_lowercase()).collect();
    seen.sort();
    seen.dedup();
    if seen.len() != options.len() {
        return Err(bad("the options must all be different".to_owned()));
    }
    Ok((question, options))
}

fn check_choices(poll: &PollRow, choices: &[u32]) -> Acted {
    const REQ: &str = "poll_vote";
    let bad = |why: &str| -> Refused { ("invalid_vote", why.to_owned(), REQ) };
    if choices.is_empty() {
        return Err(bad("choose at least one option"));
    }
    if !poll.multiple && choices.len() > 1 {
        return Err(bad("this poll takes one choice"));
    }
    if choices.iter().any(|c| *c as usize >= poll.options.len()) {
        return Err(bad("no such option in this poll"));
    }
    let mut distinct = choices.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != choices.len() {
        return Err(bad("each option can be chosen once"));
    }
    Ok(())
}

fn find<'a>(polls: &'a [PollRow], poll_id: &str, req: &'static str) -> Result<&'a PollRow, Refused> {
    polls.iter().find(|p| p.id == poll_id).ok_or(("unknown_poll", format!("no poll {poll_id:?} in this meeting"), req))
}

fn unavailable(req: &'static str) -> Refused {
    ("unavailable", "the poll could not be saved right now; try again".to_owned(), req)
}

/// Whose ballot it is: the account (so a rejoin does not vote twice), else the seat.
fn voter_key(me: &Participant) -> String {
    me.user_id.as_ref().map_or_else(|| me.participant_id.clone(), |u| format!("user:{u}"))
}

fn apply(poll: &mut PollRow, me: &Participant, voter: &str, before: &[u32], after: Vec<u32>) {
    for i in before {
        if let Some(c) = poll.counts.get_mut(*i as usize) {
            *c = c.saturating_sub(1);
        }
    }
    for i in &after {
        if let Some(c) = poll.counts.get_mut(*i as usize) {
            *c += 1;
        }
    }
    match poll.ballots.iter_mut().find(|b| b.voter == voter) {
        Some(b) => b.choices = after,
        None => {
            poll.voters += 1;
            poll.ballots.push(BallotRow {
                voter: voter.to_owned(),
                user_id: me.user_id.clone(),
                name: me.display_name.clone(),
                choices: after,
            });
        }
    }
}

/// Sends everyone the poll as they may see it.
fn tell_everyone(room: &Room, poll: &PollRow) {
    for p in room.participants() {
        room.send_to(&p.participant_id, ServerMessage::PollUpdated { poll: view(poll, &p) });
    }
}

/// `poll` as `me` may see it.
pub(crate) fn view(poll: &PollRow, me: &Participant) -> Poll {
    let moderates = me.role.is_moderator();
    let voter = voter_key(me);
    let my_choices = poll.ballots.iter().find(|b| b.voter == voter).map(|b| b.choices.clone()).unwrap_or_default();
    let results = (moderates || poll.shared).then(|| PollResults {
        counts: poll.counts.clone(),
        voters: poll.voters,
        ballots: (moderates && !poll.anonymous).then(|| ballots(poll)),
    });
    Poll {
        poll_id: poll.id.clone(),
        question: poll.question.clone(),
        options: poll.options.clone(),
        multiple: poll.multiple,
        anonymous: poll.anonymous,
        status: if poll.ended { PollStatus::Ended } else { PollStatus::Open },
        shared: poll.shared,
        created_at: from_ms(poll.created_at).to_rfc3339(),
        my_choices,
        results,
    }
}

/// Who chose what, by name.
fn ballots(poll: &PollRow) -> Vec<PollBallot> {
    let by_name: BTreeMap<(String, String), &BallotRow> =
        poll.ballots.iter().map(|b| ((b.name.clone(), b.voter.clone()), b)).collect();
    by_name
        .into_values()
        .map(|b| PollBallot { display_name: b.name.clone(), user_id: b.user_id.clone(), choices: b.choices.clone() })
        .collect()
}
