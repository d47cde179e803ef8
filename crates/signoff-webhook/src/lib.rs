#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use signoff::{ApprovalRequest, Approver, ApproverError, Delivery, VoteSender};
use signoff_http::{Cause, Retry};
use subtle::ConstantTimeEq;

pub use config::WebhookConfig;

/// The channel name on the deliveries this crate records.
pub const CHANNEL: &str = "webhook";

/// How long a signature stays acceptable to a receiver.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// Why the webhook approver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No secret configured, or it could not be read.
    #[error("webhook secret: {0}")]
    Secret(String),
    /// The HTTP client could not be built.
    #[error("webhook client: {0}")]
    Client(String),
}

/// The signing secret, never printed.
#[derive(Clone)]
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Posts approval requests to a signed webhook.
#[derive(Debug, Clone)]
pub struct WebhookApprover {
    config: WebhookConfig,
    secret: Secret,
    client: reqwest::Client,
}

/// `v1=<hex>` of HMAC-SHA256(secret, "{timestamp}.{body}").
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: checks the signature over the raw body in constant
/// time, and that the timestamp is within [`MAX_AGE`] of `now` (unix seconds).
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - ts).unsigned_abs() > MAX_AGE.as_secs() {
        return false;
    }
    let expected = sign(secret, ts, body);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}

impl WebhookApprover {
    /// Builds the approver, reading the secret from the environment or a file.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookError> {
        let secret = match (&config.secret_env, &config.secret_file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| {
                    WebhookError::Secret(format!("environment variable `{var}` is not set"))
                })?
                .into_bytes(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| WebhookError::Secret(format!("cannot read the secret file: {e}")))?
                .trim_end()
                .as_bytes()
                .to_vec(),
            (None, None) => {
                return Err(WebhookError::Secret(
                    "set `secret_env` or `secret_file`".into(),
                ));
            }
        };
        if secret.is_empty() {
            return Err(WebhookError::Secret("the secret is empty".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(WebhookApprover {
            config,
            secret: Secret(secret),
            client,
        })
    }

    /// POSTs `request` (signed, retried) under a fresh delivery id, which
    /// every attempt carries so a receiver can drop repeats; the id.
    async fn deliver(&self, request: &ApprovalRequest) -> Result<String, String> {
        let delivery_id = uuid::Uuid::now_v7().to_string();
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let retry = Retry {
            attempts: self.config.attempts,
            backoff: Duration::from_millis(self.config.backoff_ms),
        };
        let sent = signoff_http::send(retry, || {
            // signed afresh on each attempt, so a retry is never stale
            let timestamp = chrono::Utc::now().timestamp();
            self.client
                .post(&self.config.url)
                .header("content-type", "application/json")
                .header("x-signoff-timestamp", timestamp.to_string())
                .header(
                    "x-signoff-signature",
                    sign(&self.secret.0, timestamp, &body),
                )
                .header("x-signoff-request-id", &request.id)
                .header("x-signoff-delivery-id", &delivery_id)
                .body(body.clone())
        })
        .await;
        sent.map(|_| delivery_id).map_err(|f| {
            let last = match f.cause {
                Cause::Status(status) => format!("the receiver answered {status}"),
                Cause::Transport(text) => text,
            };
            format!(
                "webhook delivery failed after {} attempt(s): {last}",
                f.attempts
            )
        })
    }
}

#[async_trait]
impl Approver for WebhookApprover {
    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError> {
        let delivery_id = self.deliver(&request).await.map_err(ApproverError::new)?;
        let delivery = Delivery {
            channel: CHANNEL.to_owned(),
            reference: serde_json::json!({"delivery_id": delivery_id}),
            at: chrono::Utc::now(),
            shown_version: 0,
        };
        votes.record_delivery(delivery).await.map_err(|e| {
            ApproverError::new(format!(
                "webhook: delivered but the delivery could not be recorded: {e}"
            ))
        })
    }
}
