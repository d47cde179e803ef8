//! `signoff.Gate`, `Permit`, `Pending`, `Vote`, `ApprovalRequest`, and the
//! bridges that let Python objects act as approvers and audit sinks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;
use signoff::audit::{
    AuditError as CoreAuditError, ChainHead, CheckpointConfig, CheckpointKeySource, Durability,
    GENESIS, SealedRecord,
};
use signoff::{ApproverError as CoreApproverError, VoteSender};

use crate::convert::{to_json, to_py};
use crate::errors::{AuditError, PermitUsed, SignoffError, to_py_err};
use crate::policy::{PyPolicy, build_action};
use crate::runtime::{block_on, runtime};

// ------------------------------------------------------------------ votes

/// A reviewer's vote.
#[pyclass(name = "Vote", module = "signoff", frozen)]
#[derive(Clone)]
pub struct PyVote {
    pub inner: signoff::Vote,
}

fn verdict(v: &str) -> PyResult<signoff::Verdict> {
    match v {
        "approve" => Ok(signoff::Verdict::Approve),
        "deny" => Ok(signoff::Verdict::Deny),
        other => Err(PyValueError::new_err(format!(
            "verdict must be \"approve\" or \"deny\", not {other:?}"
        ))),
    }
}

#[pymethods]
impl PyVote {
    #[new]
    #[pyo3(signature = (voter, verdict="approve", *, comment=None, args=None, args_digest=None, channel="python", grant=None, break_glass=false))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn new(
        voter: String,
        verdict: &str,
        comment: Option<String>,
        args: Option<&Bound<'_, PyAny>>,
        args_digest: Option<String>,
        channel: &str,
        grant: Option<&str>,
        break_glass: bool,
    ) -> PyResult<Self> {
        let mut inner = signoff::Vote::new(voter, self::verdict(verdict)?).channel(channel);
        // a grant length such as "30m" (DESIGN §13), and break-glass
        inner.grant = grant
            .map(signoff::grant::parse_length)
            .transpose()
            .map_err(|m| PyValueError::new_err(format!("grant: {m}")))?;
        inner.break_glass = break_glass;
        inner.comment = comment;
        inner.args_digest = args_digest;
        inner.args = match args {
            Some(a) if !a.is_none() => Some(to_json(a, "args")?),
            _ => None,
        };
        Ok(PyVote { inner })
    }

    #[getter]
    fn voter(&self) -> String {
        self.inner.voter.clone()
    }

    #[getter]
    fn verdict(&self) -> &'static str {
        self.inner.verdict.as_str()
    }

    #[getter]
    fn comment(&self) -> Option<String> {
        self.inner.comment.clone()
    }

    /// The attached grant length (`"30m"`), if any.
    #[getter]
    fn grant(&self) -> Option<String> {
        self.inner.grant.map(signoff::policy::format_duration)
    }

    /// Whether this is a break-glass approval.
    #[getter]
    fn break_glass(&self) -> bool {
        self.inner.break_glass
    }

    fn __repr__(&self) -> String {
        format!(
            "Vote(voter={:?}, verdict={:?})",
            self.inner.voter,
            self.inner.verdict.as_str()
        )
    }
}

// ---------------------------------------------------------------- requests

/// What a reviewer sees (args redacted).
#[pyclass(name = "ApprovalRequest", module = "signoff", frozen)]
pub struct PyApprovalRequest {
    pub inner: signoff::ApprovalRequest,
}

#[pymethods]
impl PyApprovalRequest {
    #[getter]
    fn id(&self) -> String {
        self.inner.id.clone()
    }
    #[getter]
    fn action_id(&self) -> String {
        self.inner.action_id.clone()
    }
    #[getter]
    fn action(&self) -> String {
        self.inner.action.clone()
    }
    #[getter]
    fn actor(&self) -> Option<String> {
        self.inner.actor.clone()
    }
    #[getter]
    fn on_behalf_of(&self) -> Option<String> {
        self.inner.on_behalf_of.clone()
    }
    #[getter]
    fn resource(&self) -> Option<String> {
        self.inner.resource.clone()
    }
    #[getter]
    fn env(&self) -> Option<String> {
        self.inner.env.clone()
    }
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.args)
    }
    #[getter]
    fn justification(&self) -> Option<String> {
        self.inner.justification.clone()
    }
    #[getter]
    fn context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.context)
    }
    #[getter]
    fn args_digest(&self) -> String {
        self.inner.args_digest.clone()
    }
    #[getter]
    fn rules(&self) -> Vec<String> {
        self.inner.rules.clone()
    }
    #[getter]
    fn reason(&self) -> String {
        self.inner.reason.clone()
    }
    #[getter]
    fn risk(&self) -> Option<&'static str> {
        self.inner.risk.map(|r| r.as_str())
    }
    #[getter]
    fn allow_edit(&self) -> bool {
        self.inner.allow_edit
    }
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }
    #[getter]
    fn expires_at(&self) -> String {
        self.inner.expires_at.to_rfc3339()
    }
    /// Everything as a dict (requirements, votes, timestamps included).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(
            py,
            &serde_json::to_value(&self.inner).unwrap_or(Value::Null),
        )
    }
    fn __repr__(&self) -> String {
        format!(
            "ApprovalRequest(id={:?}, action={:?}, status={:?})",
            self.inner.id,
            self.inner.action,
            self.inner.status.as_str()
        )
    }
}

