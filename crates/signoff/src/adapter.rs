//! What every framework adapter shares (DESIGN §11): the action names of MCP
//! tools, action ids derived from a host's tool-call id, and the text a
//! model sees when a call is denied, so that the MCP proxy, the Claude Code
//! hook and the binding adapters all say the same thing.
//!
//! ```
//! use signoff::adapter::{call_action_id, mcp_tool_action};
//! assert_eq!(mcp_tool_action("github", "create_issue"), "mcp.github.create_issue");
//! assert_eq!(call_action_id("claude", "s-1", "toolu_01"), "claude:s-1:toolu_01");
//! ```

use std::time::Duration;

use crate::error::{DeniedBy, Error};

/// The action name of MCP tool `tool` on server `server`: `mcp.<server>.<tool>`,
/// wherever the tool is reached (the proxy or a host's own MCP client).
pub fn mcp_tool_action(server: &str, tool: &str) -> String {
    format!("mcp.{server}.{tool}")
}

/// The id of the action for one tool call: `HOST:SESSION:CALL`. The same
/// call in the same session always gets the same id, so a host that enters
/// the adapter again for it finds the same request instead of filing a
/// second one. A part that is long or holds characters other than ASCII
/// letters, digits and `-_.~` is replaced by `h-` and its blake3 digest, so
/// the id stays short and printable whatever the host sent.
pub fn call_action_id(host: &str, session: &str, call: &str) -> String {
    let mut id = String::with_capacity(host.len() + session.len() + call.len() + 2);
    for (i, part) in [host, session, call].into_iter().enumerate() {
        if i > 0 {
            id.push(':');
        }
        push_part(&mut id, part);
    }
    id
}

fn push_part(out: &mut String, part: &str) {
    let plain = !part.is_empty()
        && part.len() <= 96
        && !part.starts_with("h-")
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if plain {
        out.push_str(part);
    } else {
        out.push_str("h-");
        out.push_str(&blake3::hash(part.as_bytes()).to_hex()[..32]);
    }
}

/// What the model sees when `err` keeps a call from running:
/// `signoff: denied (rule <id>): <reason>`. Where no rule decided, the
/// parenthesis says what did: `default` (the policy's default), `timeout`,
/// `cancelled`, `approver`, `invalid action`, `store`, `audit`, `error`.
pub fn denial_text(err: &Error) -> String {
    match err {
        Error::Denied(d) => {
            let what = match &d.by {
                DeniedBy::Policy => d.reason.clone(),
                DeniedBy::Reviewer { voter, comment } => {
                    let mut s = format!("denied by reviewer {voter}");
                    if !d.reason.is_empty() && !d.reason.contains(voter.as_str()) {
                        s.push_str(": ");
                        s.push_str(&d.reason);
                    }
                    if let Some(c) = comment.as_deref().filter(|c| !d.reason.contains(*c)) {
                        s.push_str(&format!(" (\"{c}\")"));
                    }
                    s
                }
                DeniedBy::Edit { voter } => {
                    format!("{} (after {voter} edited the args)", d.reason)
                }
            };
            format!("signoff: denied ({}): {what}", by_rules(&d.rules))
        }
        Error::TimedOut(t) => format!(
            "signoff: denied ({}): no reviewer decided within {} (request {})",
            by_rules(&t.rules),
            humantime::format_duration(t.timeout),
            t.request_id
        ),
        Error::NoApprover { rules, .. } => format!(
            "signoff: denied ({}): the call needs approval but no approver is configured",
            by_rules(rules)
        ),
        Error::Cancelled { request_id, reason } => {
            format!(
                "signoff: denied (cancelled): approval request {request_id} was cancelled: {reason}"
            )
        }
        Error::Approver {
            request_id,
            message,
        } => format!(
            "signoff: denied (approver): approval request {request_id} could not be presented: {message}"
        ),
        Error::InvalidAction(e) => format!("signoff: denied (invalid action): {e}"),
        Error::Store(e) => format!("signoff: denied (store): {e}"),
        Error::Audit(e) => format!("signoff: denied (audit): {e}"),
        other => format!("signoff: denied (error): {other}"),
    }
}

/// What the model sees when the adapter stopped waiting before reviewers
/// decided (its deadline is shorter than the host's own timeout).
pub fn deadline_text(rules: &[String], request_id: Option<&str>, waited: Duration) -> String {
    let waited = humantime::format_duration(Duration::from_secs(waited.as_secs().max(1)));
    match request_id {
        Some(id) => format!(
            "signoff: denied ({}): no decision within {waited}; approval request {id} was withdrawn",
            by_rules(rules)
        ),
        None => format!("signoff: denied (timeout): no decision within {waited}"),
    }
}

