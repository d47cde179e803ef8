//! `signoff install claude-code`: registers the hook in a Claude Code
//! settings file with an explicit `timeout` and `"onFailure": "block"` (a
//! hook that fails or times out then blocks the call instead of letting it
//! run), keeping everything else in the file as it was. Running it again
//! updates the entry in place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::ordered::Json;

/// The `timeout` written when none is given, in seconds.
pub const DEFAULT_TIMEOUT: u64 = 300;
/// The shortest `timeout` accepted: the hook needs a margin below it.
pub const MIN_TIMEOUT: u64 = 10;

/// Which settings file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsScope {
    /// `.claude/settings.json` in this folder (shared with the repository).
    Project(PathBuf),
    /// The user's `settings.json` (in `CLAUDE_CONFIG_DIR`, or `~/.claude`).
    User,
    /// This file.
    File(PathBuf),
}

impl SettingsScope {
    /// The settings file this scope names.
    pub fn path(&self) -> Result<PathBuf, InstallError> {
        Ok(match self {
            SettingsScope::Project(dir) => dir.join(".claude").join("settings.json"),
            SettingsScope::File(p) => p.clone(),
            SettingsScope::User => {
                let dir = match std::env::var_os("CLAUDE_CONFIG_DIR") {
                    Some(d) if !d.is_empty() => PathBuf::from(d),
                    _ => match std::env::var_os("HOME") {
                        Some(h) if !h.is_empty() => PathBuf::from(h).join(".claude"),
                        _ => return Err(InstallError::NoHome),
                    },
                };
                dir.join("settings.json")
            }
        })
    }
}

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The settings file to edit.
    pub scope: SettingsScope,
    /// The `signoff` program the hook runs (an absolute path).
    pub program: PathBuf,
    /// The gate config the hook builds its gate from (made absolute).
    pub config: PathBuf,
    /// Which tools the hook sees (a Claude Code matcher; `*` is every tool).
    pub matcher: String,
    /// The hook's `timeout` in seconds; the hook's own `--max-wait` is set
    /// below it (see [`max_wait_for`]).
    pub timeout: u64,
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The settings file.
    pub path: PathBuf,
    /// Whether the file changed (false: it already held this exact hook).
    pub changed: bool,
    /// The command registered.
    pub command: String,
    /// The hook's `--max-wait`.
    pub max_wait: Duration,
}

