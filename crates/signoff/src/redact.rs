//! Redaction: what reviewers and the audit trail never see in clear.
//!
//! A policy names paths to hide (`[policy] redact`, each rule's `redact`) and,
//! unless `redact_defaults = false`, every key that names a secret
//! (`password`, `token`, `api_key`, ...) is hidden at any depth. A hidden
//! value is replaced by a *keyed* digest, `redacted:<key id>:<hex>`, so a
//! guess cannot be confirmed without the key. Without a configured key the
//! gate uses a random one of its own. The digests, the key derivation and
//! the order in which names and paths apply are specified in
//! `docs/audit-trail.md` §10.2.
//!
//! ```
//! use serde_json::json;
//! use signoff::Policy;
//! use signoff::redact::RedactionKey;
//!
//! let policy = Policy::from_toml_str("[policy]\nredact = [\"args.creds[*].pin\"]").unwrap();
//! let key = RedactionKey::from_secret(b"a long random secret from a file");
//! let shown = policy
//!     .redaction()
//!     .args(&json!({"creds": [{"pin": "1234"}], "password": "hunter2"}), &key);
//! assert!(shown["creds"][0]["pin"].as_str().unwrap().starts_with("redacted:"));
//! assert!(shown["password"].as_str().unwrap().starts_with("redacted:"));
//! ```

use std::fmt;
use std::path::Path;

use serde_json::Value;

/// The key of the keyed digests written in place of redacted values.
#[derive(Clone)]
pub struct RedactionKey {
    key: [u8; 32],
    id: String,
}

impl fmt::Debug for RedactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl RedactionKey {
    /// A random key for this process: digests it writes cannot be linked to
    /// those of another process, and nothing can be confirmed by guessing.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // no OS randomness: fall back to a hash of time and address; still
            // unguessable in practice, and never the unkeyed hash
            let seed = format!(
                "{:?}{:p}{}",
                std::time::SystemTime::now(),
                &key,
                std::process::id()
            );
            key = *blake3::hash(seed.as_bytes()).as_bytes();
        }
        let id = format!(
            "ephemeral-{}",
            &hex::encode(blake3::hash(&key).as_bytes())[..8]
        );
        RedactionKey { key, id }
    }

    /// A key derived from secret bytes (at least 16 of them: a key file's
    /// content or an env var's value). Its id is derived too, so two gates
    /// with the same secret write the same digests.
    pub fn from_secret(secret: &[u8]) -> Self {
        let key = blake3::derive_key("signoff redaction key v1", secret);
        let id_bytes = blake3::derive_key("signoff redaction key id v1", secret);
        let id = format!("k{}", &hex::encode(id_bytes)[..12]);
        RedactionKey { key, id }
    }

    /// Reads the secret from a file (surrounding whitespace ignored).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read(path)
            .map_err(|e| format!("cannot read redaction key file `{}`: {e}", path.display()))?;
        Self::checked(text.trim_ascii(), &format!("file `{}`", path.display()))
    }

    /// Reads the secret from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, String> {
        let value =
            std::env::var(var).map_err(|_| format!("redaction key variable `{var}` is not set"))?;
        Self::checked(value.trim().as_bytes(), &format!("variable `{var}`"))
    }

    fn checked(secret: &[u8], source: &str) -> Result<Self, String> {
        if secret.len() < 16 {
            return Err(format!(
                "redaction key in {source} is too short: use at least 16 bytes of random data"
            ));
        }
        Ok(Self::from_secret(secret))
    }

    /// The key's id, written in every digest it makes.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The keyed digest that replaces `value`.
    pub fn seal(&self, value: &Value) -> Value {
        let canonical = crate::canonical::to_canonical(value);
        let mac = blake3::keyed_hash(&self.key, canonical.as_bytes());
        Value::String(format!("redacted:{}:{}", self.id, mac.to_hex()))
    }
}

/// Where a redaction path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Args,
    Context,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(Box<str>),
    /// `[*]` or `.*`: every element or member.
    Any,
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RedactPath {
    text: Box<str>,
    root: Root,
    segs: Box<[Seg]>,
}

