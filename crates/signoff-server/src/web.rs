//! The web approval page: server-rendered HTML, a login form (API tokens) or
//! a trusted proxy identity, CSRF tokens on every form, and a little script
//! (a same-origin file, like the style: the page's policy allows nothing
//! inline) that refreshes the page's data every few seconds.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use signoff::{ApprovalRequest, Verdict};
use subtle::ConstantTimeEq;

use crate::Shared;
use crate::api::{VoteBody, cast};
use crate::auth::{Peer, SESSION_COOKIE, Session, principal_for_token, proxy_identity};
use crate::refusals::{self, Refusal};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = include_str!("assets/signoff.css");
const SCRIPT: &str = include_str!("assets/signoff.js");

/// Serves a page asset with its type.
fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn page(title: &str, user: Option<&Session>, body: &str) -> Html<String> {
    let who = match user {
        Some(s) => format!(
            "<form method=post action=/logout><input type=hidden name=csrf value=\"{}\">{} · <button>log out</button></form>",
            esc(&s.csrf),
            esc(&s.principal)
        ),
        None => String::new(),
    };
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{} · signoff</title><link rel=stylesheet href=/assets/signoff.css><script src=/assets/signoff.js defer></script></head>\
         <body><header><a href=/><b>signoff</b> approvals</a>{who}</header><main>{body}</main></body></html>",
        esc(title)
    ))
}

/// The page user: a session, or a trusted proxy identity (which starts one).
fn page_user(
    state: &Shared,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<(Session, Option<String>)> {
    if let Some(s) = state.sessions.get(headers) {
        return Some((s, None));
    }
    if let Some(principal) = proxy_identity(&state.config, headers, peer)
        && let Some(id) = state.sessions.start(principal, &state.config)
        && let Some(s) = state.sessions.get(&cookie_header(&id))
    {
        return Some((s, Some(id)));
    }
    None
}

fn cookie_header(id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}")) {
        h.insert(header::COOKIE, v);
    }
    h
}

