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
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(doc, part, value, path);
    }
    if let Some(not) = schema.get("not") {
        let required = not["required"].as_array().expect("only `not: {required}`");
        assert!(
            required
                .iter()
                .any(|k| value.get(k.as_str().unwrap()).is_none()),
            "{path}: must not have all of {required:?}"
        );
    }
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
        "redacted:",
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
    let web: Vec<(String, String)> = trail_records(&s)
        .iter()
        .filter(|r| r["channel"] == "web")
        .map(|r| {
            let what = r["outcome"].as_str().or(r["verdict"].as_str()).unwrap();
            (r["event"].as_str().unwrap().to_owned(), what.to_owned())
        })
        .collect();
    let web: Vec<(&str, &str)> = web.iter().map(|(e, w)| (e.as_str(), w.as_str())).collect();
    assert_eq!(
        web,
        [
            ("approval.vote_rejected", "bad_token"),
            ("approval.vote_rejected", "bad_csrf"),
            ("approval.vote", "approve"),
            ("approval.vote", "approve"),
        ],
        "the guessed login, the forged form and the two votes"
    );
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

// --- refused access in the audit trail ---

fn trail_records(s: &Server) -> Vec<Value> {
    std::fs::read_to_string(&s.trail)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn refused_records(s: &Server) -> Vec<Value> {
    trail_records(s)
        .into_iter()
        .filter(|r| r["event"] == "approval.vote_rejected" && r.get("voter").is_none())
        .collect()
}

fn untrusted_proxy_and_tokens() -> ServerConfig {
    ServerConfig {
        proxy: Some(ProxyAuth {
            header: "X-Forwarded-User".into(),
            // a documentation address: never the test's own peer
            trusted: vec!["192.0.2.1".parse().unwrap()],
        }),
        ..tokens()
    }
}

#[tokio::test]
async fn unauthenticated_vote_attempts_are_audited_by_kind_without_the_token() {
    let s = start(untrusted_proxy_and_tokens()).await;
    let id = pending(&s).await;
    let url = format!("{}/v1/requests/{id}/votes", s.base);
    let guess = "guess-7f3a9c0d2b";
    let hash_of_real = signoff_server::hash_token("carol-secret");
    let c = client();
    let body = json!({"verdict": "approve"});
    let attempts = [
        c.post(&url).json(&body),
        c.post(&url).bearer_auth(guess).json(&body),
        c.post(&url).bearer_auth(&hash_of_real).json(&body),
        c.post(&url)
            .header("X-Forwarded-User", "user:carol@example.com")
            .json(&body),
    ];
    for attempt in attempts {
        let r = attempt.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // the page: a vote without a session, and a login with a guessed token
    let r = c
        .post(format!("{}/requests/{id}/vote", s.base))
        .form(&[("csrf", "x"), ("verdict", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(format!("{}/login", s.base))
        .form(&[("token", guess)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // a read with a wrong token is audited; one without credentials (an
    // expired page polling) is not
    for token in [Some(guess), None] {
        let mut r = c.get(format!("{}/v1/requests", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    let refused = refused_records(&s);
    let got: Vec<(&str, &str)> = refused
        .iter()
        .map(|r| {
            (
                r["channel"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("api", "unauthenticated"),
            ("api", "bad_token"),
            ("api", "bad_token"),
            ("api", "untrusted_proxy"),
            ("web", "unauthenticated"),
            ("web", "bad_token"),
            ("api", "bad_token"),
        ]
    );
    for r in &refused[..5] {
        assert_eq!(r["request_id"], id.as_str(), "{r}");
        assert_eq!(r["action"], "db.export");
    }
    assert!(refused[5].get("request_id").is_none());
    for r in &refused {
        assert!(
            r["reason"].as_str().unwrap().contains("(from 127.0.0.1)"),
            "{r}"
        );
    }
    let text = std::fs::read_to_string(&s.trail).unwrap();
    for secret in [
        guess,
        hash_of_real.as_str(),
        &signoff_server::hash_token(guess),
        "carol-secret",
    ] {
        assert!(!text.contains(secret), "the trail holds {secret}");
    }
    // the chain is intact and nothing was counted
    assert!(s.gate.request(&id).await.unwrap().votes.is_empty());
}

#[tokio::test]
async fn a_flood_of_bad_attempts_from_one_source_writes_at_most_the_cap_and_one_cap_record() {
    let config = ServerConfig {
        audit_refusals_per_source: 10,
        ..tokens()
    };
    let s = start(config).await;
    let id = pending(&s).await;
    let url = format!("{}/v1/requests/{id}/votes", s.base);
    let c = client();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0..125 {
                    let r = c
                        .post(&url)
                        .bearer_auth(format!("guess-{w}-{i}"))
                        .json(&json!({"verdict": "approve"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let refused = refused_records(&s);
    assert!(refused.len() <= 11, "{} records", refused.len());
    let capped: Vec<&Value> = refused
        .iter()
        .filter(|r| r["outcome"] == "refusal_cap_reached")
        .collect();
    assert_eq!(capped.len(), 1, "{refused:?}");
    assert_eq!(refused.len(), 11);
    assert!(
        capped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("more than 10 refused attempts this minute from this source")
    );
    // the refusals went on, and a real reviewer still gets through
    let (status, _) = vote(&s, &id, "carol-secret", json!({"verdict": "approve"})).await;
    assert_eq!(status, StatusCode::OK);
}

// --- the API and its document agree ---

async fn send_raw(s: &Server, id: &str, content_type: &str, raw: &str) -> reqwest::Response {
    client()
        .post(format!("{}/v1/requests/{id}/votes", s.base))
        .bearer_auth("carol-secret")
        .header("content-type", content_type)
        .body(raw.to_owned())
        .send()
        .await
        .unwrap()
}

/// A documented JSON error: its content type, the `Error` schema, and the
/// operation's own schema for that status where the document has one.
async fn documented_error(
    doc: &Value,
    r: reqwest::Response,
    operation: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let status = r.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}"
    );
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ct.as_deref(), Some("application/json"), "{status}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let body: Value = r.json().await.unwrap();
    check(
        doc,
        &json!({"$ref": "#/components/schemas/Error"}),
        &body,
        "error",
    );
    if let Some((path, method)) = operation {
        check(
            doc,
            response_schema(doc, path, method, status.as_u16()),
            &body,
            &format!("{method} {path} {status}"),
        );
    }
    (status, body)
}

#[tokio::test]
async fn a_json_array_is_not_a_vote() {
    let s = start(tokens()).await;
    let doc = openapi(&s).await;
    let id = pending(&s).await;
    let r = send_raw(&s, &id, "application/json", r#"["approve"]"#).await;
    let (status, body) = documented_error(&doc, r, Some(("/v1/requests/{id}/votes", "post"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");
    assert!(s.gate.request(&id).await.unwrap().votes.is_empty());
}

#[tokio::test]
async fn null_fields_in_a_vote_get_a_json_400_naming_the_field() {
    let s = start(tokens()).await;
    let doc = openapi(&s).await;
    let id = pending(&s).await;
    let op = Some(("/v1/requests/{id}/votes", "post"));
    let r = send_raw(
        &s,
        &id,
        "application/json",
        r#"{"verdict":"approve","comment":null,"args":null,"args_digest":null}"#,
    )
    .await;
    let (status, body) = documented_error(&doc, r, op).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "comment");
    for field in ["verdict", "comment", "args", "args_digest"] {
        let mut vote = json!({"verdict": "approve"});
        vote[field] = Value::Null;
        let r = send_raw(&s, &id, "application/json", &vote.to_string()).await;
        let (status, body) = documented_error(&doc, r, op).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(body["field"], field);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`"))
        );
    }
    assert!(s.gate.request(&id).await.unwrap().votes.is_empty());
}

#[tokio::test]
async fn a_repeated_query_parameter_gets_a_json_400() {
    let s = start(tokens()).await;
    let doc = openapi(&s).await;
    for query in [
        "status=pending&status=approved",
        "status=pending&status=pending",
        "state=pending",
    ] {
        let r = client()
            .get(format!("{}/v1/requests?{query}", s.base))
            .bearer_auth("carol-secret")
            .send()
            .await
            .unwrap();
        let (status, body) = documented_error(&doc, r, Some(("/v1/requests", "get"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["field"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_deny_that_carries_args_gets_the_documented_400() {
    let s = start(tokens()).await;
    let doc = openapi(&s).await;
    let id = pending(&s).await;
    // the document says so twice: the body schema has no args on a deny ...
    let alternatives = doc["components"]["schemas"]["VoteBody"]["oneOf"]
        .as_array()
        .unwrap();
    let deny = alternatives
        .iter()
        .find(|a| a["properties"]["verdict"]["enum"] == json!(["deny"]))
        .unwrap();
    assert!(deny["properties"].get("args").is_none());
    assert_eq!(deny["additionalProperties"], false);
    // ... and the 400 lists `bad_edit`
    let (status, body) = vote(
        &s,
        &id,
        "carol-secret",
        json!({"verdict": "deny", "args": {"rows": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (body["error"].as_str(), body["reason"].as_str()),
        (Some("vote_rejected"), Some("bad_edit"))
    );
    check(
        &doc,
        response_schema(&doc, "/v1/requests/{id}/votes", "post", 400),
        &body,
        "400",
    );
    assert_eq!(
        s.gate.request(&id).await.unwrap().status,
        signoff::RequestStatus::Pending
    );
}

#[tokio::test]
async fn every_error_the_server_can_produce_is_json_with_the_documented_shape() {
    let s = start(tokens()).await;
    let doc = openapi(&s).await;
    let id = pending(&s).await;
    let votes = Some(("/v1/requests/{id}/votes", "post"));
    let list = Some(("/v1/requests", "get"));
    let one = Some(("/v1/requests/{id}", "get"));
    let c = client();
    let get = |path: &str, token: Option<&str>| {
        let mut r = c.get(format!("{}{path}", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut expect = |status: StatusCode, code: &str, got: (StatusCode, Value)| {
        assert_eq!(
            (got.0, got.1["error"].as_str()),
            (status, Some(code)),
            "{}",
            got.1
        );
        seen.insert(status.as_u16());
    };
    // 400: body, query
    for raw in [
        "{",
        "[]",
        "\"approve\"",
        "{\"verdict\":\"maybe\"}",
        "{\"verdict\":\"approve\",\"x\":1}",
    ] {
        let r = send_raw(&s, &id, "application/json", raw).await;
        expect(
            StatusCode::BAD_REQUEST,
            "bad_request",
            documented_error(&doc, r, votes).await,
        );
    }
    let r = get("/v1/requests?status=sideways", Some("carol-secret"))
        .await
        .unwrap();
    expect(
        StatusCode::BAD_REQUEST,
        "bad_request",
        documented_error(&doc, r, list).await,
    );
    // 401 on every documented operation
    for (path, op) in [
        ("/v1/requests".to_owned(), list),
        (format!("/v1/requests/{id}"), one),
    ] {
        let r = get(&path, Some("wrong")).await.unwrap();
        assert!(r.headers().contains_key("www-authenticate"));
        expect(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            documented_error(&doc, r, op).await,
        );
    }
    let r = c
        .post(format!("{}/v1/requests/{id}/votes", s.base))
        .json(&json!({"verdict": "approve"}))
        .send()
        .await
        .unwrap();
    expect(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        documented_error(&doc, r, votes).await,
    );
    // 403, 409
    let (status, body) = vote(&s, &id, "alice-secret", json!({"verdict": "approve"})).await;
    check(
        &doc,
        response_schema(&doc, "/v1/requests/{id}/votes", "post", 403),
        &body,
        "403",
    );
    expect(StatusCode::FORBIDDEN, "vote_rejected", (status, body));
    let (status, body) = vote(
        &s,
        &id,
        "carol-secret",
        json!({"verdict": "approve", "args_digest": "blake3:old"}),
    )
    .await;
    check(
        &doc,
        response_schema(&doc, "/v1/requests/{id}/votes", "post", 409),
        &body,
        "409",
    );
    expect(StatusCode::CONFLICT, "vote_rejected", (status, body));
    // 404: an unknown request, an id that does not decode, unknown routes
    let r = get("/v1/requests/nope", Some("carol-secret"))
        .await
        .unwrap();
    expect(
        StatusCode::NOT_FOUND,
        "not_found",
        documented_error(&doc, r, one).await,
    );
    let r = get("/v1/requests/%FF%FE", Some("carol-secret"))
        .await
        .unwrap();
    expect(
        StatusCode::NOT_FOUND,
        "not_found",
        documented_error(&doc, r, one).await,
    );
    let r = send_raw(&s, "nope", "application/json", "{\"verdict\":\"approve\"}").await;
    expect(
        StatusCode::NOT_FOUND,
        "not_found",
        documented_error(&doc, r, votes).await,
    );
    for path in ["/v1/nope", "/nope", "/v1/requests/x/votes/y"] {
        let r = get(path, Some("carol-secret")).await.unwrap();
        expect(
            StatusCode::NOT_FOUND,
            "not_found",
            documented_error(&doc, r, None).await,
        );
    }
    // 405, with `Allow`
    for (method, path, allow) in [
        ("PUT", "/v1/requests".to_owned(), "GET,HEAD"),
        ("DELETE", format!("/v1/requests/{id}/votes"), "POST"),
        ("POST", "/healthz".to_owned(), "GET,HEAD"),
    ] {
        let r = c
            .request(method.parse().unwrap(), format!("{}{path}", s.base))
            .bearer_auth("carol-secret")
            .send()
            .await
            .unwrap();
        let got = r.headers()["allow"].to_str().unwrap().replace(' ', "");
        assert_eq!(got, allow, "{method} {path}");
        expect(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            documented_error(&doc, r, None).await,
        );
    }
    // 413, 415
    let big = format!(
        "{{\"verdict\":\"approve\",\"comment\":\"{}\"}}",
        "x".repeat(200_000)
    );
    let r = send_raw(&s, &id, "application/json", &big).await;
    expect(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        documented_error(&doc, r, votes).await,
    );
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = send_raw(&s, &id, ct, "{\"verdict\":\"approve\"}").await;
        expect(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            documented_error(&doc, r, votes).await,
        );
    }
    // the page's form parsers answer with a page, never axum's text
    let r = c.post(format!("{}/login", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [400, 401, 403, 404, 405, 409, 413, 415]
    );
    // every status the server sent for a vote is in the document
    let documented = doc["paths"]["/v1/requests/{id}/votes"]["post"]["responses"]
        .as_object()
        .unwrap();
    for status in ["400", "401", "403", "404", "409", "413", "415", "503"] {
        assert!(documented.contains_key(status), "{status}");
    }
}

// --- security headers ---

fn assert_hardened(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_the_page_runs_nothing_inline() {
    let s = start(tokens()).await;
    let id = pending(&s).await;
    let c = client();
    let login = c
        .post(format!("{}/login", s.base))
        .form(&[("token", "carol-secret")])
        .send()
        .await
        .unwrap();
    assert_hardened(&login, "the login redirect");
    let cookie = session_cookie(&login);
    for path in [
        "/".to_owned(),
        format!("/requests/{id}"),
        "/login".to_owned(),
    ] {
        let r = c
            .get(format!("{}{path}", s.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_hardened(&r, &path);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(r.headers()["cache-control"], "no-store");
        let html = r.text().await.unwrap();
        // what the policy would block: inline script, inline style, style attributes
        assert!(
            !html.contains("<script>") && !html.contains("<style"),
            "{path}"
        );
        assert!(!html.contains(" style="), "{path}");
        assert!(html.contains("<script src=/assets/signoff.js defer></script>"));
        assert!(html.contains("<link rel=stylesheet href=/assets/signoff.css>"));
    }
    for (path, ct) in [
        ("/assets/signoff.js", "text/javascript; charset=utf-8"),
        ("/assets/signoff.css", "text/css; charset=utf-8"),
    ] {
        let r = c.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_hardened(&r, path);
        assert_eq!(r.headers()["content-type"], ct);
    }
    // JSON, text and errors: nosniff, never framed, nothing runs
    for (path, token) in [
        ("/v1/requests", Some("carol-secret")),
        ("/v1/requests", None),
        ("/v1/openapi.json", None),
        ("/healthz", None),
        ("/metrics", None),
        ("/nope", None),
    ] {
        let mut r = c.get(format!("{}{path}", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        assert_hardened(&r, path);
        assert_eq!(
            r.headers()["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
    }
}
