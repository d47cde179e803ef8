//! `signoff demo`: a scripted agent on embedded defaults.

use std::path::{Path, PathBuf};

use serde_json::json;
use signoff::testkit::ScriptedApprover;
use signoff::{Action, AuditRecord, Error, Gate, JsonlSink, Outcome, Policy, Terminal, Vote};

use crate::exit;

/// The policy of the demo: DESIGN.md's example.
pub const DEMO_POLICY: &str = include_str!("../../../examples/policies/prod-agents.toml");

pub fn run(audit: Option<&Path>, interactive: bool) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    let path = match audit {
        Some(p) => p.to_path_buf(),
        None => std::env::temp_dir().join(format!("signoff-demo-{}.jsonl", std::process::id())),
    };
    match runtime.block_on(demo(&path, interactive)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("demo failed: {e}");
            exit::DENIED
        }
    }
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

async fn demo(path: &PathBuf, interactive: bool) -> Result<(), Error> {
    let policy = Policy::from_toml_str(DEMO_POLICY)?;
    println!(
        "signoff demo — policy `{}` ({})",
        policy.name(),
        policy.digest()
    );
    println!("audit trail: {}", path.display());
    let sink = JsonlSink::open(path)?;
    let scripted = ScriptedApprover::new([
        // the launcher approving their own agent's request: rejected
        Vote::approve("user:alice@example.com").comment("my own agent, looks fine"),
        Vote::approve("user:carol@example.com").comment("finance needs it"),
        Vote::approve("user:dan@example.com"),
    ]);
    let builder = Gate::builder().policy(policy).audit(sink);
    let gate = if interactive {
        builder.approver(Terminal::new()).build()?
    } else {
        builder.approver(scripted.clone()).build()?
    };
    let agent = |name: &str| {
        Action::new(name)
            .actor("agent:billing-bot")
            .on_behalf_of("user:alice@example.com")
            .env("prod")
    };

    step(1, "the agent reads: db.query is allowed by rule `reads`");
    let permit = gate
        .require(agent("db.query").args(json!({"sql": "select count(*) from invoices"})))
        .await?;
    println!("    permitted (action {})", permit.action_id());
    permit.complete(Outcome::success()).await?;

    step(2, "the agent tries DROP TABLE: rule `no-drop` denies it");
    match gate
        .require(agent("sql.exec").args(json!({"sql": "DROP TABLE customers"})))
        .await
    {
        Err(Error::Denied(d)) => println!("    denied: {d}"),
        Ok(_) => return Err(Error::Config("DROP TABLE was permitted".into())),
        Err(e) => return Err(e),
    }

    step(
        3,
        "the agent exports 50,000 rows: two data owners must approve",
    );
    if !interactive {
        println!("    reviewers (scripted): alice (who launched the agent), carol, dan");
    }
    let permit = gate
        .require(
            agent("db.export")
                .resource("postgres://prod/customers")
                .args(json!({"rows": 50_000, "format": "csv", "password": "hunter2"}))
                .justification("monthly churn report for finance"),
        )
        .await?;
    for result in scripted.results() {
        match result {
            Ok(outcome) => println!("    vote counted: {outcome}"),
            Err(rejected) => println!("    vote rejected: {rejected}"),
        }
    }
    println!(
        "    permitted, approved by {}",
        permit.approved_by().join(" and ")
    );
    let action_id = permit.action_id().to_owned();
    permit
        .complete(Outcome::success().with_detail("50000 rows written"))
        .await?;
    gate.close().await?;

    step(4, "the export's story, from the trail");
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read the trail: {e}")))?;
    let records: Vec<AuditRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let story: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.action_id.as_deref() == Some(action_id.as_str()))
        .collect();
    crate::audit_cmd::print_story(&story);

    step(5, "verify the whole trail");
    match signoff::audit::verify_file(path, None, None) {
        Ok(report) => println!(
            "    ok: {} records, hash chain intact (last {})",
            report.records,
            report
                .streams
                .values()
                .next()
                .map(|s| s.1.as_str())
                .unwrap_or("-")
        ),
        Err(f) => return Err(Error::Config(format!("the trail does not verify: {f}"))),
    }
    println!(
        "\ntry: signoff audit show {} --action {action_id}",
        path.display()
    );
    Ok(())
}
