//! The native module of the Node package `signoff`: conversion and error
//! mapping over the Rust core, nothing else. Values cross as JSON strings;
//! the JavaScript layer (`index.js`) validates them with field paths first
//! and turns errors into `SignoffError` subclasses.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use napi::bindgen_prelude::{Either, Function, Promise};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Value, json};
use signoff::audit::{
    AuditError, ChainHead, CheckpointConfig, CheckpointKeySource, Durability, GENESIS, SealedRecord,
};

/// Marks an error whose message is a JSON description for the JS layer.
const ERROR_PREFIX: &str = "SIGNOFF_JSON:";

fn raise(info: Value) -> napi::Error {
    napi::Error::from_reason(format!("{ERROR_PREFIX}{info}"))
}

fn core_err(e: signoff::Error) -> napi::Error {
    use signoff::Error as E;
    let mut info = json!({"code": e.code(), "message": e.to_string()});
    match &e {
        E::Denied(d) => {
            info["rule"] = json!(d.rule());
            info["rules"] = json!(d.rules);
            info["reason"] = json!(d.reason);
            info["voter"] = json!(d.voter());
            info["comment"] = json!(match &d.by {
                signoff::DeniedBy::Reviewer { comment, .. } => comment.clone(),
                _ => None,
            });
            info["actionId"] = json!(d.action_id);
            info["requestId"] = json!(d.request_id);
        }
        E::TimedOut(t) => {
            info["rule"] = json!(t.rules.first());
            info["rules"] = json!(t.rules);
            info["reason"] = json!("no decision before the timeout");
            info["voter"] = Value::Null;
            info["actionId"] = json!(t.action_id);
            info["requestId"] = json!(t.request_id);
        }
        E::Cancelled { request_id, reason } => {
            info["reason"] = json!(reason);
            info["requestId"] = json!(request_id);
        }
        E::Approver { request_id, .. } => info["requestId"] = json!(request_id),
        E::VoteRejected(r) => {
            info["voter"] = json!(r.voter);
            info["reason"] = json!(r.reason.code());
            info["requestId"] = json!(r.request_id);
        }
        E::NotFound(id) => info["requestId"] = json!(id),
        E::NoApprover { rules, .. } => {
            info["rule"] = json!(rules.first());
            info["rules"] = json!(rules);
        }
        E::Policy(p) => return policy_err(p),
        _ => {}
    }
    raise(info)
}

fn policy_err(e: &signoff::PolicyError) -> napi::Error {
    let issues: Vec<Value> = e
        .issues
        .iter()
        .map(|i| {
            json!({"file": i.file, "line": i.line, "column": i.column, "rule": i.rule,
                   "field": i.field, "message": i.message})
        })
        .collect();
    raise(json!({
        "code": "SIGNOFF_POLICY",
        "message": e.to_string(),
        "rule": e.issues.first().and_then(|i| i.rule.clone()),
        "issues": issues,
    }))
}

fn invalid(message: String) -> napi::Error {
    raise(json!({"code": "SIGNOFF_INVALID_ACTION", "message": message}))
}

fn parse_action(text: &str) -> napi::Result<signoff::Action> {
    serde_json::from_str(text).map_err(|e| invalid(format!("invalid action: {e}")))
}

#[derive(serde::Serialize)]
struct LeanDecision<'a> {
    effect: &'a str,
    rules: Vec<&'a str>,
    reason: String,
    policy_digest: &'a str,
}

/// The common allow/deny case as lean JSON, without building an owned
/// `Decision`; approve decisions and condition errors get the full one.
fn lean_or_full(policy: &signoff::Policy, eval: &signoff::Evaluation<'_>) -> napi::Result<String> {
    if eval.effect() != signoff::Effect::Approve && eval.errors().next().is_none() {
        let lean = LeanDecision {
            effect: eval.effect().as_str(),
            rules: eval.rule_ids(),
            reason: eval.reason(),
            policy_digest: policy.digest(),
        };
        return serde_json::to_string(&lean).map_err(|e| invalid(e.to_string()));
    }
    serde_json::to_string(&eval.decision()).map_err(|e| invalid(e.to_string()))
}

