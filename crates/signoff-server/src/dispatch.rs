//! The dispatcher: `signoff serve` posts each new pending request of a
//! shared store to its routed channels (DESIGN §10, server-dispatched).
//!
//! Each replica beats in the store (agents with `approver = "server"` fail
//! fast without a recent beat), claims a request before posting it (a lease,
//! so several replicas post once and a replica that dies mid-post is taken
//! over when its lease runs out), cancels a request whose post fails after
//! the channel's retries (fail closed: the agent gets `Error::Approver`), and
//! refreshes every post that is behind its request (votes, and resolutions
//! made in any process: approved, denied, expired, cancelled).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use signoff::gate::APPROVER_FAILED;
use signoff::{Approver, Gate, Notice, RequestStatus, StoredRequest};
use tokio::task::JoinHandle;

/// How a dispatcher runs.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// This replica's name in claims and heartbeats (unique per replica).
    pub replica: String,
    /// How long a claim holds before another replica may take it over.
    pub lease: Duration,
    /// How often the store is scanned for new and changed requests.
    pub poll: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            replica: format!("{}-{}", hostname(), uuid_like()),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "signoff".to_owned())
}

fn uuid_like() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{:x}", std::process::id(), n & 0xffff_ffff)
}

/// Posts, claims and refreshes requests of `gate`'s store through `channels`.
pub struct Dispatcher {
    gate: Gate,
    channels: Arc<dyn Approver>,
    config: DispatchConfig,
}

impl Dispatcher {
    /// A dispatcher posting through `channels` (usually a [`signoff::Routes`]).
    pub fn new(gate: Gate, channels: Arc<dyn Approver>, config: DispatchConfig) -> Self {
        Dispatcher {
            gate,
            channels,
            config,
        }
    }

