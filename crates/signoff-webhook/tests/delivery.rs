//! The webhook approver against local receivers: signed deliveries, retries,
//! and failing closed when the receiver is down, slow or refusing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;
use signoff::{Action, Error, Gate, Policy, RequestStatus};
use signoff_webhook::{WebhookApprover, WebhookConfig, sign, verify_signature};

const SECRET: &str = "whsec-test-0123456789";

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
timeout = "1m"
redact = ["args.password"]
"#;

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver answering `statuses` in turn (then 200), after `delay`.
async fn receiver(statuses: Vec<u16>, delay: Duration) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let queue = Arc::new(Mutex::new(statuses));
    let app = Router::new().route(
        "/hook",
        post({
            let seen = Arc::clone(&seen);
            move |headers: HeaderMap, body: Bytes| {
                let seen = Arc::clone(&seen);
                let queue = Arc::clone(&queue);
                async move {
                    tokio::time::sleep(delay).await;
                    seen.lock().unwrap().push((headers, body));
                    let next = {
                        let mut q = queue.lock().unwrap();
                        if q.is_empty() { 200 } else { q.remove(0) }
                    };
                    StatusCode::from_u16(next).unwrap()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A config whose secret is in a file (`name` keeps the files apart).
fn config(url: &str, name: &str) -> WebhookConfig {
    let path = std::env::temp_dir().join(format!("{name}-{}.secret", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    WebhookConfig {
        url: url.to_owned(),
        secret_env: None,
        secret_file: Some(path.display().to_string()),
        timeout_ms: 300,
        attempts: 3,
        backoff_ms: 20,
    }
}

fn gate(approver: WebhookApprover) -> Gate {
    Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(approver)
        .build()
        .unwrap()
}

fn export() -> Action {
    Action::new("db.export")
        .actor("agent:bot")
        .args(json!({"rows": 5, "password": "hunter2"}))
}

#[tokio::test]
async fn a_delivery_is_signed_and_the_receiver_can_verify_it() {
    let (url, seen) = receiver(vec![], Duration::ZERO).await;
    let g = gate(WebhookApprover::new(config(&url, "SIGNOFF_WH_1")).unwrap());
    let submitted = g.submit(export()).await.unwrap();
    let signoff::Submission::Pending { request_id } = submitted else {
        panic!()
    };
    for _ in 0..100 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (headers, body) = seen.lock().unwrap()[0].clone();
    let ts = headers["x-signoff-timestamp"].to_str().unwrap();
    let sig = headers["x-signoff-signature"].to_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(verify_signature(SECRET.as_bytes(), ts, sig, &body, now));
    assert_eq!(
        headers["x-signoff-request-id"].to_str().unwrap(),
        request_id
    );
    // the accepted delivery is in the store under the id the receiver saw
    let delivery_id = headers["x-signoff-delivery-id"].to_str().unwrap();
    let mut stored = g.store().get(&request_id).await.unwrap().unwrap();
    for _ in 0..100 {
        if !stored.deliveries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        stored = g.store().get(&request_id).await.unwrap().unwrap();
    }
    assert_eq!(stored.deliveries.len(), 1);
    assert_eq!(stored.deliveries[0].channel, "webhook");
    assert_eq!(
        stored.deliveries[0].reference,
        json!({"delivery_id": delivery_id})
    );
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(request["id"], request_id.as_str());
    assert!(
        request["args"]["password"]
            .as_str()
            .unwrap()
            .starts_with("redacted:")
    );
    assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    // forgeries: another secret, a changed body, an old timestamp
    assert!(!verify_signature(b"other", ts, sig, &body, now));
    assert!(!verify_signature(SECRET.as_bytes(), ts, sig, b"{}", now));
    let old = now - 301;
    assert!(!verify_signature(
        SECRET.as_bytes(),
        &old.to_string(),
        &sign(SECRET.as_bytes(), old, &body),
        &body,
        now
    ));
    assert_eq!(
        g.request(&request_id).await.unwrap().status,
        RequestStatus::Pending
    );
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_accepts() {
    let (url, seen) = receiver(vec![500, 503], Duration::ZERO).await;
    let g = gate(WebhookApprover::new(config(&url, "SIGNOFF_WH_2")).unwrap());
    let signoff::Submission::Pending { request_id } = g.submit(export()).await.unwrap() else {
        panic!()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 3);
    let ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _)| h["x-signoff-delivery-id"].to_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "retries carry one id: {ids:?}"
    );
    assert_eq!(
        g.request(&request_id).await.unwrap().status,
        RequestStatus::Pending
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_fails_closed() {
    // a port nothing listens on
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // the URL carries a token in its path and query, as chat webhooks do
    let url = format!(
        "http://{}/hook/T0-secret-path?token=q-secret",
        listener.local_addr().unwrap()
    );
    drop(listener);
    let g = gate(WebhookApprover::new(config(&url, "SIGNOFF_WH_3")).unwrap());
    let err = g.require(export()).await.unwrap_err();
    let Error::Approver {
        message,
        request_id,
    } = &err
    else {
        panic!("{err}")
    };
    assert!(
        message.contains("could not connect") && message.contains("3 attempt"),
        "{message}"
    );
    assert!(!message.contains(SECRET));
    assert!(
        !message.contains("T0-secret-path") && !message.contains("q-secret"),
        "{message}"
    );
    assert_eq!(
        g.request(request_id).await.unwrap().status,
        RequestStatus::Cancelled
    );
}

#[tokio::test]
async fn a_slow_receiver_fails_closed_after_the_timeout() {
    let (url, seen) = receiver(vec![], Duration::from_secs(5)).await;
    let g = gate(WebhookApprover::new(config(&url, "SIGNOFF_WH_4")).unwrap());
    let started = std::time::Instant::now();
    let err = g.require(export()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Approver { message, .. } if message.contains("timed out")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded: {:?}",
        started.elapsed()
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_receiver_refusing_the_request_fails_closed_without_retrying() {
    let (url, seen) = receiver(vec![403], Duration::ZERO).await;
    let g = gate(WebhookApprover::new(config(&url, "SIGNOFF_WH_5")).unwrap());
    let err = g.require(export()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Approver { message, .. } if message.contains("403")),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn the_secret_and_url_never_appear_in_debug_output() {
    let cfg = config(
        "https://hooks.example.com/T0/secret-path-token",
        "SIGNOFF_WH_6",
    );
    let approver = WebhookApprover::new(cfg.clone()).unwrap();
    let shown = format!("{cfg:?} {approver:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains("secret-path-token"),
        "{shown}"
    );
    assert!(
        !shown.contains("SIGNOFF_WH_6"),
        "the secret file path is hidden too: {shown}"
    );
    let missing = WebhookConfig::new("https://x", "SIGNOFF_WH_UNSET_VAR");
    assert!(
        WebhookApprover::new(missing)
            .unwrap_err()
            .to_string()
            .contains("SIGNOFF_WH_UNSET_VAR")
    );
}
