//! The Block Kit message for a request: posted while pending, updated after
//! each vote and once resolved. Every text is cut to its Block Kit limit
//! ([`crate::limits`]) with a link to the full request on the approval page,
//! and the fields a reviewer decides on are always there.

use serde_json::{Value, json};
use signoff::{ApprovalRequest, RequestStatus, Verdict};

use crate::limits::{self, fit};

/// Escapes Slack's control characters in text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The longest page URL linked from a message (longer ones are not linked).
const LINK: usize = 1000;

/// The request's page on the approval server, when one is configured.
pub fn page_link(r: &ApprovalRequest, page_url: Option<&str>) -> Option<String> {
    let base = page_url?.trim_end_matches('/');
    let link = format!("{base}/requests/{}", r.id);
    (limits::len(&link) <= LINK && !link.contains(['<', '>', '|', ' '])).then_some(link)
}

/// What ends a cut text: where to read the rest.
pub fn truncation_marker(r: &ApprovalRequest, page_url: Option<&str>) -> String {
    match page_link(r, page_url) {
        Some(link) => {
            format!("… (truncated, see the full request on the approval page: <{link}>)")
        }
        None => format!(
            "… (truncated, see the full request `{}` on the approval page)",
            esc(&r.id)
        ),
    }
}

/// The `block_id` and `action_id` of the grant choice.
pub const GRANT_BLOCK: &str = "grant";

/// The grant choice's value for "no grant".
pub const GRANT_NONE: &str = "none";

/// The `chat.postMessage` body of a notice (a reminder, an escalation, a
/// break-glass) as a reply in the request's thread.
pub fn thread_reply(
    r: &ApprovalRequest,
    notice: &signoff::Notice,
    channel: &str,
    ts: &str,
) -> Value {
    json!({
        "channel": channel,
        "thread_ts": ts,
        "text": fit(&esc(&notice.text(r)), limits::FALLBACK_TEXT, "…"),
    })
}

/// What the Approve and Deny buttons carry: `request_id|args_digest`.
pub fn button_value(r: &ApprovalRequest) -> String {
    format!("{}|{}", r.id, r.args_digest)
}

/// The word for a request's state; a permit issued or completed was approved.
fn state(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => "pending",
        RequestStatus::Approved | RequestStatus::Issued | RequestStatus::Completed => "approved",
        RequestStatus::Denied => "denied",
        RequestStatus::Expired => "expired",
        RequestStatus::Cancelled => "cancelled",
    }
}

fn date(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.to_rfc3339()
    )
}

/// The message blocks: everything a reviewer needs, with buttons while pending.
pub fn blocks(r: &ApprovalRequest, page_url: Option<&str>) -> Value {
    let marker = truncation_marker(r, page_url);
    let cut = |text: &str, max: usize| fit(text, max, &marker);
    let field = |k: &str, v: &str| {
        let label = format!("*{k}*\n");
        let value = cut(&esc(v), limits::FIELD_TEXT - limits::len(&label));
        json!({"type": "mrkdwn", "text": format!("{label}{value}")})
    };
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let needs: Vec<String> = r
        .requirements
        .iter()
        .map(|q| format!("{} of {}", q.min, q.group))
        .collect();
    let pending = r.status == RequestStatus::Pending;
    let title = match state(r.status) {
        "approved" => format!("Approved: {}", r.action),
        "denied" => format!("Denied: {}", r.action),
        "expired" => format!("Expired: {}", r.action),
        "cancelled" => format!("Cancelled: {}", r.action),
        _ => format!("Approval needed: {}", r.action),
    };
    let mut out = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": fit(&title, limits::HEADER_TEXT, "…")}}),
        json!({"type": "section", "fields": [
            field("Actor", &dash(&r.actor)),
            field("On behalf of", &dash(&r.on_behalf_of)),
            field("Resource", &dash(&r.resource)),
            field("Env", &dash(&r.env)),
            field("Risk", r.risk.map_or("-", |k| k.as_str())),
            field("Needs", &needs.join(" + ")),
            json!({"type": "mrkdwn", "text": format!("*Expires*\n{}", date(r.expires_at))}),
        ]}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!(
            "*Rule:* {}\n*Why:* {}",
            cut(&esc(&r.rules.join(", ")), 500), esc(&r.reason)), limits::SECTION_TEXT)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!(
            "*Justification:* {}", esc(r.justification.as_deref().unwrap_or("-"))), limits::SECTION_TEXT)}}),
        args_section(r, &marker),
    ];
    let votes: Vec<String> = r
        .votes
        .iter()
        .map(|v| {
            format!(
                "{} {}{}{}",
                if v.verdict == Verdict::Approve {
                    "✅"
                } else {
                    "⛔"
                },
                esc(&v.voter),
                if v.current { "" } else { " (earlier args)" },
                v.comment
                    .as_deref()
                    .map(|c| format!(" — “{}”", esc(c)))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !votes.is_empty() {
        out.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": cut(&votes.join("\n"), limits::CONTEXT_TEXT)}
        ]}));
    }
    if pending {
        out.push(json!({"type": "input", "block_id": "comment", "optional": true,
            "label": {"type": "plain_text", "text": "Comment"},
            "element": {"type": "plain_text_input", "action_id": "comment", "max_length": limits::COMMENT,
                "placeholder": {"type": "plain_text", "text": "Optional, recorded with your vote"}}}));
        if let Some(max) = r.max_grant {
            // a grant choice (DESIGN §13): read with the Approve click
            let option = |text: &str, value: &str| json!({"text": {"type": "plain_text", "text": text}, "value": value});
            let mut options = vec![option("No grant", GRANT_NONE)];
            for g in signoff::grant::offered_lengths(max) {
                options.push(option(&format!("Also for {g}"), &g));
            }
            out.push(json!({"type": "input", "block_id": GRANT_BLOCK, "optional": true,
                "label": {"type": "plain_text", "text": "Grant: approve the same action again without asking"},
                "element": {"type": "static_select", "action_id": GRANT_BLOCK,
                    "placeholder": {"type": "plain_text", "text": "No grant"},
                    "options": options}}));
        }
        let value = button_value(r);
        let mut buttons = vec![
            json!({"type": "button", "action_id": "signoff_approve", "style": "primary", "text": {"type": "plain_text", "text": "Approve"}, "value": value}),
            json!({"type": "button", "action_id": "signoff_deny", "style": "danger", "text": {"type": "plain_text", "text": "Deny"}, "value": value}),
        ];
        if let Some(link) = page_link(r, page_url) {
            buttons.push(json!({"type": "button", "action_id": "signoff_open", "text": {"type": "plain_text", "text": "Open"}, "url": link}));
        }
        out.push(json!({"type": "actions", "block_id": "signoff", "elements": buttons}));
    } else {
        out.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&resolution(r), limits::SECTION_TEXT)}}));
    }
    Value::Array(out)
}

