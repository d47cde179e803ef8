#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod card;

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use signoff::{ApprovalRequest, Approver, ApproverError, Delivery, VoteSender};
use signoff_http::{Cause, Retry};

/// The channel name on the deliveries this crate records.
pub const CHANNEL: &str = "teams";

/// Where cards go and where their buttons lead.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// Environment variable holding the Workflows webhook URL.
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// File holding the Workflows webhook URL.
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    /// The approval server's public base URL (buttons open its page).
    pub page_url: String,
    /// Per-attempt timeout, milliseconds (default 5000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Attempts before failing closed (default 3).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_timeout() -> u64 {
    5000
}
fn default_attempts() -> u32 {
    3
}

impl std::fmt::Debug for TeamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsConfig")
            .field("webhook_url", &"<hidden>")
            .field("page_url", &self.page_url)
            .finish()
    }
}

/// Posts approval requests to a Teams channel.
pub struct TeamsApprover {
    config: TeamsConfig,
    url: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for TeamsApprover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsApprover")
            .field("config", &self.config)
            .finish()
    }
}

impl TeamsApprover {
    /// Reads the webhook URL from the environment or a file.
    pub fn new(config: TeamsConfig) -> Result<Self, String> {
        let url = match (&config.webhook_url_env, &config.webhook_url_file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| format!("teams: environment variable `{var}` is not set"))?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("teams: cannot read the webhook URL file: {e}"))?
                .trim()
                .to_owned(),
            (None, None) => return Err("teams: set `webhook_url_env` or `webhook_url_file`".into()),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("teams: the webhook URL must be http(s)".into());
        }
        let page = &config.page_url;
        if !(page.starts_with("https://") || page.starts_with("http://")) {
            return Err(format!("teams: `page_url` `{page}` must be http(s)"));
        }
        if page.len() > card::PAGE_URL {
            return Err(format!(
                "teams: `page_url` is longer than {} bytes",
                card::PAGE_URL
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(TeamsApprover {
            config,
            url,
            client,
        })
    }
}

impl TeamsApprover {
    /// Posts `card` to the webhook, with the configured retries.
    async fn send(&self, card: &serde_json::Value) -> Result<(), ApproverError> {
        card::validate(card)
            .map_err(|e| ApproverError::new(format!("teams: the card is invalid: {e}")))?;
        let body = serde_json::to_vec(&card::message(card.clone()))
            .map_err(|e| ApproverError::new(format!("teams: {e}")))?;
        let retry = Retry {
            attempts: self.config.attempts,
            backoff: Duration::from_millis(200),
        };
        signoff_http::send(retry, || {
            self.client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body.clone())
        })
        .await
        .map(|_| ())
        .map_err(|f| {
            ApproverError::new(format!(
                "teams: delivery failed after {} attempt(s): {}",
                f.attempts, f.cause
            ))
        })
    }
}

#[async_trait]
impl Approver for TeamsApprover {
    fn notifies(&self, channel: &str) -> bool {
        channel == CHANNEL
    }

    /// A notice card of its own (the webhook cannot reply or update).
    async fn notify(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
        notice: &signoff::Notice,
    ) -> Result<(), ApproverError> {
        if delivery.channel != CHANNEL {
            return Ok(());
        }
        self.send(&card::notice_card(request, notice, &self.config.page_url))
            .await
    }

    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError> {
        let card = card::approval_card(&request, &self.config.page_url);
        card::validate(&card)
            .map_err(|e| ApproverError::new(format!("teams: the card is invalid: {e}")))?;
        let body = serde_json::to_vec(&card::message(card))
            .map_err(|e| ApproverError::new(format!("teams: {e}")))?;
        if body.len() > card::PAYLOAD_BUDGET {
            return Err(ApproverError::new(format!(
                "teams: the card is {} bytes, over the {} Teams takes",
                body.len(),
                card::PAYLOAD_BUDGET
            )));
        }
        let retry = Retry {
            attempts: self.config.attempts,
            backoff: Duration::from_millis(200),
        };
        let sent = signoff_http::send(retry, || {
            self.client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body.clone())
        })
        .await;
        sent.map_err(|f| {
            let last = match f.cause {
                Cause::Status(status) => format!("the workflow answered {status}"),
                Cause::Transport(text) => text,
            };
            ApproverError::new(format!(
                "teams: delivery failed after {} attempt(s): {last}",
                f.attempts
            ))
        })?;
        // a Workflows webhook gives no message id (its card cannot be
        // updated): the delivery records that and when it was posted
        let delivery = Delivery {
            channel: CHANNEL.to_owned(),
            reference: json!({"delivery_id": uuid::Uuid::now_v7().to_string()}),
            at: chrono::Utc::now(),
            shown_version: 0,
        };
        votes.record_delivery(delivery).await.map_err(|e| {
            ApproverError::new(format!(
                "teams: the card was posted but could not be recorded: {e}"
            ))
        })
    }
}