/// Parses `args.a.b`, `args.creds[*].secret`, `context.items[0]`, `args.*.token`.
fn parse_path(text: &str) -> Result<RedactPath, String> {
    let bad = |why: &str| {
        format!(
            "redact path `{text}` {why} (write e.g. `args.password`, `args.creds[*].secret`, `context.headers.*`)"
        )
    };
    let (root, mut rest) = if let Some(r) = text.strip_prefix("args") {
        (Root::Args, r)
    } else if let Some(r) = text.strip_prefix("context") {
        (Root::Context, r)
    } else {
        return Err(bad("must start with `args` or `context`"));
    };
    let mut segs = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(bad("has an empty segment"));
            }
            if key.contains(']') {
                return Err(bad("has a stray `]`"));
            }
            segs.push(if key == "*" {
                Seg::Any
            } else {
                Seg::Key(key.into())
            });
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("has an unclosed `[`"))?;
            let inner = &r[..end];
            segs.push(match inner {
                "*" => Seg::Any,
                n => Seg::Index(
                    n.parse()
                        .map_err(|_| bad("has an index that is neither `*` nor a number"))?,
                ),
            });
            rest = &r[end + 1..];
        } else {
            return Err(bad("must continue with `.key` or `[index]`"));
        }
    }
    if segs.is_empty() {
        return Err(bad("names no field"));
    }
    Ok(RedactPath {
        text: text.into(),
        root,
        segs: segs.into(),
    })
}

/// Checks a redaction path as a policy writes it; the message says what is wrong.
pub(crate) fn check_path(text: &str) -> Result<(), String> {
    parse_path(text).map(|_| ())
}

/// What a policy hides: its paths and, unless turned off, secret-named keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    paths: Box<[RedactPath]>,
    defaults: bool,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            paths: Box::new([]),
            defaults: true,
        }
    }
}

impl Redaction {
    /// The paths given (valid ones; the loader refuses the others) and
    /// whether default secret names apply.
    pub(crate) fn new<'a>(paths: impl IntoIterator<Item = &'a str>, defaults: bool) -> Self {
        let mut out: Vec<RedactPath> = Vec::new();
        for p in paths {
            if let Ok(parsed) = parse_path(p)
                && !out.contains(&parsed)
            {
                out.push(parsed);
            }
        }
        Redaction {
            paths: out.into(),
            defaults,
        }
    }

    /// The paths, as written.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|p| &*p.text)
    }

    /// Whether a value at `args` + `keys`, or anything inside it, may be
    /// redacted: a key on the way names a secret (when default secret names
    /// apply), or a redaction path leads into it or through it.
    pub(crate) fn may_hide_args(&self, keys: &[String]) -> bool {
        if self.defaults && keys.iter().any(|k| is_secret_name(k)) {
            return true;
        }
        self.paths.iter().any(|p| {
            p.root == Root::Args
                && p.segs.iter().zip(keys).all(|(seg, key)| match seg {
                    Seg::Any => true,
                    Seg::Key(k) => **k == **key,
                    Seg::Index(n) => key.parse::<usize>() == Ok(*n),
                })
        })
    }

    /// Whether keys that name secrets are hidden wherever they appear.
    pub fn hides_secret_names(&self) -> bool {
        self.defaults
    }

    /// A copy of an action's `args` with every hidden value sealed.
    pub fn args(&self, args: &Value, key: &RedactionKey) -> Value {
        self.apply(Root::Args, args, key)
    }

    /// A copy of an action's `context` with every hidden value sealed.
    pub fn context(&self, context: &Value, key: &RedactionKey) -> Value {
        self.apply(Root::Context, context, key)
    }

    fn apply(&self, root: Root, value: &Value, key: &RedactionKey) -> Value {
        let mut out = value.clone();
        if self.defaults {
            seal_secret_names(&mut out, key);
        }
        for p in self.paths.iter().filter(|p| p.root == root) {
            seal_path(&mut out, &p.segs, key);
        }
        out
    }
}

