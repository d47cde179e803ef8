#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod blocks;
mod config;
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
use signoff::{ApprovalRequest, Approver, ApproverError, Error, Gate, Verdict, Vote, VoteSender};
use signoff_http::{Cause, Retry};

pub use config::SlackConfig;

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
    /// request id → (channel, message ts)
    messages: Mutex<HashMap<String, (String, String)>>,
    /// Slack user id → principal, from `users.info`
    looked_up: Mutex<HashMap<String, String>>,
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
            messages: Mutex::default(),
            looked_up: Mutex::default(),
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

    /// Re-renders the request's message: votes so far, and no buttons once resolved.
    async fn refresh(&self, gate: &Gate, request_id: &str) -> Result<(), String> {
        let Some((channel, ts)) = self
            .messages
            .lock()
            .ok()
            .and_then(|m| m.get(request_id).cloned())
        else {
            return Ok(());
        };
        let r = gate.request(request_id).await.map_err(|e| e.to_string())?;
        let body = json!({"channel": channel, "ts": ts, "text": format!("{} is {}", r.action, r.status.as_str()),
            "blocks": blocks::blocks(&r, self.config.page_url.as_deref())});
        self.call("chat.update", Some(&body), &[]).await.map(|_| ())
    }

    async fn ephemeral(&self, response_url: Option<&str>, text: &str) {
        if let Some(url) = response_url {
            let _ = self
                .client
                .post(url)
                .json(
                    &json!({"response_type": "ephemeral", "replace_original": false, "text": text}),
                )
                .send()
                .await;
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
        _votes: VoteSender,
    ) -> Result<(), ApproverError> {
        let app = &self.0;
        let channel = app.channel_for(&request);
        let body = json!({
            "channel": channel,
            "text": format!("Approval needed: {} by {}", request.action, request.actor.as_deref().unwrap_or("-")),
            "blocks": blocks::blocks(&request, app.config.page_url.as_deref()),
        });
        let posted = app
            .call("chat.postMessage", Some(&body), &[])
            .await
            .map_err(ApproverError::new)?;
        let ts = posted["ts"].as_str().unwrap_or_default().to_owned();
        let channel = posted["channel"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(channel);
        if let Ok(mut m) = app.messages.lock() {
            m.insert(request.id.clone(), (channel, ts));
        }
        Ok(())
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
    let response_url = payload["response_url"].as_str();
    let slack_user = payload["user"]["id"].as_str().unwrap_or_default();
    let Some(voter) = app.principal(slack_user).await else {
        let text =
            "Your Slack account is not linked to a signoff reviewer, so your vote was not counted.";
        let _ = gate
            .record_rejected_callback(request_id, "slack", Some(slack_user), "unknown_user", text)
            .await;
        app.ephemeral(response_url, text).await;
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
    match gate.vote(request_id, vote).await {
        Ok(_) => {
            if let Err(e) = app.refresh(gate, request_id).await {
                app.ephemeral(
                    response_url,
                    &format!("Your vote was counted, but the message could not be updated: {e}"),
                )
                .await;
            }
        }
        Err(Error::VoteRejected(r)) => {
            app.ephemeral(
                response_url,
                &format!("Your vote was not counted: {}", r.message),
            )
            .await;
        }
        Err(e) => {
            app.ephemeral(
                response_url,
                &format!("Your vote could not be recorded: {e}"),
            )
            .await
        }
    }
    StatusCode::OK.into_response()
}
