//! The Adaptive Card for a request, and its check against the version it
//! declares: element and action types, their required properties, and the
//! version each feature appeared in (from the Adaptive Cards schema).

use serde_json::{Value, json};
use signoff::ApprovalRequest;

/// Teams refuses a message over about 28 KB: the whole POST body (the
/// message with its card) is kept at most this many bytes.
pub const PAYLOAD_BUDGET: usize = 26_000;
/// The size Teams documents for a message, which the body must never reach.
pub const PAYLOAD_LIMIT: usize = 28_000;
/// The longest approval page URL (the buttons and truncation markers use it).
pub const PAGE_URL: usize = 1000;

/// Budgets, in bytes of JSON string content, for each text of the card.
/// Together they keep the body under [`PAYLOAD_BUDGET`] whatever a request
/// holds (structure and two button URLs included).
pub mod budget {
    /// The title.
    pub const TITLE: usize = 400;
    /// Each short fact (actor, on behalf of, env, risk, needs, expires).
    pub const FACT: usize = 500;
    /// The resource.
    pub const RESOURCE: usize = 2000;
    /// The rule and its reason.
    pub const WHY: usize = 2000;
    /// The agent's justification.
    pub const JUSTIFICATION: usize = 5000;
    /// The args heading with their digest.
    pub const ARGS_HEADING: usize = 300;
    /// The redacted args.
    pub const ARGS: usize = 8000;
}

/// The size of `s` as a JSON string's content (escapes counted).
pub fn json_len(s: &str) -> usize {
    s.chars().map(escaped_len).sum()
}

fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// `text` cut to at most `max` bytes of JSON, `marker` appended when cut.
pub fn fit(text: &str, max: usize, marker: &str) -> String {
    if json_len(text) <= max {
        return text.to_owned();
    }
    let marker = if json_len(marker) <= max {
        marker
    } else {
        "…"
    };
    let room = max.saturating_sub(json_len(marker));
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        used += escaped_len(c);
        if used > room {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}{marker}", &text[..end])
}

/// The request's page, where reviewers sign in and vote.
pub fn page_link(r: &ApprovalRequest, page_url: &str) -> String {
    format!("{}/requests/{}", page_url.trim_end_matches('/'), r.id)
}

/// The card: title, facts, args, and buttons to the approval page. Each
/// text is cut to its [`budget`] with a link to the full request.
pub fn approval_card(r: &ApprovalRequest, page_url: &str) -> Value {
    let link = page_link(r, page_url);
    let marker =
        format!("… (truncated, see the full request on the approval page: [{link}]({link}))");
    let cut = |text: &str, max: usize| fit(text, max, &marker);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let needs: Vec<String> = r
        .requirements
        .iter()
        .map(|q| format!("{} of {}", q.min, q.group))
        .collect();
    let why = format!("{} (rule {})", r.reason, fit(&r.rules.join(", "), 300, "…"));
    let args = serde_json::to_string_pretty(&r.args).unwrap_or_default();
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": fit(&format!("Approval needed: {}", r.action), budget::TITLE, "…"), "style": "heading", "wrap": true},
            {"type": "FactSet", "facts": [
                {"title": "Actor", "value": cut(&dash(&r.actor), budget::FACT)},
                {"title": "On behalf of", "value": cut(&dash(&r.on_behalf_of), budget::FACT)},
                {"title": "Resource", "value": cut(&dash(&r.resource), budget::RESOURCE)},
                {"title": "Env", "value": cut(&dash(&r.env), budget::FACT)},
                {"title": "Why", "value": cut(&why, budget::WHY)},
                {"title": "Risk", "value": r.risk.map_or("-", |k| k.as_str())},
                {"title": "Needs", "value": cut(&needs.join(" + "), budget::FACT)},
                {"title": "Justification", "value": cut(&dash(&r.justification), budget::JUSTIFICATION)},
                {"title": "Expires", "value": r.expires_at.to_rfc3339()},
            ]},
            {"type": "TextBlock", "text": fit(&format!("Args (digest {})", r.args_digest), budget::ARGS_HEADING, "…"), "weight": "Bolder", "wrap": true},
            {"type": "TextBlock", "text": cut(&args, budget::ARGS), "fontType": "Monospace", "wrap": true},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Approve", "url": link, "style": "positive"},
            {"type": "Action.OpenUrl", "title": "Deny", "url": link, "style": "destructive"},
        ],
    })
}

