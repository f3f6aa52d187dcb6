//! The HTTP API: routes, the OpenAPI document and cross-cutting layers.

mod admin;
mod avatar;
mod background;
mod calendar;
pub mod extract;
pub(crate) mod files;
mod hardening;
mod lobby;
mod meetings;
pub(crate) mod ops;
mod passwords;
mod push;
mod recording_uploads;
mod recordings;
mod refresh_cookie;
mod reply;
mod stored_image;
mod transcripts;
mod users;
mod verification;
mod web;
mod webhooks;
mod ws;

use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::error::{error_response, Error, Result};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Convene API", description = "Self-hosted video meetings: accounts, meetings, joining."),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, sign-in, profile"),
        (name = "meetings", description = "Scheduling and joining meetings"),
        (name = "admin", description = "Server administration"),
        (name = "calendar", description = "Calendar files, feeds and reminder preferences"),
        (name = "recordings", description = "Recording meetings, playback and sharing"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Routes that are deliberately outside the OpenAPI document (operations, not the API).
pub const UNDOCUMENTED_ROUTES: &[&str] =
    &["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/api/v1/protocol/schema.json"];

fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::router())
        .merge(passwords::router())
        .merge(verification::router())
        .merge(avatar::router())
        .merge(background::router())
        .merge(meetings::router())
        .merge(lobby::router())
        .merge(admin::router())
        .merge(calendar::router())
        .merge(files::router())
        .merge(webhooks::router())
        .merge(push::router())
        .merge(recordings::router())
        .merge(recording_uploads::router())
        .merge(transcripts::router())
        .split_for_parts()
}

/// The OpenAPI document describing every API route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Builds the whole HTTP application.
pub fn app(state: AppState) -> Router {
    ops::prometheus(); // install the recorder before the first request is counted
    let (api_routes, doc) = api();
    let doc_json = doc.to_pretty_json().unwrap_or_default();
    let policy = hardening::Policy::from_config(&state.config);
    // The signaling protocol's JSON Schema (docs/protocol.md): public, and the same until the
    // server is upgraded.
    let protocol_schema = (
        [(header::CONTENT_TYPE, "application/schema+json"), (header::CACHE_CONTROL, "public, max-age=3600")],
        convene_protocol::schema_json(),
    );
    let routes = Router::new()
        .merge(api_routes)
        .route("/api/v1/openapi.json", get(move || async move { ([("content-type", "application/json")], doc_json) }))
        .route("/api/v1/protocol/schema.json", get(move || async move { protocol_schema }))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_on_api_port))
        .fallback(web::fallback)
        .method_not_allowed_fallback(method_not_allowed);
    hardening::harden(routes, policy)
        .layer(axum::middleware::from_fn(ops::track))
        .layer(TraceLayer::new_for_http())
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .with_state(state)
}

/// The app of the separate metrics listener (`--metrics-listen`): `/metrics` only.
pub fn metrics_app() -> Router {
    Router::new().route("/metrics", get(ops::metrics_endpoint)).fallback(web::fallback)
}

async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method")
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    items: Vec<T>,
    page: i64,
    page_size: i64,
    total: i64,
}

/// `page` (from 1) and `page_size` (1-100, default 20) as given in a query; every list
/// endpoint takes these two, beside its own filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Which page, from 1 to 1000000 (default 1).
    page: Option<i64>,
    /// Items per page, 1-100 (default 20).
    page_size: Option<i64>,
}

/// The highest page number asked for; far past any real list, and small enough that the
/// offset computed from it cannot overflow.
const MAX_PAGE: i64 = 1_000_000;

pub(crate) struct PageSpec {
    number: i64,
    size: i64,
}

impl PageQuery {
    fn validate(self) -> Result<PageSpec> {
        let number = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(20);
        if !(1..=MAX_PAGE).contains(&number) || !(1..=100).contains(&size) {
            return Err(Error::bad_request(
                "invalid_page",
                format!("page is between 1 and {MAX_PAGE} and page_size between 1 and 100"),
            ));
        }
        Ok(PageSpec { number, size })
    }
}

impl PageSpec {
    fn offset(&self) -> i64 {
        (self.number - 1) * self.size
    }

    fn wrap<T: ToSchema>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page { items, page: self.number, page_size: self.size, total }
    }
}