/// An action from its fields, args and context as JSON text.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per action field, to avoid building an object"
)]
fn fields_action(
    name: String,
    actor: Option<String>,
    on_behalf_of: Option<String>,
    resource: Option<String>,
    env: Option<String>,
    args: Option<String>,
    context: Option<String>,
    justification: Option<String>,
) -> napi::Result<signoff::Action> {
    let object = |text: Option<String>, field: &str| -> napi::Result<Value> {
        match text {
            None => Ok(Value::Object(serde_json::Map::new())),
            Some(t) => {
                serde_json::from_str(&t).map_err(|e| invalid(format!("invalid `{field}`: {e}")))
            }
        }
    };
    Ok(signoff::Action {
        id: None,
        name,
        actor,
        on_behalf_of,
        resource,
        args: object(args, "args")?,
        env,
        justification,
        context: object(context, "context")?,
    })
}

/// The number `evaluateCode` gives an allow or deny decided by one rule or
/// by the default, with no condition errors on a valid action; `None` for
/// every other decision.
fn decision_code(policy: &signoff::Policy, eval: &signoff::Evaluation<'_>) -> Option<u32> {
    let effect = match eval.effect() {
        signoff::Effect::Allow => 0,
        signoff::Effect::Deny => 1,
        signoff::Effect::Approve => return None,
    };
    if eval.invalid_action().is_some() || eval.errors().next().is_some() {
        return None;
    }
    let mut rules = eval.rules();
    let Some(rule) = rules.next() else {
        return Some(effect);
    };
    if rules.next().is_some() {
        return None;
    }
    let index = policy.rules().iter().position(|r| std::ptr::eq(r, rule))?;
    u32::try_from(index + 1)
        .ok()
        .and_then(|i| i.checked_mul(2))
        .and_then(|i| i.checked_add(effect))
}

/// A validated, immutable policy.
#[napi]
pub struct NativePolicy {
    inner: signoff::Policy,
}

#[napi]
impl NativePolicy {
    /// Parses a TOML policy.
    #[napi(factory)]
    pub fn from_toml(text: String) -> napi::Result<Self> {
        signoff::Policy::from_toml_str(&text)
            .map(|inner| NativePolicy { inner })
            .map_err(|e| policy_err(&e))
    }

