//! The `signoff` command line: check and explain policies, verify and show
//! audit trails, and run the demo.

mod policy_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

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
    };
    ExitCode::from(code)
}