/// `rule a, b`, or `default` when no rule decided.
fn by_rules(rules: &[String]) -> String {
    if rules.is_empty() {
        "default".to_owned()
    } else {
        format!("rule {}", rules.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Denial, TimedOut};

    #[test]
    fn call_ids_are_stable_and_printable_whatever_the_host_sent() {
        assert_eq!(call_action_id("mcp", "s", "7"), "mcp:s:7");
        let odd = call_action_id("mcp", "s", "a:b\n\"c\"");
        assert!(
            odd.starts_with("mcp:s:h-") && odd.len() == "mcp:s:h-".len() + 32,
            "{odd}"
        );
        assert_eq!(odd, call_action_id("mcp", "s", "a:b\n\"c\""));
        assert_ne!(
            call_action_id("mcp", "s", "1"),
            call_action_id("mcp", "s", "\"1\"")
        );
        let long = "x".repeat(500);
        assert!(call_action_id("h", &long, "1").len() < 60);
        // a literal `h-...` part cannot collide with a hashed one
        assert!(
            call_action_id("h", "s", "h-abc").contains(":h-")
                && !call_action_id("h", "s", "h-abc").ends_with("h-abc")
        );
    }

    #[test]
    fn denials_name_the_rule_and_the_reason() {
        let denied = |by, rules: &[&str]| {
            Error::Denied(Box::new(Denial {
                action_id: "a".into(),
                request_id: None,
                by,
                rules: rules.iter().map(|r| (*r).to_owned()).collect(),
                reason: "never on prod".into(),
            }))
        };
        assert_eq!(
            denial_text(&denied(DeniedBy::Policy, &["no-prod"])),
            "signoff: denied (rule no-prod): never on prod"
        );
        assert_eq!(
            denial_text(&denied(DeniedBy::Policy, &[])),
            "signoff: denied (default): never on prod"
        );
        let by_reviewer = denial_text(&denied(
            DeniedBy::Reviewer {
                voter: "user:carol@example.com".into(),
                comment: Some("not today".into()),
            },
            &["x"],
        ));
        assert!(
            by_reviewer
                .starts_with("signoff: denied (rule x): denied by reviewer user:carol@example.com")
                && by_reviewer.contains("not today"),
            "{by_reviewer}"
        );
        let timed_out = Error::TimedOut(Box::new(TimedOut {
            action_id: "a".into(),
            request_id: "r".into(),
            rules: vec!["p".into()],
            timeout: Duration::from_secs(60),
        }));
        assert_eq!(
            denial_text(&timed_out),
            "signoff: denied (rule p): no reviewer decided within 1m (request r)"
        );
        assert_eq!(
            deadline_text(&["p".into()], Some("r"), Duration::from_millis(2500)),
            "signoff: denied (rule p): no decision within 2s; approval request r was withdrawn"
        );
    }

    #[test]
    fn a_tool_is_denied_outright_only_when_no_args_could_change_that() {
        use crate::{Action, Policy};
        let policy = Policy::from_toml_str(
            r#"
            [policy]
            default = "deny"
            [groups]
            r = ["user:carol@example.com"]
            [[rules]]
            id = "reads"
            effect = "allow"
            actions = ["mcp.s.read", "mcp.s.maybe"]
            [[rules]]
            id = "no-env"
            effect = "deny"
            actions = ["mcp.s.env"]
            [[rules]]
            id = "no-big"
            effect = "deny"
            actions = ["mcp.s.maybe"]
            when = "args.n > 10"
            [[rules]]
            id = "writes"
            effect = "approve"
            actions = ["mcp.s.write"]
            approvers = "r"
            [[rules]]
            id = "prod-only"
            effect = "allow"
            actions = ["mcp.s.prod"]
            env = ["prod"]
            "#,
        )
        .unwrap();
        let out = |name: &str| policy.denies_outright(&Action::new(name).actor("agent:a"));
        assert!(out("mcp.s.env"), "an unconditional deny rule");
        assert!(out("mcp.s.other"), "only the deny default applies");
        assert!(!out("mcp.s.read"));
        assert!(!out("mcp.s.write"), "may be approved");
        assert!(!out("mcp.s.maybe"), "denied only for some args");
        assert!(
            out("mcp.s.prod"),
            "the allow rule needs an env the action does not have"
        );
        assert!(!policy.denies_outright(&Action::new("mcp.s.prod").actor("agent:a").env("prod")));
    }

    #[tokio::test]
    async fn a_handed_over_permit_is_recorded_as_such_and_used_up() {
        use crate::{Action, Gate, JsonlSink, Policy};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let gate = Gate::builder()
            .policy(Policy::from_toml_str("[policy]\ndefault = \"allow\"\n").unwrap())
            .audit(JsonlSink::open(&path).unwrap())
            .build()
            .unwrap();
        let permit = gate
            .require(Action::new("claude.Bash").actor("agent:a"))
            .await
            .unwrap();
        permit.hand_over("claude-code").await.unwrap();
        gate.close().await.unwrap();
        let trail = std::fs::read_to_string(&path).unwrap();
        let last: serde_json::Value = serde_json::from_str(trail.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "action.completed");
        assert_eq!(last["outcome"], "handed_over");
        assert!(
            last["reason"]
                .as_str()
                .unwrap()
                .starts_with("claude-code runs the action")
        );
        assert!(!trail.contains("action.abandoned"));
    }
}