// ----------------------------------------------------------------- permits

/// Permission to run one action, used once.
#[pyclass(name = "Permit", module = "signoff")]
pub struct PyPermit {
    inner: Mutex<Option<signoff::Permit>>,
    /// The permitted action, kept for the getters after completion; the
    /// digest and the expiry text are made only when asked for.
    action: signoff::Action,
    request_id: Option<String>,
    args_digest: String,
    approved_by: Vec<String>,
    expires: chrono::DateTime<chrono::Utc>,
    action_digest: std::sync::OnceLock<String>,
}

impl PyPermit {
    pub fn new(p: signoff::Permit) -> Self {
        let mut action = signoff::Action::new(p.name());
        action.id = Some(p.action_id().to_owned());
        action.args = p.args().clone();
        action.actor = p.actor().map(str::to_owned);
        action.on_behalf_of = p.on_behalf_of().map(str::to_owned);
        action.resource = p.resource().map(str::to_owned);
        action.env = p.env().map(str::to_owned);
        PyPermit {
            action,
            request_id: p.request_id().map(str::to_owned),
            args_digest: p.args_digest().to_owned(),
            approved_by: p.approved_by().to_vec(),
            expires: p.expires_at(),
            action_digest: std::sync::OnceLock::new(),
            inner: Mutex::new(Some(p)),
        }
    }

    fn take(&self) -> PyResult<signoff::Permit> {
        self.inner
            .lock()
            .map_err(|_| SignoffError::new_err("permit lock poisoned"))?
            .take()
            .ok_or_else(|| {
                PermitUsed::new_err(format!(
                    "permit for action `{}` was already completed",
                    self.action_id()
                ))
            })
    }
}

fn outcome(ok: bool, detail: Option<String>) -> signoff::Outcome {
    signoff::Outcome { ok, detail }
}

#[pymethods]
impl PyPermit {
    #[getter]
    fn action_id(&self) -> &str {
        self.action.id.as_deref().unwrap_or_default()
    }
    #[getter]
    fn request_id(&self) -> Option<String> {
        self.request_id.clone()
    }
    #[getter]
    fn name(&self) -> &str {
        &self.action.name
    }
    /// The args to run with: the approved ones, possibly edited by a reviewer.
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.action.args)
    }
    #[getter]
    fn args_digest(&self) -> String {
        self.args_digest.clone()
    }
    #[getter]
    fn action_digest(&self) -> String {
        self.action_digest
            .get_or_init(|| signoff::gate::action_digest(&self.action))
            .clone()
    }
    #[getter]
    fn approved_by(&self) -> Vec<String> {
        self.approved_by.clone()
    }
    #[getter]
    fn expires_at(&self) -> String {
        self.expires.to_rfc3339()
    }
    /// Whether the permit has expired: an expired permit cannot complete.
    #[getter]
    fn expired(&self) -> bool {
        chrono::Utc::now() >= self.expires
    }

    /// Records the outcome; the permit is used up. Blocks until it is in the trail.
    #[pyo3(signature = (ok=true, detail=None))]
    fn complete(&self, py: Python<'_>, ok: bool, detail: Option<String>) -> PyResult<()> {
        let permit = self.take()?;
        block_on(
            py,
            async move { permit.complete(outcome(ok, detail)).await },
        )?
        .map_err(|e| Python::attach(|py| to_py_err(py, e)))
    }

    /// `complete` for asyncio.
    #[pyo3(signature = (ok=true, detail=None))]
    fn complete_async<'py>(
        &self,
        py: Python<'py>,
        ok: bool,
        detail: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let permit = self.take()?;
        spawn_for_asyncio(py, async move {
            let r = permit.complete(outcome(ok, detail)).await;
            Python::attach(|py| match r {
                Ok(()) => Ok(py.None()),
                Err(e) => Err(to_py_err(py, e)),
            })
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Completes with the exception (if any) as the outcome.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let failed = exc_type.is_some_and(|t| !t.is_none());
        let detail = match exc {
            Some(e) if failed => Some(e.repr()?.to_string()),
            _ => None,
        };
        if self.inner.lock().map(|g| g.is_some()).unwrap_or(false) {
            self.complete(py, !failed, detail)?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "Permit(name={:?}, action_id={:?}, approved_by={:?})",
            self.name(),
            self.action_id(),
            self.approved_by
        )
    }
}

