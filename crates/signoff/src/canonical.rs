//! Canonical JSON (keys sorted, no insignificant whitespace) and the blake3
//! digests built on it. Used for policy digests, action digests and the audit
//! chain, so its output must never depend on map insertion order.
//!
//! The exact output is specified in `docs/audit-trail.md` §5, numbers
//! included (they are `serde_json`'s `Display`: `1e-7`, `1e+16`, `-0.0`,
//! integers to 2^64−1); keys sort by code point, which is not RFC 8785.

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
/// Runs of bytes that need no escape are copied at once; escapes are all
/// ASCII, so every cut falls on a character boundary.
pub fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // skip 8 bytes at a time while none needs escaping (the common case)
    let mut clean = 0;
    while let Some(chunk) = bytes.get(clean..clean + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        clean += 8;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate().skip(clean) {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Whether any byte of `x` is a control character, `"` or `\\`
/// (the classic "has zero byte" trick on shifted copies).
fn needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
    below_space || has_zero(x ^ (ONES * 0x22)) || has_zero(x ^ (ONES * 0x5c))
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
    fn strings_are_escaped_like_serde_json() {
        for text in [
            "plain",
            "exactly8",
            "sixteen bytes ok",
            "twelve chars\"q",
            "0123456789abcdef\\",
            "long clean prefix then a control \u{7} char",
            "quote \" back \\ slash",
            "nl\ncr\rtab\t",
            "\u{1}\u{1f}\u{8}\u{c}",
            "ünïcødé ✓ 🚀",
            "",
        ] {
            let mut out = String::new();
            write_string(text, &mut out);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
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
