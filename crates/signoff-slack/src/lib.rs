#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod blocks;
mod config;
pub mod limits;
pub mod signature;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use signoff::{
    ApprovalRequest, Approver, ApproverError, Delivery, Error, Gate, RequestStatus, Verdict, Vote,
    VoteOutcome, VoteSender,
};
use signoff_http::{Cause, Retry};

pub use config::SlackConfig;

/// The channel name on the deliveries this crate records.
pub const CHANNEL: &str = "slack";

/// How long the interactivity endpoint waits for a `users.info` lookup, so
/// it answers within Slack's 3 seconds.
const LOOKUP_BUDGET: Duration = Duration::from_secs(2);

/// How many messages keep their last shown state (to skip repeated updates).
const SHOWN_SLOTS: usize = 1024;

/// The bot token or signing secret, never printed.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// The Slack side of signoff: posts requests, takes clicks.
#[derive(Debug)]
pub struct SlackApp {
    config: SlackConfig,
    token: Secret,
    signing_secret: Secret,
    client: reqwest::Client,
    /// Slack user id → principal, from `users.info`
    looked_up: Mutex<HashMap<String, String>>,
    /// `channel:ts` → what this process last showed there. Only to skip an
    /// update that would show the same (the gate and the endpoint both
    /// refresh after a vote) or an older state; the store is the truth.
    shown: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Shown>>>>>,
}

/// What one message was last updated to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    /// The `chat.update` body sent.
    body: String,
    /// How far the request had got: resolved, then the number of votes.
    progress: (bool, usize),
}

impl Shown {
    fn of(r: &ApprovalRequest, body: &Value) -> Self {
        Shown {
            body: body.to_string(),
            progress: (r.status != RequestStatus::Pending, r.votes.len()),
        }
    }
}

/// Why the Slack app could not start.
#[derive(Debug, thiserror::Error)]
#[error("slack: {0}")]
pub struct SlackError(String);

