//! Quickstart: a gate with the example policy, an allowed read, a denied
//! `DROP TABLE`, and an export two reviewers approve through `gate.vote`.
//!
//! `cargo run --example quickstart`

use serde_json::json;
use signoff::{Action, Error, Gate, JsonlSink, Outcome, Policy, Queue, Submission, Vote};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let policy = Policy::from_file("examples/policies/prod-agents.toml")?;
    let trail = std::env::temp_dir().join("signoff-quickstart.jsonl");
    let _ = std::fs::remove_file(&trail);
    let gate = Gate::builder()
        .policy(policy)
        .approver(Queue)
        .audit(JsonlSink::open(&trail)?)
        .build()?;
    let agent = |name: &str| {
        Action::new(name)
            .actor("agent:billing-bot")
            .on_behalf_of("user:alice@example.com")
            .env("prod")
    };

    // allowed: run, then report the outcome on the permit
    let permit = gate
        .require(agent("db.query").args(json!({"sql": "select 1"})))
        .await?;
    permit.complete(Outcome::success()).await?;

    // denied by rule `no-drop`
    if let Err(Error::Denied(d)) = gate
        .require(agent("sql.exec").args(json!({"sql": "drop table users"})))
        .await
    {
        println!("denied: {d}");
    }

    // needs two data owners: submit, vote (as a server would), resume
    let export = agent("db.export")
        .resource("postgres://prod/customers")
        .args(json!({"rows": 50000}));
    if let Submission::Pending { request_id } = gate.submit(export).await? {
        for voter in ["user:carol@example.com", "user:dan@example.com"] {
            gate.vote(&request_id, Vote::approve(voter)).await?;
        }
        let permit = gate.resume(&request_id).await?;
        println!("approved by {:?}", permit.approved_by());
        permit.complete(Outcome::success()).await?;
    }
    let report = signoff::audit::verify_file(&trail, None, None)
        .map_err(|f| Error::Config(f.to_string()))?;
    println!(
        "trail {}: {} records verified",
        trail.display(),
        report.records
    );
    Ok(())
}
