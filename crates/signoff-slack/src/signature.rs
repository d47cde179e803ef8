//! Slack's request signatures: `v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How old a request may be, in seconds.
pub const WINDOW_SECS: i64 = 300;

/// Why a callback's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `X-Slack-Signature` or `X-Slack-Request-Timestamp` is missing.
    Missing,
    /// The timestamp is not a number, or outside the 5-minute window.
    Stale,
    /// The signature does not match.
    Mismatch,
}

impl SignatureError {
    /// A short code for the audit trail.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

/// `v0=<hex>` for a body.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a request's signature over its raw body, before anything parses it.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let when: i64 = ts.parse().map_err(|_| SignatureError::Stale)?;
    if (now - when).abs() > WINDOW_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = sign(secret, ts, body);
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}
