//! Canonical JSON (keys sorted, no insignificant whitespace) and the blake3
//! digests built on it. Used for policy digests, action digests and the audit
//! chain, so its output must never depend on map insertion order.

use serde_json::Value;
use std::fmt::Write as _;

/// Writes `value` as canonical JSON into `out`.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
    }
}

/// Canonical JSON of `value` as a new string.
pub fn to_canonical(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_canonical(value, &mut out);
    out
}

/// Writes a JSON string literal with the minimal escaping of RFC 8785.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `blake3:<hex>` of the canonical JSON of `value`.
pub fn digest(value: &Value) -> String {
    format!(
        "blake3:{}",
        blake3::hash(to_canonical(value).as_bytes()).to_hex()
    )
}

/// Maximum nesting accepted in action args and context. Deeper input is
/// rejected (fail closed) before any recursive code sees it.
pub const MAX_DEPTH: usize = 64;

/// Whether `value` nests deeper than `limit` levels. Recursion is bounded by
/// `limit`, so arbitrarily deep input is safe; nothing is allocated.
pub fn deeper_than(value: &Value, limit: usize) -> bool {
    match value {
        Value::Array(a) => limit == 0 || a.iter().any(|v| deeper_than(v, limit - 1)),
        Value::Object(m) => limit == 0 || m.values().any(|v| deeper_than(v, limit - 1)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_whitespace_dropped() {
        let v = json!({"b": 1, "a": [true, null, "x\n"], "c": {"z": 1.5, "y": -2}});
        assert_eq!(
            to_canonical(&v),
            r#"{"a":[true,null,"x\n"],"b":1,"c":{"y":-2,"z":1.5}}"#
        );
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        let mut v = json!(1);
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        assert!(deeper_than(&v, MAX_DEPTH));
        assert!(!deeper_than(&json!({"a": {"b": [1]}}), MAX_DEPTH));
        // dropping a 10,000-deep value must not overflow either
        std::mem::forget(v);
    }
}
