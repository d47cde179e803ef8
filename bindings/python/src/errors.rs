//! One Python exception class per error kind, all under `SignoffError`, with
//! the details as attributes.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    signoff,
    SignoffError,
    PyException,
    "Base of every signoff error."
);
create_exception!(
    signoff,
    Denied,
    SignoffError,
    "Denied by policy or by a reviewer."
);
create_exception!(
    signoff,
    ApprovalTimeout,
    SignoffError,
    "Nobody approved in time."
);
create_exception!(
    signoff,
    Cancelled,
    SignoffError,
    "The approval request was cancelled."
);
create_exception!(
    signoff,
    PolicyError,
    SignoffError,
    "A policy failed to load."
);
create_exception!(
    signoff,
    AuditError,
    SignoffError,
    "The audit trail could not be written."
);
create_exception!(
    signoff,
    InvalidAction,
    SignoffError,
    "The action is malformed."
);
create_exception!(
    signoff,
    VoteRejected,
    SignoffError,
    "A vote was refused (and audited)."
);
create_exception!(signoff, ApproverError, SignoffError, "The approver failed.");
create_exception!(
    signoff,
    StoreError,
    SignoffError,
    "The approval store failed."
);
create_exception!(signoff, NotFound, SignoffError, "No such approval request.");
create_exception!(
    signoff,
    NoApprover,
    SignoffError,
    "Approval needed but no approver configured."
);
create_exception!(
    signoff,
    PermitUsed,
    SignoffError,
    "The permit or action id was already used."
);

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SignoffError", py.get_type::<SignoffError>())?;
    m.add("Denied", py.get_type::<Denied>())?;
    m.add("ApprovalTimeout", py.get_type::<ApprovalTimeout>())?;
    m.add("Cancelled", py.get_type::<Cancelled>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("AuditError", py.get_type::<AuditError>())?;
    m.add("InvalidAction", py.get_type::<InvalidAction>())?;
    m.add("VoteRejected", py.get_type::<VoteRejected>())?;
    m.add("ApproverError", py.get_type::<ApproverError>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("NoApprover", py.get_type::<NoApprover>())?;
    m.add("PermitUsed", py.get_type::<PermitUsed>())?;
    Ok(())
}

fn with_attrs(py: Python<'_>, err: PyErr, attrs: &[(&str, Option<Py<PyAny>>)]) -> PyErr {
    let value = err.value(py);
    for (name, v) in attrs {
        let v = v
            .as_ref()
            .map(|v| v.clone_ref(py))
            .unwrap_or_else(|| py.None());
        let _ = value.setattr(*name, v);
    }
    err
}

fn s(py: Python<'_>, v: Option<&str>) -> Option<Py<PyAny>> {
    v.and_then(|v| v.into_pyobject(py).ok())
        .map(|b| b.into_any().unbind())
}

fn list(py: Python<'_>, v: &[String]) -> Option<Py<PyAny>> {
    v.to_vec()
        .into_pyobject(py)
        .ok()
        .map(|b| b.into_any().unbind())
}

/// Maps a policy load error, with `issues` as a list of dicts.
pub fn policy_err(py: Python<'_>, e: &signoff::PolicyError) -> PyErr {
    let err = PolicyError::new_err(e.to_string());
    let issues: Vec<Py<PyAny>> = e
        .issues
        .iter()
        .filter_map(|i| {
            let d = PyDict::new(py);
            d.set_item("file", i.file.as_deref()).ok()?;
            d.set_item("line", i.line).ok()?;
            d.set_item("column", i.column).ok()?;
            d.set_item("rule", i.rule.as_deref()).ok()?;
            d.set_item("field", &i.field).ok()?;
            d.set_item("message", &i.message).ok()?;
            Some(d.into_any().unbind())
        })
        .collect();
    let issues = issues.into_pyobject(py).ok().map(|b| b.into_any().unbind());
    let rule = e.issues.first().and_then(|i| i.rule.as_deref());
    with_attrs(
        py,
        err,
        &[
            ("issues", issues),
            ("rule", s(py, rule)),
            ("code", s(py, Some("SIGNOFF_POLICY"))),
        ],
    )
}

/// Maps a core error to its exception class, with attributes.
pub fn to_py_err(py: Python<'_>, e: signoff::Error) -> PyErr {
    use signoff::Error as E;
    let message = e.to_string();
    let code = s(py, Some(e.code()));
    match e {
        E::Denied(d) => with_attrs(
            py,
            Denied::new_err(message),
            &[
                ("code", code),
                ("rule", s(py, d.rule())),
                ("rules", list(py, &d.rules)),
                ("reason", s(py, Some(&d.reason))),
                ("voter", s(py, d.voter())),
                (
                    "comment",
                    s(
                        py,
                        match &d.by {
                            signoff::DeniedBy::Reviewer { comment, .. } => comment.as_deref(),
                            _ => None,
                        },
                    ),
                ),
                ("action_id", s(py, Some(&d.action_id))),
                ("request_id", s(py, d.request_id.as_deref())),
            ],
        ),
        E::TimedOut(t) => with_attrs(
            py,
            ApprovalTimeout::new_err(message),
            &[
                ("code", code),
                ("rule", s(py, t.rules.first().map(String::as_str))),
                ("rules", list(py, &t.rules)),
                ("reason", s(py, Some("no decision before the timeout"))),
                ("voter", None),
                ("action_id", s(py, Some(&t.action_id))),
                ("request_id", s(py, Some(&t.request_id))),
            ],
        ),
        E::Cancelled { request_id, reason } => with_attrs(
            py,
            Cancelled::new_err(message),
            &[
                ("code", code),
                ("rule", None),
                ("reason", s(py, Some(&reason))),
                ("voter", None),
                ("request_id", s(py, Some(&request_id))),
            ],
        ),
        E::Policy(p) => policy_err(py, &p),
        E::Audit(_) => with_attrs(py, AuditError::new_err(message), &[("code", code)]),
        E::InvalidAction(_) => with_attrs(py, InvalidAction::new_err(message), &[("code", code)]),
        E::VoteRejected(r) => with_attrs(
            py,
            VoteRejected::new_err(message),
            &[
                ("code", code),
                ("voter", s(py, Some(&r.voter))),
                ("reason", s(py, Some(r.reason.code()))),
                ("request_id", s(py, Some(&r.request_id))),
            ],
        ),
        E::Approver { request_id, .. } => with_attrs(
            py,
            ApproverError::new_err(message),
            &[("code", code), ("request_id", s(py, Some(&request_id)))],
        ),
        E::Store(_) => with_attrs(py, StoreError::new_err(message), &[("code", code)]),
        E::NotFound(id) => with_attrs(
            py,
            NotFound::new_err(message),
            &[("code", code), ("request_id", s(py, Some(&id)))],
        ),
        E::NoApprover { rules, .. } => with_attrs(
            py,
            NoApprover::new_err(message),
            &[
                ("code", code),
                ("rule", s(py, rules.first().map(String::as_str))),
                ("rules", list(py, &rules)),
            ],
        ),
        E::AlreadyCompleted(_) | E::PermitUsed(_) | E::AlreadyIssued(_) => {
            with_attrs(py, PermitUsed::new_err(message), &[("code", code)])
        }
        _ => with_attrs(py, SignoffError::new_err(message), &[("code", code)]),
    }
}