    /// Runs until the task is aborted. Store errors are logged to stderr
    /// and retried on the next round; they never post or permit anything.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        // requests whose posts may still need a refresh
        let mut open: HashSet<String> = HashSet::new();
        // on start, pick up posts left behind by an earlier run
        match self.gate.store().list(None).await {
            Ok(all) => open.extend(
                all.into_iter()
                    .filter(|r| {
                        r.deliveries.iter().any(|d| {
                            d.shown_version < r.version && self.channels.refreshes(&d.channel)
                        })
                    })
                    .map(|r| r.id),
            ),
            Err(e) => eprintln!("signoff dispatch: cannot list requests: {e}"),
        }
        let mut beat = tokio::time::Instant::now() - Duration::from_secs(60);
        loop {
            if beat.elapsed() >= Duration::from_secs(1) {
                if let Err(e) = self
                    .gate
                    .store()
                    .beat(&self.config.replica, Utc::now())
                    .await
                {
                    eprintln!("signoff dispatch: heartbeat failed: {e}");
                }
                beat = tokio::time::Instant::now();
            }
            match self.gate.store().list(Some(RequestStatus::Pending)).await {
                Ok(pending) => {
                    for req in pending {
                        open.insert(req.id.clone());
                        if needs_post(&req) {
                            self.post(req).await;
                        } else if follows_up(&req) {
                            self.remind_and_escalate(&req.id).await;
                        }
                    }
                }
                Err(e) => eprintln!("signoff dispatch: cannot list pending requests: {e}"),
            }
            self.refresh(&mut open).await;
            tokio::time::sleep(self.config.poll).await;
        }
    }

    /// Claims and posts one request; a failed post cancels it (fail closed).
    async fn post(&self, req: StoredRequest) {
        let (id, me) = (req.id.clone(), self.config.replica.as_str());
        match self.gate.claim_dispatch(&id, me, self.config.lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                eprintln!("signoff dispatch: cannot claim `{id}`: {e}");
                return;
            }
        }
        let view = req.to_request();
        // the claim bumped the version: the post shows what follows it
        let version = match self.gate.store().get(&id).await {
            Ok(Some(r)) => r.version,
            _ => req.version,
        };
        let posted = tokio::time::timeout(
            self.config.lease,
            self.channels
                .review(view, self.gate.votes_for(&id, version)),
        )
        .await;
        let failure = match posted {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.0),
            Err(_) => Some(format!(
                "posting took longer than the {}s lease",
                self.config.lease.as_secs()
            )),
        };
        match failure {
            None => {
                if let Err(e) = self.gate.finish_dispatch(&id, me).await {
                    eprintln!("signoff dispatch: cannot mark `{id}` posted: {e}");
                }
            }
            Some(message) => {
                eprintln!("signoff dispatch: posting `{id}` failed: {message}");
                if let Err(e) = self
                    .gate
                    .cancel(&id, &format!("{APPROVER_FAILED}{message}"))
                    .await
                {
                    eprintln!("signoff dispatch: cannot cancel `{id}`: {e}");
                }
            }
        }
    }

    /// Reminds the channels of a posted request that is due one
    /// (`remind_every`) and tells them of escalations that came due
    /// (`escalate_after`), as replies to the post (DESIGN §13). Each is
    /// marked in the store first (compare-and-swap), so one replica sends it.
    async fn remind_and_escalate(&self, id: &str) {
        let channels = self.channels.as_ref();
        match self.gate.remind_due(id).await {
            Ok(true) => {
                if let Err(e) = self
                    .gate
                    .notify_deliveries(channels, id, &Notice::Reminder)
                    .await
                {
                    eprintln!("signoff dispatch: reminding `{id}` failed: {e}");
                }
            }
            Ok(false) => {}
            Err(e) => eprintln!("signoff dispatch: cannot check reminders of `{id}`: {e}"),
        }
        let groups = match self.gate.escalate_due(id).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("signoff dispatch: cannot escalate `{id}`: {e}");
                return;
            }
        };
        let policy = self.gate.policy();
        for group in groups {
            let members = policy
                .groups()
                .get(&group)
                .map(|m| m.iter().map(|p| p.as_str().to_owned()).collect())
                .unwrap_or_default();
            let notice = Notice::Escalated { group, members };
            if let Err(e) = self.gate.notify_deliveries(channels, id, &notice).await {
                eprintln!(
                    "signoff dispatch: telling `{id}`'s channels of its escalation failed: {e}"
                );
            }
        }
    }

    /// Refreshes posts that are behind their request; forgets requests that
    /// are resolved and fully shown.
    async fn refresh(&self, open: &mut HashSet<String>) {
        let ids: Vec<String> = open.iter().cloned().collect();
        for id in ids {
            let req = match self.gate.store().get(&id).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    open.remove(&id);
                    continue;
                }
                Err(e) => {
                    eprintln!("signoff dispatch: cannot read `{id}`: {e}");
                    continue;
                }
            };
            let behind = req
                .deliveries
                .iter()
                .any(|d| d.shown_version < req.version && self.channels.refreshes(&d.channel));
            if behind
                && let Err(e) = self
                    .gate
                    .refresh_deliveries(self.channels.as_ref(), &id)
                    .await
            {
                eprintln!("signoff dispatch: refreshing `{id}` failed: {e}");
                continue;
            }
            if req.status != RequestStatus::Pending && !behind {
                open.remove(&id);
            }
        }
    }
}

/// Whether the request's rules ask for reminders or escalation at all (so
/// the many that do not cost no extra store reads).
fn follows_up(req: &StoredRequest) -> bool {
    req.decision.approval.as_ref().is_some_and(|a| {
        a.requirements
            .iter()
            .any(|r| r.remind_every.is_some() || r.escalate_to.is_some())
    })
}

/// Whether nobody has posted the request yet (or its poster died).
fn needs_post(req: &StoredRequest) -> bool {
    match &req.claim {
        None => true,
        Some(c) => !c.done && c.until <= Utc::now(),
    }
}
