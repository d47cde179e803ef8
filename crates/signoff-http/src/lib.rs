//! Outbound HTTP delivery with bounded retries, shared by signoff's approver
//! backends.
//!
//! [`send`] retries connection errors, timeouts, 5xx, 408 and 429 (after the
//! 429's `Retry-After`, capped at 30 s) with a doubling back-off, and stops at
//! once on any other 4xx. A [`Failure`] never contains the URL: webhook URLs
//! often carry their credentials in the path or query.

use std::fmt;
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How many times to try, and the first pause between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, at least one.
    pub attempts: u32,
    /// Pause after the first failure; doubled after each later one.
    pub backoff: Duration,
}

/// Why the last attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The server answered with this non-success status.
    Status(StatusCode),
    /// No answer: "timed out", "could not connect" or "request failed",
    /// followed by the error's source chain (which holds no URL).
    Transport(String),
}

/// Delivery failed: every attempt made, or a status not worth retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Attempts actually made.
    pub attempts: u32,
    /// What the last one ran into.
    pub cause: Cause,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Status(status) => write!(f, "answered {status}"),
            Cause::Transport(text) => f.write_str(text),
        }
    }
}

/// Sends the request `build` makes (called once per attempt, so signatures
/// and timestamps can be fresh) until it answers 2xx, which is returned.
pub async fn send(
    retry: Retry,
    mut build: impl FnMut() -> RequestBuilder,
) -> Result<Response, Failure> {
    let attempts = retry.attempts.max(1);
    let mut delay = retry.backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut wait = delay;
        let cause = match build().send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) => {
                let status = r.status();
                if status == StatusCode::TOO_MANY_REQUESTS
                    && let Some(after) = retry_after(&r)
                {
                    wait = after;
                }
                let retryable = status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT;
                if !retryable {
                    return Err(Failure {
                        attempts: attempt,
                        cause: Cause::Status(status),
                    });
                }
                Cause::Status(status)
            }
            Err(e) => Cause::Transport(describe(&e)),
        };
        if attempt >= attempts {
            return Err(Failure {
                attempts: attempt,
                cause,
            });
        }
        tokio::time::sleep(wait).await;
        delay = delay.saturating_mul(2);
    }
}

fn retry_after(r: &Response) -> Option<Duration> {
    let secs = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// A transport error in words, without its URL: reqwest's own `Display`
/// names the URL, so only the kind and the source chain are used.
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode as AxumStatus};
    use axum::routing::post;

    use super::*;

    const QUICK: Retry = Retry {
        attempts: 3,
        backoff: Duration::from_millis(1),
    };

    /// A server answering the scripted statuses in turn, then 200; returns
    /// its base URL and the call counter.
    async fn server(script: Vec<(u16, Option<&'static str>)>) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let app = Router::new().route(
            "/hook/{secret}",
            post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let (code, after) = script.get(n).copied().unwrap_or((200, None));
                async move {
                    let mut headers = HeaderMap::new();
                    if let Some(a) = after {
                        headers.insert("retry-after", a.parse().unwrap());
                    }
                    (AxumStatus::from_u16(code).unwrap(), headers, "")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hook/T0-secret-path",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, calls)
    }

    #[tokio::test]
    async fn retries_5xx_and_429_then_returns_the_success() {
        let (url, calls) = server(vec![(500, None), (429, Some("0"))]).await;
        let client = reqwest::Client::new();
        let r = send(QUICK, || client.post(&url)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_client_error_stops_at_once_and_counts_one_attempt() {
        let (url, calls) = server(vec![(403, None)]).await;
        let client = reqwest::Client::new();
        let f = send(QUICK, || client.post(&url)).await.unwrap_err();
        assert_eq!(f.cause, Cause::Status(StatusCode::FORBIDDEN));
        assert_eq!(f.attempts, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn request_timeout_is_retried_until_attempts_run_out() {
        let (url, calls) = server(vec![(408, None); 5]).await;
        let client = reqwest::Client::new();
        let f = send(QUICK, || client.post(&url)).await.unwrap_err();
        assert_eq!(f.cause, Cause::Status(StatusCode::REQUEST_TIMEOUT));
        assert_eq!(f.attempts, 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_cap_is_cut_to_it() {
        let (url, _) = server(vec![(429, Some("86400"))]).await;
        let client = reqwest::Client::new();
        let r = client.post(&url).send().await.unwrap();
        assert_eq!(retry_after(&r), Some(MAX_RETRY_AFTER));
    }

    #[tokio::test]
    async fn transport_failures_name_the_kind_but_never_the_url() {
        // bind then drop: nothing listens on the port any more
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hook/T0-secret-path?q=q-secret",
            listener.local_addr().unwrap()
        );
        drop(listener);
        let client = reqwest::Client::new();
        let f = send(QUICK, || client.post(&url)).await.unwrap_err();
        assert_eq!(f.attempts, 3);
        let text = f.cause.to_string();
        assert!(text.starts_with("could not connect"), "{text}");
        assert!(
            !text.contains("T0-secret-path") && !text.contains("q-secret"),
            "{text}"
        );
    }
}