/// The redacted args, cut inside their code block, with their digest.
fn args_section(r: &ApprovalRequest, marker: &str) -> Value {
    let args = esc(&serde_json::to_string_pretty(&r.args).unwrap_or_default());
    let head = format!(
        "*Args* (digest `{}`)\n",
        fit(&esc(&r.args_digest), 200, "…")
    );
    let whole = format!("{head}```{args}```");
    let text = if limits::len(&whole) <= limits::SECTION_TEXT {
        whole
    } else {
        let room = limits::SECTION_TEXT - limits::len(&head) - 6 - limits::len(marker);
        format!("{head}```{}```{marker}", fit(&args, room, ""))
    };
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Who resolved the request and why, for the message once it is not pending.
fn resolution(r: &ApprovalRequest) -> String {
    let by = |verdict: Verdict| -> Vec<String> {
        r.votes
            .iter()
            .filter(|v| v.verdict == verdict && (v.current || verdict == Verdict::Deny))
            .map(|v| {
                let comment = v
                    .comment
                    .as_deref()
                    .map(|c| format!(" — “{}”", esc(c)))
                    .unwrap_or_default();
                format!("{}{comment}", esc(&v.voter))
            })
            .collect()
    };
    let word = state(r.status);
    let why = match r.status {
        RequestStatus::Pending => String::new(),
        RequestStatus::Approved | RequestStatus::Issued | RequestStatus::Completed => {
            let who = by(Verdict::Approve);
            if who.is_empty() {
                String::new()
            } else {
                format!(" by {}", who.join(", "))
            }
        }
        RequestStatus::Denied => {
            let who = by(Verdict::Deny);
            if who.is_empty() {
                " by the policy".to_owned()
            } else {
                format!(" by {}", who.join(", "))
            }
        }
        RequestStatus::Expired => format!(": no decision before {}", date(r.expires_at)),
        RequestStatus::Cancelled => {
            ": withdrawn by the requester or an operator, or a channel failed".to_owned()
        }
    };
    format!("*Resolved: {word}*{why}")
}

/// The notification text (`text` beside `blocks`), kept short.
pub fn fallback_text(r: &ApprovalRequest) -> String {
    let text = if r.status == RequestStatus::Pending {
        format!(
            "Approval needed: {} by {}",
            r.action,
            r.actor.as_deref().unwrap_or("-")
        )
    } else {
        format!("{} is {}", r.action, state(r.status))
    };
    fit(&esc(&text), limits::FALLBACK_TEXT, "…")
}

/// The `chat.postMessage` body for a new request.
pub fn post_body(r: &ApprovalRequest, channel: &str, page_url: Option<&str>) -> Value {
    json!({
        "channel": channel,
        "text": fallback_text(r),
        "blocks": blocks(r, page_url),
    })
}

/// The `chat.update` body that re-renders the message `ts` in `channel`.
pub fn update_body(r: &ApprovalRequest, channel: &str, ts: &str, page_url: Option<&str>) -> Value {
    json!({
        "channel": channel,
        "ts": ts,
        "text": fallback_text(r),
        "blocks": blocks(r, page_url),
    })
}
