//! The pre-join screen's look into a meeting: its title and who is in it now, for someone who
//! has the passcode (or hosts it) and has not joined yet.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ClientIp, Json, MaybeAuth};
use super::meetings::{pass_the_door, Door};
use crate::error::{ErrorBody, Result};
use crate::meeting::Settings;
use crate::state::AppState;

/// At most this many names are listed; the count says how many more there are.
const NAMES_SHOWN: usize = 6;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview))
}

#[derive(Deserialize, ToSchema, Default)]
pub(crate) struct PreviewRequest {
    /// Not needed by the host and co-hosts.
    passcode: Option<String>,
}

/// What the pre-join screen shows about a meeting.
#[derive(Serialize, ToSchema)]
pub(crate) struct MeetingPreview {
    meeting_id: i64,
    title: String,
    host_name: Option<String>,
    /// Someone is in the meeting now (on this node).
    live: bool,
    /// How many people are in it now.
    present_count: usize,
    /// The first few of their display names; empty when the meeting has a waiting room (who
    /// is inside is for those let in).
    present: Vec<String>,
    /// The meeting is end-to-end encrypted (docs/e2ee.md): the pre-join screen says so, and
    /// what is off, before joining — and a browser that cannot take part learns it there.
    e2ee: bool,
}

/// The meeting's title and who is in it now, for whoever could join it: the same passcode
/// check (`meeting::passcode_matches`, host and co-hosts exempt), the same limit on wrong
/// passcodes per address, the same guest and cancelled/ended refusals as joining.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/preview", tag = "meetings", request_body = PreviewRequest,
    params(("id" = i64, Path, description = "meeting ID")),
    responses((status = 200, body = MeetingPreview), (status = 401, description = "sign-in required (no guests)", body = ErrorBody),
        (status = 403, description = "passcode missing or wrong", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, description = "cancelled or ended", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    MaybeAuth(auth): MaybeAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Json(req): Json<PreviewRequest>,
) -> Result<axum::Json<MeetingPreview>> {
    // Whoever may look is whoever could join: the same door.
    let Door { meeting: m, moderator, .. } =
        pass_the_door(&state, auth.as_ref(), &ip, &id, req.passcode.as_deref()).await?;
    let settings = Settings::from_stored(&m.settings, &state.config);
    let people = state.live.participants(m.id).unwrap_or_default();
    let host_name = state.store.user_by_id(&m.host_id).await?.map(|u| u.display_name);
    Ok(axum::Json(MeetingPreview {
        meeting_id: m.id,
        title: m.title.clone(),
        host_name,
        live: !people.is_empty(),
        present_count: people.len(),
        present: if settings.waiting_room && !moderator {
            Vec::new()
        } else {
            people.into_iter().take(NAMES_SHOWN).map(|p| p.display_name).collect()
        },
        e2ee: settings.e2ee,
    }))
}
