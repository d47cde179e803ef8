//! Block Kit's documented limits, and truncation that keeps every message
//! within them whatever a request holds.
//!
//! Slack refuses a whole message (`invalid_blocks`) when one text is too
//! long, so each piece is cut to its limit with a marker that links to the
//! full request on the approval page. Lengths are counted in UTF-16 code
//! units, which is never fewer than the characters Slack counts.

/// `text` of a section block.
pub const SECTION_TEXT: usize = 3000;
/// Fields of one section block.
pub const SECTION_FIELDS: usize = 10;
/// `text` of one section field.
pub const FIELD_TEXT: usize = 2000;
/// `text` of a header block (`plain_text`).
pub const HEADER_TEXT: usize = 150;
/// A text object in a context block.
pub const CONTEXT_TEXT: usize = 3000;
/// Elements of one context block.
pub const CONTEXT_ELEMENTS: usize = 10;
/// A button's `text`.
pub const BUTTON_TEXT: usize = 75;
/// A button's `value` (carries `request_id|args_digest`).
pub const BUTTON_VALUE: usize = 2000;
/// A button's `url`.
pub const BUTTON_URL: usize = 3000;
/// An `action_id` or `block_id`.
pub const ID: usize = 255;
/// Blocks in one message.
pub const BLOCKS: usize = 50;
/// An input block's `label`.
pub const INPUT_LABEL: usize = 2000;
/// A `placeholder` (`plain_text`).
pub const PLACEHOLDER: usize = 150;
/// A `plain_text_input`'s `max_length` may be at most this.
pub const INPUT_MAX_LENGTH: usize = 3000;
/// The top-level `text` of a message; Slack cuts it beyond this.
pub const MESSAGE_TEXT: usize = 40_000;
/// What this crate keeps the top-level `text` (the notification) under.
pub const FALLBACK_TEXT: usize = 300;
/// The longest comment a reviewer can type with a vote.
pub const COMMENT: usize = 1000;