fn set_cookie(state: &Shared, id: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

fn with_session(mut response: Response, state: &Shared, new_session: Option<String>) -> Response {
    if let Some(id) = new_session
        && let Some(v) = set_cookie(state, &id, state.config.session_seconds)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(crate) async fn login_page() -> Html<String> {
    page(
        "Log in",
        None,
        "<div class=card><h2>Log in</h2><form method=post action=/login>\
         <p><label>API token<br><input type=password name=token autocomplete=current-password autofocus></label></p>\
         <p><button class=approve>Log in</button></p></form></div>",
    )
}

/// A page with a refusal in it.
fn refused(status: StatusCode, title: &str, user: Option<&Session>, text: &str) -> Response {
    let body = format!("<div class='note error'>{}</div>", esc(text));
    (status, page(title, user, &body)).into_response()
}

/// Reads a form after the caller is known (a malformed one gets a page, not
/// axum's text).
async fn read_form<T: DeserializeOwned>(
    request: Request,
    state: &Shared,
    user: Option<&Session>,
) -> Result<T, Response> {
    Form::<T>::from_request(request, state)
        .await
        .map(|Form(form)| form)
        .map_err(|e| {
            let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            refused(
                status,
                "Refused",
                user,
                "The form was malformed. Reload the page and try again.",
            )
        })
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub(crate) async fn login(
    State(state): State<Shared>,
    Peer(peer): Peer,
    request: Request,
) -> Response {
    let form: LoginForm = match read_form(request, &state, None).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let token = form.token.trim();
    let Some(principal) = principal_for_token(&state.config, token) else {
        let refusal = if token.is_empty() {
            Refusal::NoCredentials
        } else {
            Refusal::BadToken
        };
        refusals::record(&state, peer, "web", "login", refusal, None).await;
        let body =
            "<div class='note error'>Unknown token.</div><p><a href=/login>Try again</a></p>";
        return (StatusCode::UNAUTHORIZED, page("Log in", None, body)).into_response();
    };
    let Some(id) = state.sessions.start(principal, &state.config) else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Log in",
            None,
            "No randomness for a session; try again later.",
        );
    };
    with_session(Redirect::to("/").into_response(), &state, Some(id))
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

fn csrf_ok(session: &Session, token: &str) -> bool {
    !session.csrf.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(token.as_bytes()))
}

pub(crate) async fn logout(
    State(state): State<Shared>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let form: CsrfForm = match read_form(request, &state, None).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(s) = state.sessions.get(&headers)
        && csrf_ok(&s, &form.csrf)
    {
        state.sessions.end(&headers);
    }
    let mut r = Redirect::to("/login").into_response();
    if let Some(v) = set_cookie(&state, "", 0) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn needs(r: &ApprovalRequest) -> String {
    r.requirements
        .iter()
        .map(|q| format!("{} of {}", q.min, esc(&q.group)))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn risk(r: &ApprovalRequest) -> String {
    match r.risk {
        Some(k) => format!("<span class=risk-{0}>{0}</span>", k.as_str()),
        None => "-".to_owned(),
    }
}

fn row(r: &ApprovalRequest) -> String {
    format!(
        "<tr><td><a href=\"/requests/{id}\">{action}</a></td><td>{actor}</td><td>{obo}</td><td>{res}</td><td>{env}</td><td>{risk}</td><td>{needs}</td><td data-expires=\"{exp}\">{exp}</td></tr>",
        id = esc(&r.id),
        action = esc(&r.action),
        actor = esc(r.actor.as_deref().unwrap_or("-")),
        obo = esc(r.on_behalf_of.as_deref().unwrap_or("-")),
        res = esc(r.resource.as_deref().unwrap_or("-")),
        env = esc(r.env.as_deref().unwrap_or("-")),
        risk = risk(r),
        needs = needs(r),
        exp = esc(&r.expires_at.to_rfc3339()),
    )
}

pub(crate) async fn index(
    State(state): State<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Response {
    let Some((user, new_session)) = page_user(&state, &headers, peer) else {
        return Redirect::to("/login").into_response();
    };
    let pending = match state.gate.pending().await {
        Ok(p) => p,
        Err(e) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Pending",
                Some(&user),
                &e.to_string(),
            );
        }
    };
    let rows = if pending.is_empty() {
        "<tr><td colspan=8>Nothing waits for you.</td></tr>".to_owned()
    } else {
        pending.iter().map(row).collect()
    };
    let body = format!(
        "<h2>Pending approvals</h2><table><thead><tr><th>Action</th><th>Actor</th><th>On behalf of</th><th>Resource</th><th>Env</th><th>Risk</th><th>Needs</th><th>Time left</th></tr></thead>\
         <tbody id=rows>{rows}</tbody></table><p><a href=/grants>Grants</a></p>"
    );
    with_session(
        page("Pending", Some(&user), &body).into_response(),
        &state,
        new_session,
    )
}

fn detail_body(r: &ApprovalRequest, user: &Session, note: Option<(&str, bool)>) -> String {
    let args = serde_json::to_string_pretty(&r.args).unwrap_or_default();
    let context = serde_json::to_string_pretty(&r.context).unwrap_or_default();
    let votes = if r.votes.is_empty() {
        "none yet".to_owned()
    } else {
        r.votes
            .iter()
            .map(|v| {
                format!(
                    "{} — {}{}{}",
                    esc(&v.voter),
                    v.verdict.as_str(),
                    v.comment
                        .as_deref()
                        .map(|c| format!(" “{}”", esc(c)))
                        .unwrap_or_default(),
                    if v.current { "" } else { " (for earlier args)" }
                )
            })
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let note = note
        .map(|(text, error)| {
            format!(
                "<div class='note{}'>{}</div>",
                if error { " error" } else { "" },
                esc(text)
            )
        })
        .unwrap_or_default();
    let status = r.status.as_str();
    let form = if r.status == signoff::RequestStatus::Pending {
        format!(
            "<form method=post action=\"/requests/{id}/vote\" class=card id=vote>\
             <input type=hidden name=csrf value=\"{csrf}\"><input type=hidden name=args_digest value=\"{digest}\">\
             <p><label>Comment (recorded in the audit trail)<br><textarea name=comment></textarea></label></p>{grant}\
             <p><label><input type=checkbox name=break_glass value=1> Break-glass: resolve it alone (members of the policy's break-glass group only; the comment is the required reason)</label></p>\
             <button class=approve name=verdict value=approve>Approve</button> <button class=deny name=verdict value=deny>Deny</button>\
             <span class=who>you vote as {me}</span></form>",
            grant = grant_choice(r),
            id = esc(&r.id),
            csrf = esc(&user.csrf),
            digest = esc(&r.args_digest),
            me = esc(&user.principal),
        )
    } else {
        String::new()
    };
    format!(
        "{note}<h2 data-request=\"{id}\">{action} <span class=\"status {status}\" id=status>{status}</span></h2>\
         <div class=card><dl>\
         <dt>Actor</dt><dd>{actor}</dd><dt>On behalf of</dt><dd>{obo}</dd><dt>Resource</dt><dd>{res}</dd><dt>Env</dt><dd>{env}</dd>\
         <dt>Justification</dt><dd>{just}</dd><dt>Why approval</dt><dd>{reason} (rule {rules})</dd><dt>Risk</dt><dd>{risk}</dd>\
         <dt>Needs</dt><dd>{needs}</dd><dt>Votes</dt><dd id=votes>{votes}</dd><dt>Time left</dt>{time_left}\
         <dt>Args</dt><dd><pre>{args}</pre></dd><dt>Context</dt><dd><pre>{context}</pre></dd><dt>Args digest</dt><dd><code>{digest}</code></dd>\
         </dl></div>{form}",
        action = esc(&r.action),
        actor = esc(r.actor.as_deref().unwrap_or("-")),
        obo = esc(r.on_behalf_of.as_deref().unwrap_or("-")),
        res = esc(r.resource.as_deref().unwrap_or("-")),
        env = esc(r.env.as_deref().unwrap_or("-")),
        just = esc(r.justification.as_deref().unwrap_or("-")),
        reason = esc(&r.reason),
        rules = esc(&r.rules.join(", ")),
        risk = risk(r),
        needs = needs(r),
        time_left = if r.status == signoff::RequestStatus::Pending {
            format!(
                "<dd data-expires=\"{0}\">{0}</dd>",
                esc(&r.expires_at.to_rfc3339())
            )
        } else {
            "<dd>-</dd>".to_owned()
        },
        args = esc(&args),
        context = esc(&context),
        digest = esc(&r.args_digest),
        id = esc(&r.id),
    )
}

/// The grant choice of the vote form, when the request allows grants.
fn grant_choice(r: &ApprovalRequest) -> String {
    let Some(max) = r.max_grant else {
        return String::new();
    };
    let options: String = signoff::grant::offered_lengths(max)
        .iter()
        .map(|g| format!("<option value=\"{0}\">{0}</option>", esc(g)))
        .collect();
    format!(
        "<p><label>Grant: for this long, also approve later actions these rules send to approval in the same scope \
         <select name=grant><option value=\"\">no grant</option>{options}</select></label></p>"
    )
}

pub(crate) async fn detail(
    State(state): State<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some((user, new_session)) = page_user(&state, &headers, peer) else {
        return Redirect::to("/login").into_response();
    };
    let response = match state.gate.request(&id).await {
        Ok(r) => page(&r.action, Some(&user), &detail_body(&r, &user, None)).into_response(),
        Err(signoff::Error::NotFound(_)) => (
            StatusCode::NOT_FOUND,
            page(
                "Not found",
                Some(&user),
                "<div class='note error'>No such request.</div>",
            ),
        )
            .into_response(),
        Err(e) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            Some(&user),
            &e.to_string(),
        ),
    };
    with_session(response, &state, new_session)
}

/// The approve / deny form.
#[derive(Deserialize)]
pub struct VoteForm {
    csrf: String,
    verdict: Verdict,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    args_digest: Option<String>,
    /// A grant length (empty: none).
    #[serde(default)]
    grant: Option<String>,
    /// `1` for a break-glass approval.
    #[serde(default)]
    break_glass: Option<String>,
}

pub(crate) async fn vote(
    State(state): State<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let Some((user, _)) = page_user(&state, &headers, peer) else {
        let refusal = Refusal::of(&state, &headers, peer);
        refusals::record(
            &state,
            peer,
            "web",
            "POST /requests/{id}/vote",
            refusal,
            Some(&id),
        )
        .await;
        return refused(
            StatusCode::UNAUTHORIZED,
            "Log in",
            None,
            "Log in first: your vote was not counted.",
        );
    };
    let form: VoteForm = match read_form(request, &state, Some(&user)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !csrf_ok(&user, &form.csrf) {
        refusals::record_forged_form(&state, peer, &user.principal, &id).await;
        return refused(
            StatusCode::FORBIDDEN,
            "Refused",
            Some(&user),
            "The form expired or did not come from this page (CSRF check failed). Reload and try again.",
        );
    }
    let mut body = VoteBody::from_form(form.verdict, form.comment, form.args_digest);
    body.break_glass = form.break_glass.is_some_and(|v| !v.is_empty());
    if let Some(g) = form.grant.as_deref().filter(|g| !g.trim().is_empty()) {
        match signoff::grant::parse_length(g) {
            Ok(d) => body.grant = Some(d),
            Err(m) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    "Refused",
                    Some(&user),
                    &format!("Your vote was not counted: {m}"),
                );
            }
        }
    }
    let outcome = cast(&state, &id, user.principal.clone(), body, "web").await;
    let request = match state.gate.request(&id).await {
        Ok(r) => r,
        Err(_) => {
            return refused(
                StatusCode::NOT_FOUND,
                "Not found",
                Some(&user),
                "No such request.",
            );
        }
    };
    match outcome {
        Ok(status) => {
            let text = format!("Your vote was counted; the request is {}.", status.as_str());
            page(
                &request.action,
                Some(&user),
                &detail_body(&request, &user, Some((&text, false))),
            )
            .into_response()
        }
        Err(e) => {
            let (status, text) = e.describe();
            (
                status,
                page(
                    &request.action,
                    Some(&user),
                    &detail_body(&request, &user, Some((&text, true))),
                ),
            )
                .into_response()
        }
    }
}

/// `GET /grants`: the grants in the store, with a revoke button on live ones.
pub(crate) async fn grants_page(
    State(state): State<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Response {
    let Some((user, new_session)) = page_user(&state, &headers, peer) else {
        return Redirect::to("/login").into_response();
    };
    let grants = match state.gate.grants().await {
        Ok(g) => g,
        Err(e) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Grants",
                Some(&user),
                &e.to_string(),
            );
        }
    };
    let body = grants_body(&state, &grants, &user, None);
    with_session(
        page("Grants", Some(&user), &body).into_response(),
        &state,
        new_session,
    )
}

