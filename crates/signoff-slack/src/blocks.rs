//! The Block Kit message for a request.

use serde_json::{Value, json};
use signoff::{ApprovalRequest, RequestStatus};

/// Escapes Slack's control characters in text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message blocks: everything a reviewer needs, with buttons while pending.
pub fn blocks(r: &ApprovalRequest, page_url: Option<&str>) -> Value {
    let field = |k: &str, v: &str| json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", esc(v))});
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let needs: Vec<String> = r
        .requirements
        .iter()
        .map(|q| format!("{} of {}", q.min, q.group))
        .collect();
    let args = serde_json::to_string_pretty(&r.args).unwrap_or_default();
    let mut out = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("Approval needed: {}", r.action)}}),
        json!({"type": "section", "fields": [
            field("Actor", &dash(&r.actor)),
            field("On behalf of", &dash(&r.on_behalf_of)),
            field("Resource", &dash(&r.resource)),
            field("Env", &dash(&r.env)),
            field("Risk", r.risk.map_or("-", |k| k.as_str())),
            field("Needs", &needs.join(" + ")),
        ]}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "*Why:* {} (rule {})\n*Justification:* {}\n*Expires:* <!date^{}^{{date_short_pretty}} {{time}}|{}>",
            esc(&r.reason), esc(&r.rules.join(", ")), esc(r.justification.as_deref().unwrap_or("-")),
            r.expires_at.timestamp(), r.expires_at.to_rfc3339())}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Args*\n```{}```", esc(&args))}}),
    ];
    let votes: Vec<String> = r
        .votes
        .iter()
        .map(|v| {
            format!(
                "{} {}{}",
                if v.verdict == signoff::Verdict::Approve {
                    "✅"
                } else {
                    "⛔"
                },
                esc(&v.voter),
                v.comment
                    .as_deref()
                    .map(|c| format!(" — “{}”", esc(c)))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !votes.is_empty() {
        out.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": votes.join("\n")}]}),
        );
    }
    if r.status == RequestStatus::Pending {
        let value = format!("{}|{}", r.id, r.args_digest);
        out.push(
            json!({"type": "input", "block_id": "comment", "optional": true,
            "label": {"type": "plain_text", "text": "Comment"},
            "element": {"type": "plain_text_input", "action_id": "comment"}}),
        );
        let mut buttons = vec![
            json!({"type": "button", "action_id": "signoff_approve", "style": "primary", "text": {"type": "plain_text", "text": "Approve"}, "value": value}),
            json!({"type": "button", "action_id": "signoff_deny", "style": "danger", "text": {"type": "plain_text", "text": "Deny"}, "value": value}),
        ];
        if let Some(base) = page_url {
            buttons.push(json!({"type": "button", "action_id": "signoff_open", "text": {"type": "plain_text", "text": "Open"}, "url": format!("{}/requests/{}", base.trim_end_matches('/'), r.id)}));
        }
        out.push(json!({"type": "actions", "block_id": "signoff", "elements": buttons}));
    } else {
        out.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Resolved: {}*", r.status.as_str())}}));
    }
    Value::Array(out)
}
