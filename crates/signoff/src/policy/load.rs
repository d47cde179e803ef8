//! Loading a policy: parsing TOML or JSON, validating everything, and pointing
//! every error at its file, rule, line and column.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::cel::Condition;
use super::glob::Glob;
use super::raw::{RawPolicy, RawRule};
use super::{ApprovalSpec, Effect, OnTimeout, Risk, Rule};
use crate::principal::{Principal, PrincipalKind};

/// One problem found while loading a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyIssue {
    /// The file it came from, when loaded from a file.
    pub file: Option<String>,
    /// 1-based line; 0 when the source has no positions (built in code).
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// The id of the rule concerned, if any.
    pub rule: Option<String>,
    /// The field path, e.g. `rules[2].when`.
    pub field: String,
    /// What is wrong, lowercase, user input in backticks.
    pub message: String,
}

impl fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file.as_deref().unwrap_or("<policy>"))?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if let Some(rule) = &self.rule {
            write!(f, "rule `{rule}`: ")?;
        }
        f.write_str(&self.message)?;
        if !self.field.is_empty() && self.line == 0 {
            write!(f, " (at `{}`)", self.field)?;
        }
        Ok(())
    }
}

/// A policy that failed to load: every problem found, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The problems; never empty.
    pub issues: Vec<PolicyIssue>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl PolicyError {
    pub(crate) fn single(file: Option<&str>, message: impl Into<String>) -> Self {
        PolicyError {
            issues: vec![PolicyIssue {
                file: file.map(str::to_owned),
                line: 0,
                column: 0,
                rule: None,
                field: String::new(),
                message: message.into(),
            }],
        }
    }
}

