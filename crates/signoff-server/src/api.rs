//! The REST API under `/v1`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use signoff::{Error, RejectReason, RequestStatus, Verdict, Vote};

use crate::Shared;
use crate::auth::{bearer, proxy_identity};

/// An API error: a status and a JSON body `{error, message, reason?}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// An error with a status, a short code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({"error": code, "message": message.into()}),
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown credentials: send `Authorization: Bearer <token>`",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"signoff\""),
            );
        }
        response
    }
}

/// Maps a core error to its HTTP status; nothing maps to success.
pub fn core_error(e: Error) -> ApiError {
    match &e {
        Error::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        Error::VoteRejected(r) => {
            let status = match r.reason {
                RejectReason::StaleArgs | RejectReason::Resolved => StatusCode::CONFLICT,
                RejectReason::InvalidVoter | RejectReason::BadEdit => StatusCode::BAD_REQUEST,
                _ => StatusCode::FORBIDDEN,
            };
            let mut err = ApiError::new(status, "vote_rejected", r.message.clone());
            err.body["reason"] = json!(r.reason.code());
            err
        }
        Error::Store(_) | Error::Audit(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
        _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "error", e.to_string()),
    }
}

/// The caller's principal for API calls: a bearer token, a page session
/// (read-only calls from the page), or a trusted proxy header.
pub(crate) fn api_caller(
    state: &Shared,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    allow_session: bool,
) -> Result<String, ApiError> {
    if let Some(p) = bearer(&state.config, headers) {
        return Ok(p);
    }
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        return Err(ApiError::unauthorized());
    }
    if allow_session && let Some(s) = state.sessions.get(headers) {
        return Ok(s.principal);
    }
    proxy_identity(&state.config, headers, peer).ok_or_else(ApiError::unauthorized)
}

/// `?status=` of the list call.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

fn parse_status(s: &str) -> Result<RequestStatus, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "unknown status `{s}` (pending, approved, denied, expired, cancelled, completed)"
            ),
        )
    })
}

pub(crate) async fn list(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    api_caller(&state, &headers, Some(peer), true)?;
    let status = q.status.as_deref().map(parse_status).transpose()?;
    let list = state
        .gate
        .store()
        .list(status)
        .await
        .map_err(|e| core_error(e.into()))?;
    let view: Vec<signoff::ApprovalRequest> = list.iter().map(|r| r.to_request()).collect();
    Ok(Json(json!(view)))
}

pub(crate) async fn get_one(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    api_caller(&state, &headers, Some(peer), true)?;
    let r = state.gate.request(&id).await.map_err(core_error)?;
    Ok(Json(json!(r)))
}

/// Body of `POST /v1/requests/{id}/votes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    verdict: Verdict,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    args_digest: Option<String>,
}

impl VoteBody {
    /// A vote from the page's form.
    pub(crate) fn from_form(
        verdict: Verdict,
        comment: String,
        args_digest: Option<String>,
    ) -> Self {
        VoteBody {
            verdict,
            comment: (!comment.trim().is_empty()).then_some(comment),
            args: None,
            args_digest: args_digest.filter(|d| !d.is_empty()),
        }
    }
}

impl ApiError {
    /// Status and message, for the page.
    pub(crate) fn describe(&self) -> (StatusCode, String) {
        let message = self.body["message"]
            .as_str()
            .unwrap_or("refused")
            .to_owned();
        (self.status, format!("Your vote was not counted: {message}"))
    }
}

/// Casts `body` as `voter` and records the metrics.
pub(crate) async fn cast(
    state: &Shared,
    id: &str,
    voter: String,
    body: VoteBody,
    channel: &str,
) -> Result<RequestStatus, ApiError> {
    let started = Instant::now();
    let mut vote = Vote::new(voter, body.verdict).channel(channel);
    vote.comment = body.comment;
    vote.args = body.args;
    vote.args_digest = body.args_digest;
    let result = state.gate.vote(id, vote).await;
    state.metrics.vote(started.elapsed(), result.is_ok());
    match result {
        Ok(signoff::VoteOutcome::Counted(s) | signoff::VoteOutcome::Duplicate(s)) => Ok(s),
        Err(e) => Err(core_error(e)),
    }
}

pub(crate) async fn vote(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // votes never ride on a page session: the page has its own CSRF-checked form
    let voter = api_caller(&state, &headers, Some(peer), false)?;
    let body: VoteBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid vote body: {e}"),
        )
    })?;
    let status = cast(&state, &id, voter, body, "api").await?;
    Ok(Json(json!({"status": status})))
}

pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

pub(crate) async fn metrics(State(state): State<Shared>) -> Result<Response, ApiError> {
    let requests = state
        .gate
        .store()
        .list(None)
        .await
        .map_err(|e| core_error(e.into()))?;
    let text = state.metrics.render(&requests, &state.gate.stats());
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response())
}

pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
