//! A running approval server with one pending request and one reviewer's
//! token, for fuzzing the API against its OpenAPI document
//! (`scripts/schemathesis`).
//!
//! `cargo run -p signoff-server --example openapi_target`
//!
//! Prints `READY {"url", "token", "request_id"}` once the request is pending,
//! then serves until killed, or for `SIGNOFF_FUZZ_SECONDS` (default 600).

use std::time::Duration;

use serde_json::json;
use signoff::{Action, Error, Gate, JsonlSink, Policy, Queue, Submission};
use signoff_server::ServerConfig;

const POLICY: &str = r#"
[policy]
name = "openapi-target"
[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com"]
[[rules]]
id = "prod-export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
min_approvals = 2
allow_edit = true
timeout = "1h"
redact = ["args.password"]
risk = "high"
reason = "bulk export of production data"
"#;

fn config_error(e: impl std::fmt::Display) -> Error {
    Error::Config(e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let token =
        std::env::var("SIGNOFF_FUZZ_TOKEN").unwrap_or_else(|_| "carol-fuzz-token".to_owned());
    let seconds = std::env::var("SIGNOFF_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let dir = tempfile::tempdir().map_err(config_error)?;
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .approver(Queue)
        .audit(JsonlSink::open(dir.path().join("audit.jsonl")).map_err(config_error)?)
        .build()?;
    let config = ServerConfig::default().with_token("user:carol@example.com", &token);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(config_error)?;
    let url = format!("http://{}", listener.local_addr().map_err(config_error)?);
    tokio::spawn(signoff_server::serve(gate.clone(), config, listener));
    let action = Action::new("db.export")
        .actor("agent:billing-bot")
        .on_behalf_of("user:alice@example.com")
        .resource("postgres://prod/customers")
        .env("prod")
        .justification("monthly churn report")
        .args(json!({"rows": 50000, "password": "hunter2"}));
    let Submission::Pending { request_id } = gate.submit(action).await? else {
        return Err(Error::Config("the action was not sent for approval".into()));
    };
    println!(
        "READY {}",
        json!({"url": url, "token": token, "request_id": request_id})
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}
