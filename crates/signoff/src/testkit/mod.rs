//! Test helpers, behind the `testkit` feature: a scripted approver, faulty
//! backends for fail-closed tests, and one conformance suite per trait that
//! every backend runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: failing loudly is the point"
)]

mod conformance;
mod faulty;
mod scripted;

pub use conformance::{audit_sink_conformance, store_conformance};
pub use faulty::{FailingApprover, FailingSink, FailingStore, SilentApprover};
pub use scripted::{ScriptedApprover, ScriptedVote};