    /// Parses a JSON policy.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        signoff::Policy::from_json_str(&text)
            .map(|inner| NativePolicy { inner })
            .map_err(|e| policy_err(&e))
    }

    /// Reads a policy file.
    #[napi(factory)]
    pub fn from_file(path: String) -> napi::Result<Self> {
        signoff::Policy::from_file(path)
            .map(|inner| NativePolicy { inner })
            .map_err(|e| policy_err(&e))
    }

    /// The policy name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// `blake3:<hex>` of the canonical form.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        self.inner.digest().to_owned()
    }

    /// Rule ids in order.
    #[napi(getter)]
    pub fn rules(&self) -> Vec<String> {
        self.inner
            .rules()
            .iter()
            .map(|r| r.id().to_owned())
            .collect()
    }

    /// Runs TOML policy test files (DESIGN §12); returns the report JSON
    /// (`signoff test --json`) with `text`, the runner's output, added.
    #[napi]
    pub fn test(&self, paths: Vec<String>) -> napi::Result<String> {
        let report = self.inner.test_files(&paths).map_err(|e| policy_err(&e))?;
        let mut out = report.to_json();
        if let Some(map) = out.as_object_mut() {
            map.insert("ok".into(), Value::Bool(report.ok()));
            map.insert("text".into(), Value::String(report.render(true)));
        }
        Ok(out.to_string())
    }

    /// The fast form of `evaluate` for the common call: fields passed one by
    /// one (args and context as JSON text), no `now`. Returns the lean
    /// decision JSON, or the full one for approve decisions and errors.
    #[napi]
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per action field, to avoid building an object"
    )]
    pub fn evaluate_fields(
        &self,
        name: String,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        resource: Option<String>,
        env: Option<String>,
        args: Option<String>,
        context: Option<String>,
        justification: Option<String>,
    ) -> napi::Result<String> {
        let action = fields_action(
            name,
            actor,
            on_behalf_of,
            resource,
            env,
            args,
            context,
            justification,
        )?;
        lean_or_full(&self.inner, &self.inner.evaluate(&action))
    }

    /// `evaluateFields`, answering the common allow/deny case with a number
    /// that names the decision within this policy: `2 * (i + 1) + e` when
    /// rule `i` alone decided, `e` when the default did (`e` is 0 for allow,
    /// 1 for deny). Such a decision is the same every time (same rule, same
    /// reason, no approval, no errors), so the JavaScript layer keeps the
    /// decision object per number and asks `evaluateFields` for it once.
    /// Anything else (approve, condition errors, several rules, an invalid
    /// action) is the decision JSON, as `evaluateFields` returns it.
    #[napi]
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per action field, to avoid building an object"
    )]
    pub fn evaluate_code(
        &self,
        name: String,
        actor: Option<String>,
        on_behalf_of: Option<String>,
        resource: Option<String>,
        env: Option<String>,
        args: Option<String>,
        context: Option<String>,
        justification: Option<String>,
    ) -> napi::Result<Either<u32, String>> {
        let action = fields_action(
            name,
            actor,
            on_behalf_of,
            resource,
            env,
            args,
            context,
            justification,
        )?;
        let eval = self.inner.evaluate(&action);
        match decision_code(&self.inner, &eval) {
            Some(code) => Ok(Either::A(code)),
            None => lean_or_full(&self.inner, &eval).map(Either::B),
        }
    }

    /// Decides an action (JSON); returns the decision as JSON, with `trace`
    /// when `explain` is set.
    #[napi]
    pub fn evaluate(
        &self,
        action: String,
        now: Option<String>,
        explain: bool,
    ) -> napi::Result<String> {
        let action = parse_action(&action)?;
        let now = now
            .map(|t| signoff::policy::parse_timestamp(&t).map_err(invalid))
            .transpose()?;
        let value = if explain {
            let e = match now {
                Some(t) => self.inner.explain_at(&action, t),
                None => self.inner.explain(&action),
            };
            let mut v = serde_json::to_value(&e.decision).unwrap_or(Value::Null);
            v["trace"] = serde_json::to_value(&e.trace).unwrap_or(Value::Null);
            v
        } else {
            let eval = match now {
                Some(t) => self.inner.evaluate_at(&action, t),
                None => self.inner.evaluate(&action),
            };
            return lean_or_full(&self.inner, &eval);
        };
        Ok(value.to_string())
    }
}

/// Hands approval requests to the JavaScript approver (fire and forget: its
/// votes come back through `vote`, its failures through `failRequest`).
struct JsApprover {
    dispatch: ThreadsafeFunction<String, (), String, napi::Status, false, true>,
}

#[async_trait]
impl signoff::Approver for JsApprover {
    async fn review(
        &self,
        request: signoff::ApprovalRequest,
        _votes: signoff::VoteSender,
    ) -> Result<(), signoff::ApproverError> {
        let text = serde_json::to_string(&request)
            .map_err(|e| signoff::ApproverError::new(e.to_string()))?;
        match self
            .dispatch
            .call(text, ThreadsafeFunctionCallMode::NonBlocking)
        {
            napi::Status::Ok => Ok(()),
            status => Err(signoff::ApproverError::new(format!(
                "could not reach the JavaScript approver: {status}"
            ))),
        }
    }
}

