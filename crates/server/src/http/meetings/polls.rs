//! A meeting's polls after (or during) the meeting, for the people who may read its records:
//! the same view the room gave them — counts for moderators and for shared polls, who chose
//! what for moderators only and never for anonymous polls.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::extract::AuthUser;
use super::{access, load};
use crate::clock::from_ms;
use crate::error::{ErrorBody, Result};
use crate::meeting::{authorize, Action, Actor};
use crate::state::AppState;
use crate::store::PollRow;

/// One poll of a meeting.
#[derive(Serialize, ToSchema)]
pub(crate) struct PollView {
    poll_id: String,
    question: String,
    /// The options, in order (votes name them by index).
    options: Vec<String>,
    multiple: bool,
    anonymous: bool,
    /// `open` or `ended`.
    status: String,
    /// Its results were shared with everyone in the meeting.
    shared: bool,
    created_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    /// Votes per option and how many voted (`null`: the results were not shared and you do
    /// not moderate the meeting).
    results: Option<PollResultsView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PollResultsView {
    counts: Vec<u32>,
    voters: u32,
    /// Who chose what: for the host and co-hosts, and never for anonymous polls.
    ballots: Option<Vec<PollBallotView>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PollBallotView {
    display_name: String,
    user_id: Option<String>,
    choices: Vec<u32>,
}

/// The meeting's polls, oldest first, for its host, co-hosts and the people who attended.
#[utoipa::path(get, path = "/api/v1/meetings/{id}/polls", tag = "meetings", security(("bearer" = [])),
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = Vec<PollView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn polls(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<PollView>>> {
    let m = load(&state, &id).await?;
    let actor = Actor::account(access(&state, &m, &auth.user).await?);
    let facts = m.facts(&state.config);
    authorize(&actor, &facts, Action::ReadRecords)?;
    // The room shows results to those who moderate; so does the record.
    let moderates = authorize(&actor, &facts, Action::Moderate).is_ok();
    let rows = state.store.polls_of(m.id).await?;
    Ok(axum::Json(rows.into_iter().map(|p| view(p, moderates)).collect()))
}

fn view(p: PollRow, moderates: bool) -> PollView {
    let results = (moderates || p.shared).then(|| PollResultsView {
        counts: p.counts.clone(),
        voters: p.voters,
        ballots: (moderates && !p.anonymous).then(|| {
            p.ballots
                .iter()
                .map(|b| PollBallotView {
                    display_name: b.name.clone(),
                    user_id: b.user_id.clone(),
                    choices: b.choices.clone(),
                })
                .collect()
        }),
    });
    PollView {
        poll_id: p.id,
        question: p.question,
        options: p.options,
        multiple: p.multiple,
        anonymous: p.anonymous,
        status: if p.ended { "ended" } else { "open" }.to_owned(),
        shared: p.shared,
        created_at: from_ms(p.created_at),
        ended_at: p.ended_at.map(from_ms),
        results,
    }
}
