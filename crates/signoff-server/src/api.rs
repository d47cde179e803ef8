//! The REST API under `/v1`. Every refusal is a JSON [`ApiError`] with the
//! status the OpenAPI document gives it, axum's own included.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use signoff::{Error, RejectReason, RequestStatus, Verdict, Vote};

use crate::Shared;
use crate::auth::{Peer, RequestId, bearer, proxy_identity};
use crate::refusals::{self, Refusal};

/// An API error: a status and a JSON body `{error, message, reason?, field?}`.
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

    /// The error for a status the server reached without a handler's say
    /// (an unknown route, a method the route lacks, a body it cannot read).
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            503 => "unavailable",
            _ if status.is_client_error() => "bad_request",
            _ => "error",
        };
        let message = status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase();
        Self::new(status, code, message)
    }

    /// A malformed request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// Names the body field or query parameter at fault.
    pub(crate) fn field(mut self, name: &str) -> Self {
        self.body["field"] = json!(name);
        self
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown credentials: send `Authorization: Bearer <token>`",
        )
    }

    fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no approval request `{id}`"),
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> &Value {
        &self.body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"signoff\""),
            );
        }
        response
    }
}

/// Unknown routes.
pub(crate) async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Methods a route does not have (axum adds `Allow`).
pub(crate) async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see `Allow`",
    )
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

/// What a caller tries, for the audit of a refusal.
pub(crate) struct Attempt<'a> {
    /// The route, as written in the trail (`POST /v1/requests/{id}/votes`).
    pub what: &'static str,
    /// A vote: every refusal is audited, and a page session does not count.
    pub vote: bool,
    /// The request the path names.
    pub request_id: Option<&'a str>,
}

/// The caller's principal for API calls: a bearer token, a page session
/// (read-only calls from the page), or a trusted proxy header. A refused
/// vote is audited, and so is a refused read that presented a credential.
pub(crate) async fn api_caller(
    state: &Shared,
    headers: &HeaderMap,
    Peer(peer): Peer,
    attempt: Attempt<'_>,
) -> Result<String, ApiError> {
    if let Some(p) = bearer(&state.config, headers) {
        return Ok(p);
    }
    if !headers.contains_key(header::AUTHORIZATION) {
        if !attempt.vote
            && let Some(s) = state.sessions.get(headers)
        {
            return Ok(s.principal);
        }
        if let Some(p) = proxy_identity(&state.config, headers, peer) {
            return Ok(p);
        }
    }
    let refusal = Refusal::of(state, headers, peer);
    if attempt.vote || refusal.presented_credentials() {
        refusals::record(
            state,
            peer,
            "api",
            attempt.what,
            refusal,
            attempt.request_id,
        )
        .await;
    }
    Err(ApiError::unauthorized())
}

const STATUSES: &str = "pending, approved, denied, expired, cancelled, issued, completed";

fn parse_status(s: &str) -> Result<RequestStatus, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| {
        ApiError::bad_request(format!("unknown status `{s}` ({STATUSES})")).field("status")
    })
}

/// The list call's `?status=`: given at most once, and nothing else.
fn list_filter(uri: &Uri) -> Result<Option<RequestStatus>, ApiError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| ApiError::bad_request(format!("unreadable query string: {e}")))?;
    let mut status = None;
    for (key, value) in pairs {
        if key != "status" {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter `{key}`; the list takes only `status`"
            ))
            .field(&key));
        }
        if status.is_some() {
            return Err(ApiError::bad_request("`status` is given more than once").field("status"));
        }
        status = Some(parse_status(&value)?);
    }
    Ok(status)
}

pub(crate) async fn list(
    State(state): State<Shared>,
    peer: Peer,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let attempt = Attempt {
        what: "GET /v1/requests",
        vote: false,
        request_id: None,
    };
    api_caller(&state, &headers, peer, attempt).await?;
    let status = list_filter(&uri)?;
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
    peer: Peer,
    headers: HeaderMap,
    RequestId(id): RequestId,
) -> Result<Json<Value>, ApiError> {
    let attempt = Attempt {
        what: "GET /v1/requests/{id}",
        vote: false,
        request_id: id.as_deref(),
    };
    api_caller(&state, &headers, peer, attempt).await?;
    let id = id.ok_or_else(|| ApiError::not_found("?"))?;
    let r = state.gate.request(&id).await.map_err(core_error)?;
    Ok(Json(json!(r)))
}