/// A JavaScript object with `append(lines)` as an audit sink.
struct JsSink {
    append: ThreadsafeFunction<Vec<String>, Promise<()>, Vec<String>, napi::Status, false, true>,
}

#[async_trait]
impl signoff::AuditSink for JsSink {
    async fn head(&self) -> Result<ChainHead, AuditError> {
        Ok(ChainHead {
            stream: None,
            seq: 0,
            hash: GENESIS.to_owned(),
            recovered: None,
        })
    }

    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError> {
        let lines: Vec<String> = records.iter().map(|r| r.line.clone()).collect();
        let promise = self
            .append
            .call_async(lines)
            .await
            .map_err(|e| AuditError::Write(format!("the JavaScript sink threw: {e}")))?;
        promise
            .await
            .map_err(|e| AuditError::Write(format!("the JavaScript sink failed: {e}")))
    }

    fn describe(&self) -> String {
        "javascript".to_owned()
    }
}

/// The checkpoint signing key named by `checkpointKeyFile` or
/// `checkpointKeyEnv`, loaded now.
fn checkpoint_config(options: &Value, has_audit: bool) -> napi::Result<Option<CheckpointConfig>> {
    let config = |m: &str| raise(json!({"code": "SIGNOFF_CONFIG", "message": m}));
    let source = match (
        options["checkpointKeyFile"].as_str(),
        options["checkpointKeyEnv"].as_str(),
    ) {
        (None, None) => return Ok(None),
        (Some(path), None) => CheckpointKeySource::File(path.into()),
        (None, Some(var)) => CheckpointKeySource::Env(var.to_owned()),
        (Some(_), Some(_)) => {
            return Err(config(
                "give checkpointKeyFile or checkpointKeyEnv, not both",
            ));
        }
    };
    if !has_audit {
        return Err(config("a checkpoint key needs an audit trail: set `audit`"));
    }
    let key = source
        .load()
        .map_err(|m| raise(json!({"code": "SIGNOFF_AUDIT", "message": m})))?;
    Ok(Some(CheckpointConfig::new(key)))
}

/// The gate.
#[napi]
pub struct NativeGate {
    gate: signoff::Gate,
}

/// A permit's fields as `NativePermit.info` gives them, borrowed from it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PermitInfo<'a> {
    action_id: &'a str,
    request_id: Option<&'a str>,
    name: &'a str,
    args: &'a Value,
    args_digest: &'a str,
    action_digest: &'a str,
    approved_by: &'a [String],
    expires_at: String,
}

fn permit_of(p: signoff::Permit) -> NativePermit {
    let info = serde_json::to_string(&PermitInfo {
        action_id: p.action_id(),
        request_id: p.request_id(),
        name: p.name(),
        args: p.args(),
        args_digest: p.args_digest(),
        action_digest: p.action_digest(),
        approved_by: p.approved_by(),
        expires_at: p.expires_at().to_rfc3339(),
    })
    .unwrap_or_default();
    NativePermit {
        inner: Arc::new(Mutex::new(Some(p))),
        handle: tokio::runtime::Handle::try_current().ok(),
        info,
    }
}

