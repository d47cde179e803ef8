//! Grants and break-glass through the server (DESIGN §13): a grant length
//! on API and page votes, `GET/DELETE /v1/grants`, the page's grant list and
//! revoke button, break-glass votes, all against the OpenAPI document.
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
use signoff::{Action, Gate, JsonlSink, Policy, Queue, Submission};
use signoff_server::ServerConfig;

const POLICY: &str = r#"
[policy]
break_glass = { approvers = "oncall" }
[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com"]
oncall = ["user:olga@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
max_grant = "1h"
[[rules]]
id = "deploy"
effect = "approve"
actions = ["deploy.push"]
approvers = "data-owners"
min_approvals = 2
"#;

struct Server {
    base: String,
    gate: Gate,
    trail: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit.jsonl");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .audit(JsonlSink::open(&trail).unwrap())
        .build()
        .unwrap();
    let config = ServerConfig::default()
        .with_token("user:carol@example.com", "carol-secret")
        .with_token("user:dan@example.com", "dan-secret")
        .with_token("user:olga@example.com", "olga-secret")
        .with_token("user:erin@example.com", "erin-secret");
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

fn export() -> Action {
    Action::new("db.export")
        .actor("agent:billing-bot")
        .resource("postgres://prod/customers")
        .env("prod")
        .args(json!({"rows": 50000}))
}

fn deploy() -> Action {
    Action::new("deploy.push")
        .actor("agent:ci")
        .args(json!({"sha": "abc"}))
}

async fn submit(s: &Server, action: Action) -> Submission {
    s.gate.submit(action).await.unwrap()
}

async fn pending(s: &Server, action: Action) -> String {
    match submit(s, action).await {
        Submission::Pending { request_id } => request_id,
        Submission::Permitted(_) => panic!("expected pending"),
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

async fn grants(s: &Server, token: &str) -> (StatusCode, Value) {
    let r = client()
        .get(format!("{}/v1/grants", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn events(s: &Server, event: &str) -> Vec<Value> {
    std::fs::read_to_string(&s.trail)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"] == event)
        .collect()
}

async fn doc(s: &Server) -> Value {
    reqwest::get(format!("{}/v1/openapi.json", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every field the document's schema `name` requires is present, and no
/// property has a type other than the one documented.
fn conforms(doc: &Value, name: &str, value: &Value) {
    let schema = &doc["components"]["schemas"][name];
    for field in schema["required"].as_array().unwrap() {
        let f = field.as_str().unwrap();
        assert!(
            value.get(f).is_some(),
            "{name} lacks required `{f}`: {value}"
        );
    }
    for (key, v) in value.as_object().unwrap() {
        let Some(t) = schema["properties"][key]["type"].as_str() else {
            continue;
        };
        let ok = match t {
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        };
        assert!(ok, "{name}.{key} is not a {t}: {v}");
    }
}

#[tokio::test]
async fn an_api_vote_with_a_grant_permits_the_next_action_until_revoked_through_the_api() {
    let s = start().await;
    let doc = doc(&s).await;
    let id = pending(&s, export()).await;
    // a grant longer than max_grant: the documented 400
    let (status, body) = vote(
        &s,
        &id,
        "carol-secret",
        json!({"verdict": "approve", "grant": "2h"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["reason"], "bad_grant");
    assert!(
        doc["paths"]["/v1/requests/{id}/votes"]["post"]["responses"]["403"]
            .to_string()
            .contains("bad_grant")
    );
    // not a number and a unit (the document's pattern): a 400 naming the field
    for bad in ["soon", "", "0m", "07m", "2h 30m", "1w", "1234567m"] {
        let (status, body) = vote(
            &s,
            &id,
            "carol-secret",
            json!({"verdict": "approve", "grant": bad}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["field"], "grant");
    }
    let (status, body) = vote(
        &s,
        &id,
        "carol-secret",
        json!({"verdict": "approve", "grant": "30m"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.gate
        .resume(&id)
        .await
        .unwrap()
        .complete(signoff::Outcome::success())
        .await
        .unwrap();

    let (status, list) = grants(&s, "dan-secret").await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    conforms(&doc, "Grant", &list[0]);
    assert_eq!(list[0]["live"], true);
    assert_eq!(list[0]["approvers"], json!(["user:carol@example.com"]));
    let grant_id = list[0]["id"].as_str().unwrap().to_owned();

    let Submission::Permitted(p) = submit(&s, export()).await else {
        panic!("the grant should permit the same action")
    };
    p.complete(signoff::Outcome::success()).await.unwrap();

    // revoking needs a bearer token (a page session is not enough)
    let r = client()
        .delete(format!("{}/v1/grants/{grant_id}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .delete(format!("{}/v1/grants/no-such", s.base))
        .bearer_auth("dan-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let r = client()
        .delete(format!("{}/v1/grants/{grant_id}", s.base))
        .bearer_auth("dan-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let revoked: Value = r.json().await.unwrap();
    conforms(&doc, "Grant", &revoked);
    assert_eq!(revoked["live"], false);
    assert_eq!(revoked["revoked"]["by"], "user:dan@example.com");
    assert!(matches!(
        submit(&s, export()).await,
        Submission::Pending { .. }
    ));
    s.gate.close().await.unwrap();
    assert_eq!(events(&s, "grant.used").len(), 1);
    let rev = events(&s, "grant.revoked");
    assert_eq!(rev.len(), 1);
    assert_eq!(rev[0]["grant"], grant_id);
    assert_eq!(rev[0]["voter"], "user:dan@example.com");
    // unauthenticated and with a query: documented refusals
    let r = client()
        .get(format!("{}/v1/grants", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(format!("{}/v1/grants?all=1", s.base))
        .bearer_auth("dan-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for (path, method) in [("/v1/grants", "get"), ("/v1/grants/{id}", "delete")] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
}

#[tokio::test]
async fn break_glass_through_the_api_needs_the_group_and_a_reason() {
    let s = start().await;
    let id = pending(&s, deploy()).await;
    for (token, body, reason) in [
        (
            "olga-secret",
            json!({"verdict": "approve", "break_glass": true}),
            "break_glass_refused",
        ),
        (
            "carol-secret",
            json!({"verdict": "approve", "break_glass": true, "comment": "prod down"}),
            "break_glass_refused",
        ),
    ] {
        let (status, b) = vote(&s, &id, token, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(b["reason"], reason);
    }
    let (status, b) = vote(
        &s,
        &id,
        "olga-secret",
        json!({"verdict": "approve", "break_glass": "yes"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(b["field"], "break_glass");
    let (status, b) = vote(
        &s,
        &id,
        "olga-secret",
        json!({"verdict": "approve", "break_glass": true, "comment": "INC-42: prod is down"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "approved");
    let permit = s.gate.resume(&id).await.unwrap();
    assert_eq!(permit.approved_by(), ["user:olga@example.com"]);
    permit.complete(signoff::Outcome::success()).await.unwrap();
    s.gate.close().await.unwrap();
    let bg = events(&s, "approval.break_glass");
    assert_eq!(bg.len(), 1);
    assert_eq!(bg[0]["channel"], "api");
    assert_eq!(bg[0]["assurance"], "authenticated");
}

async fn login(s: &Server, token: &str) -> String {
    let r = client()
        .post(format!("{}/login", s.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=csrf value=\"").expect("a csrf field") + "name=csrf value=\"".len();
    html[at..at + 64].to_owned()
}

async fn page(s: &Server, cookie: &str, path: &str) -> String {
    client()
        .get(format!("{}{path}", s.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_offers_grant_lengths_up_to_max_grant_and_revokes() {
    let s = start().await;
    let carol = login(&s, "carol-secret").await;
    let id = pending(&s, export()).await;
    let html = page(&s, &carol, &format!("/requests/{id}")).await;
    assert!(html.contains("<select name=grant>"), "a grant choice");
    for offered in ["15m", "30m", "1h"] {
        assert!(
            html.contains(&format!("<option value=\"{offered}\">")),
            "{offered}"
        );
    }
    assert!(
        !html.contains("<option value=\"4h\">"),
        "nothing past max_grant"
    );
    // a request whose rule gives no grants offers none
    let other = pending(&s, deploy()).await;
    assert!(
        !page(&s, &carol, &format!("/requests/{other}"))
            .await
            .contains("<select name=grant>")
    );
    let r = client()
        .post(format!("{}/requests/{id}/vote", s.base))
        .header("cookie", &carol)
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("verdict", "approve"),
            ("grant", "30m"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.gate
        .resume(&id)
        .await
        .unwrap()
        .complete(signoff::Outcome::success())
        .await
        .unwrap();
    let listed = page(&s, &carol, "/grants").await;
    let grant = s.gate.grants().await.unwrap().remove(0);
    assert!(listed.contains(&grant.id) && listed.contains("Revoke"));
    // a forged revoke is refused; the real one revokes
    let r = client()
        .post(format!("{}/grants/{}/revoke", s.base, grant.id))
        .header("cookie", &carol)
        .form(&[("csrf", "0".repeat(64).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(s.gate.grant_is_live(&s.gate.grants().await.unwrap()[0]));
    let r = client()
        .post(format!("{}/grants/{}/revoke", s.base, grant.id))
        .header("cookie", &carol)
        .form(&[("csrf", csrf_of(&listed).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("revoked by user:carol@example.com")
    );
    assert!(!s.gate.grant_is_live(&s.gate.grants().await.unwrap()[0]));
}