impl SlackApp {
    /// Reads the secrets and builds the client.
    pub fn new(config: SlackConfig) -> Result<Arc<Self>, SlackError> {
        let token = config::secret(&config.bot_token_env, &config.bot_token_file, "bot_token")
            .map_err(SlackError)?;
        let signing_secret = config::secret(
            &config.signing_secret_env,
            &config.signing_secret_file,
            "signing_secret",
        )
        .map_err(SlackError)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SlackError(e.to_string()))?;
        Ok(Arc::new(SlackApp {
            config,
            token: Secret(token),
            signing_secret: Secret(signing_secret),
            client,
            looked_up: Mutex::default(),
            shown: Mutex::default(),
        }))
    }

    /// The approver to give the gate.
    pub fn approver(self: &Arc<Self>) -> SlackApprover {
        SlackApprover(Arc::clone(self))
    }

    /// The interactivity route (`POST /slack/interactivity`), to merge into
    /// the approval server's router.
    pub fn routes(self: &Arc<Self>, gate: Gate) -> Router {
        Router::new()
            .route("/slack/interactivity", post(interactivity))
            .with_state(Arc::new((gate, Arc::clone(self))))
    }

    fn channel_for(&self, r: &ApprovalRequest) -> String {
        let c = &self.config.channels;
        r.rules
            .iter()
            .find_map(|rule| c.get(rule))
            .or_else(|| r.requirements.iter().find_map(|q| c.get(&q.group)))
            .cloned()
            .unwrap_or_else(|| self.config.default_channel.clone())
    }

    /// Calls a Web API method through [`signoff_http::send`] (connection
    /// errors, 5xx, 408 and 429 retried); Slack's own `ok: false` is not retried.
    async fn call(
        &self,
        method: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
    ) -> Result<Value, String> {
        let url = format!("{}/{method}", self.config.api_base.trim_end_matches('/'));
        let retry = Retry {
            attempts: self.config.attempts,
            backoff: Duration::from_millis(200),
        };
        let sent = signoff_http::send(retry, || {
            match body {
                Some(b) => self.client.post(&url).json(b),
                None => self.client.get(&url).query(query),
            }
            .bearer_auth(&self.token.0)
        })
        .await;
        let answer = sent.map_err(|f| {
            let last = match f.cause {
                Cause::Status(status) => format!("slack {method} answered {status}"),
                Cause::Transport(text) => format!("slack {method}: {text}"),
            };
            format!("{last} ({} attempt(s))", f.attempts)
        })?;
        let v: Value = answer
            .json()
            .await
            .map_err(|e| format!("slack {method}: unreadable answer: {e}"))?;
        if v["ok"] == Value::Bool(true) {
            return Ok(v);
        }
        Err(format!(
            "slack {method} refused: {}",
            v["error"].as_str().unwrap_or("unknown error")
        ))
    }

    async fn principal(&self, slack_user: &str) -> Option<String> {
        if let Some(p) = self.config.users.get(slack_user) {
            return Some(p.clone());
        }
        if let Some(p) = self.looked_up.lock().ok()?.get(slack_user).cloned() {
            return Some(p);
        }
        if !self.config.lookup_emails {
            return None;
        }
        let info = self
            .call("users.info", None, &[("user", slack_user)])
            .await
            .ok()?;
        let email = info["user"]["profile"]["email"].as_str()?.to_lowercase();
        let principal = format!("user:{email}");
        if let Ok(mut cache) = self.looked_up.lock() {
            cache.insert(slack_user.to_owned(), principal.clone());
        }
        Some(principal)
    }

    /// Re-renders the message `delivery` points at to show `r` now, with
    /// `chat.update` (retried like every call). Updates of one message are
    /// serialised, and one that would show what it already shows, or an
    /// older state, is skipped.
    async fn update(&self, r: &ApprovalRequest, delivery: &Delivery) -> Result<(), String> {
        let reference = &delivery.reference;
        let (Some(channel), Some(ts)) = (reference["channel"].as_str(), reference["ts"].as_str())
        else {
            return Err("slack: the delivery names no channel and ts".to_owned());
        };
        let body = blocks::update_body(r, channel, ts, self.config.page_url.as_deref());
        limits::check_message(&body).map_err(|e| format!("slack: the update is invalid: {e}"))?;
        let slot = self.slot(&format!("{channel}:{ts}"));
        let mut last = slot.lock().await;
        let now = Shown::of(r, &body);
        if let Some(before) = last.as_ref()
            && (before.body == now.body || before.progress > now.progress)
        {
            return Ok(());
        }
        self.call("chat.update", Some(&body), &[]).await?;
        *last = Some(now);
        Ok(())
    }

    /// The lock and last state of one message.
    fn slot(&self, key: &str) -> Arc<tokio::sync::Mutex<Option<Shown>>> {
        let Ok(mut shown) = self.shown.lock() else {
            return Arc::default();
        };
        if shown.len() >= SHOWN_SLOTS && !shown.contains_key(key) {
            // forget messages nobody is updating now
            shown.retain(|_, s| Arc::strong_count(s) > 1);
        }
        Arc::clone(shown.entry(key.to_owned()).or_default())
    }

    /// Tells the clicker (only them) why their click did nothing, through
    /// the click's `response_url`, retried; a final failure is logged.
    async fn ephemeral(&self, response_url: Option<&str>, text: &str) {
        let Some(url) = response_url else { return };
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let retry = Retry {
            attempts: self.config.attempts,
            backoff: Duration::from_millis(200),
        };
        if let Err(f) = signoff_http::send(retry, || self.client.post(url).json(&body)).await {
            // the response_url is a credential: never logged
            eprintln!(
                "signoff-slack: could not tell a reviewer why their click was refused ({} attempt(s)): {}",
                f.attempts, f.cause
            );
        }
    }
}

/// Posts approval requests to Slack.
#[derive(Debug, Clone)]
pub struct SlackApprover(Arc<SlackApp>);