impl Drop for PyPermit {
    fn drop(&mut self) {
        // an uncompleted permit records `action.abandoned`: that needs the runtime
        let permit = self.inner.get_mut().ok().and_then(Option::take);
        if let (Some(p), Ok(rt)) = (permit, runtime()) {
            let _guard = rt.enter();
            drop(p);
        }
    }
}

/// A request waiting for reviewers, from `Gate.submit`.
#[pyclass(name = "Pending", module = "signoff", frozen)]
pub struct PyPending {
    #[pyo3(get)]
    request_id: String,
}

#[pymethods]
impl PyPending {
    fn __repr__(&self) -> String {
        format!("Pending(request_id={:?})", self.request_id)
    }
}

// --------------------------------------------------------------- asyncio

/// Runs `future` on the runtime and returns an asyncio future on the running
/// loop that resolves with its result. Cancelling the asyncio future aborts
/// the task (which cancels a pending approval request).
fn spawn_for_asyncio<'py, F>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: std::future::Future<Output = PyResult<Py<PyAny>>> + Send + 'static,
{
    let asyncio = py.import("asyncio")?;
    let event_loop = asyncio.call_method0("get_running_loop")?;
    let fut = event_loop.call_method0("create_future")?;
    let aio = py.import("signoff._aio")?;
    let resolve = aio.getattr("resolve")?.unbind();
    let fut_ref = fut.clone().unbind();
    let loop_ref = event_loop.unbind();
    let task = runtime()?.spawn(async move {
        let result = future.await;
        Python::attach(|py| {
            let (ok, value) = match result {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            // the loop may be closed already: nothing is waiting then
            let _ =
                loop_ref.call_method1(py, "call_soon_threadsafe", (resolve, fut_ref, ok, value));
        });
    });
    let abort = Py::new(
        py,
        AbortOnCancel {
            task: Mutex::new(Some(task)),
        },
    )?;
    fut.call_method1("add_done_callback", (abort,))?;
    Ok(fut)
}

/// Done-callback of an asyncio future: aborts the task if it was cancelled.
#[pyclass]
struct AbortOnCancel {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0("cancelled")?.is_truthy()?
            && let Ok(mut t) = self.task.lock()
            && let Some(task) = t.take()
        {
            task.abort();
        }
        Ok(())
    }
}

// ------------------------------------------------------- python approvers

/// A Python object with `review(request)` (sync or async) as an approver.
struct PyApprover {
    obj: Arc<Py<PyAny>>,
}

fn votes_from(py: Python<'_>, out: &Bound<'_, PyAny>) -> PyResult<Vec<signoff::Vote>> {
    let one = |v: &Bound<'_, PyAny>| -> PyResult<signoff::Vote> {
        if let Ok(vote) = v.cast::<PyVote>() {
            return Ok(vote.get().inner.clone());
        }
        Err(PyTypeError::new_err(format!(
            "review() must return None, a Vote or a list of Votes, not {}",
            v.get_type().name()?
        )))
    };
    if out.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(list) = out.cast::<PyList>() {
        return list.iter().map(|v| one(&v)).collect();
    }
    let _ = py;
    Ok(vec![one(out)?])
}

fn describe_py_error(py: Python<'_>, e: &PyErr) -> String {
    let tb = e
        .traceback(py)
        .and_then(|t| t.format().ok())
        .unwrap_or_default();
    format!(
        "{}: {}{}",
        e.get_type(py)
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default(),
        e.value(py),
        if tb.is_empty() {
            String::new()
        } else {
            format!("\n{tb}")
        }
    )
}

#[async_trait]
impl signoff::Approver for PyApprover {
    async fn review(
        &self,
        request: signoff::ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), CoreApproverError> {
        let obj = Arc::clone(&self.obj);
        let cast = tokio::task::spawn_blocking(move || {
            Python::attach(|py| -> Result<Vec<signoff::Vote>, String> {
                let run = || -> PyResult<Vec<signoff::Vote>> {
                    let req = Py::new(py, PyApprovalRequest { inner: request })?;
                    let target = obj.bind(py);
                    let out = if target.hasattr("review")? {
                        target.call_method1("review", (req,))?
                    } else {
                        target.call1((req,))?
                    };
                    let inspect = py.import("inspect")?;
                    let out = if inspect.call_method1("isawaitable", (&out,))?.is_truthy()? {
                        py.import("signoff._aio")?.call_method1("run", (out,))?
                    } else {
                        out
                    };
                    votes_from(py, &out)
                };
                run().map_err(|e| describe_py_error(py, &e))
            })
        })
        .await
        .map_err(|e| CoreApproverError::new(format!("approver thread failed: {e}")))?
        .map_err(|e| CoreApproverError::new(format!("the Python approver raised {e}")))?;
        for vote in cast {
            match votes.send(vote).await {
                Ok(_) | Err(signoff::Error::VoteRejected(_)) => {}
                Err(e) => return Err(CoreApproverError::new(e.to_string())),
            }
        }
        Ok(())
    }
}

