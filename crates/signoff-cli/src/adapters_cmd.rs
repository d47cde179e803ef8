//! `signoff mcp-proxy`, `signoff hook claude-code`, `signoff install claude-code`:
//! the command-line adapters of DESIGN §11.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signoff_config::GateConfig;
use signoff_hooks::claude_code::HookOptions;
use signoff_hooks::install::{InstallOptions, SettingsScope};
use signoff_mcp::{HttpProxy, McpGate, ProxyOptions};

use crate::exit;

/// Parses a duration flag such as `50s` or `2m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e}"))
}

/// How `signoff mcp-proxy` runs.
pub struct McpProxyArgs {
    pub config: PathBuf,
    pub name: String,
    pub max_wait: Duration,
    pub progress_every: Duration,
    pub hide_denied: bool,
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub command: Vec<OsString>,
}

pub fn mcp_proxy(args: McpProxyArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signoff mcp-proxy: cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    runtime.block_on(async move {
        let tag = format!("signoff mcp-proxy [{}]", args.name);
        match (&args.listen, &args.upstream, args.command.is_empty()) {
            (Some(_), Some(_), true) | (None, None, false) => {}
            (Some(_), Some(_), false) => {
                eprintln!("{tag}: give either `--listen` and `--upstream`, or a command after `--`, not both");
                return exit::USAGE;
            }
            _ => {
                eprintln!("{tag}: give the server's command after `--`, or `--listen ADDR --upstream URL`");
                return exit::USAGE;
            }
        }
        let mut config = match GateConfig::from_file(&args.config) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{tag}: {e}");
                return exit::USAGE;
            }
        };
        // several proxies (one per server and client) may share a trail
        config.child_process = true;
        let gate = match config.build().await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{tag}: {e}");
                return exit::DENIED;
            }
        };
        let options = ProxyOptions {
            server: args.name.clone(),
            max_wait: args.max_wait,
            progress_every: args.progress_every,
            hide_denied: args.hide_denied,
        };
        let mcp = match McpGate::new(gate.clone(), options) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                eprintln!("{tag}: {e}");
                return exit::USAGE;
            }
        };
        let code = match (&args.listen, &args.upstream) {
            (Some(listen), Some(upstream)) => {
                let proxy = match HttpProxy::new(mcp, upstream) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("{tag}: {e}");
                        return exit::USAGE;
                    }
                };
                let listener = match tokio::net::TcpListener::bind(listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("{tag}: cannot listen on {listen}: {e}");
                        return exit::USAGE;
                    }
                };
                tokio::select! {
                    r = proxy.serve(listener) => match r {
                        Ok(()) => exit::OK,
                        Err(e) => { eprintln!("{tag}: {e}"); exit::DENIED }
                    },
                    () = stopped() => exit::OK,
                }
            }
            _ => tokio::select! {
                r = signoff_mcp::run_stdio(mcp, &args.command) => match r {
                    Ok(code) => u8::try_from(code).unwrap_or(exit::DENIED),
                    Err(e) => {
                        eprintln!("{tag}: {e}");
                        exit::USAGE
                    }
                },
                // the server is killed with the proxy; waiting requests are withdrawn
                () = stopped() => exit::OK,
            },
        };
        // let the withdrawals of dropped waits run before the trail is closed
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Err(e) = gate.close().await {
            eprintln!("{tag}: closing the audit trail: {e}");
        }
        code
    })
}

/// Resolves on SIGINT or SIGTERM, so the proxy closes its trail on the way out.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub fn hook_claude_code(config: Option<PathBuf>, max_wait: Duration, started: Instant) -> u8 {
    let options = HookOptions { config, max_wait };
    signoff_hooks::claude_code::main(&options, started)
}

pub fn install_claude_code(
    config: &Path,
    matcher: String,
    timeout: u64,
    user: bool,
    settings: Option<PathBuf>,
) -> u8 {
    let config = match std::path::absolute(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("`{}`: {e}", config.display());
            return exit::USAGE;
        }
    };
    // the hook would deny every call with a config that does not load: say so now
    let checked = GateConfig::from_file(&config)
        .map_err(|e| e.to_string())
        .and_then(|c| signoff::Policy::from_file(&c.policy).map_err(|e| e.to_string()));
    if let Err(e) = checked {
        eprintln!("{e}");
        return exit::DENIED;
    }
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot find the signoff program: {e}");
            return exit::USAGE;
        }
    };
    let scope = match (settings, user) {
        (Some(file), _) => SettingsScope::File(file),
        (None, true) => SettingsScope::User,
        (None, false) => match std::env::current_dir() {
            Ok(d) => SettingsScope::Project(d),
            Err(e) => {
                eprintln!("cannot read the current folder: {e}");
                return exit::USAGE;
            }
        },
    };
    let options = InstallOptions {
        scope,
        program,
        config,
        matcher,
        timeout,
    };
    match signoff_hooks::install::install(&options) {
        Ok(done) => {
            let what = if done.changed {
                "installed the signoff hook in"
            } else {
                "the signoff hook is already installed in"
            };
            println!("{what} {}", done.path.display());
            println!(
                "  PreToolUse matcher {:?}, timeout {}s, onFailure block, --max-wait {}s",
                options.matcher,
                options.timeout,
                done.max_wait.as_secs()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("{e}");
            exit::DENIED
        }
    }
}