#[napi]
impl NativeGate {
    /// Builds a gate. `options` is JSON: `{audit, durability, stream,
    /// approver: "js" | "queue" | "terminal" | null, permitTtlMs,
    /// checkpointKeyFile, checkpointKeyEnv}`.
    #[napi(constructor)]
    pub fn new(
        policy: &NativePolicy,
        options: String,
        dispatch: Option<Function<'_, String, ()>>,
        sink: Option<Function<'_, Vec<String>, Promise<()>>>,
    ) -> napi::Result<Self> {
        let config = |m: String| raise(json!({"code": "SIGNOFF_CONFIG", "message": m}));
        let options: Value = serde_json::from_str(&options).map_err(|e| config(e.to_string()))?;
        let durability: Durability = options["durability"]
            .as_str()
            .unwrap_or("group")
            .parse()
            .map_err(config)?;
        let mut b = signoff::Gate::builder().policy(policy.inner.clone());
        // the checkpoint key first: a key asked for but missing fails before
        // anything is opened, rather than running without checkpoints
        let has_audit = options["audit"].is_string() || sink.is_some();
        if let Some(config) = checkpoint_config(&options, has_audit)? {
            b = b.checkpoints(config);
        }
        match options["approver"].as_str() {
            Some("js") => {
                let dispatch = dispatch
                    .ok_or_else(|| {
                        config("a JavaScript approver needs a dispatch function".into())
                    })?
                    .build_threadsafe_function::<String>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build()?;
                b = b.approver(JsApprover { dispatch });
            }
            Some("queue") => b = b.approver(signoff::Queue),
            Some("terminal") => b = b.approver(signoff::Terminal::new()),
            Some(other) => return Err(config(format!("unknown approver `{other}`"))),
            None => {}
        }
        let stream = options["stream"].as_str().map(str::to_owned);
        let audit_err = |m: String| raise(json!({"code": "SIGNOFF_AUDIT", "message": m}));
        if let Some(target) = options["audit"].as_str() {
            if target.starts_with("postgres://") || target.starts_with("postgresql://") {
                let (url, s) = (target.to_owned(), stream.clone());
                let sink = napi::bindgen_prelude::block_on(async move {
                    signoff_postgres::PgSink::connect(&url, s.as_deref()).await
                })
                .map_err(|e| audit_err(e.to_string()))?;
                b = b.audit(sink);
            } else if let Some(path) = target.strip_prefix("sqlite:") {
                let sink = signoff_sqlite::SqliteSink::open(path, stream.as_deref())
                    .map_err(|e| audit_err(e.to_string()))?;
                b = b.audit(sink);
            } else {
                let path = target.strip_prefix("jsonl:").unwrap_or(target);
                let sink = signoff::JsonlSink::open_with(path, durability)
                    .map_err(|e| audit_err(e.to_string()))?;
                b = b.audit(sink);
            }
        }
        let store_err = |m: String| raise(json!({"code": "SIGNOFF_STORE", "message": m}));
        match options["store"].as_str() {
            None | Some("memory") => {}
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let url = url.to_owned();
                let store = napi::bindgen_prelude::block_on(async move {
                    signoff_postgres::PgStore::connect(&url).await
                })
                .map_err(|e| store_err(e.to_string()))?;
                b = b.store(store);
            }
            Some(other) => match other.strip_prefix("sqlite:") {
                Some(path) => {
                    let store = signoff_sqlite::SqliteStore::open(path)
                        .map_err(|e| store_err(e.to_string()))?;
                    b = b.store(store);
                }
                None => {
                    return Err(config(format!(
                        "store `{other}` is not known (memory, sqlite:PATH, postgres://...)"
                    )));
                }
            },
        }
        if let Some(sink) = sink {
            let append = sink
                .build_threadsafe_function::<Vec<String>>()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?;
            b = b.audit(JsSink { append });
        }
        if let Some(s) = &stream {
            b = b.stream(s);
        }
        if let Some(ms) = options["permitTtlMs"].as_u64() {
            b = b.permit_ttl(std::time::Duration::from_millis(ms));
        }
        if let Some(a) = options["actor"].as_str() {
            b = b.actor(a);
        }
        if let Some(o) = options["onBehalfOf"].as_str() {
            b = b.on_behalf_of(o);
        }
        if let Some(e) = options["env"].as_str() {
            b = b.env(e);
        }
        if options["context"].is_object() {
            b = b.context(options["context"].clone());
        }
        use signoff::redact::RedactionKey;
        match (
            options["redactKeyFile"].as_str(),
            options["redactKeyEnv"].as_str(),
        ) {
            (Some(_), Some(_)) => {
                return Err(config(
                    "give redactKeyFile or redactKeyEnv, not both".into(),
                ));
            }
            (Some(path), None) => {
                b = b.redaction_key(RedactionKey::from_file(path).map_err(config)?)
            }
            (None, Some(var)) => b = b.redaction_key(RedactionKey::from_env(var).map_err(config)?),
            (None, None) => {}
        }
        Ok(NativeGate {
            gate: b.build().map_err(core_err)?,
        })
    }

    /// Builds a gate from a gate config file (what `signoff serve --config` reads).
    #[napi(factory)]
    pub fn from_config(path: String) -> napi::Result<Self> {
        let config = |m: String| raise(json!({"code": "SIGNOFF_CONFIG", "message": m}));
        let file =
            signoff_config::GateConfig::from_file(&path).map_err(|e| config(e.to_string()))?;
        let gate = napi::bindgen_prelude::block_on(async move { file.build().await }).map_err(
            |e| match e {
                signoff_config::ConfigError::Backend(m) => {
                    raise(json!({"code": "SIGNOFF_STORE", "message": m}))
                }
                other => config(other.to_string()),
            },
        )?;
        Ok(NativeGate { gate })
    }

    /// Decides an action (JSON) as `require` would now, the gate's defaults
    /// filled in; records nothing. Returns the decision JSON.
    #[napi]
    pub fn evaluate(&self, action: String) -> napi::Result<String> {
        let action = parse_action(&action)?;
        let decision = self.gate.evaluate(&action);
        serde_json::to_string(&decision).map_err(|e| invalid(e.to_string()))
    }

    /// Replaces the policy atomically.
    #[napi]
    pub fn set_policy(&self, policy: &NativePolicy) {
        self.gate.set_policy(policy.inner.clone());
    }

    /// Runs a candidate policy in shadow beside the live one (DESIGN §12).
    #[napi]
    pub fn set_shadow(&self, policy: &NativePolicy) {
        self.gate.set_shadow_policy(Some(policy.inner.clone()));
    }

    /// Stops the shadow policy.
    #[napi]
    pub fn clear_shadow(&self) {
        self.gate.set_shadow_policy(None);
    }

    /// The current policy.
    #[napi(getter)]
    pub fn policy(&self) -> NativePolicy {
        NativePolicy {
            inner: self.gate.policy(),
        }
    }

    /// Decides, waiting for reviewers where the policy asks.
    #[napi]
    pub async fn require(&self, action: String) -> napi::Result<NativePermit> {
        let action = parse_action(&action)?;
        self.gate
            .require(action)
            .await
            .map(permit_of)
            .map_err(core_err)
    }

    /// Decides at once: a permit, or the pending request id.
    #[napi]
    pub async fn submit(&self, action: String) -> napi::Result<Either<NativePermit, String>> {
        let action = parse_action(&action)?;
        match self.gate.submit(action).await.map_err(core_err)? {
            signoff::Submission::Permitted(p) => Ok(Either::A(permit_of(p))),
            signoff::Submission::Pending { request_id } => Ok(Either::B(request_id)),
        }
    }

    /// `submit` run on the calling thread: no thread hop. For gates whose
    /// audit writes never block for long (os-buffered or none), where it
    /// cannot stall the event loop.
    #[napi]
    pub fn submit_now(&self, action: String) -> napi::Result<Either<NativePermit, String>> {
        let action = parse_action(&action)?;
        let gate = self.gate.clone();
        match napi::bindgen_prelude::block_on(async move { gate.submit(action).await })
            .map_err(core_err)?
        {
            signoff::Submission::Permitted(p) => Ok(Either::A(permit_of(p))),
            signoff::Submission::Pending { request_id } => Ok(Either::B(request_id)),
        }
    }

    /// Waits for a submitted request.
    #[napi]
    pub async fn resume(&self, request_id: String) -> napi::Result<NativePermit> {
        self.gate
            .resume(&request_id)
            .await
            .map(permit_of)
            .map_err(core_err)
    }

    /// Casts a vote (JSON); returns the request's status after it.
    #[napi]
    pub async fn vote(&self, request_id: String, vote: String) -> napi::Result<String> {
        let vote: signoff::Vote =
            serde_json::from_str(&vote).map_err(|e| invalid(format!("invalid vote: {e}")))?;
        match self.gate.vote(&request_id, vote).await.map_err(core_err)? {
            signoff::VoteOutcome::Counted(s) | signoff::VoteOutcome::Duplicate(s) => {
                Ok(s.as_str().to_owned())
            }
        }
    }

    /// Requests waiting for votes, as JSON.
    #[napi]
    pub async fn pending(&self) -> napi::Result<String> {
        let list = self.gate.pending().await.map_err(core_err)?;
        Ok(serde_json::to_string(&list).unwrap_or_default())
    }

    /// One request, as JSON.
    #[napi]
    pub async fn request(&self, request_id: String) -> napi::Result<String> {
        let r = self.gate.request(&request_id).await.map_err(core_err)?;
        Ok(serde_json::to_string(&r).unwrap_or_default())
    }

    /// Reports a JavaScript approver's failure: the request fails closed.
    #[napi]
    pub async fn fail_request(&self, request_id: String, message: String) -> napi::Result<()> {
        let reason = format!("{}{message}", signoff::gate::APPROVER_FAILED);
        self.gate
            .cancel(&request_id, &reason)
            .await
            .map_err(core_err)
    }

    /// Cancels the requests this gate's own calls wait on (their waiters
    /// reject with `SIGNOFF_CANCELLED`; other processes' requests and those
    /// left for a later `resume` are untouched) and writes out the trail.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.gate
            .cancel_waiting("the gate was closed")
            .await
            .map_err(core_err)?;
        self.gate.close().await.map_err(core_err)
    }

    /// Cancels one pending request (an adapter that gave up waiting).
    #[napi]
    pub async fn cancel(&self, request_id: String, reason: String) -> napi::Result<()> {
        self.gate
            .cancel(&request_id, &reason)
            .await
            .map_err(core_err)
    }
}

