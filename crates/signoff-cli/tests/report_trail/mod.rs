//! Writes audit trails for the report tests, the browser test and the bench
//! with real gates: several gates (one stream and one JSONL file each) decide
//! a fixed mix of actions: allowed (completed, failed, abandoned), denied by
//! a rule or by default, and sent for approval, where reviewers approve,
//! deny, try to approve their own agent, vote without being eligible, vote
//! on stale args, or never answer (timeouts), and some requests are
//! cancelled. Some comments and args hold markup, as an attacker would write.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]
#![allow(dead_code, reason = "each user of the module uses part of it")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signoff::audit::{AuditSink, CheckpointConfig, Durability, generate_signing_key};
use signoff::{Action, Error, Gate, JsonlSink, Outcome, Policy, Queue, Submission, Vote};

/// The policy every gate of the trail uses.
pub const POLICY: &str = r#"
[policy]
name = "report-fixture"
default = "deny"
break_glass = { approvers = "sre" }

[groups]
sre = ["user:alice@example.com", "user:bob@example.com", "user:erin@example.com"]
data-owners = ["user:carol@example.com", "user:dan@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query", "fs.read"]

[[rules]]
id = "no-drop"
effect = "deny"
actions = ["sql.exec"]
when = 'args.sql.startsWith("DROP")'
reason = "destructive DDL is never run by agents"

[[rules]]
id = "prod-writes"
effect = "approve"
actions = ["sql.exec"]
approvers = "sre"
timeout = "10m"
reason = "SQL writes against production"

[[rules]]
id = "exports"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
min_approvals = 2
timeout = "10m"
reason = "bulk export of customer data"

[[rules]]
id = "deploys"
effect = "approve"
actions = ["deploy.run"]
approvers = "sre"
max_grant = "1h"
timeout = "10m"
reason = "deploys to production"

[[rules]]
id = "truncates"
effect = "approve"
actions = ["db.truncate"]
approvers = "sre"
timeout = "10m"
reason = "truncating a table needs an SRE"

[[rules]]
id = "purges"
effect = "approve"
actions = ["db.purge"]
approvers = "sre"
timeout = "150ms"
reason = "purging rows needs an SRE"
"#;

/// A markup payload, in a comment and in args: must stay inert in HTML.
pub const SCRIPT: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>";

/// What one decision of the mix does; `kind(i)` picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// db.query, allowed, completed with success.
    Allowed,
    /// fs.read, allowed, completed with failure.
    AllowedFailed,
    /// fs.read, allowed, permit dropped.
    AllowedAbandoned,
    /// sql.exec DROP: denied by `no-drop`.
    DeniedByRule,
    /// net.scan: denied by the default.
    DeniedByDefault,
    /// sql.exec: alice (who launched the agent) tries, refused; bob approves.
    SelfApprovalThenApproved,
    /// sql.exec: carol (not an SRE) tries, refused; erin approves.
    NotEligibleThenApproved,
    /// sql.exec: bob votes on stale args, refused; then bob denies.
    StaleThenDenied,
    /// db.export: carol and dan approve (comment with markup).
    ExportApproved,
    /// db.purge: nobody answers; expires.
    TimedOut,
    /// sql.exec: the agent cancels the request.
    Cancelled,
    /// deploy.run: bob approves with a one-hour grant; later deploys in
    /// scope are permitted by it (`grant.used`).
    Deploy,
    /// db.truncate: erin resolves it alone by break-glass.
    BreakGlass,
}

const MIX: [Kind; 24] = [
    Kind::Allowed,
    Kind::Allowed,
    Kind::Allowed,
    Kind::Allowed,
    Kind::Allowed,
    Kind::AllowedFailed,
    Kind::AllowedAbandoned,
    Kind::DeniedByRule,
    Kind::DeniedByRule,
    Kind::DeniedByDefault,
    Kind::SelfApprovalThenApproved,
    Kind::SelfApprovalThenApproved,
    Kind::NotEligibleThenApproved,
    Kind::StaleThenDenied,
    Kind::ExportApproved,
    Kind::ExportApproved,
    Kind::TimedOut,
    Kind::Cancelled,
    Kind::Allowed,
    Kind::ExportApproved,
    Kind::Deploy,
    Kind::Deploy,
    Kind::Deploy,
    Kind::BreakGlass,
];

/// The kind of the `i`th decision.
pub fn kind(i: usize) -> Kind {
    MIX[i % MIX.len()]
}

fn action(kind: Kind, i: usize) -> Action {
    let agent = |name: &str| {
        Action::new(name)
            .actor("agent:deploy-bot")
            .on_behalf_of("user:alice@example.com")
            .env("prod")
    };
    match kind {
        Kind::Allowed => agent("db.query")
            .resource("postgres://prod/invoices")
            .args(json!({"sql": "select count(*) from invoices", "n": i})),
        Kind::AllowedFailed | Kind::AllowedAbandoned => {
            agent("fs.read").args(json!({"path": format!("/var/log/app-{i}.log")}))
        }
        Kind::DeniedByRule => agent("sql.exec").args(json!({"sql": "DROP TABLE customers"})),
        Kind::DeniedByDefault => agent("net.scan").args(json!({"target": "10.0.0.0/8"})),
        Kind::SelfApprovalThenApproved
        | Kind::NotEligibleThenApproved
        | Kind::StaleThenDenied
        | Kind::Cancelled => agent("sql.exec")
            .resource("postgres://prod/orders")
            .args(json!({"sql": format!("update orders set state = 'shipped' where id = {i}")})),
        Kind::ExportApproved => agent("db.export")
            .resource("postgres://prod/customers")
            .args(json!({"rows": 50_000 + i, "note": SCRIPT}))
            .justification("monthly churn report"),
        Kind::Deploy => agent("deploy.run")
            .resource("k8s://prod/web")
            .args(json!({"image": format!("web:1.{}", i % 3)})),
        Kind::BreakGlass => agent("db.truncate")
            .resource("postgres://prod/sessions")
            .args(json!({"table": "sessions"})),
        Kind::TimedOut => agent("db.purge")
            .resource("postgres://prod/sessions")
            .args(json!({"older_than": "90d"})),
    }
}

