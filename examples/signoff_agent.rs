//! A small agent process for the multi-process and crash tests (and for
//! trying shared stores by hand). Two modes:
//!
//! `signoff_agent require --config FILE ACTION_ID...`: requires a `db.export`
//! for each id (waiting for approvals through the store), printing
//! `PERMIT <id> <approvers>` as each returns.
//!
//! `signoff_agent submit --config FILE`: for each action id read from standard
//! input, one line at a time, submits that `db.export` and prints
//! `PERMIT <id> <approvers>` (allowed, approved, or covered by a grant) or
//! `PENDING <id> <request id>`, then reads the next.
//!
//! `signoff_agent append --config FILE --tasks N`: `db.query` decisions from N
//! concurrent tasks until killed, printing each action id once its decision
//! is durable (`require` returned).

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use signoff::{Action, Error, Outcome};
use signoff_config::GateConfig;

fn usage() -> ! {
    eprintln!(
        "usage: signoff_agent require --config FILE ID... | submit --config FILE | append --config FILE --tasks N"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = args.split_first().unwrap_or_else(|| usage());
    let mut config: Option<PathBuf> = None;
    let mut tasks = 16usize;
    let mut ids = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = it.next().map(PathBuf::from),
            "--tasks" => {
                tasks = it
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            id => ids.push(id.to_owned()),
        }
    }
    let path = config.unwrap_or_else(|| usage());
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Config(e.to_string()))?;
    let base = path.parent().map(PathBuf::from).unwrap_or_default();
    let gate = GateConfig::from_toml_str(&text, &base, &path.display().to_string())
        .map_err(|e| Error::Config(e.to_string()))?
        .build()
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    match mode.as_str() {
        "require" => {
            let mut waiting = Vec::new();
            for id in ids {
                let gate = gate.clone();
                waiting.push(tokio::spawn(async move {
                    let action = Action::new("db.export")
                        .id(&id)
                        .actor("agent:worker")
                        .on_behalf_of("user:alice@example.com")
                        .args(json!({"rows": 10}));
                    let permit = gate.require(action).await?;
                    println!("PERMIT {id} {}", permit.approved_by().join(","));
                    let _ = std::io::stdout().flush();
                    permit.complete(Outcome::success()).await
                }));
            }
            for w in waiting {
                w.await.map_err(|e| Error::Config(e.to_string()))??;
            }
            // completions are queued: write them out before exiting
            gate.close().await
        }
        "submit" => {
            let mut line = String::new();
            while {
                line.clear();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| Error::Config(e.to_string()))?
                    > 0
            } {
                let id = line.trim();
                let action = Action::new("db.export")
                    .id(id)
                    .actor("agent:worker")
                    .on_behalf_of("user:alice@example.com")
                    .args(json!({"rows": 10}));
                match gate.submit(action).await? {
                    signoff::Submission::Permitted(permit) => {
                        println!("PERMIT {id} {}", permit.approved_by().join(","));
                        permit.complete(Outcome::success()).await?;
                    }
                    signoff::Submission::Pending { request_id } => {
                        println!("PENDING {id} {request_id}");
                    }
                }
                let _ = std::io::stdout().flush();
            }
            gate.close().await
        }
        "append" => {
            let mut workers = Vec::new();
            for t in 0..tasks {
                let gate = gate.clone();
                workers.push(tokio::spawn(async move {
                    for n in 0u64.. {
                        let id = format!("{}-{t}-{n}", std::process::id());
                        let permit = gate
                            .require(Action::new("db.query").id(&id).actor("agent:writer"))
                            .await?;
                        // the decision is durable now: acknowledge it
                        println!("{id}");
                        permit.complete(Outcome::success()).await?;
                    }
                    Ok::<(), Error>(())
                }));
            }
            for w in workers {
                w.await.map_err(|e| Error::Config(e.to_string()))??;
            }
            Ok(())
        }
        _ => usage(),
    }
}
