//! Server configuration: who may call the API and how the page authenticates.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

/// One API token: its blake3 hash (hex) and the principal it stands for.
/// Secrets never appear in configuration, only their hashes.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The reviewer, e.g. `user:carol@example.com`.
    pub principal: String,
    /// `blake3` of the token, 64 hex characters (`signoff token hash`).
    pub token_hash: String,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("principal", &self.principal)
            .field("token_hash", &"<hidden>")
            .finish()
    }
}

/// An identity-aware proxy in front of the page: its header is believed only
/// from these addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyAuth {
    /// Header carrying the reviewer's principal (e.g. `X-Forwarded-User`).
    pub header: String,
    /// Proxy addresses allowed to set it.
    pub trusted: Vec<IpAddr>,
}

/// How the server authenticates and limits requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// API tokens (also accepted by the login form).
    pub tokens: Vec<TokenEntry>,
    /// Trusted identity header, if a proxy authenticates reviewers.
    pub proxy: Option<ProxyAuth>,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a page session lasts, in seconds.
    pub session_seconds: u64,
    /// Mark cookies `Secure` (serve over HTTPS, or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Refused attempts (no credentials, an unknown token, an untrusted
    /// proxy header) audited per source and minute; a source is an IPv4
    /// address or an IPv6 /64. Past it one `refusal_cap_reached` record, then
    /// nothing from that source until the minute is over; the refusals go on.
    /// 0 audits none.
    pub audit_refusals_per_source: u32,
    /// The same cap for all sources together, so that a flood from many
    /// addresses cannot fill the disk either.
    pub audit_refusals_total: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tokens: Vec::new(),
            proxy: None,
            max_body: 64 * 1024,
            session_seconds: 8 * 3600,
            secure_cookies: false,
            audit_refusals_per_source: 10,
            audit_refusals_total: 600,
        }
    }
}

impl ServerConfig {
    /// Adds a token for `principal` given the secret itself (hashed here).
    pub fn with_token(mut self, principal: impl Into<String>, secret: &str) -> Self {
        self.tokens.push(TokenEntry {
            principal: principal.into(),
            token_hash: hash_token(secret),
        });
        self
    }

    pub(crate) fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_seconds)
    }
}

/// The hash stored in configuration for a token.
pub fn hash_token(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}
