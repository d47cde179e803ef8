//! `signoff.Policy` and `signoff.Evaluation`.

use std::sync::OnceLock;

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;

use crate::convert::{object_arg, opt_str, to_json, to_py};
use crate::errors::{InvalidAction, policy_err};

/// Builds an action from the keyword arguments every entry point takes.
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments"
)]
pub fn build_action(
    name: &str,
    actor: Option<String>,
    on_behalf_of: Option<String>,
    resource: Option<String>,
    env: Option<String>,
    args: Option<&Bound<'_, PyAny>>,
    justification: Option<String>,
    context: Option<&Bound<'_, PyAny>>,
    id: Option<String>,
) -> PyResult<signoff::Action> {
    Ok(signoff::Action {
        id,
        name: name.to_owned(),
        actor,
        on_behalf_of,
        resource,
        args: object_arg(args, "args")?,
        env,
        justification,
        context: object_arg(context, "context")?,
    })
}

/// The action of `Policy.evaluate` / `Policy.explain`. The string
/// arguments arrive as Python objects and are read through
/// [`cached_str`]: under the stable ABI for Python 3.9 each read of a str
/// otherwise allocates a bytes object.
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments"
)]
fn py_action(
    name: &Bound<'_, PyAny>,
    actor: Option<&Bound<'_, PyAny>>,
    on_behalf_of: Option<&Bound<'_, PyAny>>,
    resource: Option<&Bound<'_, PyAny>>,
    env: Option<&Bound<'_, PyAny>>,
    args: Option<&Bound<'_, PyAny>>,
    justification: Option<&Bound<'_, PyAny>>,
    context: Option<&Bound<'_, PyAny>>,
) -> PyResult<signoff::Action> {
    let text = |v: Option<&Bound<'_, PyAny>>| v.map_or(Ok(None), opt_str);
    let Some(name) = opt_str(name)? else {
        return Err(PyTypeError::new_err(
            "'NoneType' object is not an instance of 'str'",
        ));
    };
    Ok(signoff::Action {
        id: None,
        name,
        actor: text(actor)?,
        on_behalf_of: text(on_behalf_of)?,
        resource: text(resource)?,
        args: object_arg(args, "args")?,
        env: text(env)?,
        justification: text(justification)?,
        context: object_arg(context, "context")?,
    })
}

/// A validated, immutable policy.
#[pyclass(name = "Policy", module = "signoff", frozen)]
pub struct PyPolicy {
    pub inner: signoff::Policy,
}

