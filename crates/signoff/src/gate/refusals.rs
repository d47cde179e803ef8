//! Access refused before anyone could be named as a voter (no credentials,
//! an unknown token, an identity header from an untrusted peer): audited so
//! that token guessing shows in the trail, with or without a request.

use super::Gate;
use crate::audit::{AuditRecord, Event};
use crate::error::Error;

impl Gate {
    /// Audits an attempt refused before it could become a vote, as an
    /// `approval.vote_rejected` record without a voter. `channel` is where it
    /// came (`api`, `web`), `outcome` a short code (`unauthenticated`,
    /// `bad_token`, `untrusted_proxy`, `refusal_cap_reached`), `reason` a
    /// sentence and `source` the peer's address, written into the reason (a
    /// record has no field of its own for it). When `request_id` names a known
    /// request the record carries it and its action; an unknown id is left
    /// out, so a caller cannot write arbitrary text into the trail. Never pass
    /// a presented credential, or anything derived from one, in any argument.
    pub async fn record_refused_access(
        &self,
        request_id: Option<&str>,
        channel: &str,
        source: &str,
        outcome: &str,
        reason: &str,
    ) -> Result<(), Error> {
        let mut r = AuditRecord::new(Event::ApprovalVoteRejected);
        if let Some(id) = request_id
            && let Some(req) = self.store().get(id).await?
        {
            r.request_id = Some(req.id.clone());
            r.action_id = req.action.id.clone();
            r.action = Some(req.action.name.clone());
            r.actor = req.action.actor.clone();
            r.on_behalf_of = req.action.on_behalf_of.clone();
            r.resource = req.action.resource.clone();
            r.env = req.action.env.clone();
            r.args_digest = Some(req.args_digest.clone());
        }
        r.channel = Some(channel.to_owned());
        r.outcome = Some(outcome.to_owned());
        r.reason = Some(format!("{reason} (from {source})"));
        Ok(self.inner.audit.append(vec![r]).await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

    use serde_json::Value;

    use crate::{Action, Gate, JsonlSink, Policy, Queue, Submission};

    const POLICY: &str = r#"
        [groups]
        owners = ["user:carol@example.com"]
        [[rules]]
        id = "export"
        effect = "approve"
        actions = ["db.export"]
        approvers = "owners"
    "#;

    #[tokio::test]
    async fn a_refused_access_names_its_request_only_when_the_request_exists() {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("audit.jsonl");
        let gate = Gate::builder()
            .policy(Policy::from_toml_str(POLICY).unwrap())
            .approver(Queue)
            .audit(JsonlSink::open(&trail).unwrap())
            .build()
            .unwrap();
        let Submission::Pending { request_id } = gate
            .submit(Action::new("db.export").actor("agent:bot"))
            .await
            .unwrap()
        else {
            panic!("not pending")
        };
        gate.record_refused_access(
            Some(&request_id),
            "api",
            "192.0.2.7",
            "bad_token",
            "unknown token",
        )
        .await
        .unwrap();
        gate.record_refused_access(
            Some("no-such"),
            "web",
            "192.0.2.8",
            "unauthenticated",
            "no credentials",
        )
        .await
        .unwrap();
        gate.close().await.unwrap();
        let refused: Vec<Value> = std::fs::read_to_string(&trail)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &Value| r["event"] == "approval.vote_rejected")
            .collect();
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0]["request_id"], request_id.as_str());
        assert_eq!(refused[0]["action"], "db.export");
        assert_eq!(refused[0]["outcome"], "bad_token");
        assert_eq!(refused[0]["reason"], "unknown token (from 192.0.2.7)");
        assert!(refused[0].get("voter").is_none());
        assert!(refused[1].get("request_id").is_none());
        assert_eq!(refused[1]["channel"], "web");
    }
}