fn grants_body(
    state: &Shared,
    grants: &[signoff::Grant],
    user: &Session,
    note: Option<&str>,
) -> String {
    let rows: String = if grants.is_empty() {
        "<tr><td colspan=6>No grants.</td></tr>".to_owned()
    } else {
        grants
            .iter()
            .rev()
            .map(|g| {
                let live = state.gate.grant_is_live(g);
                let scope = g
                    .scope
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let state_cell = match (&g.revoked, live) {
                    (Some(r), _) => format!("revoked by {}", esc(&r.by)),
                    (None, true) => format!(
                        "<form method=post action=\"/grants/{id}/revoke\"><input type=hidden name=csrf value=\"{csrf}\"><button class=deny>Revoke</button></form>",
                        id = esc(&g.id),
                        csrf = esc(&user.csrf)
                    ),
                    (None, false) => "expired".to_owned(),
                };
                format!(
                    "<tr data-grant=\"{id}\"><td>{rule}</td><td>{scope}</td><td>{by}</td><td>{exp}</td><td>{id}</td><td>{state_cell}</td></tr>",
                    id = esc(&g.id),
                    rule = esc(&g.rule),
                    scope = esc(&scope),
                    by = esc(&g.approvers.join(", ")),
                    exp = esc(&g.expires_at.to_rfc3339()),
                )
            })
            .collect()
    };
    let note = note
        .map(|t| format!("<div class=note>{}</div>", esc(t)))
        .unwrap_or_default();
    format!(
        "{note}<h2>Grants</h2><table><thead><tr><th>Rule</th><th>Scope</th><th>Approved by</th><th>Expires</th><th>Id</th><th></th></tr></thead>\
         <tbody id=grants>{rows}</tbody></table>"
    )
}