/// Whether a key names a secret: compared case-insensitively with `_`, `-`
/// and spaces removed, so `apiKey`, `API-KEY` and `api_key` are one name.
pub fn is_secret_name(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "authorization",
        "auth",
        "cookie",
        "setcookie",
        "privatekey",
        "accesskey",
        "secretkey",
        "credentials",
        "credential",
        "sessionid",
        "pin",
        "otp",
        "xapikey",
    ];
    const SUFFIX: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
        "credentials",
        "cookie",
    ];
    let folded: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    EXACT.contains(&folded.as_str()) || SUFFIX.iter().any(|s| folded.ends_with(s))
}

fn seal_secret_names(value: &mut Value, key: &RedactionKey) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) {
                    *v = key.seal(v);
                } else {
                    seal_secret_names(v, key);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                seal_secret_names(v, key);
            }
        }
        _ => {}
    }
}

fn seal_path(value: &mut Value, segs: &[Seg], key: &RedactionKey) {
    let Some((first, rest)) = segs.split_first() else {
        *value = key.seal(value);
        return;
    };
    match (first, value) {
        (Seg::Key(k), Value::Object(map)) => {
            if let Some(v) = map.get_mut(&**k) {
                seal_path(v, rest, key);
            }
        }
        (Seg::Index(i), Value::Array(items)) => {
            if let Some(v) = items.get_mut(*i) {
                seal_path(v, rest, key);
            }
        }
        (Seg::Any, Value::Array(items)) => {
            for v in items {
                seal_path(v, rest, key);
            }
        }
        (Seg::Any, Value::Object(map)) => {
            for v in map.values_mut() {
                seal_path(v, rest, key);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> RedactionKey {
        RedactionKey::from_secret(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn paths_reach_into_arrays_and_wildcards() {
        let r = Redaction::new(
            ["args.creds[*].secret", "args.list[1]", "args.map.*.v"],
            false,
        );
        let out = r.args(
            &json!({"creds": [{"secret": "a", "user": "u"}, {"secret": "b"}],
                    "list": [1, 2, 3], "map": {"x": {"v": 1}, "y": {"v": 2}}}),
            &key(),
        );
        for v in [
            &out["creds"][0]["secret"],
            &out["creds"][1]["secret"],
            &out["list"][1],
            &out["map"]["x"]["v"],
            &out["map"]["y"]["v"],
        ] {
            assert!(v.as_str().unwrap().starts_with("redacted:k"), "{v}");
        }
        assert_eq!(out["creds"][0]["user"], "u");
        assert_eq!(out["list"][0], 1);
    }

    #[test]
    fn secret_names_are_hidden_at_any_depth_unless_turned_off() {
        let args = json!({"db": {"Password": "p", "API-Key": "k", "github_token": "t"},
                          "headers": [{"authorization": "Bearer x"}], "max_tokens": 5});
        let out = Redaction::default().args(&args, &key());
        let text = out.to_string();
        for secret in ["\"p\"", "\"k\"", "\"t\"", "Bearer x"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(out["max_tokens"], 5);
        let off = Redaction::new([], false).args(&args, &key());
        assert_eq!(off, args);
    }

    #[test]
    fn digests_are_keyed_and_name_their_key() {
        let r = Redaction::new(["args.pin"], false);
        let a = r.args(&json!({"pin": "1234"}), &key());
        let b = r.args(
            &json!({"pin": "1234"}),
            &RedactionKey::from_secret(b"another secret of enough length"),
        );
        assert_ne!(a, b, "different keys give different digests");
        let unkeyed = crate::canonical::digest(&json!("1234"));
        assert!(
            !a.to_string()
                .contains(unkeyed.trim_start_matches("blake3:"))
        );
        assert!(
            a["pin"]
                .as_str()
                .unwrap()
                .starts_with(&format!("redacted:{}:", key().id()))
        );
        assert_eq!(a, r.args(&json!({"pin": "1234"}), &key()), "stable per key");
        let random = RedactionKey::random();
        assert!(random.id().starts_with("ephemeral-"));
        assert!(!format!("{random:?}").contains("key:"));
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        for bad in [
            "password", "args", "args.", "args..x", "args[", "args[x]", "args.a]", "argsx",
        ] {
            assert!(check_path(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "args.a",
            "args.a[0]",
            "args.a[*].b",
            "context.x.*",
            "args[*]",
        ] {
            check_path(good).unwrap();
        }
    }
}
