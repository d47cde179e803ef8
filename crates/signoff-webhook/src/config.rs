//! Webhook approver configuration; the secret is never printed.

use std::time::Duration;

use serde::Deserialize;

/// Where and how to deliver approval requests.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The receiver's URL (may itself hold a token: never printed).
    pub url: String,
    /// Environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the signing secret (trailing whitespace ignored).
    #[serde(default)]
    pub secret_file: Option<String>,
    /// Per-attempt timeout, in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before failing closed (default 3).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// First retry delay in milliseconds, doubled each time (default 200).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5000
}
fn default_attempts() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    200
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &"<hidden>")
            .field("secret_env", &self.secret_env)
            .field("secret_file", &self.secret_file.as_ref().map(|_| "<path>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl WebhookConfig {
    /// A config for `url` whose secret is in the environment variable `env`.
    pub fn new(url: impl Into<String>, env: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret_env: Some(env.into()),
            secret_file: None,
            timeout_ms: default_timeout_ms(),
            attempts: default_attempts(),
            backoff_ms: default_backoff_ms(),
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}
