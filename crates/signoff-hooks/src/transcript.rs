//! The model's text before a tool call, read from the end of the session's
//! transcript, for the action's justification. Best effort and bounded: a
//! transcript that is missing, large or in another shape gives none.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// How much of the transcript's end is read.
const TAIL_BYTES: u64 = 256 * 1024;
/// The longest justification kept.
const MAX_CHARS: usize = 2000;

/// How long to wait for Claude Code to write the call into the transcript.
const WAIT_FOR_CALL: Duration = Duration::from_millis(500);

/// [`justification`], waiting a little for the call to reach the
/// transcript (Claude Code may start the hook before it writes the line).
pub(crate) async fn justification_soon(path: &Path, tool_use_id: &str) -> Option<String> {
    let until = tokio::time::Instant::now() + WAIT_FOR_CALL;
    loop {
        match read(path, tool_use_id) {
            Found::Call(text) => return text,
            Found::Nothing if tokio::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Found::Nothing => return None,
        }
    }
}

/// The assistant's text that precedes the call `tool_use_id` in its turn,
/// if the transcript holds the call.
#[cfg(test)]
pub(crate) fn justification(path: &Path, tool_use_id: &str) -> Option<String> {
    match read(path, tool_use_id) {
        Found::Call(text) => text,
        Found::Nothing => None,
    }
}

enum Found {
    /// The call is not in the transcript (yet).
    Nothing,
    /// The call, and the text before it.
    Call(Option<String>),
}

fn read(path: &Path, tool_use_id: &str) -> Found {
    match read_tail(path, tool_use_id) {
        Some(found) => found,
        None => Found::Nothing,
    }
}

fn read_tail(path: &Path, tool_use_id: &str) -> Option<Found> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.take(TAIL_BYTES).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // probably cut
    }
    // the assistant entry that holds the call (later lines name the id too:
    // its result, the next request)
    let at = lines.iter().rposition(|l| {
        l.contains(tool_use_id)
            && serde_json::from_str::<Value>(l).is_ok_and(|e| {
                e["type"] == "assistant"
                    && e["message"]["content"].as_array().is_some_and(|blocks| {
                        blocks
                            .iter()
                            .any(|b| b["type"] == "tool_use" && b["id"] == tool_use_id)
                    })
            })
    })?;
    let mut parts: Vec<String> = Vec::new();
    for (i, line) in lines[..=at].iter().enumerate().rev() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match entry["type"].as_str() {
            Some("assistant") => {}
            Some("user") => break,
            _ => continue,
        }
        let Some(blocks) = entry["message"]["content"].as_array() else {
            continue;
        };
        let mut texts: Vec<String> = Vec::new();
        for block in blocks {
            if i == at && block["type"] == "tool_use" && block["id"] == tool_use_id {
                break; // only what came before the call
            }
            if block["type"] == "text"
                && let Some(t) = block["text"].as_str()
                && !t.trim().is_empty()
            {
                texts.push(t.trim().to_owned());
            }
        }
        for t in texts.into_iter().rev() {
            parts.push(t);
        }
    }
    if parts.is_empty() {
        return Some(Found::Call(None));
    }
    parts.reverse();
    let joined = parts.join("\n");
    Some(Found::Call(Some(
        match joined.char_indices().nth(MAX_CHARS) {
            Some((cut, _)) => format!("{}…", &joined[..cut]),
            None => joined,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_before_the_call_in_its_turn_is_the_justification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let lines = [
            r#"{"type":"user","message":{"role":"user","content":"clean up"}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"old turn"}]}}"#,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t0"}]}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"I will list the files."}]}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"toolu_9","name":"Bash","input":{}},{"type":"text","text":"after"}]}}"#,
            r#"{"type":"attachment"}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_9","content":"x"}]}}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        assert_eq!(
            justification(&path, "toolu_9").as_deref(),
            Some("I will list the files.")
        );
        assert_eq!(justification(&path, "toolu_missing"), None);
        assert_eq!(justification(&dir.path().join("none"), "toolu_9"), None);
    }
}
