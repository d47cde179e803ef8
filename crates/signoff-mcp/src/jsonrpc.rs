//! The few JSON-RPC shapes the proxy looks at; everything else passes by.

use serde_json::{Value, json};
use signoff::Outcome;

/// What one message is, as far as the proxy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// A request: it has a method and an id.
    Request { id: &'a Value, method: &'a str },
    /// A notification: a method and no id.
    Notification { method: &'a str },
    /// A response: an id and a result or an error.
    Response { id: &'a Value },
    /// Anything else (the peer answers it as it sees fit).
    Other,
}

/// Classifies one message.
pub(crate) fn kind(msg: &Value) -> Kind<'_> {
    let Some(obj) = msg.as_object() else {
        return Kind::Other;
    };
    match (obj.get("method").and_then(Value::as_str), obj.get("id")) {
        (Some(method), Some(id)) => Kind::Request { id, method },
        (Some(method), None) => Kind::Notification { method },
        (None, Some(id)) if obj.contains_key("result") || obj.contains_key("error") => {
            Kind::Response { id }
        }
        _ => Kind::Other,
    }
}

/// A key for an id: `1` and `"1"` are different ids.
pub(crate) fn id_key(id: &Value) -> String {
    match id {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("s-{s}"),
        other => format!("j-{other}"),
    }
}

/// The `tools/call` result that tells the model the call did not run.
pub(crate) fn tool_error(id: &Value, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": {
            "content": [{ "type": "text", "text": text }],
            "isError": true,
        },
    })
}

/// A progress notification while a call waits for reviewers.
pub(crate) fn progress(token: &Value, progress: u64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": { "progressToken": token, "progress": progress, "message": message },
    })
}

/// The answer to a line that is not JSON: it is never passed on, so the
/// server cannot read into it a call the proxy did not see.
pub(crate) fn parse_error(detail: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": format!("parse error: {detail}") },
    })
}

/// The outcome of a call from the server's response: `isError` or a
/// JSON-RPC error is a failure, with the text the server gave.
pub(crate) fn outcome(response: &Value) -> Outcome {
    if let Some(err) = response.get("error") {
        let message = err["message"].as_str().unwrap_or("error");
        return Outcome::failure(format!("json-rpc error {}: {message}", err["code"]));
    }
    let result = &response["result"];
    if result["isError"] == true {
        let text: Vec<&str> = result["content"]
            .as_array()
            .map(|c| c.iter().filter_map(|b| b["text"].as_str()).collect())
            .unwrap_or_default();
        let mut detail = text.join("\n");
        if detail.chars().count() > 500 {
            detail = detail.chars().take(500).collect::<String>() + "…";
        }
        return Outcome::failure(if detail.is_empty() {
            "the tool reported an error".to_owned()
        } else {
            detail
        });
    }
    Outcome::success()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart_by_their_fields() {
        let req = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}});
        assert!(matches!(
            kind(&req),
            Kind::Request {
                method: "tools/call",
                ..
            }
        ));
        let note =
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}});
        assert!(matches!(
            kind(&note),
            Kind::Notification {
                method: "notifications/cancelled"
            }
        ));
        assert!(matches!(
            kind(&json!({"jsonrpc":"2.0","id":3,"result":{}})),
            Kind::Response { .. }
        ));
        assert!(matches!(
            kind(&json!({"jsonrpc":"2.0","id":3})),
            Kind::Other
        ));
        assert!(matches!(kind(&json!([1])), Kind::Other));
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }

    #[test]
    fn is_error_and_json_rpc_errors_are_failures() {
        assert!(outcome(&json!({"id":1,"result":{"content":[]}})).ok);
        let failed = outcome(
            &json!({"id":1,"result":{"content":[{"type":"text","text":"boom"}],"isError":true}}),
        );
        assert_eq!(failed.detail.as_deref(), Some("boom"));
        assert!(!outcome(&json!({"id":1,"error":{"code":-32602,"message":"bad"}})).ok);
    }
}
