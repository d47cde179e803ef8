//! The CSV form of the report: one row per privileged action (RFC 4180:
//! CRLF line ends, fields quoted when they hold `"`, `,`, CR or LF). A field
//! that a spreadsheet would read as a formula (starting with `=`, `+`, `-`,
//! `@`, tab or CR) is prefixed with `'`, since trail text is
//! attacker-influenced.

use std::fmt::Write as _;

use super::Report;

/// The columns, in order.
pub const COLUMNS: [&str; 21] = [
    "decided_at",
    "action_id",
    "stream",
    "action",
    "actor",
    "on_behalf_of",
    "resource",
    "env",
    "decision",
    "rules",
    "reason",
    "error",
    "request_id",
    "approvers",
    "denied_by",
    "resolution",
    "resolved_at",
    "seconds_to_decision",
    "completion",
    "permitted",
    "record_hash",
];

/// One CSV field, quoted and guarded as needed.
pub fn field(value: &str, out: &mut String) {
    let guard = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = guard || value.contains(['"', ',', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if guard {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// The CSV text. A broken trail's break is not a row: the rows are actions;
/// the exit status (1) and standard error name the break.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(report.actions.len() * 320 + 512);
    out.push_str(&COLUMNS.join(","));
    out.push_str("\r\n");
    for a in &report.actions {
        let seconds = a
            .seconds_to_decision
            .map(|s| format!("{s:.3}"))
            .unwrap_or_default();
        let completion = match (&a.completion, &a.completion_error) {
            (Some(c), Some(e)) => format!("{c}: {e}"),
            (Some(c), None) => c.clone(),
            _ => String::new(),
        };
        let cells: [&str; 21] = [
            &a.ts,
            &a.action_id,
            &a.stream,
            &a.action,
            &a.actor,
            a.on_behalf_of.as_deref().unwrap_or(""),
            a.resource.as_deref().unwrap_or(""),
            a.env.as_deref().unwrap_or(""),
            &a.effect,
            &a.rules.join(" "),
            a.reason.as_deref().unwrap_or(""),
            a.error.as_deref().unwrap_or(""),
            a.request_id.as_deref().unwrap_or(""),
            &a.approvers.join(" "),
            &a.deniers.join(" "),
            a.resolution.as_deref().unwrap_or(""),
            a.resolved_at.as_deref().unwrap_or(""),
            &seconds,
            &completion,
            if a.permitted { "true" } else { "false" },
            &a.hash,
        ];
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(c, &mut out);
        }
        let _ = write!(out, "\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &str) -> String {
        let mut s = String::new();
        field(v, &mut s);
        s
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(one("plain"), "plain");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formula_like_cells_are_defused() {
        assert_eq!(one("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one("+1"), "\"'+1\"");
        assert_eq!(one("-2"), "\"'-2\"");
        assert_eq!(one("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(one("a=b"), "a=b");
    }
}
