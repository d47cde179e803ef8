//! The `signoff` command line: check and explain policies, verify and show
//! audit trails, and run the demo.

mod adapters_cmd;
mod audit_cmd;
mod demo;
mod grants_cmd;
mod lifecycle_cmd;
mod ocsf;
mod policy_cmd;
mod report;
mod server_cmd;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Action-level approvals for AI agents.
#[derive(Parser)]
#[command(name = "signoff", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate policy files; prints each error as FILE:LINE:COLUMN: rule `ID`: message.
    Check {
        /// Policy files (TOML, or JSON by extension).
        #[arg(required = true)]
        policies: Vec<PathBuf>,
    },
    /// Decide an action against a policy and show why, rule by rule.
    Explain {
        /// The policy file.
        policy: PathBuf,
        /// A JSON file with the action (fields of an Action; `name` required), or `-` for stdin.
        action: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Evaluate as if the time were this RFC 3339 instant.
        #[arg(long)]
        now: Option<String>,
    },
    /// Run policy tests: TOML files of `[[test]]` cases (an action, the
    /// expected effect, optionally the deciding rules and `now`).
    ///
    /// Prints each case, a diff with the trace of the deciding rules on a
    /// failure, and `N passed, M failed`; exits 1 if any case fails or a test
    /// file does not load (errors as FILE:LINE:COLUMN: message).
    Test {
        /// The policy file.
        policy: PathBuf,
        /// Test files.
        #[arg(required = true)]
        tests: Vec<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Also list the rules no test case exercised.
        #[arg(long)]
        coverage: bool,
    },
    /// Re-decide every recorded decision of trails under another policy and
    /// report what would change.
    ///
    /// A condition that reads a redacted or unrecorded field is reported as
    /// undecidable, never guessed.
    Replay {
        /// The policy to replay under.
        #[arg(long)]
        policy: PathBuf,
        /// JSONL trails.
        #[arg(required = true)]
        trails: Vec<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Examples shown per kind of change.
        #[arg(long, default_value_t = 3)]
        examples: usize,
        /// Exit 1 when any decision would change or is undecidable.
        #[arg(long)]
        fail_on_change: bool,
    },
    /// Audit trails: verify, show, export a checkpoint, make a checkpoint key.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run the approval server (REST API, web page) from a configuration file.
    Serve {
        /// TOML: `listen`, `policy`, `store`, `audit`, `approver`, and `[server]` (tokens, proxy).
        #[arg(long)]
        config: PathBuf,
    },
    /// Approve a pending request through the server (token in SIGNOFF_TOKEN).
    Approve {
        /// The request id.
        id: String,
        /// The server's base URL.
        #[arg(long, env = "SIGNOFF_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// A comment for the trail.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a pending request through the server (token in SIGNOFF_TOKEN).
    Deny {
        /// The request id.
        id: String,
        /// The server's base URL.
        #[arg(long, env = "SIGNOFF_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Why, for the requester and the trail.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Grants (DESIGN §13) through the server: `list`, `revoke ID` (token in SIGNOFF_TOKEN).
    Grants {
        #[command(subcommand)]
        command: grants_cmd::GrantsCommand,
    },
    /// API tokens: `hash` prints the hash to put in the server's config.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Gate an MCP server: every `tools/call` is decided as `mcp.<NAME>.<tool>`.
    ///
    /// stdio: `signoff mcp-proxy --config GATE.toml --name NAME -- CMD ARGS...`;
    /// Streamable HTTP: `--listen 127.0.0.1:PORT --upstream URL`.
    McpProxy {
        /// The gate config file.
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        /// The server's name in action names (`mcp.<NAME>.<tool>`).
        #[arg(long)]
        name: String,
        /// Deny (and withdraw) a call still waiting for reviewers after this long.
        #[arg(long, value_parser = adapters_cmd::duration, default_value = "50s")]
        max_wait: Duration,
        /// How often a waiting call with a progressToken gets a progress notification.
        #[arg(long, value_parser = adapters_cmd::duration, default_value = "5s")]
        progress_every: Duration,
        /// Leave the tools the policy denies outright out of `tools/list`.
        #[arg(long)]
        hide_denied: bool,
        /// Serve Streamable HTTP on this address (with `--upstream`).
        #[arg(long, requires = "upstream")]
        listen: Option<String>,
        /// The Streamable HTTP server to gate (with `--listen`).
        #[arg(long, requires = "listen")]
        upstream: Option<String>,
        /// The stdio server's command and arguments, after `--`.
        #[arg(last = true)]
        command: Vec<OsString>,
    },
    /// Command hooks of coding agents: `hook claude-code`.
    Hook {
        #[command(subcommand)]
        command: HookCommand,
    },
    /// Register signoff with a host: `install claude-code`.
    Install {
        #[command(subcommand)]
        command: InstallCommand,
    },
    /// Run a scripted agent against the embedded example policy, then print
    /// and verify its audit trail. Needs no terminal, network or input.
    Demo {
        /// Where to write the trail (default: a new file in the temp dir).
        #[arg(long)]
        audit: Option<PathBuf>,
        /// Ask on this terminal instead of using scripted reviewers.
        #[arg(long)]
        interactive: bool,
    },
}

#[derive(Subcommand)]
enum HookCommand {
    /// The Claude Code `PreToolUse` hook: reads the call on stdin, allows
    /// (exit 0, one JSON object) or denies (exit 2, the reason on stderr).
    ClaudeCode {
        /// The gate config file.
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: Option<PathBuf>,
        /// Deny (and withdraw) a call still waiting after this long from the
        /// hook's start; keep it below the hook's `timeout`.
        #[arg(long, value_parser = adapters_cmd::duration, default_value = "50s")]
        max_wait: Duration,
    },
}

#[derive(Subcommand)]
enum InstallCommand {
    /// Add the hook to Claude Code's settings (`.claude/settings.json`, or the
    /// user's with `--user`), keeping everything else in the file.
    ClaudeCode {
        /// The gate config file the hook builds its gate from.
        #[arg(long, env = "SIGNOFF_CONFIG")]
        config: PathBuf,
        /// Which tools the hook sees (a Claude Code matcher).
        #[arg(long, default_value = "*")]
        matcher: String,
        /// The hook's timeout in seconds; its --max-wait is set below it.
        #[arg(long, default_value_t = signoff_hooks::install::DEFAULT_TIMEOUT)]
        timeout: u64,
        /// This project's `.claude/settings.json` (the default).
        #[arg(long, conflicts_with_all = ["user", "settings"])]
        project: bool,
        /// The user's settings (`$CLAUDE_CONFIG_DIR` or `~/.claude`).
        #[arg(long, conflicts_with = "settings")]
        user: bool,
        /// This settings file.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Read a token on standard input and print its hash.
    Hash,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every hash, link, sequence number and checkpoint; names the first bad seq.
    ///
    /// Without --pubkey or --checkpoint, deleting the newest records is undetectable.
    Verify {
        /// The trail: a JSONL file, `sqlite:PATH` or `postgres://...`.
        log: PathBuf,
        /// ed25519 public key (hex, or a file holding it, e.g. from `keygen`) to check
        /// checkpoint signatures; every stream must then hold a checkpoint it signed.
        #[arg(long)]
        pubkey: Option<String>,
        /// A checkpoint exported earlier (`signoff audit checkpoint`): detects truncation and rewrites.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print the trail, or one action's story (request, decision, votes, outcome).
    Show {
        /// The JSONL trail.
        log: PathBuf,
        /// Only this action id.
        #[arg(long)]
        action: Option<String>,
        /// Print records as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Summarise where a shadow policy decided differently from the live one
    /// (the trail's `policy.shadow` records).
    Shadow {
        /// JSONL trails.
        #[arg(required = true)]
        trails: Vec<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Examples shown per kind of difference.
        #[arg(long, default_value_t = 3)]
        examples: usize,
    },
    /// Print the last signed checkpoint as JSON, to keep somewhere else.
    Checkpoint {
        /// The trail: a JSONL file, `sqlite:PATH` or `postgres://...`.
        log: PathBuf,
    },
    /// An evidence report over a period: verification first, then every
    /// privileged action with its decision, votes and outcome, and counts.
    ///
    /// DATE is YYYY-MM-DD (UTC; --to includes that whole day) or an RFC 3339
    /// time (--to exclusive). A broken trail still yields the report, with
    /// the break first, and exits 1.
    Report {
        /// JSONL trail files (one per writing process, or several streams in one).
        #[arg(required = true)]
        trails: Vec<PathBuf>,
        /// Start of the period (inclusive): YYYY-MM-DD (UTC) or RFC 3339.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// End of the period: YYYY-MM-DD includes that whole UTC day; an RFC 3339 time is exclusive.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// `html` (self-contained, printable), `csv` (one row per action) or `json`.
        #[arg(long, value_enum, default_value = "html")]
        format: report::ReportFormat,
        /// ed25519 public key (hex, or a file holding it) to check checkpoint signatures.
        #[arg(long)]
        pubkey: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Export records as OCSF 1.3 API Activity events (JSON lines) for a SIEM.
    ///
    /// The mapping is docs/ocsf.md. DATE as for `report`. A broken trail is
    /// still exported, named on stderr, and exits 1.
    Export {
        /// JSONL trail files.
        #[arg(required = true)]
        trails: Vec<PathBuf>,
        /// The output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Start of the period (inclusive): YYYY-MM-DD (UTC) or RFC 3339.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// End of the period: YYYY-MM-DD includes that whole UTC day; an RFC 3339 time is exclusive.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// ed25519 public key (hex, or a file holding it) to check checkpoint signatures.
        #[arg(long)]
        pubkey: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write a new ed25519 checkpoint signing key (mode 0600) and its public key.
    ///
    /// Both files hold one line of 64 hex characters: the secret seed, and the
    /// public key that `verify --pubkey` reads (also printed on stdout).
    Keygen {
        /// The secret key file, for the gate config's `[checkpoints] key_file`
        /// (or put its content in the variable named by `key_env`).
        #[arg(long)]
        out: PathBuf,
        /// Where to write the public key (default: OUT.pub).
        #[arg(long = "pub", value_name = "PATH")]
        pub_path: Option<PathBuf>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

/// `signoff audit export --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// OCSF 1.3.0 API Activity (class 6003), one event per line.
    Ocsf,
}

/// Exit codes of DESIGN §7.
pub(crate) mod exit {
    /// Success (explain: allowed or needs approval).
    pub const OK: u8 = 0;
    /// Denied, invalid or tampered.
    pub const DENIED: u8 = 1;
    /// Usage error or unreadable input.
    pub const USAGE: u8 = 2;
}

fn main() -> ExitCode {
    // the Claude Code hook's deadline counts from here
    let started = std::time::Instant::now();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = match cli.command {
        Command::Check { policies } => policy_cmd::check(&policies),
        Command::Explain {
            policy,
            action,
            json,
            now,
        } => policy_cmd::explain(&policy, &action, json, now.as_deref()),
        Command::Test {
            policy,
            tests,
            json,
            coverage,
        } => lifecycle_cmd::test(&policy, &tests, json, coverage),
        Command::Replay {
            policy,
            trails,
            json,
            examples,
            fail_on_change,
        } => lifecycle_cmd::replay(&policy, &trails, json, examples, fail_on_change),
        Command::Audit { command } => match command {
            AuditCommand::Shadow {
                trails,
                json,
                examples,
            } => lifecycle_cmd::shadow(&trails, json, examples),
            AuditCommand::Verify {
                log,
                pubkey,
                checkpoint,
            } => audit_cmd::verify(&log, pubkey.as_deref(), checkpoint.as_deref()),
            AuditCommand::Show { log, action, json } => {
                audit_cmd::show(&log, action.as_deref(), json)
            }
            AuditCommand::Checkpoint { log } => audit_cmd::checkpoint(&log),
            AuditCommand::Keygen {
                out,
                pub_path,
                force,
            } => audit_cmd::keygen(&out, pub_path.as_deref(), force),
            AuditCommand::Report {
                trails,
                from,
                to,
                format,
                pubkey,
                output,
            } => report::report(&report::ReportArgs {
                trails: &trails,
                from: from.as_deref(),
                to: to.as_deref(),
                format,
                pubkey: pubkey.as_deref(),
                output: output.as_deref(),
            }),
            AuditCommand::Export {
                trails,
                format: ExportFormat::Ocsf,
                from,
                to,
                pubkey,
                output,
            } => report::export(&report::ExportArgs {
                trails: &trails,
                from: from.as_deref(),
                to: to.as_deref(),
                pubkey: pubkey.as_deref(),
                output: output.as_deref(),
            }),
        },
        Command::Demo { audit, interactive } => demo::run(audit.as_deref(), interactive),
        Command::Serve { config } => server_cmd::serve(&config),
        Command::Approve {
            id,
            server,
            comment,
        } => server_cmd::vote(&id, &server, "approve", comment.as_deref()),
        Command::Deny { id, server, reason } => {
            server_cmd::vote(&id, &server, "deny", reason.as_deref())
        }
        Command::Grants { command } => grants_cmd::run(command),
        Command::Token {
            command: TokenCommand::Hash,
        } => server_cmd::token_hash(),
        Command::McpProxy {
            config,
            name,
            max_wait,
            progress_every,
            hide_denied,
            listen,
            upstream,
            command,
        } => adapters_cmd::mcp_proxy(adapters_cmd::McpProxyArgs {
            config,
            name,
            max_wait,
            progress_every,
            hide_denied,
            listen,
            upstream,
            command,
        }),
        Command::Hook {
            command: HookCommand::ClaudeCode { config, max_wait },
        } => adapters_cmd::hook_claude_code(config, max_wait, started),
        Command::Install {
            command:
                InstallCommand::ClaudeCode {
                    config,
                    matcher,
                    timeout,
                    project: _,
                    user,
                    settings,
                },
        } => adapters_cmd::install_claude_code(&config, matcher, timeout, user, settings),
    };
    ExitCode::from(code)
}
