//! The web approval page: server-rendered HTML, a login form (API tokens) or
//! a trusted proxy identity, CSRF tokens on every form, and a little script
//! that refreshes the page's data every few seconds.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use signoff::{ApprovalRequest, Verdict};
use subtle::ConstantTimeEq;

use crate::Shared;
use crate::api::{VoteBody, cast};
use crate::auth::{SESSION_COOKIE, Session, principal_for_token, proxy_identity};

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

const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.8rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
header a,header button{color:#fff;background:none;border:0;font:inherit;cursor:pointer;text-decoration:none}
main{max-width:960px;margin:1.5rem auto;padding:0 1rem}
table{width:100%;border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:.55rem .7rem;border-bottom:1px solid #e6e8ec;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:#5b6475}
.card{background:#fff;box-shadow:0 1px 2px #0002;padding:1rem 1.3rem;margin-bottom:1rem}
dl{display:grid;grid-template-columns:11rem 1fr;gap:.35rem 1rem;margin:0}
dt{color:#5b6475}dd{margin:0;min-width:0;overflow-wrap:anywhere}
pre{background:#f0f2f5;padding:.6rem;margin:0;white-space:pre-wrap;word-break:break-all}
.risk-high,.risk-critical{color:#b42318;font-weight:600}.risk-medium{color:#b54708}
.status{font-weight:600}.approved{color:#067647}.denied,.expired,.cancelled{color:#b42318}
button.approve{background:#067647;color:#fff;border:0;padding:.5rem 1.1rem;font:inherit;cursor:pointer}
button.deny{background:#b42318;color:#fff;border:0;padding:.5rem 1.1rem;font:inherit;cursor:pointer}
textarea{width:100%;min-height:3.5rem;font:inherit;box-sizing:border-box}
.note{padding:.6rem .9rem;margin-bottom:1rem;background:#d1fadf}.error{background:#fee4e2}
input[type=password]{font:inherit;padding:.4rem;width:22rem}
";

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
         <title>{} · signoff</title><style>{STYLE}</style></head><body><header><a href=/><b>signoff</b> approvals</a>{who}</header>\
         <main>{body}</main></body></html>",
        esc(title)
    ))
}

/// The page user: a session, or a trusted proxy identity (which starts one).
fn page_user(
    state: &Shared,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Option<(Session, Option<String>)> {
    if let Some(s) = state.sessions.get(headers) {
        return Some((s, None));
    }
    if let Some(principal) = proxy_identity(&state.config, headers, Some(peer))
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

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub(crate) async fn login(State(state): State<Shared>, Form(form): Form<LoginForm>) -> Response {
    let Some(principal) = principal_for_token(&state.config, form.token.trim()) else {
        let body =
            "<div class='note error'>Unknown token.</div><p><a href=/login>Try again</a></p>";
        return (StatusCode::UNAUTHORIZED, page("Log in", None, body)).into_response();
    };
    let Some(id) = state.sessions.start(principal, &state.config) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness for a session",
        )
            .into_response();
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
    Form(form): Form<CsrfForm>,
) -> Response {
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

const REFRESH_LIST: &str = "<script>
function left(iso){const s=Math.round((new Date(iso)-Date.now())/1000);return s<=0?'expired':s>=3600?Math.floor(s/3600)+'h '+Math.floor(s%3600/60)+'m':s>=60?Math.floor(s/60)+'m '+(s%60)+'s':s+'s'}
function esc(s){return String(s??'-').replace(/[&<>\"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;',\"'\":'&#39;'}[c]))}
function ticks(){document.querySelectorAll('[data-expires]').forEach(e=>e.textContent=left(e.dataset.expires))}
async function refresh(){try{const r=await fetch('/v1/requests?status=pending',{credentials:'same-origin'});if(!r.ok)return;const list=await r.json();
document.getElementById('rows').innerHTML=list.length?list.map(q=>`<tr><td><a href=\"/requests/${encodeURIComponent(q.id)}\">${esc(q.action)}</a></td><td>${esc(q.actor)}</td><td>${esc(q.on_behalf_of)}</td><td>${esc(q.resource)}</td><td>${esc(q.env)}</td><td>${esc(q.risk)}</td><td>${q.requirements.map(x=>x.min+' of '+esc(x.group)).join(' + ')}</td><td data-expires=\"${esc(q.expires_at)}\"></td></tr>`).join(''):'<tr><td colspan=8>Nothing waits for you.</td></tr>';ticks()}catch(e){}}
ticks();setInterval(ticks,1000);setInterval(refresh,3000);
</script>";

pub(crate) async fn index(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some((user, new_session)) = page_user(&state, &headers, peer) else {
        return Redirect::to("/login").into_response();
    };
    let pending = match state.gate.pending().await {
        Ok(p) => p,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response(),
    };
    let rows = if pending.is_empty() {
        "<tr><td colspan=8>Nothing waits for you.</td></tr>".to_owned()
    } else {
        pending.iter().map(row).collect()
    };
    let body = format!(
        "<h2>Pending approvals</h2><table><thead><tr><th>Action</th><th>Actor</th><th>On behalf of</th><th>Resource</th><th>Env</th><th>Risk</th><th>Needs</th><th>Time left</th></tr></thead>\
         <tbody id=rows>{rows}</tbody></table>{REFRESH_LIST}"
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
             <p><label>Comment (recorded in the audit trail)<br><textarea name=comment></textarea></label></p>\
             <button class=approve name=verdict value=approve>Approve</button> <button class=deny name=verdict value=deny>Deny</button>\
             <span style=\"color:#5b6475;margin-left:1rem\">you vote as {me}</span></form>",
            id = esc(&r.id),
            csrf = esc(&user.csrf),
            digest = esc(&r.args_digest),
            me = esc(&user.principal),
        )
    } else {
        String::new()
    };
    format!(
        "{note}<h2>{action} <span class=\"status {status}\" id=status>{status}</span></h2>\
         <div class=card><dl>\
         <dt>Actor</dt><dd>{actor}</dd><dt>On behalf of</dt><dd>{obo}</dd><dt>Resource</dt><dd>{res}</dd><dt>Env</dt><dd>{env}</dd>\
         <dt>Justification</dt><dd>{just}</dd><dt>Why approval</dt><dd>{reason} (rule {rules})</dd><dt>Risk</dt><dd>{risk}</dd>\
         <dt>Needs</dt><dd>{needs}</dd><dt>Votes</dt><dd id=votes>{votes}</dd><dt>Time left</dt>{time_left}\
         <dt>Args</dt><dd><pre>{args}</pre></dd><dt>Context</dt><dd><pre>{context}</pre></dd><dt>Args digest</dt><dd><code>{digest}</code></dd>\
         </dl></div>{form}\
         <script>function left(iso){{const s=Math.round((new Date(iso)-Date.now())/1000);return s<=0?'expired':s>=60?Math.floor(s/60)+'m '+(s%60)+'s':s+'s'}}\
         function ticks(){{document.querySelectorAll('[data-expires]').forEach(e=>e.textContent=left(e.dataset.expires))}}\
         async function refresh(){{try{{const r=await fetch('/v1/requests/{idjs}',{{credentials:'same-origin'}});if(!r.ok)return;const q=await r.json();\
         const s=document.getElementById('status');s.textContent=q.status;s.className='status '+q.status;\
         if(q.status!=='pending'){{const f=document.getElementById('vote');if(f)f.remove()}}}}catch(e){{}}}}\
         ticks();setInterval(ticks,1000);setInterval(refresh,3000);</script>",
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
        idjs = esc(&urlencode(&r.id)),
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) async fn detail(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response(),
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
}

pub(crate) async fn vote(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<VoteForm>,
) -> Response {
    let Some((user, _)) = page_user(&state, &headers, peer) else {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    };
    if !csrf_ok(&user, &form.csrf) {
        return (
            StatusCode::FORBIDDEN,
            page("Refused", Some(&user), "<div class='note error'>The form expired or did not come from this page (CSRF check failed). Reload and try again.</div>"),
        )
            .into_response();
    }
    let body = VoteBody::from_form(form.verdict, form.comment, form.args_digest);
    let outcome = cast(&state, &id, user.principal.clone(), body, "web").await;
    let request = match state.gate.request(&id).await {
        Ok(r) => r,
        Err(_) => {
            return (
                StatusCode::NOT_FOUND,
                page(
                    "Not found",
                    Some(&user),
                    "<div class='note error'>No such request.</div>",
                ),
            )
                .into_response();
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