#[pymethods]
impl PyPolicy {
    /// Parses a TOML policy.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<Self> {
        signoff::Policy::from_toml_str(text)
            .map(|inner| PyPolicy { inner })
            .map_err(|e| policy_err(py, &e))
    }

    /// Parses a JSON policy (same schema).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        signoff::Policy::from_json_str(text)
            .map(|inner| PyPolicy { inner })
            .map_err(|e| policy_err(py, &e))
    }

    /// Reads a policy file (`.json` is JSON, anything else TOML).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        signoff::Policy::from_file(path)
            .map(|inner| PyPolicy { inner })
            .map_err(|e| policy_err(py, &e))
    }

    /// The policy name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// `blake3:<hex>` of the canonical form.
    #[getter]
    fn digest(&self) -> String {
        self.inner.digest().to_owned()
    }

    /// Rule ids in order.
    #[getter]
    fn rules(&self) -> Vec<String> {
        self.inner
            .rules()
            .iter()
            .map(|r| r.id().to_owned())
            .collect()
    }

    /// The canonical JSON form as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.to_json())
    }

    /// Decides an action; never raises for a well-typed call (an invalid
    /// action is denied, with the reason).
    #[pyo3(signature = (name, *, actor=None, on_behalf_of=None, resource=None, env=None, args=None, justification=None, context=None, now=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn evaluate(
        &self,
        name: &Bound<'_, PyAny>,
        actor: Option<&Bound<'_, PyAny>>,
        on_behalf_of: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
        env: Option<&Bound<'_, PyAny>>,
        args: Option<&Bound<'_, PyAny>>,
        justification: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
        now: Option<&str>,
    ) -> PyResult<PyEvaluation> {
        self.decide(
            py_action(
                name,
                actor,
                on_behalf_of,
                resource,
                env,
                args,
                justification,
                context,
            )?,
            now,
            false,
        )
    }

    /// Like `evaluate`, with `trace`: every rule and why it did or did not match.
    #[pyo3(signature = (name, *, actor=None, on_behalf_of=None, resource=None, env=None, args=None, justification=None, context=None, now=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn explain(
        &self,
        name: &Bound<'_, PyAny>,
        actor: Option<&Bound<'_, PyAny>>,
        on_behalf_of: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
        env: Option<&Bound<'_, PyAny>>,
        args: Option<&Bound<'_, PyAny>>,
        justification: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
        now: Option<&str>,
    ) -> PyResult<PyEvaluation> {
        self.decide(
            py_action(
                name,
                actor,
                on_behalf_of,
                resource,
                env,
                args,
                justification,
                context,
            )?,
            now,
            true,
        )
    }

    /// Runs TOML policy test files (`[[test]]` cases, DESIGN §12) against
    /// this policy. A file that does not load raises `PolicyError` with
    /// file, line and column.
    #[pyo3(signature = (*paths))]
    fn test(&self, py: Python<'_>, paths: Vec<std::path::PathBuf>) -> PyResult<PyTestReport> {
        if paths.is_empty() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "Policy.test() needs at least one test file",
            ));
        }
        self.inner
            .test_files(&paths)
            .map(|report| PyTestReport { report })
            .map_err(|e| policy_err(py, &e))
    }

    fn __repr__(&self) -> String {
        format!(
            "Policy(name={:?}, rules={}, digest={:?})",
            self.inner.name(),
            self.inner.rules().len(),
            self.inner.digest()
        )
    }
}

impl PyPolicy {
    /// Evaluates (or, with `explain`, explains) at `now` or the current time.
    ///
    /// A plain evaluation keeps only the effect, the action, the instant and
    /// the policy: the rest of the decision (reason, rules, approval, errors,
    /// digest) is computed when first read, by deciding the same action at
    /// the same instant again (evaluation is deterministic).
    pub(crate) fn decide(
        &self,
        action: signoff::Action,
        now: Option<&str>,
        explain: bool,
    ) -> PyResult<PyEvaluation> {
        let at = now
            .map(|t| signoff::policy::parse_timestamp(t).map_err(InvalidAction::new_err))
            .transpose()?;
        let now = at.unwrap_or_else(chrono::Utc::now);
        if !explain {
            let effect = self.inner.evaluate_at(&action, now).effect();
            return Ok(PyEvaluation {
                effect,
                policy: self.inner.clone(),
                action,
                now,
                decision: OnceLock::new(),
                trace: None,
            });
        }
        let explanation = match at {
            Some(t) => self.inner.explain_at(&action, t),
            None => self.inner.explain(&action),
        };
        let trace = serde_json::to_value(&explanation.trace)
            .map_err(|e| InvalidAction::new_err(e.to_string()))?;
        Ok(PyEvaluation {
            effect: explanation.decision.effect,
            policy: self.inner.clone(),
            action,
            now,
            decision: OnceLock::from(explanation.decision),
            trace: Some(trace),
        })
    }
}

/// The result of `Policy.test`.
#[pyclass(name = "PolicyTestReport", module = "signoff", frozen)]
pub struct PyTestReport {
    report: signoff::policy::testing::TestReport,
}

#[pymethods]
impl PyTestReport {
    /// Cases that passed.
    #[getter]
    fn passed(&self) -> usize {
        self.report.passed()
    }

    /// Cases that failed.
    #[getter]
    fn failed(&self) -> usize {
        self.report.failed()
    }

