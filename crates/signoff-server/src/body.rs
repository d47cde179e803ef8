//! The vote body, read exactly as the OpenAPI document's `VoteBody` says: a
//! JSON object with no repeated key, `verdict` required, and every other
//! field either absent or of its type (`null` is not a value of any of them).
//! Whether a deny may carry args is the core's rule, not the parser's.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use signoff::Verdict;

use crate::api::{ApiError, VoteBody};

/// The fields a vote may have.
const FIELDS: [&str; 6] = [
    "verdict",
    "comment",
    "args",
    "args_digest",
    "grant",
    "break_glass",
];

/// Reads a vote body; the error names the field at fault.
pub(crate) fn parse_vote(bytes: &[u8]) -> Result<VoteBody, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(ApiError::bad_request(format!(
            "a vote is a JSON object, not {}",
            kind(&value)
        )));
    };
    // a repeated key would let two readers of the same body see two votes
    let mut keys = serde_json::Deserializer::from_slice(bytes);
    keys.deserialize_any(UniqueKeys)
        .map_err(|e| ApiError::bad_request(format!("the body {e}")))?;
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown field `{unknown}`; a vote has `verdict`, `comment`, `args`, `args_digest`, `grant` and `break_glass`"
        ))
        .field(unknown));
    }
    let verdict = match map.remove("verdict") {
        Some(Value::String(v)) if v == "approve" => Verdict::Approve,
        Some(Value::String(v)) if v == "deny" => Verdict::Deny,
        None => return Err(invalid("verdict", "is required: `approve` or `deny`")),
        Some(other) => {
            return Err(invalid(
                "verdict",
                &format!("must be `approve` or `deny`, not {}", kind(&other)),
            ));
        }
    };
    let comment = string(&mut map, "comment", "leave it out for no comment")?;
    let args_digest = string(
        &mut map,
        "args_digest",
        "leave it out to vote on the current args",
    )?;
    let args = match map.remove("args") {
        None => None,
        Some(args @ Value::Object(_)) => Some(args),
        Some(other) => {
            return Err(invalid(
                "args",
                &format!(
                    "must be a JSON object, not {}; leave it out to keep the args",
                    kind(&other)
                ),
            ));
        }
    };
    // a grant length (DESIGN §13): a humantime duration such as `30m`
    let grant = match string(&mut map, "grant", "leave it out to attach no grant")? {
        None => None,
        Some(text) => Some(parse_grant(&text)?),
    };
    let break_glass = match map.remove("break_glass") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(invalid(
                "break_glass",
                &format!("must be a boolean, not {}", kind(&other)),
            ));
        }
    };
    Ok(VoteBody {
        verdict,
        comment,
        args,
        args_digest,
        grant,
        break_glass,
    })
}

/// A grant length as the OpenAPI document's pattern says: a number
/// without leading zero (up to six digits) and one unit, `s`, `m`, `h` or
/// `d` (`30m`, `4h`). Whether it fits the request's `max_grant` is the
/// core's rule (a `bad_grant` rejection), not the parser's.
pub(crate) fn parse_grant(text: &str) -> Result<std::time::Duration, ApiError> {
    let bad = || {
        invalid(
            "grant",
            &format!(
                "must be a number and a unit (`s`, `m`, `h` or `d`) such as `30m`, not {}",
                kind(&Value::String(text.to_owned()))
            ),
        )
    };
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if digits.is_empty()
        || digits.len() > 6
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    Ok(std::time::Duration::from_secs(n * seconds))
}

fn string(
    map: &mut Map<String, Value>,
    field: &str,
    hint: &str,
) -> Result<Option<String>, ApiError> {
    match map.remove(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(
            field,
            &format!("must be a string, not {}; {hint}", kind(&other)),
        )),
    }
}

fn invalid(field: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("`{field}` {what}")).field(field)
}

/// How a value is named in an error: its type, or a short string itself.
fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(s) if s.chars().count() <= 32 => format!("`{s}`"),
        Value::String(_) => "a long string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Walks a JSON document and fails on the first object that repeats a key.
struct UniqueKeys;

impl<'de> de::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("repeats the key `{key}`")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn refused(raw: &str) -> Value {
        let e = parse_vote(raw.as_bytes()).unwrap_err();
        e.body().clone()
    }

    #[test]
    fn a_well_formed_vote_is_read() {
        let v =
            parse_vote(br#"{"verdict":"deny","comment":"no","args_digest":"blake3:00"}"#).unwrap();
        assert_eq!(v.verdict, Verdict::Deny);
        assert_eq!(v.comment.as_deref(), Some("no"));
        assert_eq!(v.args_digest.as_deref(), Some("blake3:00"));
        assert!(v.args.is_none());
    }

    #[test]
    fn null_fields_are_refused_by_name() {
        for field in ["comment", "args", "args_digest", "verdict"] {
            let mut body = serde_json::json!({"verdict": "approve"});
            body[field] = Value::Null;
            let e = refused(&body.to_string());
            assert_eq!(e["field"], field, "{e}");
            assert!(e["message"].as_str().unwrap().contains("null"), "{e}");
        }
    }

    #[test]
    fn arrays_repeated_keys_and_unknown_fields_are_refused() {
        assert!(
            refused(r#"["approve"]"#)["message"]
                .as_str()
                .unwrap()
                .contains("not an array")
        );
        let e = refused(r#"{"verdict":"deny","verdict":"approve"}"#);
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("repeats the key `verdict`"),
            "{e}"
        );
        let e = refused(r#"{"verdict":"approve","args":{"rows":1,"rows":2}}"#);
        assert!(e["message"].as_str().unwrap().contains("`rows`"), "{e}");
        assert_eq!(
            refused(r#"{"verdict":"approve","voter":"user:x"}"#)["field"],
            "voter"
        );
        assert_eq!(refused(r#"{"verdict":"Approve"}"#)["field"], "verdict");
        assert_eq!(refused(r#"{}"#)["field"], "verdict");
    }
}