/// `POST /grants/{id}/revoke`: the page's revoke button (CSRF-checked).
pub(crate) async fn revoke_grant(
    State(state): State<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let Some((user, _)) = page_user(&state, &headers, peer) else {
        let refusal = Refusal::of(&state, &headers, peer);
        refusals::record(
            &state,
            peer,
            "web",
            "POST /grants/{id}/revoke",
            refusal,
            None,
        )
        .await;
        return refused(
            StatusCode::UNAUTHORIZED,
            "Log in",
            None,
            "Log in first: nothing was revoked.",
        );
    };
    let form: CsrfForm = match read_form(request, &state, Some(&user)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !csrf_ok(&user, &form.csrf) {
        return refused(
            StatusCode::FORBIDDEN,
            "Refused",
            Some(&user),
            "The form expired or did not come from this page (CSRF check failed). Reload and try again.",
        );
    }
    let reason = format!("revoked by {} on the page", user.principal);
    let note = match state
        .gate
        .revoke_grant(&id, &user.principal, Some(reason))
        .await
    {
        Ok(_) => format!("Grant {id} is revoked."),
        Err(signoff::Error::NotFound(_)) => {
            return refused(
                StatusCode::NOT_FOUND,
                "Not found",
                Some(&user),
                "No such grant.",
            );
        }
        Err(e) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                Some(&user),
                &e.to_string(),
            );
        }
    };
    let grants = state.gate.grants().await.unwrap_or_default();
    page(
        "Grants",
        Some(&user),
        &grants_body(&state, &grants, &user, Some(&note)),
    )
    .into_response()
}