/// A Python object with `append(lines)` (and optionally `head()`) as an
/// audit sink. Lines are canonical JSON strings, already chained.
struct PySink {
    obj: Arc<Py<PyAny>>,
}

#[async_trait]
impl signoff::AuditSink for PySink {
    async fn head(&self) -> Result<ChainHead, CoreAuditError> {
        let obj = Arc::clone(&self.obj);
        tokio::task::spawn_blocking(move || {
            Python::attach(|py| -> Result<ChainHead, CoreAuditError> {
                let target = obj.bind(py);
                let empty = ChainHead {
                    stream: None,
                    seq: 0,
                    hash: GENESIS.to_owned(),
                    recovered: None,
                };
                if !target.hasattr("head").unwrap_or(false) {
                    return Ok(empty);
                }
                let out = target
                    .call_method0("head")
                    .map_err(|e| CoreAuditError::Open(describe_py_error(py, &e)))?;
                if out.is_none() {
                    return Ok(empty);
                }
                let get = |k: &str| out.get_item(k).ok();
                Ok(ChainHead {
                    stream: get("stream").and_then(|v| v.extract().ok()),
                    seq: get("seq").and_then(|v| v.extract().ok()).unwrap_or(0),
                    hash: get("hash")
                        .and_then(|v| v.extract().ok())
                        .unwrap_or_else(|| GENESIS.to_owned()),
                    recovered: None,
                })
            })
        })
        .await
        .map_err(|e| CoreAuditError::Open(format!("sink thread failed: {e}")))?
    }

    async fn append(&self, records: &[SealedRecord]) -> Result<(), CoreAuditError> {
        let obj = Arc::clone(&self.obj);
        let lines: Vec<String> = records.iter().map(|r| r.line.clone()).collect();
        tokio::task::spawn_blocking(move || {
            Python::attach(|py| {
                obj.bind(py)
                    .call_method1("append", (lines,))
                    .map(|_| ())
                    .map_err(|e| {
                        CoreAuditError::Write(format!(
                            "the Python sink raised {}",
                            describe_py_error(py, &e)
                        ))
                    })
            })
        })
        .await
        .map_err(|e| CoreAuditError::Write(format!("sink thread failed: {e}")))?
    }

    fn describe(&self) -> String {
        "python".to_owned()
    }
}

// -------------------------------------------------------------------- gate

#[derive(Clone)]
enum ApproverSpec {
    Python(Arc<Py<PyAny>>),
    Terminal,
    Queue,
}

#[derive(Clone)]
enum SinkSpec {
    Path(PathBuf),
    Sqlite(PathBuf),
    Postgres(String),
    Python(Arc<Py<PyAny>>),
}

#[derive(Clone)]
enum StoreSpec {
    Memory,
    Sqlite(PathBuf),
    Postgres(String),
}

fn parse_store(store: Option<&str>) -> PyResult<StoreSpec> {
    match store {
        None | Some("memory") => Ok(StoreSpec::Memory),
        Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
            Ok(StoreSpec::Postgres(s.to_owned()))
        }
        Some(s) => match s.strip_prefix("sqlite:") {
            Some(path) => Ok(StoreSpec::Sqlite(PathBuf::from(path))),
            None => Err(PyValueError::new_err(format!(
                "store {s:?} is not known (\"memory\", \"sqlite:PATH\", \"postgres://...\")"
            ))),
        },
    }
}

struct Config {
    policy: signoff::Policy,
    /// A candidate policy run in shadow (DESIGN §12).
    shadow: Option<signoff::Policy>,
    store: StoreSpec,
    approver: Option<ApproverSpec>,
    sinks: Vec<SinkSpec>,
    durability: Durability,
    stream: Option<String>,
    permit_ttl: Option<Duration>,
    checkpoint: Option<CheckpointConfig>,
    defaults: Defaults,
    redaction_key: Option<signoff::redact::RedactionKey>,
    /// A gate config file (`Gate.from_config`): everything comes from it.
    file: Option<signoff_config::GateConfig>,
}

/// Gate defaults (DESIGN §9): what every action without its own value takes.
#[derive(Clone, Default)]
struct Defaults {
    actor: Option<String>,
    on_behalf_of: Option<String>,
    env: Option<String>,
    context: Option<Value>,
}

/// The redaction key from a file or an environment variable, if asked for.
fn redaction_key(
    file: Option<PathBuf>,
    env: Option<String>,
) -> PyResult<Option<signoff::redact::RedactionKey>> {
    use signoff::redact::RedactionKey;
    match (file, env) {
        (None, None) => Ok(None),
        (Some(path), None) => RedactionKey::from_file(&path)
            .map(Some)
            .map_err(PyValueError::new_err),
        (None, Some(var)) => RedactionKey::from_env(&var)
            .map(Some)
            .map_err(PyValueError::new_err),
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "give redact_key_file or redact_key_env, not both",
        )),
    }
}

