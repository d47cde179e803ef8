//! Refused access in the audit trail: why a caller was refused, and a cap per
//! source (and for all sources) so that a flood of guesses cannot fill the
//! disk. Nothing a caller presented (a token, its hash, a cookie) is written.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::Shared;
use crate::auth::{SESSION_COOKIE, cookie};

/// How long a cap lasts.
const WINDOW: Duration = Duration::from_secs(60);

/// Why a caller without a usable identity was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nothing that identifies anyone.
    NoCredentials,
    /// A page session cookie that is unknown, expired or not accepted here.
    SessionCookie,
    /// A token (bearer header or login form) that matches no configured hash.
    BadToken,
    /// The proxy's identity header, from an address that is not the proxy.
    UntrustedProxy,
}

impl Refusal {
    /// Classifies a request that carried no usable identity.
    pub(crate) fn of(state: &Shared, headers: &HeaderMap, peer: Option<SocketAddr>) -> Refusal {
        if headers.contains_key(axum::http::header::AUTHORIZATION) {
            return Refusal::BadToken;
        }
        if let Some(proxy) = &state.config.proxy
            && headers.contains_key(proxy.header.as_str())
            && !peer.is_some_and(|p| proxy.trusted.contains(&p.ip()))
        {
            return Refusal::UntrustedProxy;
        }
        if cookie(headers, SESSION_COOKIE).is_some() {
            return Refusal::SessionCookie;
        }
        Refusal::NoCredentials
    }

    /// The short code written as the record's `outcome`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::NoCredentials | Refusal::SessionCookie => "unauthenticated",
            Refusal::BadToken => "bad_token",
            Refusal::UntrustedProxy => "untrusted_proxy",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no credentials",
            Refusal::SessionCookie => {
                "a page session cookie that is unknown, expired or not accepted here"
            }
            Refusal::BadToken => "a token that matches no configured token",
            Refusal::UntrustedProxy => {
                "an identity header from an address that is not a trusted proxy"
            }
        }
    }

    /// Whether a credential was presented (a wrong one is worth a record even
    /// on a read; a missing one is what an expired page's poll looks like).
    pub(crate) fn presented_credentials(self) -> bool {
        matches!(self, Refusal::BadToken | Refusal::UntrustedProxy)
    }
}

/// What may be written for one more refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// The refusal itself.
    Record,
    /// One record saying this source reached its cap.
    SourceCapped,
    /// One record saying all sources together reached the cap.
    TotalCapped,
    /// Nothing.
    Nothing,
}

/// Counts audited refusals per source in fixed one-minute windows.
#[derive(Debug)]
pub(crate) struct RefusalLimiter {
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    total_capped: bool,
    /// Attempts per source this window. Only sources that get a record are
    /// added, so the map never holds more than the total cap.
    sources: HashMap<SourceKey, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SourceKey {
    V4([u8; 4]),
    /// The /64 prefix: one host usually holds a whole /64.
    V6([u8; 8]),
    Unknown,
}

fn source_key(peer: Option<SocketAddr>) -> SourceKey {
    match peer.map(|p| p.ip().to_canonical()) {
        Some(IpAddr::V4(a)) => SourceKey::V4(a.octets()),
        Some(IpAddr::V6(a)) => {
            let mut prefix = [0u8; 8];
            prefix.copy_from_slice(&a.octets()[..8]);
            SourceKey::V6(prefix)
        }
        None => SourceKey::Unknown,
    }
}

impl Default for RefusalLimiter {
    fn default() -> Self {
        RefusalLimiter {
            window: Mutex::new(Window {
                started: Instant::now(),
                written: 0,
                total_capped: false,
                sources: HashMap::new(),
            }),
        }
    }
}

impl RefusalLimiter {
    fn admit(&self, peer: Option<SocketAddr>, per_source: u32, total: u32) -> Admit {
        if per_source == 0 || total == 0 {
            return Admit::Nothing;
        }
        // a poisoned lock only means another thread panicked mid-count; the counts stay usable
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(w.started) >= WINDOW {
            *w = Window {
                started: now,
                written: 0,
                total_capped: false,
                sources: HashMap::new(),
            };
        }
        if w.total_capped {
            return Admit::Nothing;
        }
        if w.written >= total {
            w.total_capped = true;
            return Admit::TotalCapped;
        }
        let seen = w.sources.entry(source_key(peer)).or_insert(0);
        *seen = seen.saturating_add(1);
        let admit = match (*seen).cmp(&per_source.saturating_add(1)) {
            std::cmp::Ordering::Less => Admit::Record,
            std::cmp::Ordering::Equal => Admit::SourceCapped,
            std::cmp::Ordering::Greater => Admit::Nothing,
        };
        if admit != Admit::Nothing {
            w.written += 1;
        }
        admit
    }
}

/// Whether one more record about `peer` fits in the caps; writes the one
/// `refusal_cap_reached` record itself when this attempt reaches a cap.
async fn within_caps(state: &Shared, peer: Option<SocketAddr>, channel: &str) -> bool {
    let config = &state.config;
    let (cap, scope) = match state.refusals.admit(
        peer,
        config.audit_refusals_per_source,
        config.audit_refusals_total,
    ) {
        Admit::Record => return true,
        Admit::Nothing => return false,
        Admit::SourceCapped => (config.audit_refusals_per_source, "from this source"),
        Admit::TotalCapped => (config.audit_refusals_total, "from all sources together"),
    };
    let reason = format!(
        "more than {cap} refused attempts this minute {scope}; \
         the next ones are refused without a record until the minute is over"
    );
    // the caller is refused either way; a trail that cannot take this record
    // fails the gate's own writes too, and those fail closed
    let _ = state
        .gate
        .record_refused_access(None, channel, &source(peer), "refusal_cap_reached", &reason)
        .await;
    false
}

fn source(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "an unknown address".to_owned(), |p| p.ip().to_string())
}

