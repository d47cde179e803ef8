//! What lets any process post, claim and refresh a request's channel
//! messages through the shared store (DESIGN §10): deliveries, dispatch
//! claims (leases) and refreshes after votes and resolutions.

use std::time::Duration;

use chrono::Utc;

use super::{Gate, checked_after};
use crate::approval::{Claim, Delivery, StoredRequest};
use crate::approver::VoteSender;
use crate::error::Error;
use crate::store::StoreError;

/// How many compare-and-swap rounds an update may take before giving up.
const ROUNDS: usize = 32;

impl Gate {
    /// A [`VoteSender`] for a request shown to an approver at `version`,
    /// for code that presents a request it did not create (a dispatcher
    /// posting what an agent asked).
    pub fn votes_for(&self, request_id: &str, version: u64) -> VoteSender {
        VoteSender {
            gate: self.clone(),
            request_id: request_id.to_owned(),
            version,
        }
    }

    /// Reads, changes and writes back a request with compare-and-swap,
    /// retrying on a concurrent update. `change` returns false to write nothing.
    async fn modify(
        &self,
        request_id: &str,
        mut change: impl FnMut(&mut StoredRequest) -> bool,
    ) -> Result<bool, Error> {
        for _ in 0..ROUNDS {
            let mut req = self
                .inner
                .store
                .get(request_id)
                .await?
                .ok_or_else(|| Error::NotFound(request_id.to_owned()))?;
            if !change(&mut req) {
                return Ok(false);
            }
            req.version += 1;
            if self.inner.store.update(&req).await? {
                return Ok(true);
            }
        }
        Err(Error::Store(StoreError::new(
            self.inner.store.describe(),
            "too many concurrent updates",
        )))
    }

    /// Records what a channel posted for a request, replacing that
    /// channel's earlier delivery. `delivery.shown_version` is the request
    /// version the post shows; if the request moved on since, the delivery
    /// is behind and the next refresh updates it.
    pub async fn record_delivery(&self, request_id: &str, delivery: Delivery) -> Result<(), Error> {
        self.modify(request_id, |req| {
            let mut delivery = delivery.clone();
            if delivery.shown_version == req.version {
                // nothing happened since it was shown: it shows this version too
                delivery.shown_version = req.version + 1;
            }
            req.deliveries.retain(|d| d.channel != delivery.channel);
            req.deliveries.push(delivery);
            true
        })
        .await
        .map(|_| ())
    }

    /// Claims the posting of a pending request for dispatcher `by`, for
    /// `lease`. True when `by` now holds the claim: nobody held it, its
    /// lease ran out (the holder died mid-post), or `by` already held it.
    /// A request whose posting is done is never claimed again.
    pub async fn claim_dispatch(
        &self,
        request_id: &str,
        by: &str,
        lease: Duration,
    ) -> Result<bool, Error> {
        let now = Utc::now();
        let until = checked_after(now, lease)?;
        self.modify(request_id, |req| {
            if req.status != crate::RequestStatus::Pending {
                return false;
            }
            let free = match &req.claim {
                None => true,
                Some(c) if c.done => false,
                Some(c) => c.by == by || c.until <= now,
            };
            if free {
                req.claim = Some(Claim {
                    by: by.to_owned(),
                    until,
                    done: false,
                });
            }
            free
        })
        .await
    }

    /// Marks the posting of a request done (by the dispatcher holding it).
    pub async fn finish_dispatch(&self, request_id: &str, by: &str) -> Result<(), Error> {
        self.modify(request_id, |req| match &mut req.claim {
            Some(c) if c.by == by && !c.done => {
                c.done = true;
                true
            }
            _ => false,
        })
        .await
        .map(|_| ())
    }

    /// Marks `channel`'s post as showing the request at `version`; false
    /// when the request changed since (refresh it again).
    pub async fn mark_shown(
        &self,
        request_id: &str,
        channel: &str,
        version: u64,
    ) -> Result<bool, Error> {
        self.modify(request_id, |req| {
            if req.version != version {
                return false;
            }
            let next = req.version + 1;
            let mut changed = false;
            for d in req.deliveries.iter_mut().filter(|d| d.channel == channel) {
                d.shown_version = next;
                changed = true;
            }
            changed
        })
        .await
    }

    /// Brings every post of a request that is behind up to date through
    /// `approver` (its `refresh`), then marks it shown. Errors of one
    /// channel do not stop the others; the first is returned.
    pub async fn refresh_deliveries(
        &self,
        approver: &dyn crate::Approver,
        request_id: &str,
    ) -> Result<(), Error> {
        let Some(req) = self.inner.store.get(request_id).await? else {
            return Err(Error::NotFound(request_id.to_owned()));
        };
        let view = req.to_request();
        let mut first = None;
        for d in req
            .deliveries
            .iter()
            .filter(|d| d.shown_version < req.version && approver.refreshes(&d.channel))
        {
            match approver.refresh(&view, d).await {
                Ok(()) => {
                    self.mark_shown(request_id, &d.channel, req.version).await?;
                }
                Err(e) => {
                    first.get_or_insert(Error::Approver {
                        request_id: request_id.to_owned(),
                        message: e.0,
                    });
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// After a change to a request, refreshes its posts in the background
    /// through this gate's own approver (the embedded topology; a
    /// dispatcher does the same for the server-dispatched one).
    pub(crate) fn refresh_in_background(&self, request_id: &str) {
        let Some(approver) = self.inner.approver.clone() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (gate, id) = (self.clone(), request_id.to_owned());
        handle.spawn(async move {
            let Ok(Some(req)) = gate.inner.store.get(&id).await else {
                return;
            };
            if req
                .deliveries
                .iter()
                .any(|d| d.shown_version < req.version && approver.refreshes(&d.channel))
            {
                let _ = gate.refresh_deliveries(approver.as_ref(), &id).await;
            }
        });
    }
}
