//! `signoff serve`, `signoff approve|deny`, `signoff token hash`.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{Value, json};
use signoff_config::GateConfig;
use signoff_server::ServerConfig;

use crate::exit;

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            None
        }
    }
}

/// Reads `FILE`: `listen`, a `[server]` table (tokens, proxy, limits) and
/// the gate's keys (`policy`, `store`, `audit`, `approver`, ...).
fn read_config(path: &Path) -> Result<(String, ServerConfig, GateConfig), String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    let listen = match table.remove("listen") {
        None => "127.0.0.1:8080".to_owned(),
        Some(toml::Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "{shown}: `listen` must be a string like \"127.0.0.1:8080\", not {other}"
            ));
        }
    };
    let server: ServerConfig = match table.remove("server") {
        None => ServerConfig::default(),
        Some(v) => v
            .try_into()
            .map_err(|e| format!("{shown}: [server]: {e}"))?,
    };
    let mut gate: GateConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e| format!("{shown}: {e}"))?;
    gate.source = shown;
    gate.resolve(path.parent().unwrap_or(Path::new(".")));
    Ok((listen, server, gate))
}

pub fn serve(config: &Path) -> u8 {
    let (listen, server, gate_config) = match read_config(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let Some(rt) = runtime() else {
        return exit::USAGE;
    };
    rt.block_on(async move {
        // the server holds the channel secrets: it posts (when dispatching),
        // takes the callbacks and refreshes the posts after votes
        let channels = match gate_config.channels() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return exit::DENIED;
            }
        };
        let built = match &channels {
            Some(c) => {
                gate_config
                    .build_with(std::sync::Arc::clone(&c.approver))
                    .await
            }
            None if gate_config.server_dispatched() => {
                gate_config
                    .build_with(std::sync::Arc::new(signoff::Queue))
                    .await
            }
            None => gate_config.build().await,
        };
        let gate = match built {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{e}");
                return exit::DENIED;
            }
        };
        let lease = match gate_config.lease() {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{e}");
                return exit::USAGE;
            }
        };
        let _dispatcher = gate_config.server_dispatched().then(|| {
            let posting: std::sync::Arc<dyn signoff::Approver> = match &channels {
                Some(c) => std::sync::Arc::clone(&c.approver),
                None => std::sync::Arc::new(signoff::Queue),
            };
            signoff_server::Dispatcher::new(
                gate.clone(),
                posting,
                signoff_server::DispatchConfig {
                    lease,
                    ..signoff_server::DispatchConfig::default()
                },
            )
            .spawn()
        });
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return exit::USAGE;
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(listen);
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "signoff serve: listening on http://{addr} (policy {})",
            gate.policy().digest()
        );
        let _ = out.flush();
        let mut router = signoff_server::router(gate.clone(), server);
        if let Some(app) = channels.as_ref().and_then(|c| c.slack.as_ref()) {
            router = router.merge(app.routes(gate.clone()));
        }
        // progress notes go to stderr; stdout carries only the listening line,
        // and a closed stdout never stops the server
        if let Some(c) = &channels {
            eprintln!("signoff serve: channels {}", c.names.join(", "));
        }
        if gate_config.server_dispatched() {
            eprintln!(
                "signoff serve: dispatching pending requests from {}",
                gate.store().describe()
            );
        }
        match signoff_server::serve_router(router, listener).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("server stopped: {e}");
                exit::DENIED
            }
        }
    })
}

pub fn vote(id: &str, server: &str, verdict: &str, comment: Option<&str>) -> u8 {
    let Ok(token) = std::env::var("SIGNOFF_TOKEN") else {
        eprintln!("set SIGNOFF_TOKEN to your API token (it is never taken as an argument)");
        return exit::USAGE;
    };
    let Some(rt) = runtime() else {
        return exit::USAGE;
    };
    let url = format!("{}/v1/requests/{id}/votes", server.trim_end_matches('/'));
    let mut body = json!({"verdict": verdict});
    if let Some(c) = comment {
        body["comment"] = json!(c);
    }
    rt.block_on(async move {
        let sent = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token.trim())
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cannot reach {server}: {e}");
                return exit::USAGE;
            }
        };
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            println!(
                "{verdict} counted; request {id} is {}",
                answer["status"].as_str().unwrap_or("?")
            );
            return exit::OK;
        }
        let message = answer["message"].as_str().unwrap_or("no details");
        eprintln!("refused ({status}): {message}");
        if status.as_u16() == 401 {
            exit::USAGE
        } else {
            exit::DENIED
        }
    })
}

pub fn token_hash() -> u8 {
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() || line.trim().is_empty() {
        eprintln!("give the token on standard input: printf %s \"$TOKEN\" | signoff token hash");
        return exit::USAGE;
    }
    println!("{}", signoff_server::hash_token(line.trim()));
    exit::OK
}