/// Audits a refused attempt from `peer`, within the caps. `what` names the
/// attempt (`POST /v1/requests/{id}/votes`, `login`), `request_id` the request
/// its path names, if any. The refusal stands whether or not this writes.
pub(crate) async fn record(
    state: &Shared,
    peer: Option<SocketAddr>,
    channel: &str,
    what: &str,
    refusal: Refusal,
    request_id: Option<&str>,
) {
    if !within_caps(state, peer, channel).await {
        return;
    }
    let reason = format!("{what} refused: {}", refusal.reason());
    // as above: refused either way
    let _ = state
        .gate
        .record_refused_access(request_id, channel, &source(peer), refusal.code(), &reason)
        .await;
}

/// Audits a page vote by a logged-in reviewer whose form failed the CSRF
/// check (a forged or stale form), within the caps.
pub(crate) async fn record_forged_form(
    state: &Shared,
    peer: Option<SocketAddr>,
    principal: &str,
    request_id: &str,
) {
    if !within_caps(state, peer, "web").await {
        return;
    }
    let reason = format!(
        "the vote form failed the CSRF check (forged, or from an old page) (from {})",
        source(peer)
    );
    let _ = state
        .gate
        .record_rejected_callback(request_id, "web", Some(principal), "bad_csrf", &reason)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(
            ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            4000,
        ))
    }

    #[test]
    fn a_source_gets_its_cap_then_one_cap_record_then_nothing() {
        let limiter = RefusalLimiter::default();
        let got: Vec<Admit> = (0..6)
            .map(|_| limiter.admit(peer("192.0.2.1"), 3, 100))
            .collect();
        assert_eq!(
            got,
            [
                Admit::Record,
                Admit::Record,
                Admit::Record,
                Admit::SourceCapped,
                Admit::Nothing,
                Admit::Nothing
            ]
        );
        // another source has its own count
        assert_eq!(limiter.admit(peer("192.0.2.2"), 3, 100), Admit::Record);
    }

    #[test]
    fn ipv6_sources_count_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = RefusalLimiter::default();
        assert_eq!(limiter.admit(peer("2001:db8::1"), 1, 100), Admit::Record);
        assert_eq!(
            limiter.admit(peer("2001:db8::ffff:2"), 1, 100),
            Admit::SourceCapped
        );
        assert_eq!(
            limiter.admit(peer("2001:db8:0:1::1"), 1, 100),
            Admit::Record
        );
        assert_eq!(limiter.admit(peer("198.51.100.1"), 1, 100), Admit::Record);
        assert_eq!(
            limiter.admit(peer("::ffff:198.51.100.1"), 1, 100),
            Admit::SourceCapped
        );
    }

    #[test]
    fn all_sources_together_stop_at_the_total_cap_with_one_record() {
        let limiter = RefusalLimiter::default();
        let mut got = Vec::new();
        for i in 0..10u8 {
            got.push(limiter.admit(peer(&format!("192.0.2.{i}")), 5, 4));
        }
        assert_eq!(got.iter().filter(|a| **a == Admit::Record).count(), 4);
        assert_eq!(got[4], Admit::TotalCapped);
        assert!(got[5..].iter().all(|a| *a == Admit::Nothing));
        let w = limiter.window.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(w.sources.len(), 4, "capped sources are not remembered");
    }

    #[test]
    fn a_zero_cap_audits_nothing() {
        let limiter = RefusalLimiter::default();
        assert_eq!(limiter.admit(peer("192.0.2.1"), 0, 100), Admit::Nothing);
    }
}