/// A notice about a request already posted (a reminder, an escalation, a
/// break-glass), DESIGN §13: a Workflows webhook can neither reply to nor
/// update its card, so the notice is a small card of its own that links to
/// the request's page.
pub fn notice_card(r: &ApprovalRequest, notice: &signoff::Notice, page_url: &str) -> Value {
    let link = page_link(r, page_url);
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": fit(&notice.text(r), budget::WHY, "…"), "wrap": true},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open the request", "url": link},
        ],
    })
}

/// The message the Workflows webhook takes: the card as its one attachment.
pub fn message(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}],
    })
}

/// Version (major, minor) each element, action or property appeared in.
const INTRODUCED: &[(&str, (u32, u32))] = &[
    ("TextBlock", (1, 0)),
    ("FactSet", (1, 0)),
    ("Container", (1, 0)),
    ("ColumnSet", (1, 0)),
    ("Image", (1, 0)),
    ("Table", (1, 5)),
    ("Action.OpenUrl", (1, 0)),
    ("Action.Submit", (1, 0)),
    ("Action.Execute", (1, 4)),
    // properties
    ("Action.style", (1, 2)),
    ("TextBlock.style", (1, 5)),
    ("TextBlock.fontType", (1, 2)),
];

fn introduced(name: &str) -> Option<(u32, u32)> {
    INTRODUCED.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn need(version: (u32, u32), feature: &str, at: &str) -> Result<(), String> {
    match introduced(feature) {
        None => Err(format!(
            "{at}: `{feature}` is not an Adaptive Card element or action this check knows"
        )),
        Some(v) if v > version => Err(format!(
            "{at}: `{feature}` needs Adaptive Cards {}.{}, the card declares {}.{}",
            v.0, v.1, version.0, version.1
        )),
        Some(_) => Ok(()),
    }
}

fn string(v: &Value, key: &str, at: &str) -> Result<(), String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        _ => Err(format!("{at}: `{key}` must be a non-empty string")),
    }
}

/// Checks `card` against the version it declares.
pub fn validate(card: &Value) -> Result<(), String> {
    if card["type"] != "AdaptiveCard" {
        return Err("`type` must be \"AdaptiveCard\"".into());
    }
    let version = card["version"]
        .as_str()
        .and_then(parse_version)
        .filter(|v| *v >= (1, 0) && *v <= (1, 6))
        .ok_or("`version` must be \"1.0\" to \"1.6\"")?;
    let body = card["body"].as_array().ok_or("`body` must be an array")?;
    for (i, el) in body.iter().enumerate() {
        let at = format!("body[{i}]");
        let kind = el["type"]
            .as_str()
            .ok_or(format!("{at}: `type` is missing"))?;
        need(version, kind, &at)?;
        match kind {
            "TextBlock" => {
                string(el, "text", &at)?;
                for prop in ["style", "fontType"] {
                    if el.get(prop).is_some() {
                        need(version, &format!("TextBlock.{prop}"), &at)?;
                    }
                }
            }
            "FactSet" => {
                let facts = el["facts"]
                    .as_array()
                    .ok_or(format!("{at}: `facts` must be an array"))?;
                for (j, f) in facts.iter().enumerate() {
                    let at = format!("{at}.facts[{j}]");
                    string(f, "title", &at)?;
                    if !f["value"].is_string() {
                        return Err(format!("{at}: `value` must be a string"));
                    }
                }
            }
            _ => {}
        }
    }
    for (i, a) in card["actions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let at = format!("actions[{i}]");
        let kind = a["type"]
            .as_str()
            .ok_or(format!("{at}: `type` is missing"))?;
        need(version, kind, &at)?;
        string(a, "title", &at)?;
        if kind == "Action.OpenUrl" {
            string(a, "url", &at)?;
            let url = a["url"].as_str().unwrap_or_default();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("{at}: `url` must be http(s)"));
            }
        }
        if a.get("style").is_some() {
            need(version, "Action.style", &at)?;
            if !matches!(
                a["style"].as_str(),
                Some("default" | "positive" | "destructive")
            ) {
                return Err(format!(
                    "{at}: `style` must be default, positive or destructive"
                ));
            }
        }
    }
    Ok(())
}
