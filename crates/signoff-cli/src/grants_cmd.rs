//! `signoff grants list|revoke`: the grants of an approval server's store
//! (DESIGN §13), through its API (token in `SIGNOFF_TOKEN`).

use clap::Subcommand;
use serde_json::Value;

use crate::exit;

/// `signoff grants ...`.
#[derive(Subcommand)]
pub enum GrantsCommand {
    /// List the grants: id, rule, state (live, revoked, expired), expiry,
    /// approvers and scope.
    List {
        /// The server's base URL.
        #[arg(long, env = "SIGNOFF_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Only grants that cover actions now.
        #[arg(long)]
        live: bool,
        /// Print the grants as one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant at once, for every process sharing the server's store.
    Revoke {
        /// The grant id.
        id: String,
        /// The server's base URL.
        #[arg(long, env = "SIGNOFF_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
}

/// Runs a `grants` command; the exit code.
pub fn run(command: GrantsCommand) -> u8 {
    let Ok(token) = std::env::var("SIGNOFF_TOKEN") else {
        eprintln!("set SIGNOFF_TOKEN to your API token (it is never taken as an argument)");
        return exit::USAGE;
    };
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
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let token = token.trim();
        match command {
            GrantsCommand::List { server, live, json } => {
                let url = format!("{}/v1/grants", server.trim_end_matches('/'));
                let answer = match call(client.get(&url).bearer_auth(token), &server).await {
                    Ok(v) => v,
                    Err(code) => return code,
                };
                let grants: Vec<&Value> = answer
                    .as_array()
                    .map(|a| a.iter().filter(|g| !live || g["live"] == true).collect())
                    .unwrap_or_default();
                if json {
                    println!("{}", Value::Array(grants.into_iter().cloned().collect()));
                } else if grants.is_empty() {
                    println!("no grants");
                } else {
                    for g in grants {
                        println!("{}", line(g));
                    }
                }
                exit::OK
            }
            GrantsCommand::Revoke { id, server } => {
                let url = format!("{}/v1/grants/{id}", server.trim_end_matches('/'));
                match call(client.delete(&url).bearer_auth(token), &server).await {
                    Ok(g) => {
                        println!("revoked grant {id} (rule {})", text(&g["rule"]));
                        exit::OK
                    }
                    Err(code) => code,
                }
            }
        }
    })
}

/// Sends a request; the JSON answer, or the exit code after printing why.
async fn call(request: reqwest::RequestBuilder, server: &str) -> Result<Value, u8> {
    let response = request.send().await.map_err(|e| {
        eprintln!("cannot reach {server}: {e}");
        exit::USAGE
    })?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(answer);
    }
    eprintln!(
        "refused ({status}): {}",
        answer["message"].as_str().unwrap_or("no details")
    );
    Err(if status.as_u16() == 401 {
        exit::USAGE
    } else {
        exit::DENIED
    })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// One grant as a line.
fn line(g: &Value) -> String {
    let state = if !g["revoked"].is_null() {
        format!("revoked by {}", text(&g["revoked"]["by"]))
    } else if g["live"] == true {
        "live".to_owned()
    } else {
        "expired".to_owned()
    };
    let approvers: Vec<&str> = g["approvers"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let scope: Vec<String> = g["scope"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    format!(
        "{id}  rule {rule}  {state}  until {until}  by {by}  scope {scope}",
        id = text(&g["id"]),
        rule = text(&g["rule"]),
        until = text(&g["expires_at"]),
        by = approvers.join(","),
        scope = scope.join(" "),
    )
}