/// Permission to run one action, used once.
#[napi]
pub struct NativePermit {
    inner: Arc<Mutex<Option<signoff::Permit>>>,
    handle: Option<tokio::runtime::Handle>,
    info: String,
}

#[napi]
impl NativePermit {
    /// The permit's fields as JSON.
    #[napi(getter)]
    pub fn info(&self) -> String {
        self.info.clone()
    }

    /// Records the outcome; the permit is used up.
    #[napi]
    pub async fn complete(&self, ok: bool, detail: Option<String>) -> napi::Result<()> {
        let permit = self.take()?;
        permit
            .complete(signoff::Outcome { ok, detail })
            .await
            .map_err(core_err)
    }
}

impl NativePermit {
    fn take(&self) -> napi::Result<signoff::Permit> {
        self.inner
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .ok_or_else(|| {
                raise(
                    json!({"code": "SIGNOFF_USED", "message": "the permit was already completed"}),
                )
            })
    }
}

#[napi]
impl NativePermit {
    /// `complete` run on the calling thread (see `submitNow`).
    #[napi]
    pub fn complete_now(&self, ok: bool, detail: Option<String>) -> napi::Result<()> {
        let permit = self.take()?;
        napi::bindgen_prelude::block_on(async move {
            permit.complete(signoff::Outcome { ok, detail }).await
        })
        .map_err(core_err)
    }
}

impl Drop for NativePermit {
    fn drop(&mut self) {
        // an uncompleted permit records `action.abandoned`: that needs the runtime
        let permit = self.inner.lock().ok().and_then(|mut p| p.take());
        if let (Some(p), Some(h)) = (permit, &self.handle) {
            let _guard = h.enter();
            drop(p);
        }
    }
}
