//! An agent waiting for approval, with the approval server embedded: open the
//! printed URL, log in with the printed token, and approve. Used by the
//! real-browser test (`tests/browser`), handy for trying the page by hand.
//!
//! `cargo run --example approval_page`
//!
//! Prints `READY {json}` once the request is pending, then `PERMIT {json}`
//! when the waiting `require` returns, and exits (1 after 120 s unanswered).

use std::time::Duration;

use serde_json::json;
use signoff::{Action, Error, Gate, Outcome, Policy, Queue};
use signoff_server::ServerConfig;

const POLICY: &str = r#"
[policy]
name = "approval-page"
[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com"]
[[rules]]
id = "prod-export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
min_approvals = 1
timeout = "2m"
redact = ["args.password"]
risk = "high"
reason = "bulk export of production data"
"#;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let token =
        std::env::var("SIGNOFF_DEMO_TOKEN").unwrap_or_else(|_| "carol-demo-token".to_owned());
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .approver(Queue)
        .build()?;
    let config = ServerConfig::default().with_token("user:carol@example.com", &token);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| Error::Config(e.to_string()))?
    );
    tokio::spawn(signoff_server::serve(gate.clone(), config, listener));

    let action = Action::new("db.export")
        .id("browser-demo-1")
        .actor("agent:billing-bot")
        .on_behalf_of("user:alice@example.com")
        .resource("postgres://prod/customers")
        .env("prod")
        .justification("monthly churn report for finance")
        .args(json!({"rows": 50000, "format": "csv", "password": "hunter2"}));
    let waiting = tokio::spawn({
        let gate = gate.clone();
        async move { gate.require(action).await }
    });
    let request_id = loop {
        if let Some(r) = gate.store().get_by_action("browser-demo-1").await? {
            break r.id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "READY {}",
        json!({"url": url, "token": token, "request_id": request_id})
    );
    match tokio::time::timeout(Duration::from_secs(120), waiting).await {
        Ok(Ok(Ok(permit))) => {
            println!(
                "PERMIT {}",
                json!({"approved_by": permit.approved_by(), "action_id": permit.action_id()})
            );
            permit.complete(Outcome::success()).await?;
            Ok(())
        }
        Ok(Ok(Err(e))) => {
            println!("DENIED {}", json!({"error": e.to_string()}));
            std::process::exit(1)
        }
        _ => {
            println!("TIMEOUT");
            std::process::exit(1)
        }
    }
}