    /// Whether every case passed.
    #[getter]
    fn ok(&self) -> bool {
        self.report.ok()
    }

    /// Rule ids that decided no case.
    #[getter]
    fn uncovered(&self) -> Vec<String> {
        self.report.uncovered().map(|c| c.rule.clone()).collect()
    }

    /// Every case as a dict: name, file, line, passed, expect, effect, rules...
    #[getter]
    fn results<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.report.to_json()["results"])
    }

    /// The whole report as `signoff test --json` prints it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.report.to_json())
    }

    /// The report as `signoff test --coverage` prints it.
    #[getter]
    fn text(&self) -> String {
        self.report.render(true)
    }

    /// Raises `AssertionError` with the report's text when a case failed
    /// (for pytest: `policy.test("p.test.toml").check()`).
    fn check(&self) -> PyResult<()> {
        if self.report.ok() {
            Ok(())
        } else {
            Err(pyo3::exceptions::PyAssertionError::new_err(
                self.report.render(false),
            ))
        }
    }

    fn __bool__(&self) -> bool {
        self.report.ok()
    }

    fn __repr__(&self) -> String {
        format!(
            "PolicyTestReport(passed={}, failed={})",
            self.report.passed(),
            self.report.failed()
        )
    }
}

/// The result of `Policy.evaluate`.
#[pyclass(name = "Evaluation", module = "signoff", frozen)]
pub struct PyEvaluation {
    effect: signoff::Effect,
    policy: signoff::Policy,
    action: signoff::Action,
    now: signoff::policy::Timestamp,
    /// The whole decision, computed on first read.
    decision: OnceLock<signoff::Decision>,
    trace: Option<Value>,
}

impl PyEvaluation {
    /// The owned decision, decided again at the same instant on first use.
    fn decision(&self) -> &signoff::Decision {
        self.decision
            .get_or_init(|| self.policy.evaluate_at(&self.action, self.now).decision())
    }
}

#[pymethods]
impl PyEvaluation {
    /// `"allow"`, `"deny"` or `"approve"`.
    #[getter]
    fn effect<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self.effect {
            signoff::Effect::Allow => intern!(py, "allow").clone(),
            signoff::Effect::Deny => intern!(py, "deny").clone(),
            signoff::Effect::Approve => intern!(py, "approve").clone(),
        }
    }

    /// The deciding rule ids.
    #[getter]
    fn rules(&self) -> Vec<String> {
        self.decision().rules.clone()
    }

    /// Why.
    #[getter]
    fn reason(&self) -> String {
        self.decision().reason.clone()
    }

    /// Digest of the deciding policy.
    #[getter]
    fn policy_digest(&self) -> String {
        self.decision().policy_digest.clone()
    }

    /// Approval requirements (dict) for an approve decision, else `None`.
    #[getter]
    fn approval<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.decision().approval).unwrap_or(Value::Null);
        to_py(py, &v)
    }

    /// Condition errors met while deciding (they failed closed).
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.decision().errors).unwrap_or(Value::Null);
        to_py(py, &v)
    }

    /// Every rule considered (from `Policy.explain`), else `None`.
    #[getter]
    fn trace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.trace {
            Some(t) => to_py(py, t),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Everything as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut v = serde_json::to_value(self.decision()).unwrap_or(Value::Null);
        if let (Value::Object(m), Some(t)) = (&mut v, &self.trace) {
            m.insert("trace".into(), t.clone());
        }
        to_py(py, &v)
    }

    fn __repr__(&self) -> String {
        let decision = self.decision();
        format!(
            "Evaluation(effect={:?}, rules={:?}, reason={:?})",
            decision.effect.as_str(),
            decision.rules,
            decision.reason
        )
    }
}

/// Checks `obj` converts to JSON (used by the Python layer for early errors).
#[pyfunction]
pub fn _check_json(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<()> {
    to_json(obj, path).map(|_| ())
}
