//! The Streamable HTTP proxy against a scripted upstream: JSON and SSE
//! answers, progress while waiting, a client that goes away, batches.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use signoff::{Gate, Policy, Queue, RequestStatus, Verdict, Vote};
use signoff_mcp::{HttpProxy, McpGate, ProxyOptions};

const POLICY: &str = r#"
[policy]
default = "deny"
[groups]
reviewers = ["user:carol@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["mcp.up.read"]
[[rules]]
id = "no-delete"
effect = "deny"
actions = ["mcp.up.delete"]
reason = "no deletes"
[[rules]]
id = "writes"
effect = "approve"
actions = ["mcp.up.write"]
approvers = "reviewers"
"#;

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// Answers JSON, or SSE when the request's id is a string starting `sse`.
async fn upstream(State(seen): State<Seen>, headers: HeaderMap, body: String) -> Response {
    let msg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((headers, msg.clone()));
    let answer = |m: &Value| json!({"jsonrpc":"2.0","id":m["id"],"result":{"content":[{"type":"text","text":format!("ran {}", m["params"]["name"])}]}});
    if let Value::Array(items) = &msg {
        let out: Vec<Value> = items
            .iter()
            .filter(|m| m.get("id").is_some())
            .map(answer)
            .collect();
        return json_body(json!(out));
    }
    if msg.get("id").is_none() {
        return Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Body::empty())
            .unwrap();
    }
    if msg["id"].as_str().is_some_and(|s| s.starts_with("sse")) {
        let events = format!(
            "id: e1\nevent: message\ndata: {}\n\nid: e2\nevent: message\ndata: {}\n\n",
            json!({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}),
            answer(&msg)
        );
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(events))
            .unwrap();
    }
    let mut r = json_body(answer(&msg));
    r.headers_mut()
        .insert("mcp-session-id", "upstream-session".parse().unwrap());
    r
}

fn json_body(v: Value) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

struct Harness {
    gate: Gate,
    url: String,
    seen: Seen,
    http: reqwest::Client,
}

async fn start(options: ProxyOptions) -> Harness {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/mcp", axum::routing::any(upstream))
        .with_state(Arc::clone(&seen));
    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_url = format!("http://{}/mcp", up.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(up, app).await.unwrap() });
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .actor("agent:http-test")
        .build()
        .unwrap();
    let mcp = Arc::new(McpGate::new(gate.clone(), options).unwrap());
    let proxy = HttpProxy::new(mcp, &up_url).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { proxy.serve(listener).await.unwrap() });
    Harness {
        gate,
        url,
        seen,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", "s-1")
            .header("authorization", "Bearer upstream-secret")
            .body(body.to_string())
    }

    fn upstream_saw(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    async fn pending(&self) -> signoff::StoredRequest {
        for _ in 0..300 {
            if let Some(r) = self
                .gate
                .store()
                .list(Some(RequestStatus::Pending))
                .await
                .unwrap()
                .pop()
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no pending request");
    }
}

fn call(id: Value, tool: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}})
}

fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn an_allowed_call_is_forwarded_with_its_headers_and_answered_by_the_upstream() {
    let h = start(ProxyOptions::new("up")).await;
    let r = h.post(&call(json!(1), "read")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["mcp-session-id"], "upstream-session");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "ran \"read\"");
    let seen = h.seen.lock().unwrap();
    let (headers, msg) = &seen[0];
    assert_eq!(headers["authorization"], "Bearer upstream-secret");
    assert_eq!(headers["mcp-session-id"], "s-1");
    assert_eq!(msg["params"]["name"], "read");
}

#[tokio::test]
async fn a_denied_call_is_answered_by_the_proxy_alone() {
    let h = start(ProxyOptions::new("up")).await;
    let body: Value = h
        .post(&call(json!(2), "delete"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], 2);
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["content"][0]["text"],
        "signoff: denied (rule no-delete): no deletes"
    );
    assert!(h.upstream_saw().is_empty());
    let r = h
        .post(&json!("not json"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(h.upstream_saw().is_empty());
}

#[tokio::test]
async fn a_waiting_call_with_a_progress_token_streams_progress_then_the_upstreams_events() {
    let mut options = ProxyOptions::new("up");
    options.progress_every = Duration::from_millis(100);
    let h = start(options).await;
    let mut c = call(json!("sse-3"), "write");
    c["params"]["_meta"] = json!({"progressToken": 77});
    let send = h.post(&c).send();
    let vote = async {
        let req = h.pending().await;
        tokio::time::sleep(Duration::from_millis(350)).await;
        h.gate
            .vote(
                &req.id,
                Vote::new("user:carol@example.com", Verdict::Approve)
                    .channel("api")
                    .authenticated(),
            )
            .await
            .unwrap();
    };
    let (r, ()) = tokio::join!(send, vote);
    let r = r.unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let all = events(&r.text().await.unwrap());
    let progress: Vec<&Value> = all
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 2, "{all:?}");
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == 77));
    let rest: Vec<&Value> = all
        .iter()
        .filter(|m| m["method"] != "notifications/progress")
        .collect();
    assert_eq!(
        rest[0]["method"], "notifications/message",
        "the upstream's own events, in order"
    );
    assert_eq!(rest[1]["id"], "sse-3");
}

#[tokio::test]
async fn a_client_that_goes_away_withdraws_its_request() {
    let h = start(ProxyOptions::new("up")).await;
    let send = h
        .post(&call(json!(4), "write"))
        .timeout(Duration::from_millis(500))
        .send();
    assert!(
        send.await.is_err(),
        "the held request timed out on the client"
    );
    let req = h.gate.store().list(None).await.unwrap().pop().unwrap();
    for _ in 0..100 {
        if h.gate.store().get(&req.id).await.unwrap().unwrap().status == RequestStatus::Cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        h.gate.store().get(&req.id).await.unwrap().unwrap().status,
        RequestStatus::Cancelled
    );
    assert!(h.upstream_saw().is_empty());
}

#[tokio::test]
async fn a_cancel_notification_withdraws_a_held_call_of_the_same_session() {
    let h = start(ProxyOptions::new("up")).await;
    let held = h.post(&call(json!(5), "write")).send();
    let cancel = async {
        let req = h.pending().await;
        let r = h
            .post(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"nope"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        req
    };
    let (r, req) = tokio::join!(held, cancel);
    assert_eq!(
        r.unwrap().status(),
        202,
        "nothing is said for a withdrawn call"
    );
    assert_eq!(
        h.gate.store().get(&req.id).await.unwrap().unwrap().status,
        RequestStatus::Cancelled
    );
    assert!(
        h.upstream_saw().is_empty(),
        "neither the call nor its cancel reached the upstream"
    );
}

#[tokio::test]
async fn a_batch_forwards_what_is_allowed_and_adds_the_denials() {
    let h = start(ProxyOptions::new("up")).await;
    let batch = json!([call(json!(1), "read"), call(json!(2), "delete"), {"jsonrpc":"2.0","id":3,"method":"ping"}]);
    let body: Value = h.post(&batch).send().await.unwrap().json().await.unwrap();
    let mut ids: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
    let forwarded = &h.upstream_saw()[0];
    let names: Vec<&str> = forwarded
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{forwarded}");
    assert!(!forwarded.to_string().contains("delete"));
}
