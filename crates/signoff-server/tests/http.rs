//! The server over HTTP: every endpoint, every refusal, the page flow, and
//! responses checked against the OpenAPI document.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::{Action, Gate, JsonlSink, Policy, Queue};
use signoff_server::{ProxyAuth, ServerConfig};

const POLICY: &str = r#"
[policy]
default = "deny"
[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
min_approvals = 2
allow_edit = true
redact = ["args.password"]
risk = "high"
reason = "bulk export of production data"
"#;

struct Server {
    base: String,
    gate: Gate,
    trail: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start(config: ServerConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit.jsonl");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .audit(JsonlSink::open(&trail).unwrap())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(signoff_server::serve(gate.clone(), config, listener));
    Server {
        base: format!("http://{addr}"),
        gate,
        trail,
        _dir: dir,
    }
}

fn tokens() -> ServerConfig {
    ServerConfig::default()
        .with_token("user:carol@example.com", "carol-secret")
        .with_token("user:dan@example.com", "dan-secret")
        .with_token("user:alice@example.com", "alice-secret")
        .with_token("user:erin@example.com", "erin-secret")
}

fn export() -> Action {
    Action::new("db.export")
        .actor("agent:billing-bot")
        .on_behalf_of("user:alice@example.com")
        .resource("postgres://prod/customers")
        .env("prod")
        .justification("monthly <b>churn</b> report")
        .args(json!({"rows": 50000, "password": "hunter2"}))
}

async fn pending(s: &Server) -> String {
    match s.gate.submit(export()).await.unwrap() {
        signoff::Submission::Pending { request_id } => request_id,
        other => panic!("not pending: {other:?}"),
    }
}

/// Waits until the agent's `require` for `action_id` is pending; its request id.
async fn pending_for(s: &Server, action_id: &str) -> String {
    loop {
        if let Some(r) = s.gate.store().get_by_action(action_id).await.unwrap() {
            return r.id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn vote(s: &Server, id: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(format!("{}/v1/requests/{id}/votes", s.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

// --- a small JSON Schema check for the OpenAPI document's schemas ---

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, path: &str) {
    let schema = resolve(doc, schema);
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        assert!(
            types.contains(&actual) || (actual == "integer" && types.contains(&"number")),
            "{path}: {actual} is not {types:?}"
        );
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        assert!(e.contains(value), "{path}: {value} not in {e:?}");
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for k in req {
            assert!(
                value.get(k.as_str().unwrap()).is_some(),
                "{path}: missing {k}"
            );
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (k, v) in obj {
            match props.get(k) {
                Some(p) => check(doc, p, v, &format!("{path}.{k}")),
                None => assert!(
                    schema.get("additionalProperties") != Some(&Value::Bool(false)),
                    "{path}: unexpected {k}"
                ),
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check(doc, items, v, &format!("{path}[{i}]"));
        }
    }
}

async fn openapi(s: &Server) -> Value {
    reqwest::get(format!("{}/v1/openapi.json", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let r = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(!r.is_null(), "{method} {path} {status} is not documented");
    &r["content"]["application/json"]["schema"]
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_401_on_every_api_endpoint() {
    let s = start(tokens()).await;
    let id = pending(&s).await;
    let c = client();
    for (method, url) in [
        ("GET", format!("{}/v1/requests", s.base)),
        ("GET", format!("{}/v1/requests/{id}", s.base)),
        ("POST", format!("{}/v1/requests/{id}/votes", s.base)),
    ] {
        for token in [None, Some("wrong"), Some("")] {
            let mut req = c
                .request(method.parse().unwrap(), &url)
                .json(&json!({"verdict": "approve"}));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {url} with {token:?}"
            );
            assert!(r.headers().contains_key("www-authenticate"));
        }
    }
    assert!(s.gate.request(&id).await.unwrap().votes.is_empty());
}

#[tokio::test]
async fn list_and_get_return_redacted_requests_matching_the_openapi_schema() {
    let s = start(tokens()).await;
    let id = pending(&s).await;
    let doc = openapi(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let list: Value = client()
        .get(format!("{}/v1/requests?status=pending", s.base))
        .bearer_auth("carol-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check(
        &doc,
        response_schema(&doc, "/v1/requests", "get", 200),
        &list,
        "list",
    );
    assert_eq!(list.as_array().unwrap().len(), 1);
    let one = client()
        .get(format!("{}/v1/requests/{id}", s.base))
        .bearer_auth("carol-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    let one: Value = one.json().await.unwrap();
    check(
        &doc,
        response_schema(&doc, "/v1/requests/{id}", "get", 200),
        &one,
        "get",
    );
    assert!(
        one["args"]["password"]
            .as_str()
            .unwrap()
            .starts_with("redacted:")
    );
    assert_eq!(one["risk"], "high");
    let bad = client()
        .get(format!("{}/v1/requests?status=sideways", s.base))
        .bearer_auth("carol-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    check(
        &doc,
        response_schema(&doc, "/v1/requests", "get", 400),
        &body,
        "400",
    );
}

#[tokio::test]
async fn votes_map_every_refusal_to_its_status_and_audit_it() {
    let s = start(tokens()).await;
    let doc = openapi(&s).await;
    let votes = "/v1/requests/{id}/votes";
    let id = pending(&s).await;
    // self-approval: alice launched the agent
    let (status, body) = vote(&s, &id, "alice-secret", json!({"verdict": "approve"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["reason"], "self_approval");
    check(
        &doc,
        response_schema(&doc, votes, "post", 403),
        &body,
        "403",
    );
    // not in the group
    let (status, body) = vote(&s, &id, "erin-secret", json!({"verdict": "approve"})).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_eligible"))
    );
    // stale digest
    let (status, body) = vote(
        &s,
        &id,
        "carol-secret",
        json!({"verdict": "approve", "args_digest": "blake3:old"}),
    )
    .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::CONFLICT, Some("stale_args"))
    );
    check(
        &doc,
        response_schema(&doc, votes, "post", 409),
        &body,
        "409",
    );
    // unknown request
    let (status, body) = vote(&s, "nope", "carol-secret", json!({"verdict": "approve"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check(
        &doc,
        response_schema(&doc, votes, "post", 404),
        &body,
        "404",
    );
    // malformed and unknown fields
    for raw in [
        "{",
        "[]",
        "{\"verdict\": \"maybe\"}",
        "{\"verdict\": \"approve\", \"voter\": \"user:x\"}",
    ] {
        let r = client()
            .post(format!("{}/v1/requests/{id}/votes", s.base))
            .bearer_auth("carol-secret")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{raw}");
        let body: Value = r.json().await.unwrap();
        check(
            &doc,
            response_schema(&doc, votes, "post", 400),
            &body,
            "400",
        );
    }
    // oversized
    let big = format!(
        "{{\"verdict\":\"approve\",\"comment\":\"{}\"}}",
        "x".repeat(200_000)
    );
    let r = client()
        .post(format!("{}/v1/requests/{id}/votes", s.base))
        .bearer_auth("carol-secret")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // a good vote is documented too, and the rejected ones are in the trail
    let (status, body) = vote(
        &s,
        &id,
        "carol-secret",
        json!({"verdict": "approve", "comment": "ok"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    check(
        &doc,
        response_schema(&doc, votes, "post", 200),
        &body,
        "200",
    );
    assert_eq!(body["status"], "pending");
    let trail = std::fs::read_to_string(&s.trail).unwrap();
    let rejected: Vec<&str> = trail
        .lines()
        .filter(|l| l.contains("approval.vote_rejected"))
        .collect();
    assert_eq!(rejected.len(), 3, "{trail}");
    assert!(rejected[0].contains("self_approval") && rejected[0].contains("\"channel\":\"api\""));
}

#[tokio::test]
async fn a_vote_through_the_api_resolves_a_waiting_require() {
    let s = start(tokens()).await;
    let waiting = tokio::spawn({
        let gate = s.gate.clone();
        async move { gate.require(export().id("act-1")).await }
    });
    let id = pending_for(&s, "act-1").await;
    assert_eq!(
        vote(&s, &id, "carol-secret", json!({"verdict": "approve"}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        vote(&s, &id, "dan-secret", json!({"verdict": "approve"}))
            .await
            .1["status"],
        "approved"
    );
    let permit = waiting.await.unwrap().unwrap();
    assert_eq!(permit.approved_by().len(), 2);
    permit.complete(signoff::Outcome::success()).await.unwrap();
}

fn session_cookie(r: &reqwest::Response) -> String {
    let set = r
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=csrf value=\"").expect("a csrf field") + "name=csrf value=\"".len();
    html[at..at + 64].to_owned()
}

#[tokio::test]
async fn the_page_logs_in_shows_everything_and_a_form_vote_resolves_the_waiting_require() {
    let s = start(tokens()).await;
    let c = client();
    // without a session the page sends you to log in
    let r = c.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bad = c
        .post(format!("{}/login", s.base))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let login = |token: &'static str| {
        let c = c.clone();
        let base = s.base.clone();
        async move {
            let r = c
                .post(format!("{base}/login"))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            session_cookie(&r)
        }
    };
    let carol = login("carol-secret").await;
    let waiting = tokio::spawn({
        let gate = s.gate.clone();
        async move { gate.require(export().id("act-web")).await }
    });
    let id = pending_for(&s, "act-web").await;
    let list = c
        .get(format!("{}/", s.base))
        .header("cookie", &carol)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("/requests/{id}")) && list.contains("db.export"));
    let page = c
        .get(format!("{}/requests/{id}", s.base))
        .header("cookie", &carol)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "agent:billing-bot",
        "user:alice@example.com",
        "postgres://prod/customers",
        "bulk export of production data",
        "risk-high",
        "2 of data-owners",
        "redacted:blake3:",
    ] {
        assert!(page.contains(needle), "detail page lacks {needle}");
    }
    assert!(
        page.contains("monthly &lt;b&gt;churn&lt;/b&gt; report"),
        "justification is escaped"
    );
    assert!(!page.contains("hunter2"));
    // a form post without the CSRF token is refused
    let forged = c
        .post(format!("{}/requests/{id}/vote", s.base))
        .header("cookie", &carol)
        .form(&[("csrf", "0".repeat(64).as_str()), ("verdict", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // carol and dan approve through the page
    for token in ["carol-secret", "dan-secret"] {
        let cookie = login(token).await;
        let page = c
            .get(format!("{}/requests/{id}", s.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r = c
            .post(format!("{}/requests/{id}/vote", s.base))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf_of(&page).as_str()),
                ("verdict", "approve"),
                ("comment", "fine"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Your vote was counted"));
    }
    let permit = waiting.await.unwrap().unwrap();
    assert_eq!(permit.approved_by().len(), 2);
    permit.complete(signoff::Outcome::success()).await.unwrap();
    let trail = std::fs::read_to_string(&s.trail).unwrap();
    assert_eq!(trail.matches("\"channel\":\"web\"").count(), 2);
    // the launcher's own vote through the page is refused and explained
    let alice = login("alice-secret").await;
    let id2 = pending(&s).await;
    let page = c
        .get(format!("{}/requests/{id2}", s.base))
        .header("cookie", &alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{}/requests/{id2}/vote", s.base))
        .header("cookie", &alice)
        .form(&[("csrf", csrf_of(&page).as_str()), ("verdict", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("cannot vote"));
}

#[tokio::test]
async fn a_proxy_identity_is_believed_only_from_a_trusted_address() {
    let trusted = ServerConfig {
        proxy: Some(ProxyAuth {
            header: "X-Forwarded-User".into(),
            trusted: vec!["127.0.0.1".parse().unwrap()],
        }),
        ..ServerConfig::default()
    };
    let s = start(trusted).await;
    let id = pending(&s).await;
    let r = client()
        .get(format!("{}/v1/requests/{id}", s.base))
        .header("X-Forwarded-User", "user:carol@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = client()
        .get(format!("{}/", s.base))
        .header("X-Forwarded-User", "user:carol@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let elsewhere = ServerConfig {
        proxy: Some(ProxyAuth {
            header: "X-Forwarded-User".into(),
            trusted: vec!["10.9.9.9".parse().unwrap()],
        }),
        ..ServerConfig::default()
    };
    let s = start(elsewhere).await;
    let r = client()
        .get(format!("{}/v1/requests", s.base))
        .header("X-Forwarded-User", "user:carol@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn healthz_and_metrics_report_pending_requests_decisions_and_votes() {
    let s = start(tokens()).await;
    assert_eq!(
        reqwest::get(format!("{}/healthz", s.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    let id = pending(&s).await;
    s.gate
        .require(Action::new("db.query").actor("agent:bot"))
        .await
        .unwrap()
        .complete(signoff::Outcome::success())
        .await
        .unwrap();
    vote(&s, &id, "carol-secret", json!({"verdict": "approve"})).await;
    vote(&s, &id, "alice-secret", json!({"verdict": "approve"})).await;
    let text = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "signoff_requests{status=\"pending\"} 1",
        "signoff_decisions_total{effect=\"allow\"} 1",
        "signoff_decisions_total{effect=\"approve\"} 1",
        "signoff_votes_total{result=\"counted\"} 1",
        "signoff_votes_total{result=\"rejected\"} 1",
        "signoff_vote_seconds_count 2",
    ] {
        assert!(text.contains(line), "metrics lack {line}:\n{text}");
    }
}
