//! The hook fed the documented `PreToolUse` inputs, against a gate config
//! with a SQLite store that a second gate (standing in for `signoff serve`)
//! shares to vote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use signoff::{RequestStatus, Verdict, Vote};
use signoff_config::GateConfig;
use signoff_hooks::claude_code::{HookOptions, HookReply, decide};

const POLICY: &str = r#"
[policy]
name = "claude"
default = "deny"

[groups]
reviewers = ["user:carol@example.com"]

[[rules]]
id = "safe-bash"
effect = "allow"
actions = ["claude.Bash"]
when = 'args.command.startsWith("ls") || args.command.startsWith("git status")'

[[rules]]
id = "no-rm"
effect = "deny"
actions = ["claude.Bash"]
when = 'args.command.contains("rm -rf")'
reason = "recursive deletes are never run by agents"

[[rules]]
id = "writes"
effect = "approve"
actions = ["claude.Write"]
approvers = "reviewers"
allow_edit = true
timeout = "10m"

[[rules]]
id = "github-reads"
effect = "allow"
actions = ["mcp.github.get_*", "mcp.github.list_*"]

[[rules]]
id = "github-writes"
effect = "approve"
actions = ["mcp.github.create_*", "mcp.github.update_*"]
approvers = "reviewers"
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
        std::fs::write(
            dir.path().join("gate.toml"),
            "policy = \"policy.toml\"\nstore = \"sqlite:signoff.db\"\naudit = [\"jsonl:audit.jsonl\"]\napprover = \"queue\"\n\n[identity]\nactor = \"agent:claude-code\"\non_behalf_of = \"user:alice@example.com\"\n",
        )
        .unwrap();
        Fixture { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("gate.toml")
    }

    fn options(&self, max_wait: Duration) -> HookOptions {
        HookOptions {
            config: Some(self.config()),
            max_wait,
        }
    }

    async fn hook(&self, input: &Value, max_wait: Duration) -> HookReply {
        let bytes = serde_json::to_vec(input).unwrap();
        decide(&bytes, &self.options(max_wait), deadline(max_wait)).await
    }

    /// A reviewer's gate on the same store, as `signoff serve` has.
    async fn reviewer_gate(&self) -> signoff::Gate {
        let mut c = GateConfig::from_file(self.config()).unwrap();
        c.child_process = true;
        c.build().await.unwrap()
    }

    fn trail(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn deadline(max_wait: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + max_wait
}

fn pre_tool_use(tool: &str, input: Value, id: &str) -> Value {
    json!({
        "session_id": "9f0c-session",
        "transcript_path": "/nonexistent/transcript.jsonl",
        "cwd": "/work/repo",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": id,
    })
}

fn out(reply: &HookReply) -> Value {
    serde_json::from_str(&reply.stdout).unwrap()
}

fn decision(reply: &HookReply) -> (String, String) {
    let o = out(reply);
    let h = &o["hookSpecificOutput"];
    assert_eq!(h["hookEventName"], "PreToolUse");
    (
        h["permissionDecision"].as_str().unwrap().to_owned(),
        h["permissionDecisionReason"].as_str().unwrap().to_owned(),
    )
}

fn assert_denied(reply: &HookReply, needle: &str) {
    assert_eq!(reply.exit_code, 2, "{reply:?}");
    assert!(reply.stderr.starts_with("signoff: denied ("), "{reply:?}");
    assert!(reply.stderr.contains(needle), "{needle}: {reply:?}");
    let (d, reason) = decision(reply);
    assert_eq!(d, "deny");
    assert_eq!(reason, reply.stderr);
}

/// Waits for the request of `action_id` to appear, as a reviewer would.
async fn pending_request(gate: &signoff::Gate, action_id: &str) -> String {
    for _ in 0..200 {
        if let Some(r) = gate.store().get_by_action(action_id).await.unwrap() {
            return r.id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no request for {action_id}");
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "current_thread")]
async fn an_allowed_bash_call_prints_one_allow_object_and_exits_0() {
    let f = Fixture::new();
    let reply = f
        .hook(
            &pre_tool_use(
                "Bash",
                json!({"command": "ls -la", "description": "list"}),
                "toolu_01",
            ),
            WAIT,
        )
        .await;
    assert_eq!(reply.exit_code, 0, "{reply:?}");
    assert!(reply.stderr.is_empty());
    assert!(!reply.stdout.contains('\n'), "one line, one object");
    assert_eq!(
        decision(&reply),
        ("allow".into(), "signoff: allowed (rule safe-bash)".into())
    );
    assert!(
        out(&reply)["hookSpecificOutput"]
            .get("updatedInput")
            .is_none()
    );
    let trail = f.trail();
    let decided = trail
        .iter()
        .find(|r| r["event"] == "policy.decided")
        .unwrap();
    assert_eq!(decided["action"], "claude.Bash");
    assert_eq!(decided["action_id"], "claude:9f0c-session:toolu_01");
    assert_eq!(decided["actor"], "agent:claude-code");
    assert_eq!(decided["effect"], "allow");
    let done = trail
        .iter()
        .find(|r| r["event"] == "action.completed")
        .unwrap();
    assert_eq!(done["outcome"], "handed_over");
}

#[tokio::test(flavor = "current_thread")]
async fn a_denied_bash_call_exits_2_with_the_rule_and_reason_on_stderr() {
    let f = Fixture::new();
    let reply = f
        .hook(
            &pre_tool_use("Bash", json!({"command": "rm -rf /"}), "toolu_02"),
            WAIT,
        )
        .await;
    assert_denied(
        &reply,
        "(rule no-rm): recursive deletes are never run by agents",
    );
    // a command no rule names: the policy default
    let reply = f
        .hook(
            &pre_tool_use("Bash", json!({"command": "curl x | sh"}), "toolu_03"),
            WAIT,
        )
        .await;
    assert_denied(&reply, "(default)");
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_waits_for_approval_and_runs_once_a_reviewer_approves() {
    let f = Fixture::new();
    let reviewer = f.reviewer_gate().await;
    let input = pre_tool_use(
        "Write",
        json!({"file_path": "/work/repo/a.txt", "content": "hi"}),
        "toolu_04",
    );
    let (reply, ()) = tokio::join!(f.hook(&input, WAIT), async {
        let id = pending_request(&reviewer, "claude:9f0c-session:toolu_04").await;
        let req = reviewer.request(&id).await.unwrap();
        assert_eq!(req.action, "claude.Write");
        assert_eq!(req.context["cwd"], "/work/repo");
        reviewer
            .vote(
                &id,
                Vote::new("user:carol@example.com", Verdict::Approve)
                    .channel("api")
                    .authenticated(),
            )
            .await
            .unwrap();
    });
    assert_eq!(reply.exit_code, 0, "{reply:?}");
    let (d, reason) = decision(&reply);
    assert_eq!(d, "allow");
    assert!(
        reason.starts_with("signoff: approved by user:carol@example.com"),
        "{reason}"
    );
    assert!(
        out(&reply)["hookSpecificOutput"]
            .get("updatedInput")
            .is_none()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_reviewers_edit_comes_back_as_updated_input() {
    let f = Fixture::new();
    let reviewer = f.reviewer_gate().await;
    let input = pre_tool_use(
        "Write",
        json!({"file_path": "/work/repo/a.txt", "content": "DROP"}),
        "toolu_05",
    );
    let edited = json!({"file_path": "/work/repo/a.txt", "content": "safe"});
    let (reply, ()) = tokio::join!(f.hook(&input, WAIT), async {
        let id = pending_request(&reviewer, "claude:9f0c-session:toolu_05").await;
        let mut vote = Vote::new("user:carol@example.com", Verdict::Approve)
            .channel("api")
            .authenticated();
        vote.args = Some(edited.clone());
        reviewer.vote(&id, vote).await.unwrap();
    });
    assert_eq!(reply.exit_code, 0, "{reply:?}");
    assert_eq!(decision(&reply).0, "allow");
    assert_eq!(out(&reply)["hookSpecificOutput"]["updatedInput"], edited);
}

#[tokio::test(flavor = "current_thread")]
async fn a_reviewers_deny_reaches_the_model() {
    let f = Fixture::new();
    let reviewer = f.reviewer_gate().await;
    let input = pre_tool_use(
        "Write",
        json!({"file_path": "/etc/passwd", "content": "x"}),
        "toolu_06",
    );
    let (reply, ()) = tokio::join!(f.hook(&input, WAIT), async {
        let id = pending_request(&reviewer, "claude:9f0c-session:toolu_06").await;
        reviewer
            .vote(
                &id,
                Vote::new("user:carol@example.com", Verdict::Deny)
                    .comment("not that file")
                    .channel("api")
                    .authenticated(),
            )
            .await
            .unwrap();
    });
    assert_denied(
        &reply,
        "(rule writes): denied by reviewer user:carol@example.com",
    );
    assert!(reply.stderr.contains("not that file"), "{reply:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_approval_not_given_before_max_wait_is_denied_and_withdrawn() {
    let f = Fixture::new();
    let input = pre_tool_use(
        "Write",
        json!({"file_path": "/work/repo/b.txt", "content": "x"}),
        "toolu_07",
    );
    let started = std::time::Instant::now();
    let reply = f.hook(&input, Duration::from_millis(700)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_denied(
        &reply,
        "(rule writes): no decision within 1s; approval request",
    );
    let reviewer = f.reviewer_gate().await;
    let req = reviewer
        .store()
        .get_by_action("claude:9f0c-session:toolu_07")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.status, RequestStatus::Cancelled);
}

#[tokio::test(flavor = "current_thread")]
async fn the_hook_entered_again_for_one_call_waits_on_the_same_request() {
    let f = Fixture::new();
    let reviewer = f.reviewer_gate().await;
    let input = pre_tool_use(
        "mcp__github__create_issue",
        json!({"title": "t"}),
        "toolu_08",
    );
    let (a, b, ()) = tokio::join!(
        f.hook(&input, WAIT),
        async {
            // the second entry starts once the first has filed its request
            pending_request(&reviewer, "claude:9f0c-session:toolu_08").await;
            f.hook(&input, WAIT).await
        },
        async {
            let id = pending_request(&reviewer, "claude:9f0c-session:toolu_08").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            reviewer
                .vote(
                    &id,
                    Vote::new("user:carol@example.com", Verdict::Approve)
                        .channel("api")
                        .authenticated(),
                )
                .await
                .unwrap();
        }
    );
    let requests = reviewer.store().list(None).await.unwrap();
    assert_eq!(requests.len(), 1, "one request for one call");
    assert_eq!(requests[0].action.name, "mcp.github.create_issue");
    // exactly one of the two entries holds the one permit
    let allowed = [&a, &b].iter().filter(|r| r.exit_code == 0).count();
    assert_eq!(allowed, 1, "{a:?} {b:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn mcp_tools_are_gated_under_their_mcp_names() {
    let f = Fixture::new();
    let reply = f
        .hook(
            &pre_tool_use("mcp__github__get_issue", json!({"number": 1}), "toolu_09"),
            WAIT,
        )
        .await;
    assert_eq!(
        decision(&reply),
        (
            "allow".into(),
            "signoff: allowed (rule github-reads)".into()
        )
    );
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_input_a_missing_config_and_an_unreachable_store_all_deny() {
    let f = Fixture::new();
    for bytes in [
        &b""[..],
        b"{\"tool_name\": ",
        b"not json",
        b"{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\",\"tool_input\":[]}",
    ] {
        let reply = decide(bytes, &f.options(WAIT), deadline(WAIT)).await;
        assert_denied(&reply, "(error): unreadable hook input");
    }
    let bash =
        serde_json::to_vec(&pre_tool_use("Bash", json!({"command": "ls"}), "toolu_10")).unwrap();
    let none = HookOptions {
        config: None,
        max_wait: WAIT,
    };
    assert_denied(
        &decide(&bash, &none, deadline(WAIT)).await,
        "no gate config",
    );
    let missing = HookOptions {
        config: Some(f.dir.path().join("nope.toml")),
        max_wait: WAIT,
    };
    assert_denied(&decide(&bash, &missing, deadline(WAIT)).await, "nope.toml");

    write_config(
        f.dir.path(),
        "store = \"sqlite:/nonexistent-dir/signoff.db\"",
    );
    assert_denied(
        &decide(&bash, &f.options(WAIT), deadline(WAIT)).await,
        "nonexistent-dir",
    );
    // a PostgreSQL server nobody listens on: refused, and denied
    write_config(
        f.dir.path(),
        "store = \"postgres://signoff@127.0.0.1:1/signoff?sslmode=disable\"",
    );
    assert_denied(
        &decide(&bash, &f.options(WAIT), deadline(WAIT)).await,
        "(error)",
    );
    // a policy that does not load
    std::fs::write(f.dir.path().join("policy.toml"), "[[rules]]\nid = 1\n").unwrap();
    write_config(f.dir.path(), "store = \"memory\"");
    assert_denied(
        &decide(&bash, &f.options(WAIT), deadline(WAIT)).await,
        "policy.toml",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn approver_server_without_a_dispatcher_denies_at_once() {
    let f = Fixture::new();
    write_config(
        f.dir.path(),
        "store = \"sqlite:signoff.db\"\napprover = \"server\"",
    );
    let started = std::time::Instant::now();
    let reply = f
        .hook(
            &pre_tool_use(
                "Write",
                json!({"file_path": "x", "content": "y"}),
                "toolu_11",
            ),
            WAIT,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_denied(&reply, "(approver)");
    assert!(reply.stderr.contains("signoff serve"), "{reply:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn other_events_get_no_answer() {
    let f = Fixture::new();
    let mut input = pre_tool_use("Bash", json!({"command": "ls"}), "toolu_12");
    input["hook_event_name"] = json!("PostToolUse");
    let reply = f.hook(&input, WAIT).await;
    assert_eq!(
        reply,
        HookReply {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new()
        }
    );
}

fn write_config(dir: &Path, store_and_approver: &str) {
    std::fs::write(
        dir.join("gate.toml"),
        format!("policy = \"policy.toml\"\n{store_and_approver}\naudit = [\"jsonl:audit.jsonl\"]\n\n[identity]\nactor = \"agent:claude-code\"\n"),
    )
    .unwrap();
}
