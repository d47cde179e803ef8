//! An approver that casts pre-written votes, for tests and the demo.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::approval::{ApprovalRequest, Vote};
use crate::approver::{Approver, ApproverError, VoteSender};

/// One scripted vote, cast after an optional delay.
#[derive(Debug, Clone)]
pub struct ScriptedVote {
    /// The vote. `args_digest` is filled with the request's when absent.
    pub vote: Vote,
    /// Wait this long first.
    pub delay: Option<Duration>,
    /// Bind the vote to this digest instead of the current one (stale votes).
    pub stale: bool,
}

impl From<Vote> for ScriptedVote {
    fn from(vote: Vote) -> Self {
        ScriptedVote {
            vote,
            delay: None,
            stale: false,
        }
    }
}

/// Casts its votes, in order, on every request it is shown, and remembers
/// what happened to each.
#[derive(Debug, Clone, Default)]
pub struct ScriptedApprover {
    votes: Vec<ScriptedVote>,
    seen: Arc<Mutex<Vec<ApprovalRequest>>>,
    results: Arc<Mutex<Vec<Result<String, String>>>>,
}

impl ScriptedApprover {
    /// An approver casting `votes`.
    pub fn new<I, V>(votes: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<ScriptedVote>,
    {
        ScriptedApprover {
            votes: votes.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The requests it was shown.
    pub fn seen(&self) -> Vec<ApprovalRequest> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// For each vote cast: `Ok(outcome)` or `Err(rejection message)`.
    pub fn results(&self) -> Vec<Result<String, String>> {
        self.results.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Approver for ScriptedApprover {
    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(request.clone());
        }
        for scripted in &self.votes {
            if let Some(d) = scripted.delay {
                tokio::time::sleep(d).await;
            }
            let mut vote = scripted.vote.clone();
            if scripted.stale {
                vote.args_digest = Some("blake3:stale".to_owned());
            } else if vote.args_digest.is_none() {
                vote.args_digest = Some(request.args_digest.clone());
            }
            if vote.channel == "api" {
                vote.channel = "scripted".to_owned();
            }
            let result = votes
                .send(vote)
                .await
                .map(|o| format!("{o:?}"))
                .map_err(|e| e.to_string());
            if let Ok(mut r) = self.results.lock() {
                r.push(result);
            }
        }
        Ok(())
    }
}
