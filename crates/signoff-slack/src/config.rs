//! Slack configuration: where secrets come from, channels, user mapping.

use std::collections::HashMap;

use serde::Deserialize;

/// How the Slack approver reaches Slack and maps people.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Web API base URL (tests point it at a local fake).
    pub api_base: String,
    /// Environment variable holding the bot token.
    pub bot_token_env: Option<String>,
    /// File holding the bot token.
    pub bot_token_file: Option<String>,
    /// Environment variable holding the signing secret.
    pub signing_secret_env: Option<String>,
    /// File holding the signing secret.
    pub signing_secret_file: Option<String>,
    /// Channel for requests no mapping names.
    pub default_channel: String,
    /// Channel per rule id or approver group (rule wins).
    pub channels: HashMap<String, String>,
    /// Slack user id → principal (`U123` → `user:carol@example.com`).
    pub users: HashMap<String, String>,
    /// Look unmapped users up with `users.info` (their e-mail), cached.
    pub lookup_emails: bool,
    /// The approval page's base URL, linked from messages.
    pub page_url: Option<String>,
    /// Per-call timeout, milliseconds.
    pub timeout_ms: u64,
    /// Attempts per API call before failing closed.
    pub attempts: u32,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            api_base: "https://slack.com/api".to_owned(),
            bot_token_env: None,
            bot_token_file: None,
            signing_secret_env: None,
            signing_secret_file: None,
            default_channel: String::new(),
            channels: HashMap::new(),
            users: HashMap::new(),
            lookup_emails: true,
            page_url: None,
            timeout_ms: 5000,
            attempts: 3,
        }
    }
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("api_base", &self.api_base)
            .field("bot_token", &"<hidden>")
            .field("signing_secret", &"<hidden>")
            .field("default_channel", &self.default_channel)
            .field("channels", &self.channels)
            .field("users", &self.users.len())
            .field("lookup_emails", &self.lookup_emails)
            .finish()
    }
}

/// Reads a secret from the variable or file named; never prints it.
pub(crate) fn secret(
    env: &Option<String>,
    file: &Option<String>,
    what: &str,
) -> Result<String, String> {
    let value = match (env, file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| format!("{what}: environment variable `{var}` is not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("{what}: cannot read its file: {e}"))?
            .trim_end()
            .to_owned(),
        (None, None) => return Err(format!("{what}: set `{what}_env` or `{what}_file`")),
    };
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    Ok(value)
}