/// Body of `POST /v1/requests/{id}/votes` (read by [`crate::body`]).
#[derive(Debug)]
pub struct VoteBody {
    pub(crate) verdict: Verdict,
    pub(crate) comment: Option<String>,
    pub(crate) args: Option<Value>,
    pub(crate) args_digest: Option<String>,
    /// A grant length to attach (DESIGN §13).
    pub(crate) grant: Option<std::time::Duration>,
    /// A break-glass approval (the comment is its reason).
    pub(crate) break_glass: bool,
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
            grant: None,
            break_glass: false,
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
    let mut vote = Vote::new(voter, body.verdict)
        .channel(channel)
        .authenticated();
    vote.comment = body.comment;
    vote.args = body.args;
    vote.args_digest = body.args_digest;
    vote.grant = body.grant;
    vote.break_glass = body.break_glass;
    let result = state.gate.vote(id, vote).await;
    state.metrics.vote(started.elapsed(), result.is_ok());
    match result {
        Ok(signoff::VoteOutcome::Counted(s) | signoff::VoteOutcome::Duplicate(s)) => Ok(s),
        Err(e) => Err(core_error(e)),
    }
}

/// Whether the body is declared JSON: the API takes nothing else, and a
/// cross-site form cannot send it without a CORS preflight, which fails.
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

pub(crate) async fn vote(
    State(state): State<Shared>,
    peer: Peer,
    headers: HeaderMap,
    RequestId(id): RequestId,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    // votes never ride on a page session: the page has its own CSRF-checked form
    let attempt = Attempt {
        what: "POST /v1/requests/{id}/votes",
        vote: true,
        request_id: id.as_deref(),
    };
    let voter = api_caller(&state, &headers, peer, attempt).await?;
    if !declares_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the vote as `Content-Type: application/json`",
        ));
    }
    let bytes = Bytes::from_request(request, &state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over {} bytes", state.config.max_body),
            )
        } else {
            ApiError::bad_request(format!("unreadable body: {e}"))
        }
    })?;
    let body = crate::body::parse_vote(&bytes)?;
    let id = id.ok_or_else(|| ApiError::not_found("?"))?;
    let status = cast(&state, &id, voter, body, "api").await?;
    Ok(Json(json!({"status": status})))
}

/// A grant as the API shows it: the stored grant and whether it covers
/// actions now.
pub(crate) fn grant_view(state: &Shared, g: &signoff::Grant) -> Value {
    let mut v = json!(g);
    v["live"] = json!(state.gate.grant_is_live(g));
    v
}

/// `GET /v1/grants`: every grant, oldest first, with `live`.
pub(crate) async fn list_grants(
    State(state): State<Shared>,
    peer: Peer,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let attempt = Attempt {
        what: "GET /v1/grants",
        vote: false,
        request_id: None,
    };
    api_caller(&state, &headers, peer, attempt).await?;
    if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
        let key = q.split(['=', '&']).next().unwrap_or(q);
        return Err(ApiError::bad_request(format!(
            "unknown query parameter `{key}`; the grant list takes none"
        ))
        .field(key));
    }
    let grants = state.gate.grants().await.map_err(core_error)?;
    let view: Vec<Value> = grants.iter().map(|g| grant_view(&state, g)).collect();
    Ok(Json(json!(view)))
}

/// `DELETE /v1/grants/{id}`: revokes a grant at once, for every process
/// sharing the store. Authenticated like a vote (a bearer token or a
/// trusted proxy, never a page session); any authenticated caller may
/// revoke, since a revoke only takes permission away. Audited.
pub(crate) async fn revoke_grant(
    State(state): State<Shared>,
    peer: Peer,
    headers: HeaderMap,
    RequestId(id): RequestId,
) -> Result<Json<Value>, ApiError> {
    let attempt = Attempt {
        what: "DELETE /v1/grants/{id}",
        vote: true,
        request_id: None,
    };
    let who = api_caller(&state, &headers, peer, attempt).await?;
    let id = id.ok_or_else(|| ApiError::not_found("?"))?;
    let grant = state
        .gate
        .revoke_grant(&id, &who, Some(format!("revoked by {who} through the api")))
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no grant `{id}`"),
            ),
            other => core_error(other),
        })?;
    Ok(Json(grant_view(&state, &grant)))
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
