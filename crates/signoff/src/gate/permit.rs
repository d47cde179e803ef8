//! [`Permit`]: proof that one exact action may run now, used once.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Gate;
use crate::action::Action;
use crate::audit::{AuditRecord, Event};
use crate::error::Error;

/// How the action went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether it succeeded.
    pub ok: bool,
    /// What happened (an error message on failure).
    pub detail: Option<String>,
}

impl Outcome {
    /// It ran and succeeded.
    pub fn success() -> Self {
        Outcome {
            ok: true,
            detail: None,
        }
    }

    /// It ran and failed.
    pub fn failure(detail: impl Into<String>) -> Self {
        Outcome {
            ok: false,
            detail: Some(detail.into()),
        }
    }

    /// Adds a detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Permission to run one action, bound to its digest and approved args.
///
/// Complete it with [`Permit::complete`] once the action ran; a permit
/// dropped without completing is recorded as `action.abandoned`, and its
/// approval can never be used again.
#[must_use = "run the action, then call `complete` on the permit"]
pub struct Permit {
    pub(crate) gate: Gate,
    pub(crate) data: Box<PermitData>,
    pub(crate) done: bool,
}

/// What a permit carries: the permitted action itself (its id already
/// assigned), with everything else derived from it on demand.
#[derive(Debug, Clone)]
pub(crate) struct PermitData {
    pub action: Action,
    pub request_id: Option<String>,
    pub args_digest: String,
    /// Computed on first use, so the allow path does not pay for it.
    pub action_digest: std::sync::OnceLock<String>,
    pub approved_by: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("action_id", &self.action_id())
            .field("name", &self.name())
            .field("action_digest", &self.action_digest())
            .field("approved_by", &self.data.approved_by)
            .finish()
    }
}

impl Permit {
    /// The action's id.
    pub fn action_id(&self) -> &str {
        self.data.action.id.as_deref().unwrap_or_default()
    }

    /// The approval request, when approval was needed.
    pub fn request_id(&self) -> Option<&str> {
        self.data.request_id.as_deref()
    }

    /// The action name.
    pub fn name(&self) -> &str {
        &self.data.action.name
    }

    /// Who runs the action.
    pub fn actor(&self) -> Option<&str> {
        self.data.action.actor.as_deref()
    }

    /// On whose behalf.
    pub fn on_behalf_of(&self) -> Option<&str> {
        self.data.action.on_behalf_of.as_deref()
    }

    /// What it touches.
    pub fn resource(&self) -> Option<&str> {
        self.data.action.resource.as_deref()
    }

    /// Where it runs.
    pub fn env(&self) -> Option<&str> {
        self.data.action.env.as_deref()
    }

    /// The args to run with: the approved ones, possibly edited by a reviewer.
    pub fn args(&self) -> &Value {
        &self.data.action.args
    }

    /// Digest of [`Permit::args`].
    pub fn args_digest(&self) -> &str {
        &self.data.args_digest
    }

    /// Digest of the exact action permitted (name, principals, resource, env, args).
    pub fn action_digest(&self) -> &str {
        self.data
            .action_digest
            .get_or_init(|| super::action_digest(&self.data.action))
    }

    /// Who approved (empty when the policy allowed it outright).
    pub fn approved_by(&self) -> &[String] {
        &self.data.approved_by
    }

    /// After this the permit should not be used to start the action.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.data.expires_at
    }

    /// Whether the permit has expired.
    pub fn is_expired(&self) -> bool {
        Utc::now() >= self.data.expires_at
    }

    /// Records the action's outcome; the permit is used up. Returns once the
    /// record is queued: it is durable with the next flush, and
    /// [`Gate::close`](super::Gate::close) waits for it (DESIGN §15).
    pub async fn complete(mut self, outcome: Outcome) -> Result<(), Error> {
        self.done = true;
        if self.is_expired() {
            // too late to start the action: refuse, and record the refusal
            let mut record = self.record(Event::ActionAbandoned);
            record.outcome = Some("expired".to_owned());
            let expired_at = self.data.expires_at.to_rfc3339();
            record.error = Some(format!(
                "the permit expired at {expired_at} before it was completed"
            ));
            let gate = self.gate.clone();
            gate.finish_request(self.data.request_id.as_deref()).await?;
            gate.inner.audit.append(vec![record]).await?;
            return Err(Error::PermitExpired {
                action_id: self.action_id().to_owned(),
                expired_at,
            });
        }
        let mut record = self.record(Event::ActionCompleted);
        record.outcome = Some(if outcome.ok { "success" } else { "failure" }.to_owned());
        record.error = outcome.detail;
        let gate = self.gate.clone();
        gate.finish_request(self.data.request_id.as_deref()).await?;
        gate.inner.audit.append_queued(vec![record]).await?;
        Ok(())
    }

    /// Hands the action to a host that runs it where signoff cannot see the
    /// result (a coding agent's own tool runner): records `action.completed`
    /// with outcome `handed_over` and who runs it, and uses the permit up, so
    /// the trail says neither "succeeded" nor "abandoned". An expired permit
    /// is refused as [`Permit::complete`] refuses it. Like `complete`, it
    /// returns once the record is queued.
    pub async fn hand_over(mut self, host: &str) -> Result<(), Error> {
        if self.is_expired() {
            return self.complete(Outcome::success()).await;
        }
        self.done = true;
        let mut record = self.record(Event::ActionCompleted);
        record.outcome = Some("handed_over".to_owned());
        record.reason = Some(format!(
            "{host} runs the action; its result is not reported to signoff"
        ));
        let gate = self.gate.clone();
        gate.finish_request(self.data.request_id.as_deref()).await?;
        gate.inner.audit.append_queued(vec![record]).await?;
        Ok(())
    }

    fn record(&self, event: Event) -> AuditRecord {
        let mut r = AuditRecord::new(event);
        let action = &self.data.action;
        r.action_id = action.id.clone();
        r.request_id = self.data.request_id.clone();
        r.action = Some(action.name.clone());
        r.actor = action.actor.clone();
        r.on_behalf_of = action.on_behalf_of.clone();
        r.args_digest = Some(self.data.args_digest.clone());
        r
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut record = self.record(Event::ActionAbandoned);
        record.outcome = Some("abandoned".to_owned());
        self.gate.inner.audit.append_detached(vec![record]);
        if let Some(id) = self.data.request_id.clone() {
            let gate = self.gate.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = gate.finish_request(Some(&id)).await;
                });
            }
        }
    }
}