/// The checkpoint signing key from a key file or an environment variable,
/// loaded now: a key that is asked for but missing fails the constructor
/// rather than running without checkpoints.
fn checkpoint_config(
    file: Option<PathBuf>,
    env: Option<String>,
    has_audit: bool,
) -> PyResult<Option<CheckpointConfig>> {
    let source = match (file, env) {
        (None, None) => return Ok(None),
        (Some(path), None) => CheckpointKeySource::File(path),
        (None, Some(var)) => CheckpointKeySource::Env(var),
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "give checkpoint_key_file or checkpoint_key_env, not both",
            ));
        }
    };
    if !has_audit {
        return Err(PyValueError::new_err(
            "a checkpoint key needs an audit trail: pass audit=...",
        ));
    }
    let key = source.load().map_err(AuditError::new_err)?;
    Ok(Some(CheckpointConfig::new(key)))
}

/// The gate. Safe to share between threads; rebuilt in a forked child.
#[pyclass(name = "Gate", module = "signoff", subclass)]
pub struct PyGate {
    config: Mutex<Config>,
    built: Mutex<Option<(u64, signoff::Gate)>>,
}

/// Runs a backend's async constructor to completion from a Python thread.
fn connect<T>(f: impl std::future::Future<Output = T> + Send + 'static) -> Result<T, String>
where
    T: Send + 'static,
{
    let rt = runtime().map_err(|e| e.to_string())?;
    Ok(rt.block_on(f))
}

fn build_gate(c: &Config, forked: bool) -> Result<signoff::Gate, String> {
    if let Some(file) = &c.file {
        let mut file = file.clone();
        file.child_process = forked;
        let gate = connect(async move { file.build().await })?.map_err(|e| match e {
            // a backend that does not open is an outage, not the caller's typo
            signoff_config::ConfigError::Backend(m) => m,
            other => format!("invalid configuration: {other}"),
        })?;
        gate.set_policy(c.policy.clone());
        return Ok(gate);
    }
    let mut b = signoff::Gate::builder().policy(c.policy.clone());
    if let Some(candidate) = &c.shadow {
        b = b.shadow(candidate.clone());
    }
    match &c.store {
        StoreSpec::Memory => {}
        StoreSpec::Sqlite(p) => {
            b = b.store(signoff_sqlite::SqliteStore::open(p).map_err(|e| e.to_string())?);
        }
        StoreSpec::Postgres(url) => {
            let url = url.clone();
            let store = connect(async move { signoff_postgres::PgStore::connect(&url).await })?
                .map_err(|e| e.to_string())?;
            b = b.store(store);
        }
    }
    match &c.approver {
        Some(ApproverSpec::Python(obj)) => {
            b = b.approver(PyApprover {
                obj: Arc::clone(obj),
            })
        }
        Some(ApproverSpec::Terminal) => b = b.approver(signoff::Terminal::new()),
        Some(ApproverSpec::Queue) => b = b.approver(signoff::Queue),
        None => {}
    }
    for sink in &c.sinks {
        b = match sink {
            SinkSpec::Path(p) if forked => b.audit(
                signoff::JsonlSink::open_new_stream(p, c.durability).map_err(|e| e.to_string())?,
            ),
            SinkSpec::Path(p) => {
                b.audit(signoff::JsonlSink::open_with(p, c.durability).map_err(|e| e.to_string())?)
            }
            SinkSpec::Sqlite(p) => b.audit(
                signoff_sqlite::SqliteSink::open(
                    p,
                    if forked { None } else { c.stream.as_deref() },
                )
                .map_err(|e| e.to_string())?,
            ),
            SinkSpec::Postgres(url) => {
                let (url, stream) = (url.clone(), if forked { None } else { c.stream.clone() });
                b.audit(
                    connect(async move {
                        signoff_postgres::PgSink::connect(&url, stream.as_deref()).await
                    })?
                    .map_err(|e| e.to_string())?,
                )
            }
            SinkSpec::Python(obj) => b.audit(PySink {
                obj: Arc::clone(obj),
            }),
        };
    }
    if let Some(s) = &c.stream {
        b = b.stream(if forked {
            format!("{s}-{}", std::process::id())
        } else {
            s.clone()
        });
    }
    if let Some(ttl) = c.permit_ttl {
        b = b.permit_ttl(ttl);
    }
    if let Some(cp) = &c.checkpoint {
        b = b.checkpoints(cp.clone());
    }
    if let Some(a) = &c.defaults.actor {
        b = b.actor(a.clone());
    }
    if let Some(o) = &c.defaults.on_behalf_of {
        b = b.on_behalf_of(o.clone());
    }
    if let Some(e) = &c.defaults.env {
        b = b.env(e.clone());
    }
    if let Some(ctx) = &c.defaults.context {
        b = b.context(ctx.clone());
    }
    if let Some(k) = &c.redaction_key {
        b = b.redaction_key(k.clone());
    }
    b.build().map_err(|e| e.to_string())
}

impl PyGate {
    /// The core gate of this process (rebuilt after a fork).
    fn gate(&self) -> PyResult<signoff::Gate> {
        let pid = crate::runtime::process_epoch();
        let mut built = self
            .built
            .lock()
            .map_err(|_| SignoffError::new_err("gate lock poisoned"))?;
        if let Some((owner, g)) = built.as_ref()
            && *owner == pid
        {
            return Ok(g.clone());
        }
        let forked = built.is_some();
        if let Some(old) = built.take() {
            // its tasks lived on the parent's runtime: never run its destructors here
            std::mem::forget(old);
        }
        let config = self
            .config
            .lock()
            .map_err(|_| SignoffError::new_err("gate lock poisoned"))?;
        let gate = build_gate(&config, forked).map_err(gate_build_error)?;
        *built = Some((pid, gate.clone()));
        Ok(gate)
    }
}

/// A gate that cannot be built: bad defaults are a ValueError, anything else
/// (a sink or store that does not open) an AuditError.
fn gate_build_error(message: String) -> PyErr {
    if message.starts_with("invalid configuration: ") {
        PyValueError::new_err(message)
    } else {
        AuditError::new_err(message)
    }
}

fn parse_audit(py: Python<'_>, audit: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<SinkSpec>> {
    let Some(audit) = audit else {
        return Ok(Vec::new());
    };
    if audit.is_none() {
        return Ok(Vec::new());
    }
    let one = |item: &Bound<'_, PyAny>| -> PyResult<SinkSpec> {
        if let Ok(s) = item.cast::<PyString>() {
            let text = s.extract::<String>()?;
            if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                return Ok(SinkSpec::Postgres(text));
            }
            if let Some(p) = text.strip_prefix("sqlite:") {
                return Ok(SinkSpec::Sqlite(PathBuf::from(p)));
            }
            if let Some(p) = text.strip_prefix("jsonl:") {
                return Ok(SinkSpec::Path(PathBuf::from(p)));
            }
        }
        if item.is_instance_of::<PyString>() || item.hasattr("__fspath__")? {
            let path: PathBuf = item.extract()?;
            return Ok(SinkSpec::Path(path));
        }
        if item.hasattr("append")? {
            return Ok(SinkSpec::Python(Arc::new(item.clone().unbind())));
        }
        Err(PyTypeError::new_err(format!(
            "audit must be a path, an object with append(lines), or a list of those; got {}",
            item.get_type().name()?
        )))
    };
    if let Ok(list) = audit.cast::<PyList>() {
        return list.iter().map(|i| one(&i)).collect();
    }
    let _ = py;
    Ok(vec![one(audit)?])
}

