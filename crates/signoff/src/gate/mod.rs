//! The gate: `require` an action, get a [`Permit`] or an [`Error`].
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use serde_json::json;
//! use signoff::{Action, Gate, Outcome, Policy};
//!
//! let policy = Policy::from_toml_str(r#"
//!     [[rules]]
//!     id = "reads"
//!     effect = "allow"
//!     actions = ["db.query"]
//! "#).unwrap();
//! let gate = Gate::builder().policy(policy).build().unwrap();
//! let permit = gate
//!     .require(Action::new("db.query").actor("agent:bot").args(json!({"sql": "select 1"})))
//!     .await
//!     .unwrap();
//! permit.complete(Outcome::success()).await.unwrap();
//! # });
//! ```

mod dispatch;
mod grants;
mod permit;
mod refusals;
mod tally;

pub use permit::{Outcome, Permit};

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use self::permit::PermitData;
use crate::action::{Action, ActionError};
use crate::approval::{RequestStatus, Resolution, StoredRequest, Verdict, Vote};
use crate::approver::{Approver, ApproverError};
use crate::audit::{AuditLog, AuditRecord, AuditSink, CheckpointConfig, Event};
use crate::canonical::{MAX_DEPTH, deeper_than, digest};
use crate::directory::Directory;
use crate::error::{Denial, DeniedBy, Error, RejectReason, TimedOut, VoteRejection};
use crate::policy::{Decision, Effect, OnTimeout, Policy};
use crate::principal::{Principal, PrincipalKind};
use crate::redact::RedactionKey;
use crate::store::{ApprovalStore, MemoryStore, StoreError};

/// Decides whether an action may run now, waiting for humans where the
/// policy asks. Implemented by [`Gate`]; agent code can take `&dyn ActionGate`.
#[async_trait]
pub trait ActionGate: Send + Sync {
    /// Decide whether `action` may run now, waiting for humans where policy asks.
    async fn require(&self, action: Action) -> Result<Permit, Error>;
}

/// What [`Gate::submit`] returns when the action is not denied.
#[derive(Debug)]
pub enum Submission {
    /// Allowed (or already approved): run it.
    Permitted(Permit),
    /// Waiting for reviewers: call [`Gate::resume`] with this id later, from
    /// any process sharing the store.
    Pending {
        /// The approval request id.
        request_id: String,
    },
}

/// What a counted vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Counted; the request's status after it.
    Counted(RequestStatus),
    /// The same voter already cast this vote; nothing changed.
    Duplicate(RequestStatus),
}

/// The gate. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Gate {
    pub(crate) inner: Arc<GateInner>,
}

pub(crate) struct GateInner {
    policy: RwLock<Policy>,
    /// A candidate policy evaluated beside the live one (DESIGN §12).
    shadow: RwLock<Option<Policy>>,
    approver: Option<Arc<dyn Approver>>,
    store: Arc<dyn ApprovalStore>,
    pub(crate) audit: AuditLog,
    directory: Option<Arc<dyn Directory>>,
    permit_ttl: Duration,
    decided: [std::sync::atomic::AtomicU64; 3],
    redaction_key: RedactionKey,
    defaults: Defaults,
    /// The requests this gate's own `require`/`resume` calls wait on, and
    /// how many wait on each.
    waiting: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// The clock of grants and escalation (DESIGN §13).
    clock: Arc<dyn crate::clock::Clock>,
}

/// Counts a waiter on a request for as long as it lives.
struct Waiting<'a> {
    gate: &'a Gate,
    id: String,
}

impl<'a> Waiting<'a> {
    fn new(gate: &'a Gate, id: &str) -> Self {
        if let Ok(mut w) = gate.inner.waiting.lock() {
            *w.entry(id.to_owned()).or_default() += 1;
        }
        Waiting {
            gate,
            id: id.to_owned(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.gate.inner.waiting.lock()
            && let Some(n) = w.get_mut(&self.id)
        {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.id);
            }
        }
    }
}

/// What every action without its own value takes (DESIGN §9).
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    actor: Option<String>,
    on_behalf_of: Option<String>,
    env: Option<String>,
    context: Option<serde_json::Map<String, Value>>,
}