/// Why the hook could not be installed. The settings file is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The file could not be read or written.
    #[error("`{path}`: {message}")]
    Io {
        /// The settings file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The file is not JSON, or a key the hook goes under has another type.
    #[error("`{path}`: {message}; the file was not changed")]
    Settings {
        /// The settings file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A value given is not usable.
    #[error("{0}")]
    Invalid(String),
    /// No `HOME` (nor `CLAUDE_CONFIG_DIR`) to find the user's settings in.
    #[error("cannot find the user's settings: neither `CLAUDE_CONFIG_DIR` nor `HOME` is set")]
    NoHome,
}

/// The `--max-wait` for a hook registered with `timeout` seconds: a tenth
/// of it (at least 5 s) is kept for starting, withdrawing and answering.
pub fn max_wait_for(timeout: u64) -> Duration {
    Duration::from_secs(timeout - (timeout / 10).max(5))
}

/// Quotes `text` for the POSIX shell Claude Code runs hook commands with.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The command line the hook entry runs.
pub fn hook_command(program: &Path, config: &Path, max_wait: Duration) -> String {
    format!(
        "{} hook claude-code --config {} --max-wait {}s",
        shell_quote(&program.display().to_string()),
        shell_quote(&config.display().to_string()),
        max_wait.as_secs()
    )
}

/// Whether a hook entry is one this installer wrote.
fn is_signoff_hook(hook: &Json) -> bool {
    hook.get("type").and_then(Json::as_str) == Some("command")
        && hook
            .get("command")
            .and_then(Json::as_str)
            .is_some_and(|c| c.contains("signoff") && c.contains(" hook claude-code"))
}

/// Adds (or updates) the hook in the settings file.
pub fn install(options: &InstallOptions) -> Result<Installed, InstallError> {
    if options.timeout < MIN_TIMEOUT {
        return Err(InstallError::Invalid(format!(
            "`--timeout {}` is too short: at least {MIN_TIMEOUT} seconds",
            options.timeout
        )));
    }
    if options.matcher.is_empty() {
        return Err(InstallError::Invalid(
            "`--matcher` is empty (use `*` for every tool)".into(),
        ));
    }
    let path = options.scope.path()?;
    let shown = path.display().to_string();
    let io = |e: std::io::Error| InstallError::Io {
        path: shown.clone(),
        message: e.to_string(),
    };
    let bad = |message: String| InstallError::Settings {
        path: shown.clone(),
        message,
    };
    let before = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let mut root = match before.as_deref().map(str::trim) {
        None | Some("") => Json::object(),
        Some(text) => {
            serde_json::from_str::<Json>(text).map_err(|e| bad(format!("not JSON: {e}")))?
        }
    };
    if !matches!(root, Json::Object(_)) {
        return Err(bad(format!("holds {}, not an object", root.kind())));
    }
    let max_wait = max_wait_for(options.timeout);
    let command = hook_command(&options.program, &options.config, max_wait);
    let entry = Json::from_value(serde_json::json!({
        "type": "command",
        "command": command,
        "timeout": options.timeout,
        "onFailure": "block",
    }));
    let group = Json::Object(vec![
        (
            "matcher".into(),
            Json::Scalar(Value::from(options.matcher.as_str())),
        ),
        ("hooks".into(), Json::Array(vec![entry.clone()])),
    ]);
    let hooks = root
        .entry("hooks", Json::object())
        .ok_or_else(|| bad("cannot edit".into()))?;
    if !matches!(hooks, Json::Object(_)) {
        return Err(bad(format!("`hooks` is {}, not an object", hooks.kind())));
    }
    let pre = hooks
        .entry("PreToolUse", Json::Array(Vec::new()))
        .ok_or_else(|| bad("cannot edit".into()))?;
    let Json::Array(groups) = pre else {
        return Err(bad(format!(
            "`hooks.PreToolUse` is {}, not an array",
            pre.kind()
        )));
    };
    // a group that holds only our hook is updated where it is; our hook is
    // taken out of any other group, and a group it leaves empty goes
    let mut placed = false;
    let mut kept = Vec::with_capacity(groups.len() + 1);
    for g in groups.drain(..) {
        let ours_alone = matches!(g.get("hooks"), Some(Json::Array(h)) if h.len() == 1 && h.iter().all(is_signoff_hook));
        if ours_alone {
            if !placed {
                kept.push(group.clone());
                placed = true;
            }
            continue;
        }
        let mut g = g;
        if let Some(Json::Array(h)) = g.entry("hooks", Json::Array(Vec::new())) {
            let had = h.len();
            h.retain(|hook| !is_signoff_hook(hook));
            if had > 0 && h.is_empty() {
                continue;
            }
        }
        kept.push(g);
    }
    if !placed {
        kept.push(group);
    }
    *groups = kept;
    let mut after =
        serde_json::to_string_pretty(&root).map_err(|e| bad(format!("cannot write: {e}")))?;
    after.push('\n');
    let changed = before.as_deref() != Some(after.as_str());
    if changed {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.signoff-tmp");
        std::fs::write(&tmp, &after).map_err(io)?;
        if let Ok(meta) = std::fs::metadata(&path) {
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok(Installed {
        path,
        changed,
        command,
        max_wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> InstallOptions {
        InstallOptions {
            scope: SettingsScope::Project(dir.to_path_buf()),
            program: PathBuf::from("/opt/signoff/bin/signoff"),
            config: PathBuf::from("/etc/signoff/gate.toml"),
            matcher: "*".into(),
            timeout: 120,
        }
    }

    #[test]
    fn install_on_an_existing_file_keeps_its_other_keys_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".claude/settings.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let existing = r#"{
  "permissions": {"allow": ["Bash(git status)"], "deny": []},
  "env": {"FOO": "1"},
  "hooks": {
    "PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "fmt.sh"}]}],
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit-bash.sh"}]}]
  },
  "model": "opus"
}"#;
        std::fs::write(&path, existing).unwrap();
        let first = install(&options(dir.path())).unwrap();
        assert!(first.changed);
        assert_eq!(first.max_wait, Duration::from_secs(108));
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["permissions"]["allow"][0], "Bash(git status)");
        assert_eq!(v["env"]["FOO"], "1");
        assert_eq!(v["model"], "opus");
        assert_eq!(
            v["hooks"]["PostToolUse"][0]["hooks"][0]["command"],
            "fmt.sh"
        );
        assert_eq!(
            v["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
            "audit-bash.sh"
        );
        let ours = &v["hooks"]["PreToolUse"][1];
        assert_eq!(ours["matcher"], "*");
        assert_eq!(ours["hooks"][0]["timeout"], 120);
        assert_eq!(ours["hooks"][0]["onFailure"], "block");
        assert_eq!(
            ours["hooks"][0]["command"],
            "/opt/signoff/bin/signoff hook claude-code --config /etc/signoff/gate.toml --max-wait 108s"
        );
        // key order of the file is kept
        let order: Vec<usize> = ["\"permissions\"", "\"env\"", "\"hooks\"", "\"model\""]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

        let again = install(&options(dir.path())).unwrap();
        assert!(!again.changed);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // a new timeout and matcher update the entry in place
        let mut o = options(dir.path());
        o.timeout = 600;
        o.matcher = "Bash|Write".into();
        assert!(install(&o).unwrap().changed);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let pre = v["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 2);
        assert_eq!(pre[1]["matcher"], "Bash|Write");
        assert_eq!(pre[1]["hooks"][0]["timeout"], 600);
        assert!(
            pre[1]["hooks"][0]["command"]
                .as_str()
                .unwrap()
                .ends_with("--max-wait 540s")
        );
    }

    #[test]
    fn a_missing_file_is_created_and_odd_settings_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let done = install(&options(dir.path())).unwrap();
        assert!(done.changed && done.path.exists());
        let path = dir.path().join(".claude/settings.json");
        for (text, needle) in [
            ("{not json", "not JSON"),
            ("[]", "an array, not an object"),
            (r#"{"hooks": []}"#, "`hooks` is an array"),
            (
                r#"{"hooks": {"PreToolUse": {}}}"#,
                "`hooks.PreToolUse` is an object",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = install(&options(dir.path())).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        let mut o = options(dir.path());
        o.timeout = 3;
        assert!(install(&o).unwrap_err().to_string().contains("too short"));
    }

    #[test]
    fn paths_with_spaces_and_quotes_are_quoted_for_the_shell() {
        let c = hook_command(
            Path::new("/opt/my tools/signoff"),
            Path::new("/home/o'neil/gate.toml"),
            Duration::from_secs(50),
        );
        assert_eq!(
            c,
            "'/opt/my tools/signoff' hook claude-code --config '/home/o'\\''neil/gate.toml' --max-wait 50s"
        );
    }
}