async fn vote(gate: &Gate, id: &str, v: Vote) {
    match gate.vote(id, v).await {
        Ok(_) | Err(Error::VoteRejected(_)) => {}
        Err(e) => panic!("vote failed: {e}"),
    }
}

/// Runs decision `i` through `gate`.
async fn decide(gate: Gate, i: usize) {
    let kind = kind(i);
    let submitted = gate.submit(action(kind, i)).await;
    let request_id = match submitted {
        Ok(Submission::Permitted(permit)) => {
            match kind {
                Kind::AllowedFailed => permit
                    .complete(Outcome::failure("file not found"))
                    .await
                    .unwrap(),
                Kind::AllowedAbandoned => drop(permit),
                _ => permit.complete(Outcome::success()).await.unwrap(),
            }
            return;
        }
        Ok(Submission::Pending { request_id }) => request_id,
        Err(Error::Denied(_)) => return,
        Err(e) => panic!("decision {i} failed: {e}"),
    };
    let web = |v: Vote| v.channel("web").authenticated();
    // reviewers take a moment
    if kind != Kind::TimedOut {
        tokio::time::sleep(Duration::from_millis(5 + (i % 9) as u64 * 5)).await;
    }
    match kind {
        Kind::SelfApprovalThenApproved => {
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:alice@example.com").comment("my own agent, fine")),
            )
            .await;
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:bob@example.com")),
            )
            .await;
        }
        Kind::NotEligibleThenApproved => {
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:carol@example.com")),
            )
            .await;
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:erin@example.com").comment("ok for the release")),
            )
            .await;
        }
        Kind::StaleThenDenied => {
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:bob@example.com").saw("blake3:0000")),
            )
            .await;
            vote(
                &gate,
                &request_id,
                web(Vote::deny("user:bob@example.com").comment("not during the freeze")),
            )
            .await;
        }
        Kind::ExportApproved => {
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:carol@example.com").comment(SCRIPT)),
            )
            .await;
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:dan@example.com")),
            )
            .await;
        }
        Kind::Cancelled => gate.cancel(&request_id, "the agent gave up").await.unwrap(),
        Kind::Deploy => {
            vote(
                &gate,
                &request_id,
                web(Vote::approve("user:bob@example.com").grant(Duration::from_secs(3600))),
            )
            .await;
        }
        Kind::BreakGlass => {
            vote(
                &gate,
                &request_id,
                web(Vote::break_glass(
                    "user:erin@example.com",
                    "outage: the sessions table filled the disk",
                )),
            )
            .await;
        }
        _ => {}
    }
    match gate.resume(&request_id).await {
        Ok(permit) => permit.complete(Outcome::success()).await.unwrap(),
        Err(Error::Denied(_) | Error::TimedOut(_) | Error::Cancelled { .. }) => {}
        Err(e) => panic!("decision {i} failed: {e}"),
    }
}

/// Writes `decisions` decisions over `streams` gates into `dir/gate-K.jsonl`
/// (checkpoints signed by a new key every 500 records); returns the files
/// and the public key (hex).
pub async fn write(dir: &Path, decisions: usize, streams: usize) -> (Vec<PathBuf>, String) {
    write_signed(dir, decisions, streams, generate_signing_key().unwrap()).await
}

/// [`write`] with checkpoints signed by `key`.
pub async fn write_signed(
    dir: &Path,
    decisions: usize,
    streams: usize,
    key: signoff::audit::SigningKey,
) -> (Vec<PathBuf>, String) {
    let public = signoff::audit::verifying_key_to_hex(&key.verifying_key());
    let policy = Policy::from_toml_str(POLICY).unwrap();
    let mut paths = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..streams {
        let path = dir.join(format!("gate-{k}.jsonl"));
        let sink: Arc<dyn AuditSink> =
            Arc::new(JsonlSink::open_with(&path, Durability::OsBuffered).unwrap());
        let mut checkpoints = CheckpointConfig::new(key.clone());
        checkpoints.every_records = 500;
        let gate = Gate::builder()
            .policy(policy.clone())
            .approver(Queue)
            .audit_arc(sink)
            .stream(format!("gate-{k}"))
            .checkpoints(checkpoints)
            .permit_ttl(Duration::from_secs(600))
            .build()
            .unwrap();
        paths.push(path);
        tasks.spawn(async move {
            // this gate's share, 64 at a time
            let mine: Vec<usize> = (k..decisions).step_by(streams).collect();
            for chunk in mine.chunks(64) {
                let mut set = tokio::task::JoinSet::new();
                for &i in chunk {
                    set.spawn(decide(gate.clone(), i));
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            }
            // let abandoned permits' detached records land, then flush
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.close().await.unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    (paths, public)
}