impl Defaults {
    /// Fills the fields `action` leaves unset; context keys merge, the
    /// action's own keys winning.
    fn apply(&self, action: &mut Action) {
        if action.actor.is_none() {
            action.actor.clone_from(&self.actor);
        }
        if action.on_behalf_of.is_none() {
            action.on_behalf_of.clone_from(&self.on_behalf_of);
        }
        if action.env.is_none() {
            action.env.clone_from(&self.env);
        }
        if let (Some(defaults), Some(ctx)) = (&self.context, action.context.as_object_mut()) {
            for (k, v) in defaults {
                if !ctx.contains_key(k) {
                    ctx.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// How many decisions this gate made, by effect (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateStats {
    /// Allowed by policy.
    pub allowed: u64,
    /// Denied by policy (including invalid actions).
    pub denied: u64,
    /// Sent for approval.
    pub approval: u64,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("policy", &self.policy())
            .field("store", &self.inner.store.describe())
            .field("audit", &self.inner.audit)
            .field("approver", &self.inner.approver.is_some())
            .finish()
    }
}

/// Builds a [`Gate`].
#[derive(Default)]
pub struct GateBuilder {
    policy: Option<Policy>,
    shadow: Option<Policy>,
    approver: Option<Arc<dyn Approver>>,
    store: Option<Arc<dyn ApprovalStore>>,
    sinks: Vec<Arc<dyn AuditSink>>,
    directory: Option<Arc<dyn Directory>>,
    stream: Option<String>,
    checkpoint: Option<CheckpointConfig>,
    permit_ttl: Option<Duration>,
    redaction_key: Option<RedactionKey>,
    defaults: Defaults,
    context_error: Option<String>,
    clock: Option<Arc<dyn crate::clock::Clock>>,
}

impl GateBuilder {
    /// The clock of grants, escalation and reminders (default: the system
    /// clock; tests use [`crate::clock::TokioClock`] with paused time).
    pub fn clock(mut self, clock: impl crate::clock::Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The key of the keyed digests that replace redacted values (DESIGN
    /// §14). Without one the gate makes a random key of its own.
    pub fn redaction_key(mut self, key: RedactionKey) -> Self {
        self.redaction_key = Some(key);
        self
    }

    /// The actor of every action that names none (`agent:billing-bot`).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.defaults.actor = Some(actor.into());
        self
    }

    /// The person on whose behalf every action runs, unless it says otherwise.
    pub fn on_behalf_of(mut self, principal: impl Into<String>) -> Self {
        self.defaults.on_behalf_of = Some(principal.into());
        self
    }

    /// The environment of every action that names none.
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.defaults.env = Some(env.into());
        self
    }

    /// Context keys every action carries (its own keys win). Must be a JSON object.
    pub fn context(mut self, context: Value) -> Self {
        match context {
            Value::Object(map) => self.defaults.context = Some(map),
            other => {
                self.context_error = Some(format!(
                    "the gate's default context must be a JSON object, not `{other}`"
                ))
            }
        }
        self
    }
    /// The policy (required).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// A candidate policy run in shadow beside the live one (DESIGN §12):
    /// both decide every action, the live one's decision is what happens, and
    /// where the candidate decides differently (effect or deciding rules) a
    /// `policy.shadow` record with its effect, rules, reason and digest
    /// follows the `policy.decided` record.
    pub fn shadow(mut self, candidate: Policy) -> Self {
        self.shadow = Some(candidate);
        self
    }

    /// Who presents approval requests. Without one, approve decisions fail closed.
    pub fn approver(mut self, approver: impl Approver + 'static) -> Self {
        self.approver = Some(Arc::new(approver));
        self
    }

    /// [`GateBuilder::approver`] for a shared approver.
    pub fn approver_arc(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// Where pending requests live (default: in memory).
    pub fn store(mut self, store: impl ApprovalStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// [`GateBuilder::store`] for a shared store.
    pub fn store_arc(mut self, store: Arc<dyn ApprovalStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds an audit sink; several may be added, each keeps its own chain.
    pub fn audit(mut self, sink: impl AuditSink + 'static) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// [`GateBuilder::audit`] for a shared sink.
    pub fn audit_arc(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Group membership (default: the policy's `[groups]`).
    pub fn directory(mut self, directory: impl Directory + 'static) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// Names this writer's audit stream (default: continue the log's stream,
    /// or a new UUID for an empty log).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = Some(name.into());
        self
    }

    /// Writes ed25519-signed checkpoints into the trail.
    pub fn checkpoints(mut self, config: CheckpointConfig) -> Self {
        self.checkpoint = Some(config);
        self
    }

    /// How long a permit stays valid to start the action (default 5 minutes).
    pub fn permit_ttl(mut self, ttl: Duration) -> Self {
        self.permit_ttl = Some(ttl);
        self
    }

    /// Builds the gate.
    pub fn build(self) -> Result<Gate, Error> {
        let policy = self
            .policy
            .ok_or_else(|| Error::Config("a gate needs a policy".into()))?;
        if let Some(e) = self.context_error {
            return Err(Error::Config(e));
        }
        // the defaults must be valid on their own, so a bad one is reported
        // here and not as every action's fault
        let mut probe = Action::new("gate.defaults");
        self.defaults.apply(&mut probe);
        probe
            .normalize()
            .map_err(|e| Error::Config(format!("gate default {e}")))?;
        let mut defaults = self.defaults;
        defaults.actor = probe.actor;
        defaults.on_behalf_of = probe.on_behalf_of;
        Ok(Gate {
            inner: Arc::new(GateInner {
                policy: RwLock::new(policy),
                shadow: RwLock::new(self.shadow),
                approver: self.approver,
                store: self
                    .store
                    .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn ApprovalStore>),
                audit: AuditLog::new(self.sinks, self.stream, self.checkpoint),
                directory: self.directory,
                permit_ttl: self.permit_ttl.unwrap_or(Duration::from_secs(300)),
                decided: Default::default(),
                redaction_key: self.redaction_key.unwrap_or_else(RedactionKey::random),
                defaults,
                waiting: std::sync::Mutex::default(),
                clock: self
                    .clock
                    .unwrap_or_else(|| Arc::new(crate::clock::SystemClock)),
            }),
        })
    }
}

/// Prefix of a cancellation reason that means the approver failed.
pub const APPROVER_FAILED: &str = "approver failed: ";

enum Started {
    Permit(Permit),
    Pending(String, Option<JoinHandle<Result<(), ApproverError>>>),
}

enum VoteStep {
    Duplicate(RequestStatus),
    Expire,
    Update(Box<StoredRequest>, Vec<AuditRecord>),
}

/// Digest binding a permit to the exact action: name, principals, resource,
/// env and args (what [`Permit::action_digest`] returns).
pub fn action_digest(a: &Action) -> String {
    digest(&json!({
        "name": a.name,
        "actor": a.actor,
        "on_behalf_of": a.on_behalf_of,
        "resource": a.resource,
        "env": a.env,
        "args": a.args,
    }))
}

fn record_for(event: Event, action: &Action, args_digest: &str) -> AuditRecord {
    let mut r = AuditRecord::new(event);
    r.action_id = action.id.clone();
    r.action = Some(action.name.clone());
    r.actor = action.actor.clone();
    r.on_behalf_of = action.on_behalf_of.clone();
    r.resource = action.resource.clone();
    r.env = action.env.clone();
    r.args_digest = Some(args_digest.to_owned());
    r
}

fn rules_field(rules: &[String]) -> Option<String> {
    (!rules.is_empty()).then(|| rules.join(","))
}

/// A UUIDv7 action id: the time in milliseconds, then 74 bits from a
/// per-thread generator seeded from the OS once, so the allow path makes no
/// system call for it. Ids must be unique, not secret.
fn new_action_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            if getrandom::fill(&mut seed).is_err() {
                seed = (std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes();
            }
            u64::from_le_bytes(seed) | 1
        });
    }
    // splitmix64: two draws give the 10 bytes after the timestamp
    let draw = || {
        STATE.with(|s| {
            let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            s.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    };
    let (a, b) = (draw().to_le_bytes(), draw().to_le_bytes());
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&a);
    bytes[8..].copy_from_slice(&b[..2]);
    let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes)
        .into_uuid()
        .to_string()
}

/// `start + d`, or an error instead of an overflow.
fn checked_after(
    start: chrono::DateTime<Utc>,
    d: Duration,
) -> Result<chrono::DateTime<Utc>, Error> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| start.checked_add_signed(d))
        .ok_or_else(|| Error::Config(format!("duration {d:?} is out of range")))
}

impl Gate {
    /// Starts building a gate.
    pub fn builder() -> GateBuilder {
        GateBuilder::default()
    }

    /// The current policy.
    pub fn policy(&self) -> Policy {
        match self.inner.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The candidate policy running in shadow, if any.
    pub fn shadow_policy(&self) -> Option<Policy> {
        match self.inner.shadow.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces (or, with `None`, removes) the candidate policy running in shadow.
    pub fn set_shadow_policy(&self, candidate: Option<Policy>) {
        match self.inner.shadow.write() {
            Ok(mut p) => *p = candidate,
            Err(poisoned) => *poisoned.into_inner() = candidate,
        }
    }

    /// The `policy.shadow` record for `action` when the candidate policy
    /// decides differently from `live` (effect or deciding rules).
    fn shadow_record(
        &self,
        action: &Action,
        args_digest: &str,
        live: &Decision,
    ) -> Option<AuditRecord> {
        let guard = match self.inner.shadow.read() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        let candidate = guard.as_ref()?;
        let eval = candidate.evaluate(action);
        let same = eval.effect() == live.effect
            && eval
                .rules()
                .map(crate::policy::Rule::id)
                .eq(live.rules.iter().map(String::as_str));
        if same {
            return None;
        }
        let mut r = record_for(Event::PolicyShadow, action, args_digest);
        r.effect = Some(eval.effect().as_str().to_owned());
        r.rule = rules_field(
            &eval
                .rule_ids()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
        r.reason = Some(eval.reason());
        r.policy_digest = Some(candidate.digest().to_owned());
        let errs: Vec<String> = eval
            .errors()
            .map(|(rule, e)| format!("rule `{rule}`: {e}"))
            .collect();
        if !errs.is_empty() {
            r.error = Some(errs.join("; "));
        }
        Some(r)
    }

    /// Replaces the policy atomically; decisions already made keep theirs.
    pub fn set_policy(&self, policy: Policy) {
        match self.inner.policy.write() {
            Ok(mut p) => *p = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }

    /// Decisions made so far, by effect.
    pub fn stats(&self) -> GateStats {
        let n = |i: usize| self.inner.decided[i].load(std::sync::atomic::Ordering::Relaxed);
        GateStats {
            allowed: n(0),
            denied: n(1),
            approval: n(2),
        }
    }

    fn count(&self, effect: Effect) {
        let i = match effect {
            Effect::Allow => 0,
            Effect::Deny => 1,
            Effect::Approve => 2,
        };
        self.inner.decided[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The approval store.
    pub fn store(&self) -> &Arc<dyn ApprovalStore> {
        &self.inner.store
    }

    /// Fills in the gate's defaults (actor, on-behalf-of, env, context) where
    /// `action` leaves them unset, as `require` does.
    pub fn with_defaults(&self, mut action: Action) -> Action {
        self.inner.defaults.apply(&mut action);
        action
    }

    /// Decides `action` with the gate's defaults filled in, without
    /// recording anything (what `require` would decide now).
    pub fn evaluate(&self, action: &Action) -> Decision {
        let mut action = action.clone();
        self.inner.defaults.apply(&mut action);
        self.policy().evaluate(&action).decision()
    }

    /// The args and context of `action` as reviewers and the trail see them.
    fn shown(&self, policy: &Policy, action: &Action) -> (Value, Value) {
        let r = policy.redaction();
        (
            r.args(&action.args, &self.inner.redaction_key),
            r.context(&action.context, &self.inner.redaction_key),
        )
    }

    /// Decides whether `action` may run now, waiting for reviewers where the
    /// policy asks. Dropping the future cancels a pending request.
    pub async fn require(&self, action: Action) -> Result<Permit, Error> {
        match self.start(action).await? {
            Started::Permit(p) => Ok(p),
            Started::Pending(id, task) => self.wait(&id, task).await,
        }
    }

    /// Decides at once: a permit, a denial (as `Err`), or a pending request
    /// id to [`Gate::resume`] later.
    pub async fn submit(&self, action: Action) -> Result<Submission, Error> {
        match self.start(action).await? {
            Started::Permit(p) => Ok(Submission::Permitted(p)),
            Started::Pending(request_id, approver) => {
                // nobody waits here: an approver that fails must still cancel
                // the request at once (fail closed, fast)
                if let Some(task) = approver {
                    let (gate, id) = (self.clone(), request_id.clone());
                    tokio::spawn(async move {
                        let failure = match task.await {
                            Ok(Ok(())) => return,
                            Ok(Err(e)) => e.0,
                            Err(e) => format!("approver task failed: {e}"),
                        };
                        let _ = gate
                            .cancel(&id, &format!("{APPROVER_FAILED}{failure}"))
                            .await;
                    });
                }
                Ok(Submission::Pending { request_id })
            }
        }
    }

    /// Waits for (or returns) the resolution of a request made by
    /// [`Gate::submit`] or by a `require` in another process.
    pub async fn resume(&self, request_id: &str) -> Result<Permit, Error> {
        if self.inner.store.get(request_id).await?.is_none() {
            return Err(Error::NotFound(request_id.to_owned()));
        }
        self.wait(request_id, None).await
    }

    /// Requires `action`, runs `f` with the approved args, and completes the
    /// permit with the result.
    pub async fn run<F, Fut, T, E>(&self, action: Action, f: F) -> Result<Result<T, E>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let permit = self.require(action).await?;
        let result = f(permit.args().clone()).await;
        let outcome = match &result {
            Ok(_) => Outcome::success(),
            Err(e) => Outcome::failure(e.to_string()),
        };
        permit.complete(outcome).await?;
        Ok(result)
    }

    /// Requests waiting for votes, as reviewers see them.
    pub async fn pending(&self) -> Result<Vec<crate::ApprovalRequest>, Error> {
        Ok(self
            .inner
            .store
            .list(Some(RequestStatus::Pending))
            .await?
            .iter()
            .map(StoredRequest::to_request)
            .collect())
    }

    /// One request, as reviewers see it.
    pub async fn request(&self, request_id: &str) -> Result<crate::ApprovalRequest, Error> {
        self.inner
            .store
            .get(request_id)
            .await?
            .map(|r| r.to_request())
            .ok_or_else(|| Error::NotFound(request_id.to_owned()))
    }

    /// Cancels a pending request (the approver failed, the gate is closing,
    /// an operator withdrew it). Its waiters get [`Error::Cancelled`], or
    /// [`Error::Approver`] when `reason` starts with `approver failed: `.
    /// Does nothing if it is no longer pending.
    pub async fn cancel(&self, request_id: &str, reason: &str) -> Result<(), Error> {
        self.transition(
            request_id,
            RequestStatus::Cancelled,
            Vec::new(),
            None,
            reason,
        )
        .await
    }

    /// Audits a callback refused before it could become a vote (a bad
    /// signature, an unknown chat user), when it names a known request.
    /// `reason` is a short code (`bad_signature`, `unknown_user`).
    pub async fn record_rejected_callback(
        &self,
        request_id: &str,
        channel: &str,
        who: Option<&str>,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        let Some(req) = self.inner.store.get(request_id).await? else {
            return Ok(());
        };
        let mut r = record_for(Event::ApprovalVoteRejected, &req.action, &req.args_digest);
        r.request_id = Some(req.id.clone());
        r.voter = who.map(str::to_owned);
        r.channel = Some(channel.to_owned());
        r.outcome = Some(reason.to_owned());
        r.reason = Some(message.to_owned());
        Ok(self.inner.audit.append(vec![r]).await?)
    }

    /// Cancels the requests this gate's own `require`/`resume` calls are
    /// waiting on (their waiters get [`Error::Cancelled`] with `reason`),
    /// and no other: requests of other processes sharing the store, or
    /// left pending for a later `resume`, stay as they are.
    pub async fn cancel_waiting(&self, reason: &str) -> Result<(), Error> {
        let ids: Vec<String> = match self.inner.waiting.lock() {
            Ok(w) => w.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for id in ids {
            self.cancel(&id, reason).await?;
        }
        Ok(())
    }

    /// Writes out every audit record sealed so far.
    pub async fn close(&self) -> Result<(), Error> {
        Ok(self.inner.audit.flush().await?)
    }

    async fn start(&self, mut action: Action) -> Result<Started, Error> {
        let supplied_id = action.id.is_some();
        self.inner.defaults.apply(&mut action);
        let valid = action.normalize().and_then(|()| {
            if action.actor.is_none() {
                Err(ActionError::NoActor)
            } else {
                Ok(())
            }
        });
        let action_id = action.id.get_or_insert_with(new_action_id).clone();
        if let Err(e) = valid {
            return Err(self.refuse_invalid(&action, e).await);
        }
        if supplied_id && let Some(existing) = self.inner.store.get_by_action(&action_id).await? {
            let submitted = if existing.submitted_digest.is_empty() {
                action_digest(&existing.action)
            } else {
                existing.submitted_digest.clone()
            };
            if submitted != action_digest(&action) {
                return Err(self.refuse_reused_id(&action, &existing).await);
            }
            return self.follow(existing).await;
        }
        let policy = self.policy();
        let decision = policy.evaluate(&action).decision();
        self.count(decision.effect);
        let (shown_args, shown_context) = self.shown(&policy, &action);
        let args_digest = digest(&shown_args);
        // one record per decision, carrying the action (DESIGN §15)
        let mut decided = record_for(Event::PolicyDecided, &action, &args_digest);
        decided.args = Some(shown_args);
        // what `when` conditions see, so the decision can be replayed (§12)
        decided.context = Some(shown_context);
        decided.effect = Some(decision.effect.as_str().to_owned());
        decided.rule = rules_field(&decision.rules);
        decided.reason = Some(decision.reason.clone());
        decided.policy_digest = Some(decision.policy_digest.clone());
        if !decision.errors.is_empty() {
            let errs: Vec<String> = decision
                .errors
                .iter()
                .map(|e| format!("rule `{}`: {}", e.rule, e.message))
                .collect();
            decided.error = Some(errs.join("; "));
        }
        let shadow = self.shadow_record(&action, &args_digest, &decision);
        let with_shadow = |decided: AuditRecord| {
            let mut batch = Vec::with_capacity(3);
            batch.push(decided);
            batch.extend(shadow);
            batch
        };
        match decision.effect {
            Effect::Allow => {
                decided.outcome = Some("allowed".to_owned());
                self.inner.audit.append(with_shadow(decided)).await?;
                Ok(Started::Permit(self.permit(
                    action,
                    args_digest,
                    None,
                    Vec::new(),
                )))
            }
            Effect::Deny => {
                decided.outcome = Some("denied".to_owned());
                self.inner.audit.append(with_shadow(decided)).await?;
                Err(Error::Denied(Box::new(Denial {
                    action_id,
                    request_id: None,
                    by: DeniedBy::Policy,
                    rules: decision.rules,
                    reason: decision.reason,
                })))
            }
            Effect::Approve => {
                // a live grant for every approve rule that matched permits it (DESIGN §13)
                if decision
                    .approval
                    .as_ref()
                    .is_some_and(|a| a.max_grant().is_some())
                    && let Some(grants) = self.grant_cover(&policy, &action, &decision).await?
                {
                    let by = self.use_grants(with_shadow(decided), &grants).await?;
                    return Ok(Started::Permit(self.permit(action, args_digest, None, by)));
                }
                let Some(approver) = self.inner.approver.clone() else {
                    let err = Error::NoApprover {
                        action: action.name.clone(),
                        rules: decision.rules.clone(),
                    };
                    decided.outcome = Some("denied".to_owned());
                    decided.error = Some(err.to_string());
                    self.inner.audit.append(with_shadow(decided)).await?;
                    return Err(err);
                };
                let Some(approval) = decision.approval.clone() else {
                    return Err(Error::Config(
                        "approve decision without requirements".into(),
                    ));
                };
                let now = self.inner.clock.now();
                let expires_at = checked_after(now, approval.timeout)?;
                let request = StoredRequest {
                    id: uuid::Uuid::now_v7().to_string(),
                    submitted_digest: action_digest(&action),
                    action: action.clone(),
                    args_digest: args_digest.clone(),
                    // the shown args and context live in the decision record;
                    // only a request copies them (the allow path never does)
                    shown_args: decided.args.clone().unwrap_or_default(),
                    shown_context: decided.context.clone().unwrap_or_default(),
                    decision,
                    status: RequestStatus::Pending,
                    votes: Vec::new(),
                    created_at: now,
                    expires_at,
                    resolution: None,
                    version: 0,
                    deliveries: Vec::new(),
                    claim: None,
                    escalated: Vec::new(),
                    reminded_at: None,
                };
                let stored = self.inner.store.create(request.clone()).await?;
                if stored.id != request.id {
                    // the same action id was submitted concurrently: follow it
                    return self.follow(stored).await;
                }
                let mut asked = record_for(Event::ApprovalRequested, &action, &args_digest);
                asked.request_id = Some(stored.id.clone());
                asked.rule = rules_field(&stored.decision.rules);
                let needs: Vec<String> = approval
                    .requirements
                    .iter()
                    .map(|r| format!("{} of {}", r.min, r.group))
                    .collect();
                asked.reason = Some(format!(
                    "{}; needs {}; expires {}",
                    stored.decision.reason,
                    needs.join(" + "),
                    expires_at.to_rfc3339()
                ));
                let mut batch = with_shadow(decided);
                batch.push(asked);
                if let Err(e) = self.inner.audit.append(batch).await {
                    let _ = self
                        .transition(
                            &stored.id,
                            RequestStatus::Cancelled,
                            Vec::new(),
                            None,
                            "audit failed",
                        )
                        .await;
                    return Err(e.into());
                }
                let sender = self.votes_for(&stored.id, stored.version);
                let view = stored.to_request();
                let task = tokio::spawn(async move { approver.review(view, sender).await });
                Ok(Started::Pending(stored.id, Some(task)))
            }
        }
    }

    /// Refuses an action id that already names another action, and audits it.
    async fn refuse_reused_id(&self, action: &Action, existing: &StoredRequest) -> Error {
        self.count(Effect::Deny);
        let mut decided = AuditRecord::new(Event::PolicyDecided);
        decided.action_id = action.id.clone();
        decided.request_id = Some(existing.id.clone());
        decided.action = Some(action.name.clone());
        decided.actor = action.actor.clone();
        decided.on_behalf_of = action.on_behalf_of.clone();
        decided.effect = Some("deny".to_owned());
        decided.outcome = Some("denied".to_owned());
        decided.error = Some(format!(
            "action id reused: it already names action `{}` (request `{}`)",
            existing.action.name, existing.id
        ));
        decided.policy_digest = Some(self.policy().digest().to_owned());
        let err = Error::IdReused {
            action_id: action.id.clone().unwrap_or_default(),
            existing: existing.action.name.clone(),
        };
        match self.inner.audit.append(vec![decided]).await {
            Ok(()) => err,
            Err(audit) => Error::Audit(audit),
        }
    }

    async fn refuse_invalid(&self, action: &Action, e: ActionError) -> Error {
        self.count(Effect::Deny);
        let mut decided = AuditRecord::new(Event::PolicyDecided);
        decided.action_id = action.id.clone();
        decided.action = Some(action.name.clone());
        decided.effect = Some("deny".to_owned());
        decided.outcome = Some("denied".to_owned());
        decided.error = Some(format!("invalid action: {e}"));
        decided.policy_digest = Some(self.policy().digest().to_owned());
        match self.inner.audit.append(vec![decided]).await {
            Ok(()) => Error::InvalidAction(e),
            Err(audit) => Error::Audit(audit),
        }
    }

    fn permit(
        &self,
        action: Action,
        args_digest: String,
        request_id: Option<String>,
        approved_by: Vec<String>,
    ) -> Permit {
        let now = Utc::now();
        let expires_at = checked_after(now, self.inner.permit_ttl).unwrap_or(now);
        Permit {
            gate: self.clone(),
            done: false,
            data: Box::new(PermitData {
                action,
                request_id,
                args_digest,
                action_digest: std::sync::OnceLock::new(),
                approved_by,
                expires_at,
            }),
        }
    }

    /// Follows an existing request for a re-submitted action id.
    async fn follow(&self, req: StoredRequest) -> Result<Started, Error> {
        if req.status == RequestStatus::Pending {
            return Ok(Started::Pending(req.id, None));
        }
        self.settle(req).await.map(Started::Permit)
    }

    /// Turns a resolved request into a permit or the matching error, writing
    /// this process's `approval.resolved` record first.
    async fn settle(&self, req: StoredRequest) -> Result<Permit, Error> {
        let action_id = req.action.id.clone().unwrap_or_default();
        let resolution = req.resolution.clone();
        let mut record = record_for(Event::ApprovalResolved, &req.action, &req.args_digest);
        record.request_id = Some(req.id.clone());
        record.rule = rules_field(&req.decision.rules);
        record.outcome = Some(req.status.as_str().to_owned());
        if let Some(r) = &resolution {
            record.voter = (!r.by.is_empty()).then(|| r.by.join(","));
            record.comment = r.comment.clone();
            record.reason = Some(r.reason.clone());
        }
        let timeout_allows = req
            .decision
            .approval
            .as_ref()
            .is_some_and(|a| a.on_timeout == OnTimeout::Allow);
        match req.status {
            RequestStatus::Approved => {
                let by = resolution.map(|r| r.by).unwrap_or_default();
                self.issue(req, record, by).await
            }
            RequestStatus::Expired if timeout_allows => {
                record.outcome = Some("expired; allowed by on_timeout".to_owned());
                self.issue(req, record, Vec::new()).await
            }
            RequestStatus::Denied => {
                self.inner.audit.append(vec![record]).await?;
                let (by, reason) = match resolution {
                    Some(r) => {
                        let voter = r.by.first().cloned().unwrap_or_default();
                        let by = if r.reason.starts_with("edited args") {
                            DeniedBy::Edit { voter }
                        } else {
                            DeniedBy::Reviewer {
                                voter,
                                comment: r.comment,
                            }
                        };
                        (by, r.reason)
                    }
                    None => (DeniedBy::Policy, "denied".to_owned()),
                };
                Err(Error::Denied(Box::new(Denial {
                    action_id,
                    request_id: Some(req.id),
                    by,
                    rules: req.decision.rules,
                    reason,
                })))
            }
            RequestStatus::Expired => Err(Error::TimedOut(Box::new(TimedOut {
                action_id,
                request_id: req.id,
                rules: req.decision.rules,
                timeout: req.decision.approval.map(|a| a.timeout).unwrap_or_default(),
            }))),
            RequestStatus::Cancelled => {
                let reason = resolution.map(|r| r.reason).unwrap_or_default();
                match reason.strip_prefix(APPROVER_FAILED) {
                    Some(message) => Err(Error::Approver {
                        request_id: req.id,
                        message: message.to_owned(),
                    }),
                    None => Err(Error::Cancelled {
                        request_id: req.id,
                        reason,
                    }),
                }
            }
            RequestStatus::Completed => Err(Error::AlreadyCompleted(action_id)),
            RequestStatus::Issued => Err(Error::AlreadyIssued(action_id)),
            RequestStatus::Pending => {
                Err(Error::Config("settle called on a pending request".into()))
            }
        }
    }

    /// Issues the one permit of an approved request: a compare-and-swap to
    /// `issued` in the store, so two processes (or a `resume` and a
    /// `submit`) can never both hold a permit for one approval.
    async fn issue(
        &self,
        req: StoredRequest,
        record: AuditRecord,
        approved_by: Vec<String>,
    ) -> Result<Permit, Error> {
        let action_id = req.action.id.clone().unwrap_or_default();
        let from = req.status;
        let mut issued = req;
        let mut rounds = 0;
        loop {
            issued.status = RequestStatus::Issued;
            issued.version += 1;
            if self.inner.store.update(&issued).await? {
                break;
            }
            // someone else changed it (a refreshed post, another issuer): re-read
            rounds += 1;
            let Some(now) = self.inner.store.get(&issued.id).await? else {
                return Err(Error::NotFound(issued.id));
            };
            if now.status != from {
                return Err(Error::AlreadyIssued(action_id));
            }
            if rounds >= 32 {
                return Err(Error::Store(StoreError::new(
                    self.inner.store.describe(),
                    "too many concurrent updates",
                )));
            }
            issued = now;
        }
        self.inner.audit.append(vec![record]).await?;
        Ok(self.permit(
            issued.action,
            issued.args_digest,
            Some(issued.id),
            approved_by,
        ))
    }

    /// Waits for a pending request to resolve.
    async fn wait(
        &self,
        request_id: &str,
        mut approver: Option<JoinHandle<Result<(), ApproverError>>>,
    ) -> Result<Permit, Error> {
        let _waiting = Waiting::new(self, request_id);
        let mut guard = CancelOnDrop {
            gate: self.clone(),
            request_id: Some(request_id.to_owned()),
        };
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let req = self
                .inner
                .store
                .get(request_id)
                .await?
                .ok_or_else(|| Error::NotFound(request_id.to_owned()))?;
            if req.status != RequestStatus::Pending {
                guard.request_id = None;
                return self.settle(req).await;
            }
            let deadline = *deadline.get_or_insert_with(|| {
                let left = (req.expires_at - Utc::now()).to_std().unwrap_or_default();
                tokio::time::Instant::now() + left
            });
            tokio::select! {
                changed = self.inner.store.wait_change(request_id, req.version) => changed?,
                () = tokio::time::sleep_until(deadline) => {
                    self.transition(request_id, RequestStatus::Expired, Vec::new(), None, "no decision before the timeout").await?;
                }
                joined = async { match approver.as_mut() { Some(task) => task.await, None => std::future::pending().await } }, if approver.is_some() => {
                    approver = None;
                    let failure = match joined {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e.0),
                        Err(e) => Some(format!("approver task failed: {e}")),
                    };
                    if let Some(message) = failure {
                        guard.request_id = None;
                        self.transition(request_id, RequestStatus::Cancelled, Vec::new(), None, &format!("{APPROVER_FAILED}{message}")).await?;
                        return Err(Error::Approver { request_id: request_id.to_owned(), message });
                    }
                }
            }
        }
    }

    /// Moves a pending request to `status` (expired, cancelled) and audits
    /// it. Does nothing if it is no longer pending.
    async fn transition(
        &self,
        request_id: &str,
        status: RequestStatus,
        by: Vec<String>,
        comment: Option<String>,
        reason: &str,
    ) -> Result<(), Error> {
        for _ in 0..32 {
            let Some(mut req) = self.inner.store.get(request_id).await? else {
                return Err(Error::NotFound(request_id.to_owned()));
            };
            if req.status != RequestStatus::Pending {
                return Ok(());
            }
            req.status = status;
            req.resolution = Some(Resolution {
                status,
                by: by.clone(),
                comment: comment.clone(),
                reason: reason.to_owned(),
                at: Utc::now(),
            });
            req.version += 1;
            if self.inner.store.update(&req).await? {
                if matches!(status, RequestStatus::Expired | RequestStatus::Cancelled) {
                    let mut r = record_for(Event::ApprovalResolved, &req.action, &req.args_digest);
                    r.request_id = Some(req.id.clone());
                    r.rule = rules_field(&req.decision.rules);
                    r.outcome = Some(status.as_str().to_owned());
                    r.reason = Some(reason.to_owned());
                    self.inner.audit.append(vec![r]).await?;
                }
                self.refresh_in_background(request_id);
                return Ok(());
            }
        }
        Err(Error::Store(StoreError::new(
            self.inner.store.describe(),
            "too many concurrent updates",
        )))
    }

    /// Marks an approved request completed, so its permit is never issued again.
    pub(crate) async fn finish_request(&self, request_id: Option<&str>) -> Result<(), Error> {
        let Some(id) = request_id else { return Ok(()) };
        for _ in 0..32 {
            let Some(mut req) = self.inner.store.get(id).await? else {
                return Ok(());
            };
            if !matches!(
                req.status,
                RequestStatus::Issued | RequestStatus::Approved | RequestStatus::Expired
            ) {
                return Ok(());
            }
            req.status = RequestStatus::Completed;
            req.version += 1;
            if self.inner.store.update(&req).await? {
                return Ok(());
            }
        }
        Err(Error::Store(StoreError::new(
            self.inner.store.describe(),
            "too many concurrent updates",
        )))
    }

    async fn is_member(&self, group: &str, who: &Principal) -> Result<bool, String> {
        match &self.inner.directory {
            Some(d) => d.is_member(group, who).await.map_err(|e| e.to_string()),
            None => Ok(self
                .policy()
                .groups()
                .get(group)
                .is_some_and(|m| m.contains(who))),
        }
    }

    /// Casts a vote on a request. Every vote rule is applied here; a refused
    /// vote is audited and returned as [`Error::VoteRejected`].
    pub async fn vote(&self, request_id: &str, vote: Vote) -> Result<VoteOutcome, Error> {
        for _ in 0..32 {
            let req = self
                .inner
                .store
                .get(request_id)
                .await?
                .ok_or_else(|| Error::NotFound(request_id.to_owned()))?;
            let step = match self.apply_vote(&req, &vote).await {
                Ok(step) => step,
                Err((reason, message)) => {
                    return Err(self.reject(&req, &vote, reason, message).await);
                }
            };
            match step {
                VoteStep::Duplicate(status) => return Ok(VoteOutcome::Duplicate(status)),
                VoteStep::Expire => {
                    self.transition(
                        request_id,
                        RequestStatus::Expired,
                        Vec::new(),
                        None,
                        "no decision before the timeout",
                    )
                    .await?;
                    let msg = "the request expired before this vote".to_owned();
                    return Err(self.reject(&req, &vote, RejectReason::Resolved, msg).await);
                }
                VoteStep::Update(new, records) => {
                    if !self.inner.store.update(&new).await? {
                        continue;
                    }
                    if let Err(e) = self.inner.audit.append(records).await {
                        // the vote is stored but not audited: stop the request (fail closed)
                        let mut stop = *new;
                        stop.status = RequestStatus::Cancelled;
                        stop.version += 1;
                        let _ = self.inner.store.update(&stop).await;
                        return Err(e.into());
                    }
                    if new.status == RequestStatus::Approved {
                        self.create_grants(&new).await?;
                        self.announce_break_glass(&new);
                    }
                    self.refresh_in_background(request_id);
                    return Ok(VoteOutcome::Counted(new.status));
                }
            }
        }
        Err(Error::Store(StoreError::new(
            self.inner.store.describe(),
            "too many concurrent votes",
        )))
    }

    async fn reject(
        &self,
        req: &StoredRequest,
        vote: &Vote,
        reason: RejectReason,
        message: String,
    ) -> Error {
        let mut r = record_for(Event::ApprovalVoteRejected, &req.action, &req.args_digest);
        r.request_id = Some(req.id.clone());
        r.voter = Some(vote.voter.clone());
        r.verdict = Some(vote.verdict.as_str().to_owned());
        r.channel = Some(vote.channel.clone());
        r.assurance = Some(vote.assurance().to_owned());
        r.os_user.clone_from(&vote.os_user);
        r.comment = vote.comment.clone();
        r.outcome = Some(reason.code().to_owned());
        r.reason = Some(message.clone());
        if let Err(e) = self.inner.audit.append(vec![r]).await {
            return Error::Audit(e);
        }
        Error::VoteRejected(Box::new(VoteRejection {
            request_id: req.id.clone(),
            voter: vote.voter.clone(),
            reason,
            message,
        }))
    }

    /// Applies the vote rules; the new request state, or why not.
    async fn apply_vote(
        &self,
        req: &StoredRequest,
        vote: &Vote,
    ) -> Result<VoteStep, (RejectReason, String)> {
        use RejectReason as R;
        // 1. only users vote
        let voter = Principal::parse(&vote.voter).map_err(|e| (R::InvalidVoter, e.to_string()))?;
        // 4. repeats are idempotent, even after the request resolved (a double click)
        if let Some(prev) = req.votes.iter().find(|v| v.voter == voter.as_str())
            && prev.verdict == vote.verdict
            && prev.args_digest.as_deref() == Some(req.args_digest.as_str())
            && vote.args.is_none()
            && vote
                .args_digest
                .as_ref()
                .is_none_or(|d| *d == req.args_digest)
        {
            return Ok(VoteStep::Duplicate(req.status));
        }
        // 8. votes after resolution are rejected
        if req.status != RequestStatus::Pending {
            return Err((
                R::Resolved,
                format!("the request is already {}", req.status.as_str()),
            ));
        }
        if Utc::now() >= req.expires_at {
            return Ok(VoteStep::Expire);
        }
        if voter.kind() != PrincipalKind::User {
            return Err((
                R::NotAUser,
                format!("`{voter}` is not a user; only `user:` principals vote"),
            ));
        }
        // 2. no self-approval: not the actor, not the person it runs for, not
        // anyone who looks like them, and not an owner of the agent
        if let Some(message) = self.self_approval(req, &voter) {
            return Err((R::SelfApproval, message));
        }
        if vote.break_glass {
            // the rule's channel assurance holds for break-glass too: one
            // asserted vote must not resolve what asserted votes cannot fill
            if let Some(allowed) = req
                .decision
                .approval
                .as_ref()
                .and_then(|a| a.channels.as_ref())
                && !channel_counts(vote, allowed)
            {
                return Err((
                    R::ChannelNotAllowed,
                    format!(
                        "break-glass through `{}` ({}) does not count for this request; it accepts {}",
                        vote.channel,
                        vote.assurance(),
                        allowed.join(", ")
                    ),
                ));
            }
            return self.apply_break_glass(req, vote, &voter).await;
        }
        // 3. must be in a required group
        let approval = req
            .decision
            .approval
            .as_ref()
            .ok_or((R::Resolved, "the request has no requirements".to_owned()))?;
        let mut eligible = false;
        let now = self.inner.clock.now();
        for r in &approval.requirements {
            match self.fills(req, r, &voter, now).await {
                Ok(true) => {
                    eligible = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => return Err((R::NotEligible, format!("group lookup failed: {e}"))),
            }
        }
        if !eligible {
            let groups: Vec<&str> = approval
                .requirements
                .iter()
                .map(|r| r.group.as_str())
                .collect();
            return Err((
                R::NotEligible,
                format!("`{voter}` is not in {}", groups.join(" or ")),
            ));
        }
        // channel assurance: a rule may count only some channels
        if let Some(allowed) = &approval.channels
            && !channel_counts(vote, allowed)
        {
            return Err((
                R::ChannelNotAllowed,
                format!(
                    "votes through `{}` ({}) do not count for this request; it accepts {}",
                    vote.channel,
                    vote.assurance(),
                    allowed.join(", ")
                ),
            ));
        }
        Self::check_grant(vote, approval)?;
        // 7. the vote names the args it saw
        if let Some(seen) = &vote.args_digest
            && *seen != req.args_digest
        {
            return Err((
                R::StaleArgs,
                "the args changed since this reviewer saw them; review the current args".to_owned(),
            ));
        }
        // 4. one vote per voter (a vote on older args may be replaced)
        if req.votes.iter().any(|v| {
            v.voter == voter.as_str() && v.args_digest.as_deref() == Some(req.args_digest.as_str())
        }) {
            return Err((
                R::AlreadyVoted,
                format!("`{voter}` already voted on this request"),
            ));
        }
        let mut new = req.clone();
        new.votes.retain(|v| v.voter != voter.as_str());
        let mut counted = vote.clone();
        counted.voter = voter.as_str().to_owned();
        counted.at = Some(Utc::now());
        let mut records = Vec::new();
        let mut edited_args = None;
        // edits are re-evaluated by the policy
        if let Some(args) = &vote.args {
            if vote.verdict == Verdict::Deny {
                return Err((R::BadEdit, "a deny vote cannot edit the args".to_owned()));
            }
            if !approval.allow_edit {
                return Err((
                    R::EditNotAllowed,
                    "the rule does not allow reviewers to edit args".to_owned(),
                ));
            }
            if !args.is_object() || deeper_than(args, MAX_DEPTH) {
                return Err((R::BadEdit, "edited args must be a JSON object".to_owned()));
            }
            let mut edited = new.action.clone();
            edited.args = args.clone();
            let policy = self.policy();
            let decision = policy.evaluate(&edited).decision();
            let (shown_args, _) = self.shown(&policy, &edited);
            new.args_digest = digest(&shown_args);
            new.shown_args = shown_args;
            new.action = edited;
            edited_args = Some(args.clone());
            match decision.effect {
                Effect::Deny => {
                    new.status = RequestStatus::Denied;
                    new.resolution = Some(Resolution {
                        status: RequestStatus::Denied,
                        by: vec![voter.as_str().to_owned()],
                        comment: vote.comment.clone(),
                        reason: format!("edited args are denied by policy: {}", decision.reason),
                        at: Utc::now(),
                    });
                }
                Effect::Approve => {
                    let mut d = decision;
                    if let (Some(new_a), Some(old_a)) =
                        (d.approval.as_mut(), req.decision.approval.as_ref())
                    {
                        new_a.allow_edit = old_a.allow_edit;
                    }
                    new.decision = d;
                }
                Effect::Allow => {}
            }
        }
        counted.args_digest = Some(new.args_digest.clone());
        new.votes.push(counted.clone());
        let mut r = record_for(Event::ApprovalVote, &new.action, &new.args_digest);
        r.request_id = Some(new.id.clone());
        r.voter = Some(counted.voter.clone());
        r.verdict = Some(vote.verdict.as_str().to_owned());
        r.comment = vote.comment.clone();
        r.channel = Some(vote.channel.clone());
        r.assurance = Some(vote.assurance().to_owned());
        r.os_user.clone_from(&vote.os_user);
        if edited_args.is_some() {
            r.args = Some(new.shown_args.clone());
            r.reason = Some("the reviewer edited the args".to_owned());
        }
        records.push(r);
        if new.status == RequestStatus::Pending {
            if vote.verdict == Verdict::Deny {
                // 5. any valid deny resolves the request
                new.status = RequestStatus::Denied;
                new.resolution = Some(Resolution {
                    status: RequestStatus::Denied,
                    by: vec![counted.voter.clone()],
                    comment: vote.comment.clone(),
                    reason: format!("denied by reviewer `{}`", counted.voter),
                    at: Utc::now(),
                });
            } else if let Some(approvers) = self.filled(&new).await {
                // 6. approved when every requirement has its distinct voters
                new.status = RequestStatus::Approved;
                new.resolution = Some(Resolution {
                    status: RequestStatus::Approved,
                    reason: format!("approved by {}", approvers.join(", ")),
                    by: approvers,
                    comment: None,
                    at: Utc::now(),
                });
            }
        }
        new.version += 1;
        Ok(VoteStep::Update(Box::new(new), records))
    }

    /// Why `voter` may not vote on `req` as its requester, if so: the actor,
    /// the on-behalf-of, a principal confusable with either (UTS #39
    /// skeletons), or an owner of the actor under the policy's `[owners]`.
    fn self_approval(&self, req: &StoredRequest, voter: &Principal) -> Option<String> {
        let named = [&req.action.actor, &req.action.on_behalf_of];
        for p in named.into_iter().flatten() {
            let Ok(requester) = Principal::parse(p) else {
                // an unparseable requester cannot be told apart: refuse
                return Some(format!("`{voter}` cannot be told apart from the requester"));
            };
            if requester == *voter {
                return Some(format!(
                    "`{voter}` requested this action (as actor or on whose behalf it runs) and cannot vote on it"
                ));
            }
            if requester.is_confusable_with(voter) {
                return Some(format!(
                    "`{voter}` looks like the requester `{requester}` (confusable characters) and cannot vote on it"
                ));
            }
        }
        let policy = self.policy();
        let actor = req.action.actor.as_deref()?;
        for owner in policy.owners_of(actor) {
            if owner.is_confusable_with(voter) {
                return Some(format!(
                    "`{voter}` owns the agent `{actor}` (policy `[owners]`) and cannot vote on its actions"
                ));
            }
        }
        None
    }

    /// The approvers, if the current approvals fill every requirement.
    async fn filled(&self, req: &StoredRequest) -> Option<Vec<String>> {
        let approval = req.decision.approval.as_ref()?;
        let voters: Vec<Principal> = req
            .votes
            .iter()
            .filter(|v| {
                v.verdict == Verdict::Approve
                    && v.args_digest.as_deref() == Some(req.args_digest.as_str())
            })
            .filter_map(|v| Principal::parse(&v.voter).ok())
            .collect();
        let mut slots = Vec::new();
        for (i, r) in approval.requirements.iter().enumerate() {
            slots.extend(std::iter::repeat_n(i, r.min as usize));
        }
        let mut member = vec![vec![false; approval.requirements.len()]; voters.len()];
        let now = self.inner.clock.now();
        for (v, who) in voters.iter().enumerate() {
            for (i, r) in approval.requirements.iter().enumerate() {
                member[v][i] = self.fills(req, r, who, now).await.unwrap_or(false);
            }
        }
        tally::can_fill(&slots, voters.len(), &|v, i| member[v][i])
            .then(|| voters.iter().map(|p| p.as_str().to_owned()).collect())
    }
}

/// Channels that authenticate their voters; a vote naming one of them but
/// not marked authenticated never satisfies a `channels` restriction.
const AUTHENTICATING_CHANNELS: &[&str] = &["slack", "web", "api", "teams"];

/// Whether `vote` counts under a rule's `channels` list: its channel is
/// listed (and, for a channel that authenticates, it really did), or the
/// list says `authenticated` and the vote was.
fn channel_counts(vote: &Vote, allowed: &[String]) -> bool {
    if vote.authenticated && allowed.iter().any(|c| c == "authenticated") {
        return true;
    }
    allowed.contains(&vote.channel)
        && (vote.authenticated || !AUTHENTICATING_CHANNELS.contains(&vote.channel.as_str()))
}

/// Cancels the request if the waiting future is dropped.
struct CancelOnDrop {
    gate: Gate,
    request_id: Option<String>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.request_id.take() else {
            return;
        };
        let gate = self.gate.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = gate
                    .transition(
                        &id,
                        RequestStatus::Cancelled,
                        Vec::new(),
                        None,
                        "the requester stopped waiting",
                    )
                    .await;
            });
        }
    }
}

#[async_trait]
impl ActionGate for Gate {
    async fn require(&self, action: Action) -> Result<Permit, Error> {
        Gate::require(self, action).await
    }
}