#[async_trait]
impl Approver for SlackApprover {
    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError> {
        let app = &self.0;
        let channel = app.channel_for(&request);
        if limits::len(&blocks::button_value(&request)) > limits::BUTTON_VALUE {
            return Err(ApproverError::new(
                "slack: the request id and args digest do not fit in a button",
            ));
        }
        let body = blocks::post_body(&request, &channel, app.config.page_url.as_deref());
        limits::check_message(&body)
            .map_err(|e| ApproverError::new(format!("slack: the message is invalid: {e}")))?;
        let posted = app
            .call("chat.postMessage", Some(&body), &[])
            .await
            .map_err(ApproverError::new)?;
        let Some(ts) = posted["ts"].as_str() else {
            return Err(ApproverError::new(
                "slack chat.postMessage answered without the message's `ts`",
            ));
        };
        let channel = posted["channel"].as_str().unwrap_or(&channel);
        let delivery = Delivery {
            channel: CHANNEL.to_owned(),
            reference: json!({"channel": channel, "ts": ts}),
            at: chrono::Utc::now(),
            shown_version: 0,
        };
        if let Err(e) = votes.record_delivery(delivery.clone()).await {
            // nobody could update the message later: take its buttons away
            // now, and fail the request closed
            let mut gone = request.clone();
            gone.status = RequestStatus::Cancelled;
            let _ = app.update(&gone, &delivery).await;
            return Err(ApproverError::new(format!(
                "slack: the message was posted but could not be recorded: {e}"
            )));
        }
        Ok(())
    }

    fn refreshes(&self, channel: &str) -> bool {
        channel == CHANNEL
    }

    /// A reply in the message's thread (`chat.postMessage` with
    /// `thread_ts`), never a new message in the channel.
    async fn notify(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
        notice: &signoff::Notice,
    ) -> Result<(), ApproverError> {
        if delivery.channel != CHANNEL {
            return Ok(());
        }
        let reference = &delivery.reference;
        let (Some(channel), Some(ts)) = (reference["channel"].as_str(), reference["ts"].as_str())
        else {
            return Err(ApproverError::new(
                "slack: the delivery names no channel and ts",
            ));
        };
        let body = blocks::thread_reply(request, notice, channel, ts);
        self.0
            .call("chat.postMessage", Some(&body), &[])
            .await
            .map(|_| ())
            .map_err(ApproverError::new)
    }

    async fn refresh(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
    ) -> Result<(), ApproverError> {
        if delivery.channel != CHANNEL {
            return Ok(());
        }
        self.0.update(request, delivery).await.map_err(|e| {
            // the delivery stays behind, so the next refresh tries again
            eprintln!("signoff-slack: request `{}`: {e}", request.id);
            ApproverError::new(e)
        })
    }
}

/// Decodes `application/x-www-form-urlencoded` `payload=` into its JSON.
fn form_payload(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').find_map(|kv| kv.strip_prefix("payload="))?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut it = raw.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = it.next()?;
                let lo = it.next()?;
                let hex = [hi, lo];
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b => bytes.push(b),
        }
    }
    serde_json::from_slice(&bytes).ok()
}

type Shared = Arc<(Gate, Arc<SlackApp>)>;

