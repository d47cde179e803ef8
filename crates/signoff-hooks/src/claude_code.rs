//! `signoff hook claude-code`: the `PreToolUse` command hook.
//!
//! Claude Code runs the hook for every tool call, writes the call as JSON on
//! its stdin, and reads the decision back. Claude Code lets a call run when a
//! hook fails in some ways even with `"onFailure": "block"` (a deny JSON cut
//! off mid-write, a stray line before it), so the hook speaks the one form
//! that cannot be misread:
//!
//! - **allow**: exit 0 and one complete JSON object on stdout
//!   (`permissionDecision: "allow"`, `updatedInput` when a reviewer edited
//!   the args), written in one piece;
//! - **deny**: exit 2 with the reason on stderr (Claude Code shows it to the
//!   model and blocks the call); the deny JSON is on stdout too, for
//!   readers of the log.
//!
//! Every way to fail (unreadable input, no config, a store that cannot be
//! reached, a wait past `--max-wait`) is a deny. The gate is built on a
//! current-thread runtime: every tool call starts the hook, so starting
//! is kept cheap.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signoff::adapter::{deadline_text, denial_text};
use signoff::{Action, Effect, Gate};
use signoff_config::GateConfig;
use tokio::time::timeout_at;

use crate::input::{InputError, PreToolUse};
use crate::transcript;

/// The wait when `--max-wait` is not given: below Claude Code's default
/// hook timeout of 60 s. `signoff install claude-code` writes both.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(50);

/// The largest input read from stdin.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// What the host is called in the trail (`action.completed` of a handed-over call).
const HOST: &str = "claude-code";

/// How the hook runs.
#[derive(Debug, Clone)]
pub struct HookOptions {
    /// The gate config file (`--config`, or `SIGNOFF_CONFIG`).
    pub config: Option<PathBuf>,
    /// How long the hook may take from its start, waiting for reviewers
    /// included; keep it below the `timeout` the hook is registered with.
    pub max_wait: Duration,
}

