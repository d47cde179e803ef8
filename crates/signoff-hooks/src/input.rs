//! The `PreToolUse` input Claude Code writes on the hook's stdin, and the
//! signoff action it stands for.

use serde::Deserialize;
use serde_json::{Map, Value};
use signoff::Action;
use signoff::adapter::{call_action_id, mcp_tool_action};

/// What a `PreToolUse` command hook reads on stdin (Claude Code's
/// `PreToolUseHookInput`). Fields the hook does not use are ignored, so a
/// newer Claude Code that adds some still works.
#[derive(Debug, Clone, Deserialize)]
pub struct PreToolUse {
    /// The Claude Code session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The session's transcript (JSON lines).
    #[serde(default)]
    pub transcript_path: Option<String>,
    /// The working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// `default`, `acceptEdits`, `plan`, `bypassPermissions`, ...
    #[serde(default)]
    pub permission_mode: Option<String>,
    /// The subagent making the call, if one is.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The subagent's type.
    #[serde(default)]
    pub agent_type: Option<String>,
    /// `PreToolUse`.
    pub hook_event_name: String,
    /// `Bash`, `Write`, `mcp__github__create_issue`, ...
    pub tool_name: String,
    /// The tool's arguments.
    pub tool_input: Value,
    /// The model's id for this call.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// The MCP server of an `mcp__…` tool, when Claude Code names it.
    #[serde(default)]
    pub mcp_server: Option<Value>,
}

/// Why the hook's input cannot be decided.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Not the documented JSON.
    #[error("unreadable hook input: {0}")]
    Malformed(String),
    /// The hook was registered for another event.
    #[error("the hook handles `PreToolUse`, not `{0}`")]
    OtherEvent(String),
}

impl PreToolUse {
    /// Parses the bytes Claude Code wrote on stdin.
    pub fn parse(input: &[u8]) -> Result<Self, InputError> {
        let text = std::str::from_utf8(input)
            .map_err(|e| InputError::Malformed(format!("not UTF-8: {e}")))?;
        if text.trim().is_empty() {
            return Err(InputError::Malformed("stdin was empty".into()));
        }
        let parsed: PreToolUse =
            serde_json::from_str(text).map_err(|e| InputError::Malformed(e.to_string()))?;
        if parsed.hook_event_name != "PreToolUse" {
            return Err(InputError::OtherEvent(parsed.hook_event_name));
        }
        if parsed.tool_name.is_empty() {
            return Err(InputError::Malformed("`tool_name` is empty".into()));
        }
        if !parsed.tool_input.is_object() {
            return Err(InputError::Malformed(
                "`tool_input` is not a JSON object".into(),
            ));
        }
        Ok(parsed)
    }

    /// The action name: `claude.<Tool>` for built-in tools, and
    /// `mcp.<server>.<tool>` for `mcp__<server>__<tool>`, the same name the
    /// MCP proxy gives the tool.
    pub fn action_name(&self) -> String {
        action_name(
            &self.tool_name,
            self.mcp_server.as_ref().and_then(Value::as_str),
        )
    }

    /// The action id: the `tool_use_id` namespaced by the session, so a
    /// hook entered again for the same call waits on the same request.
    pub fn action_id(&self) -> Option<String> {
        let call = self.tool_use_id.as_deref().filter(|id| !id.is_empty())?;
        Some(call_action_id(
            "claude",
            self.session_id.as_deref().unwrap_or("no-session"),
            call,
        ))
    }

    /// The action to decide: the tool's input as args, the session, cwd and
    /// transcript in context. Actor, on-behalf-of and env come from the gate.
    pub fn to_action(&self) -> Action {
        let mut context = Map::new();
        context.insert("framework".into(), Value::from("claude-code"));
        for (key, value) in [
            ("session_id", &self.session_id),
            ("tool_use_id", &self.tool_use_id),
            ("cwd", &self.cwd),
            ("transcript_path", &self.transcript_path),
            ("permission_mode", &self.permission_mode),
            ("agent_id", &self.agent_id),
            ("agent_type", &self.agent_type),
        ] {
            if let Some(v) = value {
                context.insert(key.into(), Value::from(v.as_str()));
            }
        }
        let mut action = Action::new(self.action_name())
            .args(self.tool_input.clone())
            .context(Value::Object(context));
        action.id = self.action_id();
        action
    }
}

/// Maps a Claude Code tool name to its action name.
pub(crate) fn action_name(tool: &str, mcp_server: Option<&str>) -> String {
    if let Some(rest) = tool.strip_prefix("mcp__") {
        // the server named by Claude Code wins where it is a prefix (a
        // server name may itself hold `__`)
        if let Some(server) = mcp_server.filter(|s| !s.is_empty())
            && let Some(name) = rest.strip_prefix(server).and_then(|r| r.strip_prefix("__"))
            && !name.is_empty()
        {
            return mcp_tool_action(server, name);
        }
        if let Some((server, name)) = rest.split_once("__")
            && !server.is_empty()
            && !name.is_empty()
        {
            return mcp_tool_action(server, name);
        }
    }
    format!("claude.{tool}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_and_mcp_tools_get_their_action_names() {
        assert_eq!(action_name("Bash", None), "claude.Bash");
        assert_eq!(action_name("Write", None), "claude.Write");
        assert_eq!(
            action_name("mcp__github__create_issue", None),
            "mcp.github.create_issue"
        );
        assert_eq!(
            action_name("mcp__my__srv__do_it", Some("my__srv")),
            "mcp.my__srv.do_it"
        );
        assert_eq!(action_name("mcp__github__x", Some("other")), "mcp.github.x");
        // not a well-formed MCP name: kept whole, under claude.
        assert_eq!(action_name("mcp__broken", None), "claude.mcp__broken");
    }

    #[test]
    fn input_that_is_not_the_documented_shape_is_refused() {
        for (bytes, needle) in [
            (&b""[..], "empty"),
            (b"{", "EOF"),
            (b"[1]", "invalid type"),
            (b"{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\",\"tool_input\":\"ls\"}", "not a JSON object"),
            (b"{\"hook_event_name\":\"PreToolUse\",\"tool_input\":{}}", "tool_name"),
            (b"\xff\xfe", "UTF-8"),
        ] {
            let err = PreToolUse::parse(bytes).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        let other = PreToolUse::parse(
            b"{\"hook_event_name\":\"PostToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{}}",
        )
        .unwrap_err();
        assert!(matches!(other, InputError::OtherEvent(e) if e == "PostToolUse"));
    }

    #[test]
    fn the_action_carries_the_call_id_session_and_cwd() {
        let input = PreToolUse::parse(br#"{"session_id":"s1","transcript_path":"/t.jsonl","cwd":"/repo","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_use_id":"toolu_1","future_field":1}"#).unwrap();
        let action = input.to_action();
        assert_eq!(action.name, "claude.Bash");
        assert_eq!(action.id.as_deref(), Some("claude:s1:toolu_1"));
        assert_eq!(action.args["command"], "ls");
        assert_eq!(action.context["cwd"], "/repo");
        assert_eq!(action.context["framework"], "claude-code");
        assert_eq!(action.context["transcript_path"], "/t.jsonl");
    }
}