/// A step in a field path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Maps field paths to source positions.
pub(crate) trait Locate {
    /// Line and column (1-based) of the value at `path`.
    fn locate(&self, path: &[Seg<'_>]) -> Option<(usize, usize)>;
}

/// No positions: policies built in code.
pub(crate) struct NoSource;

impl Locate for NoSource {
    fn locate(&self, _: &[Seg<'_>]) -> Option<(usize, usize)> {
        None
    }
}

/// Positions from a TOML document.
pub(crate) struct TomlSource<'i> {
    text: &'i str,
    root: Option<Spanned<DeTable<'i>>>,
}

impl<'i> TomlSource<'i> {
    pub fn new(text: &'i str) -> Self {
        TomlSource {
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// The id of the `[[rules]]` entry whose span contains `offset`.
    pub fn rule_at(&self, offset: usize) -> Option<String> {
        let root = self.root.as_ref()?;
        let rules = table_get(root.get_ref(), "rules")?;
        let DeValue::Array(items) = rules.get_ref() else {
            return None;
        };
        let mut best: Option<String> = None;
        for item in items {
            if let DeValue::Table(t) = item.get_ref() {
                // a `[[rules]]` table's span covers its header; its keys follow it
                let start = item.span().start;
                let end = t
                    .iter()
                    .map(|(k, v)| k.span().end.max(v.span().end))
                    .max()
                    .unwrap_or(item.span().end)
                    .max(item.span().end);
                if offset >= start && offset <= end {
                    best = table_get(t, "id").and_then(|v| match v.get_ref() {
                        DeValue::String(s) => Some(s.to_string()),
                        _ => None,
                    });
                }
            }
        }
        best
    }
}

fn table_get<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

impl Locate for TomlSource<'_> {
    fn locate(&self, path: &[Seg<'_>]) -> Option<(usize, usize)> {
        let root = self.root.as_ref()?;
        let mut span = root.span();
        let mut table = Some(root.get_ref());
        let mut value: Option<&Spanned<DeValue<'_>>> = None;
        for seg in path {
            let next = match (seg, table, value.map(Spanned::get_ref)) {
                (Seg::Key(k), Some(t), _) => table_get(t, k),
                (Seg::Index(i), _, Some(DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            let Some(next) = next else { break };
            span = next.span();
            value = Some(next);
            table = match next.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        Some(line_col(self.text, span.start))
    }
}

/// Positions from a JSON document: found by scanning for the path.
pub(crate) struct JsonSource<'i> {
    text: &'i str,
}

impl<'i> JsonSource<'i> {
    pub fn new(text: &'i str) -> Self {
        JsonSource { text }
    }
}

impl Locate for JsonSource<'_> {
    fn locate(&self, path: &[Seg<'_>]) -> Option<(usize, usize)> {
        let offset = json_offset(self.text.as_bytes(), path)?;
        Some(line_col(self.text, offset))
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before
        .get(line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    (line, column)
}

/// Byte offset of the value at `path` in a JSON text: a small scanner that
/// skips values it does not descend into.
fn json_offset(b: &[u8], path: &[Seg<'_>]) -> Option<usize> {
    let mut pos = skip_ws(b, 0);
    for seg in path {
        match (seg, b.get(pos)) {
            (Seg::Key(key), Some(b'{')) => {
                pos = skip_ws(b, pos + 1);
                loop {
                    if b.get(pos) != Some(&b'"') {
                        return None;
                    }
                    let end = skip_string(b, pos)?;
                    let name: String = serde_json::from_slice(b.get(pos..end)?).ok()?;
                    pos = skip_ws(b, end);
                    if b.get(pos) != Some(&b':') {
                        return None;
                    }
                    pos = skip_ws(b, pos + 1);
                    if name == *key {
                        break;
                    }
                    pos = skip_ws(b, skip_value(b, pos)?);
                    if b.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos = skip_ws(b, pos + 1);
                }
            }
            (Seg::Index(i), Some(b'[')) => {
                pos = skip_ws(b, pos + 1);
                for _ in 0..*i {
                    pos = skip_ws(b, skip_value(b, pos)?);
                    if b.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos = skip_ws(b, pos + 1);
                }
            }
            _ => return None,
        }
    }
    Some(pos)
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        pos += 1;
    }
    pos
}

fn skip_string(b: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

fn skip_value(b: &[u8], pos: usize) -> Option<usize> {
    match b.get(pos)? {
        b'"' => skip_string(b, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = pos;
            loop {
                match b.get(i)? {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = pos;
            while !matches!(
                b.get(i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            ) {
                i += 1;
            }
            Some(i)
        }
    }
}

/// The validated parts of a policy, ready to be indexed.
pub(crate) struct Compiled {
    pub name: String,
    pub description: Option<String>,
    pub default: Effect,
    pub default_approval: Option<ApprovalSpec>,
    pub groups: BTreeMap<String, Vec<Principal>>,
    pub rules: Vec<Rule>,
    pub unsafe_allow_on_timeout: bool,
    pub redaction: crate::redact::Redaction,
    pub owners: Vec<(Glob, Vec<Principal>)>,
    pub break_glass: Option<String>,
}

/// The longest timeout (and grant) a policy may ask for: a year.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

struct Checker<'a> {
    file: Option<&'a str>,
    locate: &'a dyn Locate,
    issues: Vec<PolicyIssue>,
}

impl Checker<'_> {
    fn issue(&mut self, rule: Option<&str>, path: &[Seg<'_>], message: impl Into<String>) {
        let (line, column) = self.locate.locate(path).unwrap_or((0, 0));
        let field = path
            .iter()
            .map(|s| match s {
                Seg::Key(k) => format!(".{k}"),
                Seg::Index(i) => format!("[{i}]"),
            })
            .collect::<String>()
            .trim_start_matches('.')
            .to_owned();
        self.issues.push(PolicyIssue {
            file: self.file.map(str::to_owned),
            line,
            column,
            rule: rule.map(str::to_owned),
            field,
            message: message.into(),
        });
    }
}

fn parse_effect(s: &str) -> Option<Effect> {
    match s {
        "allow" => Some(Effect::Allow),
        "deny" => Some(Effect::Deny),
        "approve" => Some(Effect::Approve),
        _ => None,
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err(format!("duration `{s}` must be longer than zero")),
        Ok(d) if d > MAX_DURATION => Err(format!(
            "duration `{s}` is longer than the maximum of a year"
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "bad duration `{s}`: {e} (write e.g. `15m`, `1h`, `2h 30m`)"
        )),
    }
}

/// Checks a `redact` list; the valid paths.
fn redact_paths<'a>(
    c: &mut Checker<'_>,
    rule: Option<&str>,
    at: &[Seg<'_>],
    list: &'a [String],
) -> (Vec<&'a str>, bool) {
    let mut ok = true;
    let mut out = Vec::with_capacity(list.len());
    for (i, path) in list.iter().enumerate() {
        match crate::redact::check_path(path) {
            Ok(()) => out.push(path.as_str()),
            Err(m) => {
                let mut p = at.to_vec();
                p.push(Seg::Index(i));
                c.issue(rule, &p, m);
                ok = false;
            }
        }
    }
    (out, ok)
}

/// Normalises an actor pattern like a principal: NFKC, kind and e-mail ids
/// lowercased.
fn normalize_actor_pattern(p: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let p: String = p.nfkc().collect();
    match p.split_once(':') {
        Some((kind, id)) => {
            let id = if id.contains('@') {
                id.to_lowercase()
            } else {
                id.to_owned()
            };
            format!("{}:{id}", kind.to_lowercase())
        }
        None => p,
    }
}

/// Validates `raw` and compiles its rules; collects every problem found.
pub(crate) fn compile(
    raw: &RawPolicy,
    file: Option<&str>,
    locate: &dyn Locate,
) -> Result<Compiled, PolicyError> {
    let mut c = Checker {
        file,
        locate,
        issues: Vec::new(),
    };
    let header = &raw.policy;
    let default = match header.default.as_deref() {
        None => Effect::Deny,
        Some(s) => parse_effect(s).unwrap_or_else(|| {
            c.issue(
                None,
                &[Seg::Key("policy"), Seg::Key("default")],
                format!("unknown default `{s}` (expected `allow`, `deny` or `approve`)"),
            );
            Effect::Deny
        }),
    };
    let unsafe_allow_on_timeout = header.unsafe_allow_on_timeout.unwrap_or(false);

    // groups
    let mut groups: BTreeMap<String, Vec<Principal>> = BTreeMap::new();
    for (name, members) in &raw.groups {
        if name.is_empty() {
            c.issue(None, &[Seg::Key("groups")], "group name is empty");
        }
        let mut list = Vec::new();
        for (i, m) in members.iter().enumerate() {
            match Principal::parse(m) {
                Ok(p) if p.kind() == PrincipalKind::Group => c.issue(
                    None,
                    &[Seg::Key("groups"), Seg::Key(name), Seg::Index(i)],
                    format!(
                        "group `{name}`: nested group `{m}` is not supported; list its members"
                    ),
                ),
                Ok(p) => {
                    if !list.contains(&p) {
                        list.push(p);
                    }
                }
                Err(e) => c.issue(
                    None,
                    &[Seg::Key("groups"), Seg::Key(name), Seg::Index(i)],
                    format!("group `{name}`: {e}"),
                ),
            }
        }
        groups.insert(name.clone(), list);
    }

    let default_approval = if default == Effect::Approve {
        let base = [Seg::Key("policy")];
        approval_spec(
            &mut c,
            None,
            &base,
            ApprovalFields {
                approvers: header.approvers.as_deref(),
                min_approvals: header.min_approvals,
                timeout: header.timeout.as_deref(),
                on_timeout: None,
                allow_edit: None,
                redact: None,
                channels: None,
                grants: GrantFields::default(),
            },
            &groups,
            unsafe_allow_on_timeout,
        )
    } else {
        for (key, present) in [
            ("approvers", header.approvers.is_some()),
            ("min_approvals", header.min_approvals.is_some()),
            ("timeout", header.timeout.is_some()),
        ] {
            if present {
                c.issue(
                    None,
                    &[Seg::Key("policy"), Seg::Key(key)],
                    format!("`{key}` in [policy] only applies when `default = \"approve\"`"),
                );
            }
        }
        None
    };

    let mut all_redact: Vec<&str> = Vec::new();
    if let Some(list) = &header.redact {
        let (paths, _) = redact_paths(
            &mut c,
            None,
            &[Seg::Key("policy"), Seg::Key("redact")],
            list,
        );
        all_redact.extend(paths);
    }
    for r in &raw.rules {
        all_redact.extend(r.redact.iter().flatten().map(String::as_str));
    }

    let break_glass = header.break_glass.as_ref().and_then(|bg| {
        let at = [Seg::Key("policy"), Seg::Key("break_glass")];
        match bg.approvers.as_deref() {
            None => {
                c.issue(
                    None,
                    &at,
                    "`break_glass` needs `approvers`: the group whose members may resolve a request alone",
                );
                None
            }
            Some(g) if !groups.contains_key(g) => {
                c.issue(
                    None,
                    &[Seg::Key("policy"), Seg::Key("break_glass"), Seg::Key("approvers")],
                    format!("`break_glass.approvers` names undefined group `{g}`"),
                );
                None
            }
            Some(g) => Some(g.to_owned()),
        }
    });

    let mut owners = Vec::new();
    for (pattern, people) in &raw.owners {
        let at = [Seg::Key("owners"), Seg::Key(pattern)];
        let glob = match Glob::path(&normalize_actor_pattern(pattern)) {
            Ok(g) => Some(g),
            Err(e) => {
                c.issue(None, &at, format!("`owners` pattern `{pattern}`: {e}"));
                None
            }
        };
        let mut list = Vec::new();
        for (i, who) in people.iter().enumerate() {
            let mut p = at.to_vec();
            p.push(Seg::Index(i));
            match Principal::parse(who) {
                Ok(pr) if pr.kind() == PrincipalKind::User => list.push(pr),
                Ok(_) => c.issue(
                    None,
                    &p,
                    format!("owner `{who}` must be a `user:` principal"),
                ),
                Err(e) => c.issue(None, &p, format!("owner: {e}")),
            }
        }
        if let Some(g) = glob {
            owners.push((g, list));
        }
    }

    let mut rules = Vec::with_capacity(raw.rules.len());
    let mut seen_ids: HashSet<&str> = HashSet::new();
    for (i, r) in raw.rules.iter().enumerate() {
        if let Some(rule) = compile_rule(
            &mut c,
            i,
            r,
            &groups,
            unsafe_allow_on_timeout,
            &mut seen_ids,
        ) {
            rules.push(rule);
        }
    }

    // a grant's scope values are stored and shown in clear: a scope field
    // must not name what the policy redacts (DESIGN §14)
    let redaction = crate::redact::Redaction::new(
        all_redact.iter().copied(),
        header.redact_defaults.unwrap_or(true),
    );
    for (i, r) in raw.rules.iter().enumerate() {
        for (j, field) in r.grant_scope.iter().flatten().enumerate() {
            if let Ok(crate::grant::ScopeField::Args(keys)) = crate::grant::ScopeField::parse(field)
                && redaction.may_hide_args(&keys)
            {
                c.issue(
                    r.id.as_deref(),
                    &[
                        Seg::Key("rules"),
                        Seg::Index(i),
                        Seg::Key("grant_scope"),
                        Seg::Index(j),
                    ],
                    format!(
                        "scope field `{field}` is (or holds) a redacted value; grants keep their scope in clear, so scope by a field that is not secret"
                    ),
                );
            }
        }
    }

    if !c.issues.is_empty() {
        c.issues.sort_by_key(|i| (i.line, i.column));
        return Err(PolicyError { issues: c.issues });
    }
    Ok(Compiled {
        name: header.name.clone().unwrap_or_default(),
        description: header.description.clone(),
        default,
        default_approval,
        groups,
        rules,
        unsafe_allow_on_timeout,
        redaction: crate::redact::Redaction::new(
            all_redact,
            header.redact_defaults.unwrap_or(true),
        ),
        owners,
        break_glass,
    })
}

/// `max_grant`, `grant_scope`, `remind_every`, `escalate_after`, `escalate_to`.
#[derive(Default)]
struct GrantFields<'a> {
    max_grant: Option<&'a str>,
    grant_scope: Option<&'a [String]>,
    remind_every: Option<&'a str>,
    escalate_after: Option<&'a str>,
    escalate_to: Option<&'a str>,
}

struct ApprovalFields<'a> {
    approvers: Option<&'a str>,
    min_approvals: Option<i64>,
    timeout: Option<&'a str>,
    on_timeout: Option<&'a str>,
    allow_edit: Option<bool>,
    redact: Option<&'a [String]>,
    channels: Option<&'a [String]>,
    grants: GrantFields<'a>,
}

fn approval_spec(
    c: &mut Checker<'_>,
    rule: Option<&str>,
    base: &[Seg<'_>],
    f: ApprovalFields<'_>,
    groups: &BTreeMap<String, Vec<Principal>>,
    unsafe_allow_on_timeout: bool,
) -> Option<ApprovalSpec> {
    let at = |key: &'static str| {
        let mut p = base.to_vec();
        p.push(Seg::Key(key));
        p
    };
    let mut ok = true;
    let group = match f.approvers {
        None => {
            c.issue(
                rule,
                base,
                "approval needs `approvers`: the group whose members may approve",
            );
            ok = false;
            None
        }
        Some(g) => match groups.get(g) {
            None => {
                let known: Vec<&str> = groups.keys().map(String::as_str).collect();
                c.issue(
                    rule,
                    &at("approvers"),
                    format!(
                        "`approvers` names undefined group `{g}` (defined: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                ok = false;
                None
            }
            Some(members) => Some((g, members)),
        },
    };
    let min = f.min_approvals.unwrap_or(1);
    if min < 1 {
        c.issue(
            rule,
            &at("min_approvals"),
            format!("`min_approvals` must be at least 1, not {min}"),
        );
        ok = false;
    } else if let Some((g, members)) = group {
        let users = members
            .iter()
            .filter(|p| p.kind() == PrincipalKind::User)
            .count() as i64;
        if min > users {
            c.issue(
                rule,
                &at("min_approvals"),
                format!("`min_approvals` is {min} but group `{g}` has only {users} user member(s) who can vote"),
            );
            ok = false;
        }
    }
    let timeout = match f.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => match parse_duration(t) {
            Ok(d) => d,
            Err(m) => {
                c.issue(rule, &at("timeout"), m);
                ok = false;
                DEFAULT_TIMEOUT
            }
        },
    };
    let on_timeout = match f.on_timeout {
        None | Some("deny") => OnTimeout::Deny,
        Some("allow") if unsafe_allow_on_timeout => OnTimeout::Allow,
        Some("allow") => {
            c.issue(
                rule,
                &at("on_timeout"),
                "`on_timeout = \"allow\"` lets an action run without any approval; set `unsafe_allow_on_timeout = true` in [policy] to permit it",
            );
            ok = false;
            OnTimeout::Deny
        }
        Some(other) => {
            c.issue(
                rule,
                &at("on_timeout"),
                format!("unknown on_timeout `{other}` (expected `deny` or `allow`)"),
            );
            ok = false;
            OnTimeout::Deny
        }
    };
    let redact: Vec<Box<str>> = f
        .redact
        .unwrap_or(&[])
        .iter()
        .filter(|p| crate::redact::check_path(p).is_ok())
        .map(|p| p.as_str().into())
        .collect();
    let mut channels = None;
    if let Some(list) = f.channels {
        if list.is_empty() {
            c.issue(
                rule,
                &at("channels"),
                "`channels` is an empty list, so no vote could count; remove it to accept every channel",
            );
            ok = false;
        }
        for (i, ch) in list.iter().enumerate() {
            if ch.is_empty()
                || !ch
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                let mut p = at("channels");
                p.push(Seg::Index(i));
                c.issue(
                    rule,
                    &p,
                    format!("channel `{ch}` must be a lowercase name such as `slack`, `web`, `api` or `authenticated`"),
                );
                ok = false;
            }
        }
        channels = Some(list.iter().map(|s| s.as_str().into()).collect());
    }
    let (grant, remind_every, escalation, fine) = grant_fields(c, rule, base, &f.grants, groups);
    ok &= fine;
    let (g, _) = group?;
    ok.then(|| ApprovalSpec {
        group: g.into(),
        min: min as u32,
        timeout,
        on_timeout,
        allow_edit: f.allow_edit.unwrap_or(false),
        redact: redact.into(),
        channels,
        grant,
        remind_every,
        escalation,
    })
}

type GrantParts = (
    Option<super::GrantSpec>,
    Option<Duration>,
    Option<(Duration, Box<str>)>,
    bool,
);

/// Checks the grant, reminder and escalation keys of an approve rule.
fn grant_fields(
    c: &mut Checker<'_>,
    rule: Option<&str>,
    base: &[Seg<'_>],
    f: &GrantFields<'_>,
    groups: &BTreeMap<String, Vec<Principal>>,
) -> GrantParts {
    let at = |key: &'static str| {
        let mut p = base.to_vec();
        p.push(Seg::Key(key));
        p
    };
    let mut ok = true;
    let mut duration = |c: &mut Checker<'_>, key: &'static str, v: Option<&str>| {
        v.and_then(|t| match parse_duration(t) {
            Ok(d) => Some(d),
            Err(m) => {
                c.issue(rule, &at(key), format!("`{key}`: {m}"));
                ok = false;
                None
            }
        })
    };
    let max_grant = duration(c, "max_grant", f.max_grant);
    let remind_every = duration(c, "remind_every", f.remind_every);
    let escalate_after = duration(c, "escalate_after", f.escalate_after);
    let mut scope = Vec::new();
    match f.grant_scope {
        Some(_) if f.max_grant.is_none() => {
            c.issue(
                rule,
                &at("grant_scope"),
                "`grant_scope` needs `max_grant`: without it the rule gives no grants",
            );
            ok = false;
        }
        Some([]) => {
            c.issue(
                rule,
                &at("grant_scope"),
                "`grant_scope` is an empty list, so one grant would cover every action of the rule; name the fields that must match",
            );
            ok = false;
        }
        Some(list) => {
            for (i, field) in list.iter().enumerate() {
                match crate::grant::ScopeField::parse(field) {
                    Ok(sf) if scope.contains(&sf) => {
                        let mut p = at("grant_scope");
                        p.push(Seg::Index(i));
                        c.issue(rule, &p, format!("scope field `{field}` is listed twice"));
                        ok = false;
                    }
                    Ok(sf) => scope.push(sf),
                    Err(m) => {
                        let mut p = at("grant_scope");
                        p.push(Seg::Index(i));
                        c.issue(rule, &p, m);
                        ok = false;
                    }
                }
            }
        }
        None => scope = crate::grant::ScopeField::defaults(),
    }
    let escalation = match (escalate_after, f.escalate_to, f.escalate_after) {
        (Some(after), Some(to), _) => {
            if groups.contains_key(to) {
                Some((after, to.into()))
            } else {
                c.issue(
                    rule,
                    &at("escalate_to"),
                    format!("`escalate_to` names undefined group `{to}`"),
                );
                ok = false;
                None
            }
        }
        (_, Some(_), None) => {
            c.issue(
                rule,
                &at("escalate_to"),
                "`escalate_to` needs `escalate_after`: when the group may step in",
            );
            ok = false;
            None
        }
        (_, None, Some(_)) => {
            c.issue(
                rule,
                &at("escalate_after"),
                "`escalate_after` needs `escalate_to`: the group escalated to",
            );
            ok = false;
            None
        }
        _ => None,
    };
    let grant = max_grant.map(|max| super::GrantSpec {
        max,
        scope: scope.into(),
    });
    (grant, remind_every, escalation, ok)
}

fn compile_rule<'r>(
    c: &mut Checker<'_>,
    i: usize,
    r: &'r RawRule,
    groups: &BTreeMap<String, Vec<Principal>>,
    unsafe_allow_on_timeout: bool,
    seen: &mut HashSet<&'r str>,
) -> Option<Rule> {
    let base = [Seg::Key("rules"), Seg::Index(i)];
    let at = |key| [Seg::Key("rules"), Seg::Index(i), Seg::Key(key)];
    let id = match r.id.as_deref() {
        None | Some("") => {
            c.issue(None, &base, format!("rule #{} has no `id`", i + 1));
            None
        }
        Some(id) => {
            if !seen.insert(id) {
                c.issue(Some(id), &at("id"), format!("duplicate rule id `{id}`"));
            }
            Some(id)
        }
    };
    let rid = id;
    let mut ok = id.is_some();
    let effect = match r.effect.as_deref() {
        None => {
            c.issue(
                rid,
                &base,
                "rule has no `effect` (expected `allow`, `deny` or `approve`)",
            );
            ok = false;
            Effect::Deny
        }
        Some(s) => parse_effect(s).unwrap_or_else(|| {
            c.issue(
                rid,
                &at("effect"),
                format!("unknown effect `{s}` (expected `allow`, `deny` or `approve`)"),
            );
            ok = false;
            Effect::Deny
        }),
    };

    let mut globs =
        |c: &mut Checker<'_>, key: &'static str, list: Option<&Vec<String>>, action: bool| {
            let list = list?;
            if list.is_empty() {
                c.issue(
                rid,
                &at(key),
                format!(
                    "`{key}` is an empty list, so the rule never matches; remove it to match any"
                ),
            );
                ok = false;
                return None;
            }
            let mut out = Vec::with_capacity(list.len());
            for (j, p) in list.iter().enumerate() {
                let compiled = if action {
                    Glob::action(p)
                } else if key == "actors" {
                    Glob::path(&normalize_actor_pattern(p))
                } else {
                    Glob::path(p)
                };
                match compiled {
                    Ok(g) => out.push(g),
                    Err(e) => {
                        c.issue(
                            rid,
                            &[
                                Seg::Key("rules"),
                                Seg::Index(i),
                                Seg::Key(key),
                                Seg::Index(j),
                            ],
                            format!("`{key}`: {e}"),
                        );
                        ok = false;
                    }
                }
            }
            Some(out.into_boxed_slice())
        };
    let actions = globs(c, "actions", r.actions.as_ref(), true);
    let resources = globs(c, "resources", r.resources.as_ref(), false);
    let actors = globs(c, "actors", r.actors.as_ref(), false);
    let env = match &r.env {
        Some(list) if list.is_empty() => {
            c.issue(
                rid,
                &at("env"),
                "`env` is an empty list, so the rule never matches; remove it to match any",
            );
            ok = false;
            None
        }
        Some(list) => Some(
            list.iter()
                .map(|s| Box::from(s.as_str()))
                .collect::<Box<[Box<str>]>>(),
        ),
        None => None,
    };
    let when = match r.when.as_deref() {
        None => None,
        Some(src) => match Condition::compile(src) {
            Ok(cond) => Some(cond),
            Err(e) => {
                c.issue(rid, &at("when"), e.to_string());
                ok = false;
                None
            }
        },
    };
    if let Some(list) = &r.redact {
        let (_, valid) = redact_paths(c, rid, &at("redact"), list);
        ok &= valid;
    }
    let risk = match r.risk.as_deref() {
        None => None,
        Some(s) => match Risk::parse(s) {
            Some(r) => Some(r),
            None => {
                c.issue(
                    rid,
                    &at("risk"),
                    format!("unknown risk `{s}` (expected `low`, `medium`, `high` or `critical`)"),
                );
                ok = false;
                None
            }
        },
    };
    let approval = if effect == Effect::Approve {
        let spec = approval_spec(
            c,
            rid,
            &base,
            ApprovalFields {
                approvers: r.approvers.as_deref(),
                min_approvals: r.min_approvals,
                timeout: r.timeout.as_deref(),
                on_timeout: r.on_timeout.as_deref(),
                allow_edit: r.allow_edit,
                redact: r.redact.as_deref(),
                channels: r.channels.as_deref(),
                grants: GrantFields {
                    max_grant: r.max_grant.as_deref(),
                    grant_scope: r.grant_scope.as_deref(),
                    remind_every: r.remind_every.as_deref(),
                    escalate_after: r.escalate_after.as_deref(),
                    escalate_to: r.escalate_to.as_deref(),
                },
            },
            groups,
            unsafe_allow_on_timeout,
        );
        if spec.is_none() {
            ok = false;
        }
        spec
    } else {
        for (key, present) in [
            ("approvers", r.approvers.is_some()),
            ("min_approvals", r.min_approvals.is_some()),
            ("timeout", r.timeout.is_some()),
            ("on_timeout", r.on_timeout.is_some()),
            ("allow_edit", r.allow_edit.is_some()),
            ("channels", r.channels.is_some()),
            ("max_grant", r.max_grant.is_some()),
            ("grant_scope", r.grant_scope.is_some()),
            ("remind_every", r.remind_every.is_some()),
            ("escalate_after", r.escalate_after.is_some()),
            ("escalate_to", r.escalate_to.is_some()),
        ] {
            if present && r.effect.is_some() && ok {
                c.issue(
                    rid,
                    &at(key),
                    format!("`{key}` only applies to rules with `effect = \"approve\"`"),
                );
                ok = false;
            }
        }
        None
    };
    if !ok {
        return None;
    }
    Some(Rule {
        id: id?.into(),
        description: r.description.clone(),
        effect,
        actions,
        resources,
        actors,
        env,
        when,
        reason: r.reason.clone(),
        approval,
        risk,
        redact: r
            .redact
            .iter()
            .flatten()
            .map(|p| p.as_str().into())
            .collect(),
    })
}

/// Loads a TOML policy text.
pub(crate) fn from_toml(
    text: &str,
    file: Option<&str>,
) -> Result<(RawPolicy, Compiled), PolicyError> {
    let source = TomlSource::new(text);
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        let (line, column, rule) = match e.span() {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                (l, c, source.rule_at(span.start))
            }
            None => (0, 0, None),
        };
        PolicyError {
            issues: vec![PolicyIssue {
                file: file.map(str::to_owned),
                line,
                column,
                rule,
                field: String::new(),
                message: e.message().trim_end().to_owned(),
            }],
        }
    })?;
    let compiled = compile(&raw, file, &source)?;
    Ok((raw, compiled))
}

/// Loads a JSON policy text with the same schema.
pub(crate) fn from_json(
    text: &str,
    file: Option<&str>,
) -> Result<(RawPolicy, Compiled), PolicyError> {
    let raw: RawPolicy = serde_json::from_str(text).map_err(|e| PolicyError {
        issues: vec![PolicyIssue {
            file: file.map(str::to_owned),
            line: e.line(),
            column: e.column(),
            rule: None,
            field: String::new(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        }],
    })?;
    let compiled = compile(&raw, file, &JsonSource::new(text))?;
    Ok((raw, compiled))
}
