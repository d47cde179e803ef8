//! The adapters as processes: `signoff hook claude-code` speaks only the
//! exit-code-and-one-object protocol, `signoff install claude-code` keeps a
//! settings file's other keys, `signoff mcp-proxy` refuses bad usage.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_signoff");

fn hook(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(["hook", "claude-code"])
        .args(args)
        .env_remove("SIGNOFF_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[policy]\ndefault = \"deny\"\n[[rules]]\nid = \"ls\"\neffect = \"allow\"\nactions = [\"claude.Bash\"]\nwhen = 'args.command == \"ls\"'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gate.toml"),
        "policy = \"policy.toml\"\nstore = \"sqlite:s.db\"\naudit = [\"jsonl:a.jsonl\"]\n[identity]\nactor = \"agent:claude-code\"\n",
    )
    .unwrap();
    dir
}

fn bash(command: &str) -> Vec<u8> {
    json!({"session_id":"s","cwd":"/","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":command},"tool_use_id":format!("t-{command}")})
        .to_string()
        .into_bytes()
}

#[test]
fn the_hook_allows_with_exit_0_and_one_object_and_denies_with_exit_2() {
    let dir = fixture();
    let config = dir.path().join("gate.toml");
    let config = config.to_str().unwrap();
    let allowed = hook(&["--config", config], &bash("ls"));
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    let stdout = String::from_utf8(allowed.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow");
    assert!(allowed.stderr.is_empty());

    let denied = hook(&["--config", config], &bash("rm -rf /"));
    assert_eq!(denied.status.code(), Some(2));
    let stderr = String::from_utf8(denied.stderr).unwrap();
    assert!(
        stderr.starts_with("signoff: denied (default): "),
        "{stderr}"
    );
    let v: Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");

    // every failure is the same deny: bad input, no config, a bad flag
    for (args, input) in [
        (vec!["--config", config], &b"{\"tool_name\":"[..]),
        (vec![], &bash("ls")[..]),
        (vec!["--config", "/nonexistent/gate.toml"], &bash("ls")[..]),
        (
            vec!["--config", config, "--max-wait", "soon"],
            &bash("ls")[..],
        ),
    ] {
        let out = hook(&args, input);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
        assert!(
            out.stdout.is_empty() || serde_json::from_slice::<Value>(&out.stdout).is_ok(),
            "stdout is nothing or one object"
        );
    }
}

#[test]
fn install_keeps_the_other_settings_and_names_a_broken_config() {
    let dir = fixture();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join(".claude")).unwrap();
    let settings = project.join(".claude/settings.json");
    std::fs::write(
        &settings,
        r#"{"model": "opus", "permissions": {"deny": ["Read(./.env)"]}}"#,
    )
    .unwrap();
    let run = |config: &str| {
        Command::new(BIN)
            .args([
                "install",
                "claude-code",
                "--config",
                config,
                "--timeout",
                "60",
            ])
            .current_dir(&project)
            .output()
            .unwrap()
    };
    let out = run("../gate.toml");
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["permissions"]["deny"][0], "Read(./.env)");
    let entry = &v["hooks"]["PreToolUse"][0]["hooks"][0];
    assert_eq!(entry["onFailure"], "block");
    assert_eq!(entry["timeout"], 60);
    let command = entry["command"].as_str().unwrap();
    assert!(
        command.contains(" hook claude-code --config /") && command.ends_with("--max-wait 54s"),
        "{command}"
    );
    let again = run("../gate.toml");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already installed"));

    let before = std::fs::read_to_string(&settings).unwrap();
    let broken = run("../nope.toml");
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("nope.toml"));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
}

#[test]
fn mcp_proxy_refuses_a_command_and_an_upstream_together_and_bad_names() {
    let dir = fixture();
    let config = dir.path().join("gate.toml");
    let config = config.to_str().unwrap();
    let out = Command::new(BIN)
        .args([
            "mcp-proxy",
            "--config",
            config,
            "--name",
            "x",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:1/mcp",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout but MCP messages");
    let out = Command::new(BIN)
        .args([
            "mcp-proxy",
            "--config",
            config,
            "--name",
            "a.b",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name a.b"));
    assert!(out.stdout.is_empty());
}
