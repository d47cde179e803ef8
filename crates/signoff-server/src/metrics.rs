//! Prometheus text metrics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signoff::{RequestStatus, StoredRequest};

const BUCKETS_MS: [u64; 8] = [1, 2, 5, 10, 25, 50, 100, 500];

/// Vote counters and latency.
#[derive(Debug, Default)]
pub struct Metrics {
    counted: AtomicU64,
    rejected: AtomicU64,
    latency_us_sum: AtomicU64,
    buckets: [AtomicU64; 8],
}

impl Metrics {
    pub(crate) fn vote(&self, took: Duration, ok: bool) {
        if ok { &self.counted } else { &self.rejected }.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_us_sum.fetch_add(us, Ordering::Relaxed);
        for (b, limit) in self.buckets.iter().zip(BUCKETS_MS) {
            if us <= limit * 1000 {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn render(
        &self,
        requests: &[StoredRequest],
        stats: &signoff::gate::GateStats,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP signoff_requests Approval requests in the store, by status."
        );
        let _ = writeln!(out, "# TYPE signoff_requests gauge");
        for status in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
            RequestStatus::Expired,
            RequestStatus::Cancelled,
            RequestStatus::Issued,
            RequestStatus::Completed,
        ] {
            let n = requests.iter().filter(|r| r.status == status).count();
            let _ = writeln!(
                out,
                "signoff_requests{{status=\"{}\"}} {n}",
                status.as_str()
            );
        }
        let _ = writeln!(
            out,
            "# HELP signoff_decisions_total Policy decisions of this process's gate, by effect."
        );
        let _ = writeln!(out, "# TYPE signoff_decisions_total counter");
        for (effect, n) in [
            ("allow", stats.allowed),
            ("deny", stats.denied),
            ("approve", stats.approval),
        ] {
            let _ = writeln!(out, "signoff_decisions_total{{effect=\"{effect}\"}} {n}");
        }
        let counted = self.counted.load(Ordering::Relaxed);
        let rejected = self.rejected.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP signoff_votes_total Votes received, by result.");
        let _ = writeln!(out, "# TYPE signoff_votes_total counter");
        let _ = writeln!(out, "signoff_votes_total{{result=\"counted\"}} {counted}");
        let _ = writeln!(out, "signoff_votes_total{{result=\"rejected\"}} {rejected}");
        let _ = writeln!(out, "# HELP signoff_vote_seconds Time to process a vote.");
        let _ = writeln!(out, "# TYPE signoff_vote_seconds histogram");
        for (b, limit) in self.buckets.iter().zip(BUCKETS_MS) {
            let _ = writeln!(
                out,
                "signoff_vote_seconds_bucket{{le=\"{}\"}} {}",
                limit as f64 / 1000.0,
                b.load(Ordering::Relaxed)
            );
        }
        let total = counted + rejected;
        let _ = writeln!(out, "signoff_vote_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "signoff_vote_seconds_sum {}",
            self.latency_us_sum.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "signoff_vote_seconds_count {total}");
        out
    }
}