fn parse_approver(approver: Option<&Bound<'_, PyAny>>) -> PyResult<Option<ApproverSpec>> {
    let Some(a) = approver else { return Ok(None) };
    if a.is_none() {
        return Ok(None);
    }
    if let Ok(s) = a.cast::<PyString>() {
        return match s.extract::<String>()?.as_str() {
            "terminal" => Ok(Some(ApproverSpec::Terminal)),
            "queue" => Ok(Some(ApproverSpec::Queue)),
            other => Err(PyValueError::new_err(format!(
                "approver {other:?} is not known (use \"terminal\", \"queue\" or an Approver)"
            ))),
        };
    }
    if a.hasattr("review")? || a.is_callable() {
        return Ok(Some(ApproverSpec::Python(Arc::new(a.clone().unbind()))));
    }
    Err(PyTypeError::new_err(format!(
        "approver must have a review(request) method, not be a {}",
        a.get_type().name()?
    )))
}

macro_rules! action_from_kwargs {
    ($name:expr, $actor:expr, $obo:expr, $resource:expr, $env:expr, $args:expr, $just:expr, $ctx:expr, $id:expr) => {
        build_action(
            $name, $actor, $obo, $resource, $env, $args, $just, $ctx, $id,
        )?
    };
}

#[pymethods]
impl PyGate {
    #[new]
    #[pyo3(signature = (policy=None, *, audit=None, approver=None, store=None, durability="group", stream=None, permit_ttl=None, checkpoint_key_file=None, checkpoint_key_env=None, actor=None, on_behalf_of=None, env=None, context=None, redact_key_file=None, redact_key_env=None, config=None, shadow=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn new(
        py: Python<'_>,
        policy: Option<&Bound<'_, PyPolicy>>,
        audit: Option<&Bound<'_, PyAny>>,
        approver: Option<&Bound<'_, PyAny>>,
        store: Option<&str>,
        durability: &str,
        stream: Option<String>,
        permit_ttl: Option<f64>,
        checkpoint_key_file: Option<PathBuf>,
        checkpoint_key_env: Option<String>,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        env: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        redact_key_file: Option<PathBuf>,
        redact_key_env: Option<String>,
        config: Option<PathBuf>,
        shadow: Option<&Bound<'_, PyPolicy>>,
    ) -> PyResult<Self> {
        let (policy, file) = match (policy, config) {
            (Some(p), None) => (p.get().inner.clone(), None),
            (None, Some(path)) => {
                let others = audit.is_some()
                    || approver.is_some()
                    || store.is_some()
                    || stream.is_some()
                    || permit_ttl.is_some()
                    || checkpoint_key_file.is_some()
                    || checkpoint_key_env.is_some()
                    || actor.is_some()
                    || on_behalf_of.is_some()
                    || env.is_some()
                    || context.is_some()
                    || redact_key_file.is_some()
                    || redact_key_env.is_some()
                    || shadow.is_some();
                if others {
                    return Err(PyValueError::new_err(
                        "a gate from a config file takes everything from the file; set the other options there",
                    ));
                }
                let file = signoff_config::GateConfig::from_file(&path)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                let policy = signoff::Policy::from_file(&file.policy)
                    .map_err(|e| crate::errors::policy_err(py, &e))?;
                (policy, Some(file))
            }
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "give a policy or a config file, not both",
                ));
            }
            (None, None) => {
                return Err(PyTypeError::new_err(
                    "Gate() needs a policy (Gate(policy, ...)) or a config file (Gate.from_config(path))",
                ));
            }
        };
        let defaults = Defaults {
            actor,
            on_behalf_of,
            env,
            context: match context {
                Some(c) if !c.is_none() => Some(crate::convert::object_arg(Some(c), "context")?),
                _ => None,
            },
        };
        let redaction_key = redaction_key(redact_key_file, redact_key_env)?;
        let durability: Durability = durability.parse().map_err(PyValueError::new_err)?;
        let permit_ttl = match permit_ttl {
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(PyValueError::new_err(format!(
                    "permit_ttl must be a positive number of seconds, not {s}"
                )));
            }
            None => None,
        };
        let sinks = parse_audit(py, audit)?;
        let checkpoint =
            checkpoint_config(checkpoint_key_file, checkpoint_key_env, !sinks.is_empty())?;
        let config = Config {
            file,
            policy,
            shadow: shadow.map(|p| p.get().inner.clone()),
            store: parse_store(store)?,
            approver: parse_approver(approver)?,
            sinks,
            durability,
            stream,
            permit_ttl,
            checkpoint,
            defaults,
            redaction_key,
        };
        let gate = py
            .detach(|| build_gate(&config, false))
            .map_err(gate_build_error)?;
        Ok(PyGate {
            config: Mutex::new(config),
            built: Mutex::new(Some((crate::runtime::process_epoch(), gate))),
        })
    }

    /// Decides the action as `require` would now (the gate's defaults
    /// filled in), recording nothing.
    #[pyo3(signature = (name, *, actor=None, on_behalf_of=None, resource=None, env=None, args=None, justification=None, context=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn evaluate(
        &self,
        name: &str,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        resource: Option<String>,
        env: Option<String>,
        args: Option<&Bound<'_, PyAny>>,
        justification: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<crate::policy::PyEvaluation> {
        let action = action_from_kwargs!(
            name,
            actor,
            on_behalf_of,
            resource,
            env,
            args,
            justification,
            context,
            None
        );
        let gate = self.gate()?;
        PyPolicy {
            inner: gate.policy(),
        }
        .decide(gate.with_defaults(action), None, false)
    }

    /// The current policy.
    #[getter]
    fn policy(&self) -> PyResult<PyPolicy> {
        Ok(PyPolicy {
            inner: self.gate()?.policy(),
        })
    }

    /// Replaces the policy atomically.
    fn set_policy(&self, policy: &Bound<'_, PyPolicy>) -> PyResult<()> {
        let p = policy.get().inner.clone();
        if let Ok(mut c) = self.config.lock() {
            c.policy = p.clone();
        }
        self.gate()?.set_policy(p);
        Ok(())
    }

    /// Decides whether the action may run now, waiting (with the GIL
    /// released) for reviewers where the policy asks. Returns a Permit.
    #[pyo3(signature = (name, *, actor=None, on_behalf_of=None, resource=None, env=None, args=None, justification=None, context=None, id=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn require(
        &self,
        py: Python<'_>,
        name: &str,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        resource: Option<String>,
        env: Option<String>,
        args: Option<&Bound<'_, PyAny>>,
        justification: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        id: Option<String>,
    ) -> PyResult<PyPermit> {
        let action = action_from_kwargs!(
            name,
            actor,
            on_behalf_of,
            resource,
            env,
            args,
            justification,
            context,
            id
        );
        let gate = self.gate()?;
        match block_on(py, async move { gate.require(action).await })? {
            Ok(p) => Ok(PyPermit::new(p)),
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// `require` for asyncio: never blocks the event loop.
    #[pyo3(signature = (name, *, actor=None, on_behalf_of=None, resource=None, env=None, args=None, justification=None, context=None, id=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn require_async<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        resource: Option<String>,
        env: Option<String>,
        args: Option<&Bound<'_, PyAny>>,
        justification: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let action = action_from_kwargs!(
            name,
            actor,
            on_behalf_of,
            resource,
            env,
            args,
            justification,
            context,
            id
        );
        let gate = self.gate()?;
        spawn_for_asyncio(py, async move {
            let r = gate.require(action).await;
            Python::attach(|py| match r {
                Ok(p) => Ok(Py::new(py, PyPermit::new(p))?.into_any()),
                Err(e) => Err(to_py_err(py, e)),
            })
        })
    }

    /// Decides at once: a Permit, a `Pending` (resume it later), or raises Denied.
    #[pyo3(signature = (name, *, actor=None, on_behalf_of=None, resource=None, env=None, args=None, justification=None, context=None, id=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn submit(
        &self,
        py: Python<'_>,
        name: &str,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        resource: Option<String>,
        env: Option<String>,
        args: Option<&Bound<'_, PyAny>>,
        justification: Option<String>,
        context: Option<&Bound<'_, PyAny>>,
        id: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let action = action_from_kwargs!(
            name,
            actor,
            on_behalf_of,
            resource,
            env,
            args,
            justification,
            context,
            id
        );
        let gate = self.gate()?;
        match block_on(py, async move { gate.submit(action).await })? {
            Ok(signoff::Submission::Permitted(p)) => Ok(Py::new(py, PyPermit::new(p))?.into_any()),
            Ok(signoff::Submission::Pending { request_id }) => {
                Ok(Py::new(py, PyPending { request_id })?.into_any())
            }
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// Waits (GIL released) for a submitted request's resolution.
    fn resume(&self, py: Python<'_>, request_id: String) -> PyResult<PyPermit> {
        let gate = self.gate()?;
        match block_on(py, async move { gate.resume(&request_id).await })? {
            Ok(p) => Ok(PyPermit::new(p)),
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// `resume` for asyncio.
    fn resume_async<'py>(
        &self,
        py: Python<'py>,
        request_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let gate = self.gate()?;
        spawn_for_asyncio(py, async move {
            let r = gate.resume(&request_id).await;
            Python::attach(|py| match r {
                Ok(p) => Ok(Py::new(py, PyPermit::new(p))?.into_any()),
                Err(e) => Err(to_py_err(py, e)),
            })
        })
    }

    /// Casts a vote; returns the request's status after it
    /// (`"pending"`, `"approved"`, `"denied"`). Raises VoteRejected.
    #[pyo3(signature = (request_id, voter, verdict="approve", *, comment=None, args=None, args_digest=None, channel="python", grant=None, break_glass=false))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn vote(
        &self,
        py: Python<'_>,
        request_id: String,
        voter: String,
        verdict: &str,
        comment: Option<String>,
        args: Option<&Bound<'_, PyAny>>,
        args_digest: Option<String>,
        channel: &str,
        grant: Option<&str>,
        break_glass: bool,
    ) -> PyResult<&'static str> {
        let vote = PyVote::new(
            voter,
            verdict,
            comment,
            args,
            args_digest,
            channel,
            grant,
            break_glass,
        )?
        .inner;
        let gate = self.gate()?;
        match block_on(py, async move { gate.vote(&request_id, vote).await })? {
            Ok(signoff::VoteOutcome::Counted(s) | signoff::VoteOutcome::Duplicate(s)) => {
                Ok(s.as_str())
            }
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// Requests waiting for votes.
    fn pending(&self, py: Python<'_>) -> PyResult<Vec<PyApprovalRequest>> {
        let gate = self.gate()?;
        match block_on(py, async move { gate.pending().await })? {
            Ok(list) => Ok(list
                .into_iter()
                .map(|inner| PyApprovalRequest { inner })
                .collect()),
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// One request as reviewers see it.
    fn request(&self, py: Python<'_>, request_id: String) -> PyResult<PyApprovalRequest> {
        let gate = self.gate()?;
        match block_on(py, async move { gate.request(&request_id).await })? {
            Ok(inner) => Ok(PyApprovalRequest { inner }),
            Err(e) => Err(to_py_err(py, e)),
        }
    }

    /// Writes out every audit record sealed so far.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let gate = self.gate()?;
        match block_on(py, async move { gate.close().await })? {
            Ok(()) => Ok(()),
            Err(e) => Err(to_py_err(py, e)),
        }
    }
}

/// Registers the classes of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGate>()?;
    m.add_class::<PyPermit>()?;
    m.add_class::<PyPending>()?;
    m.add_class::<PyVote>()?;
    m.add_class::<PyApprovalRequest>()?;
    let _ = PyDict::new(m.py());
    Ok(())
}