/// A text's length as Slack's limits count it (UTF-16 code units, an upper
/// bound of the characters).
pub fn len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` cut to at most `max` (with `marker` appended when cut). The cut
/// never splits a character, an `&amp;`-style entity or a `<...>` control
/// sequence (a link, a date).
pub fn fit(text: &str, max: usize, marker: &str) -> String {
    if len(text) <= max {
        return text.to_owned();
    }
    let marker = if len(marker) <= max { marker } else { "…" };
    let budget = max.saturating_sub(len(marker));
    let mut kept = prefix(text, budget);
    if let Some(open) = kept.rfind('&')
        && !kept[open..].contains(';')
    {
        kept = &kept[..open];
    }
    if let Some(open) = kept.rfind('<')
        && !kept[open..].contains('>')
    {
        kept = &kept[..open];
    }
    format!("{kept}{marker}")
}

/// The longest prefix of `text` at most `max` long.
fn prefix(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.len_utf16();
        if used > max {
            return &text[..i];
        }
    }
    text
}

/// Checks a `chat.postMessage` / `chat.update` body against the limits
/// above, for the block types this crate sends; the first violation.
pub fn check_message(body: &serde_json::Value) -> Result<(), String> {
    let text = body["text"].as_str().unwrap_or_default();
    if len(text) > MESSAGE_TEXT {
        return Err(format!("`text` is {} long, over {MESSAGE_TEXT}", len(text)));
    }
    let blocks = body["blocks"].as_array().ok_or("`blocks` is not a list")?;
    if blocks.len() > BLOCKS {
        return Err(format!("{} blocks, over {BLOCKS}", blocks.len()));
    }
    for (i, block) in blocks.iter().enumerate() {
        check_block(block).map_err(|e| format!("blocks[{i}] ({}): {e}", block["type"]))?;
    }
    Ok(())
}

fn at_most(v: &serde_json::Value, what: &str, max: usize) -> Result<(), String> {
    match v.as_str() {
        Some(s) if len(s) > max => Err(format!("{what} is {} long, over {max}", len(s))),
        Some("") => Err(format!("{what} is empty")),
        Some(_) => Ok(()),
        None => Err(format!("{what} is missing")),
    }
}

fn check_block(b: &serde_json::Value) -> Result<(), String> {
    if !b["block_id"].is_null() {
        at_most(&b["block_id"], "`block_id`", ID)?;
    }
    match b["type"].as_str() {
        Some("header") => at_most(&b["text"]["text"], "`text`", HEADER_TEXT),
        Some("section") => {
            if !b["text"].is_null() {
                at_most(&b["text"]["text"], "`text`", SECTION_TEXT)?;
            }
            let fields = b["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if fields.len() > SECTION_FIELDS {
                return Err(format!("{} fields, over {SECTION_FIELDS}", fields.len()));
            }
            for f in fields {
                at_most(&f["text"], "a field", FIELD_TEXT)?;
            }
            if b["text"].is_null() && fields.is_empty() {
                return Err("neither `text` nor `fields`".into());
            }
            Ok(())
        }
        Some("context") => {
            let elements = b["elements"].as_array().ok_or("no `elements`")?;
            if elements.len() > CONTEXT_ELEMENTS {
                return Err(format!(
                    "{} elements, over {CONTEXT_ELEMENTS}",
                    elements.len()
                ));
            }
            elements
                .iter()
                .try_for_each(|e| at_most(&e["text"], "an element's `text`", CONTEXT_TEXT))
        }
        Some("input") => {
            at_most(&b["label"]["text"], "`label`", INPUT_LABEL)?;
            let e = &b["element"];
            at_most(&e["action_id"], "`action_id`", ID)?;
            if !e["placeholder"].is_null() {
                at_most(&e["placeholder"]["text"], "`placeholder`", PLACEHOLDER)?;
            }
            match e["max_length"].as_u64() {
                Some(n) if n > INPUT_MAX_LENGTH as u64 => {
                    Err(format!("`max_length` {n}, over {INPUT_MAX_LENGTH}"))
                }
                _ => Ok(()),
            }
        }
        Some("actions") => {
            let elements = b["elements"].as_array().ok_or("no `elements`")?;
            for e in elements {
                at_most(&e["action_id"], "`action_id`", ID)?;
                at_most(&e["text"]["text"], "a button's `text`", BUTTON_TEXT)?;
                if !e["value"].is_null() {
                    at_most(&e["value"], "a button's `value`", BUTTON_VALUE)?;
                }
                if !e["url"].is_null() {
                    at_most(&e["url"], "a button's `url`", BUTTON_URL)?;
                }
            }
            Ok(())
        }
        other => Err(format!("a block type this check does not know: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_text_fits_and_ends_with_the_marker() {
        let cut = fit(&"x".repeat(5000), 100, " (cut)");
        assert_eq!(len(&cut), 100);
        assert!(cut.ends_with(" (cut)"));
        assert_eq!(fit("short", 100, " (cut)"), "short");
    }

    #[test]
    fn a_cut_never_splits_a_character_an_entity_or_a_link() {
        // emoji are two UTF-16 units each
        let cut = fit(&"😀".repeat(100), 11, "…");
        assert!(len(&cut) <= 11, "{cut}");
        assert_eq!(cut, format!("{}…", "😀".repeat(5)));
        let cut = fit("abc &amp; def", 7, "…");
        assert_eq!(cut, "abc …");
        let cut = fit("see <https://example.com/a|page> now", 20, "…");
        assert_eq!(cut, "see …");
    }

    #[test]
    fn the_check_refuses_what_slack_refuses() {
        let ok = serde_json::json!({"text": "t", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]});
        assert!(check_message(&ok).is_ok());
        let mut long = ok.clone();
        long["blocks"][0]["text"]["text"] = "x".repeat(3001).into();
        assert!(check_message(&long).unwrap_err().contains("over 3000"));
        let mut many = ok.clone();
        many["blocks"] = serde_json::Value::Array(vec![ok["blocks"][0].clone(); 51]);
        assert!(check_message(&many).unwrap_err().contains("over 50"));
    }

    #[test]
    fn a_marker_longer_than_the_limit_gives_way_to_an_ellipsis() {
        assert_eq!(fit("abcdef", 3, "a very long marker"), "ab…");
    }
}