impl Default for HookOptions {
    fn default() -> Self {
        HookOptions {
            config: None,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// The hook's answer: what to print and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookReply {
    /// 0 (allow, or an event the hook does not handle) or 2 (deny).
    pub exit_code: u8,
    /// One JSON object, or nothing.
    pub stdout: String,
    /// The deny reason, or nothing.
    pub stderr: String,
}

impl HookReply {
    fn allow(reason: &str, updated_input: Option<Value>) -> Self {
        let mut out = json!({
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": reason,
        });
        if let Some(input) = updated_input {
            out["updatedInput"] = input;
        }
        HookReply {
            exit_code: 0,
            stdout: json!({ "hookSpecificOutput": out }).to_string(),
            stderr: String::new(),
        }
    }

    fn deny(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        HookReply {
            exit_code: 2,
            stdout: json!({ "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }})
            .to_string(),
            stderr: reason,
        }
    }

    fn error(message: impl std::fmt::Display) -> Self {
        Self::deny(format!("signoff: denied (error): {message}"))
    }

    /// Nothing to say: an event other than `PreToolUse`.
    fn pass() -> Self {
        HookReply {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// Whether the call may run.
    pub fn allows(&self) -> bool {
        self.exit_code == 0 && !self.stdout.is_empty()
    }

    /// Writes the reply (stdout in one write, then flushed) and returns the
    /// exit code. An allow that cannot be written whole becomes a deny.
    pub fn emit(&self) -> u8 {
        let mut stdout = std::io::stdout().lock();
        if !self.stdout.is_empty() {
            let mut line = String::with_capacity(self.stdout.len() + 1);
            line.push_str(&self.stdout);
            line.push('\n');
            if let Err(e) = stdout
                .write_all(line.as_bytes())
                .and_then(|()| stdout.flush())
                && self.exit_code == 0
            {
                eprintln!("signoff: denied (error): cannot write the decision: {e}");
                return 2;
            }
        }
        if !self.stderr.is_empty() {
            eprintln!("{}", self.stderr);
        }
        self.exit_code
    }
}

/// The whole hook: reads stdin, decides, prints, returns the exit code.
/// `started` is when the process started; the deadline counts from it.
pub fn main(options: &HookOptions, started: Instant) -> u8 {
    let mut input = Vec::new();
    let reply = match std::io::stdin()
        .lock()
        .take(MAX_INPUT)
        .read_to_end(&mut input)
    {
        Ok(_) => run(&input, options, started),
        Err(e) => HookReply::error(format!("cannot read stdin: {e}")),
    };
    reply.emit()
}

/// Decides one call on a current-thread runtime, within
/// `started + options.max_wait`.
pub fn run(input: &[u8], options: &HookOptions, started: Instant) -> HookReply {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return HookReply::error(format!("cannot start the runtime: {e}")),
    };
    let deadline = started + options.max_wait;
    runtime.block_on(decide(
        input,
        options,
        tokio::time::Instant::from_std(deadline),
    ))
}

/// Decides one call: parses the input, builds the gate from the config,
/// requires the action and waits for reviewers until `deadline`.
pub async fn decide(
    input: &[u8],
    options: &HookOptions,
    deadline: tokio::time::Instant,
) -> HookReply {
    let call = match PreToolUse::parse(input) {
        Ok(c) => c,
        Err(InputError::OtherEvent(_)) => return HookReply::pass(),
        Err(e) => return HookReply::error(e),
    };
    let Some(path) = &options.config else {
        return HookReply::error(
            "no gate config: pass `--config GATE.toml` or set `SIGNOFF_CONFIG`",
        );
    };
    let mut config = match GateConfig::from_file(path) {
        Ok(c) => c,
        Err(e) => return HookReply::error(e),
    };
    // each hook process writes its own audit stream
    config.child_process = true;
    let gate = match timeout_at(deadline, config.build()).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return HookReply::error(e),
        Err(_) => {
            return HookReply::error(format!(
                "the gate could not be built within {}",
                humantime(options.max_wait)
            ));
        }
    };
    let mut action = call.to_action();
    // reviewers see the model's text before the call; only an approval
    // request needs it, so allowed and denied calls never read the transcript
    if let (Some(path), Some(id)) = (&call.transcript_path, &call.tool_use_id)
        && gate.evaluate(&action).effect == Effect::Approve
    {
        action.justification =
            timeout_at(deadline, transcript::justification_soon(path.as_ref(), id))
                .await
                .ok()
                .flatten();
    }
    let reply = decide_with(&gate, action, &call.tool_input, deadline, options.max_wait).await;
    // the decision is durable already; this writes what followed it
    let _ = tokio::time::timeout(Duration::from_secs(2), gate.close()).await;
    reply
}

/// Requires `action` on `gate` and turns the result into the hook's reply.
pub async fn decide_with(
    gate: &Gate,
    action: Action,
    tool_input: &Value,
    deadline: tokio::time::Instant,
    max_wait: Duration,
) -> HookReply {
    let action_id = action.id.clone();
    let rules = gate.evaluate(&action).rules;
    match timeout_at(deadline, gate.require(action)).await {
        Ok(Ok(permit)) => {
            let reason = if permit.approved_by().is_empty() {
                format!("signoff: allowed ({})", by_rules(&rules))
            } else {
                format!(
                    "signoff: approved by {} (request {})",
                    permit.approved_by().join(", "),
                    permit.request_id().unwrap_or("?")
                )
            };
            let edited = (permit.args() != tool_input).then(|| permit.args().clone());
            match permit.hand_over(HOST).await {
                Ok(()) => HookReply::allow(&reason, edited),
                Err(e) => HookReply::deny(denial_text(&e)),
            }
        }
        Ok(Err(e)) => HookReply::deny(denial_text(&e)),
        Err(_) => {
            let request_id = withdraw(gate, action_id.as_deref()).await;
            HookReply::deny(deadline_text(&rules, request_id.as_deref(), max_wait))
        }
    }
}

/// Cancels the request a call was waiting on, so reviewers see it withdrawn
/// and no approval is left that nobody will use. Returns its id.
async fn withdraw(gate: &Gate, action_id: Option<&str>) -> Option<String> {
    let id = action_id?;
    let bounded = Duration::from_secs(2);
    let request = tokio::time::timeout(bounded, gate.store().get_by_action(id))
        .await
        .ok()?
        .ok()??;
    let _ = tokio::time::timeout(
        bounded,
        gate.cancel(
            &request.id,
            "the Claude Code hook stopped waiting (its --max-wait passed)",
        ),
    )
    .await;
    Some(request.id)
}

fn by_rules(rules: &[String]) -> String {
    if rules.is_empty() {
        "default".to_owned()
    } else {
        format!("rule {}", rules.join(", "))
    }
}

fn humantime(d: Duration) -> String {
    format!("{}s", d.as_secs_f64().round())
}