async fn interactivity(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (gate, app) = (&state.0, &state.1);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    // the signature is checked before anything reads the payload
    if let Err(e) = signature::verify(
        &app.signing_secret.0,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        // only to name the request in the audit trail; nothing acts on it
        if let Some(id) = form_payload(&body)
            .and_then(|p| p["actions"][0]["value"].as_str().map(str::to_owned))
            .and_then(|v| v.split('|').next().map(str::to_owned))
        {
            let _ = gate
                .record_rejected_callback(
                    &id,
                    "slack",
                    None,
                    e.code(),
                    "a Slack callback failed signature verification",
                )
                .await;
        }
        return (StatusCode::UNAUTHORIZED, "invalid Slack signature").into_response();
    }
    let Some(payload) = form_payload(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "expected a form body with `payload`",
        )
            .into_response();
    };
    let action = &payload["actions"][0];
    let verdict = match action["action_id"].as_str() {
        Some("signoff_approve") => Verdict::Approve,
        Some("signoff_deny") => Verdict::Deny,
        _ => return StatusCode::OK.into_response(), // e.g. the Open link button
    };
    let Some((request_id, digest)) = action["value"].as_str().and_then(|v| v.split_once('|'))
    else {
        return (StatusCode::BAD_REQUEST, "the button carries no request").into_response();
    };
    let response_url = payload["response_url"].as_str().map(str::to_owned);
    let slack_user = payload["user"]["id"].as_str().unwrap_or_default();
    // Slack gives up on an answer after 3 seconds: only what decides the
    // vote happens before it; the message update and any reply to the
    // clicker run afterwards, in the background
    let looked_up = tokio::time::timeout(LOOKUP_BUDGET, app.principal(slack_user)).await;
    let Ok(Some(voter)) = looked_up else {
        let (code, text) = match looked_up {
            Err(_) => (
                "lookup_timeout",
                "Slack took too long to tell signoff who you are, so your vote was not counted. Please try again.",
            ),
            Ok(_) => (
                "unknown_user",
                "Your Slack account is not linked to a signoff reviewer, so your vote was not counted.",
            ),
        };
        let _ = gate
            .record_rejected_callback(request_id, "slack", Some(slack_user), code, text)
            .await;
        reply_later(app, response_url, text.to_owned());
        return StatusCode::OK.into_response();
    };
    let comment = payload["state"]["values"]["comment"]["comment"]["value"]
        .as_str()
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned);
    let mut vote = Vote::new(voter, verdict)
        .channel("slack")
        .authenticated()
        .saw(digest);
    vote.comment = comment;
    // the grant choice (DESIGN §13), only with an approval
    if let Some(choice) =
        payload["state"]["values"][blocks::GRANT_BLOCK][blocks::GRANT_BLOCK]["selected_option"]
            ["value"]
            .as_str()
            .filter(|v| *v != blocks::GRANT_NONE)
    {
        match signoff::grant::parse_length(choice) {
            Ok(d) if verdict == Verdict::Approve => vote.grant = Some(d),
            Ok(_) => {}
            Err(m) => {
                let text = format!("Your vote was not counted: {m}");
                let _ = gate
                    .record_rejected_callback(request_id, "slack", Some(&vote.voter), "bad_grant", &text)
                    .await;
                reply_later(app, response_url, text);
                return StatusCode::OK.into_response();
            }
        }
    }
    match gate.vote(request_id, vote).await {
        Ok(VoteOutcome::Counted(_)) => refresh_later(gate, app, request_id, response_url),
        Ok(_) => {}
        Err(Error::VoteRejected(r)) => reply_later(
            app,
            response_url,
            format!("Your vote was not counted: {}", r.message),
        ),
        Err(e) => reply_later(
            app,
            response_url,
            format!("Your vote could not be recorded: {e}"),
        ),
    }
    StatusCode::OK.into_response()
}

/// Brings the request's messages up to date after the answer to Slack is
/// gone. A failed `chat.update` is logged by the approver, the clicker is
/// told, and the next refresh redoes it (the delivery stays behind).
fn refresh_later(gate: &Gate, app: &Arc<SlackApp>, request_id: &str, response_url: Option<String>) {
    let (gate, app, id) = (gate.clone(), Arc::clone(app), request_id.to_owned());
    tokio::spawn(async move {
        match gate.refresh_deliveries(&app.approver(), &id).await {
            Ok(()) => {}
            Err(Error::Approver { message, .. }) => {
                let text = format!(
                    "Your vote was counted, but the message could not be updated yet: {message}"
                );
                app.ephemeral(response_url.as_deref(), &text).await;
            }
            Err(e) => {
                eprintln!("signoff-slack: request `{id}`: could not refresh its messages: {e}")
            }
        }
    });
}

/// Tells the clicker why their click did nothing, after the answer to Slack.
fn reply_later(app: &Arc<SlackApp>, response_url: Option<String>, text: String) {
    let app = Arc::clone(app);
    tokio::spawn(async move { app.ephemeral(response_url.as_deref(), &text).await });
}
