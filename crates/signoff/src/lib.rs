#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod action;
pub mod adapter;
pub mod approval;
pub mod approver;
pub mod audit;
pub mod canonical;
pub mod clock;
pub mod directory;
mod error;
pub mod gate;
pub mod grant;
pub mod policy;
pub mod principal;
pub mod redact;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use action::{Action, ActionError};
pub use approval::{
    ApprovalRequest, Claim, Delivery, RequestStatus, Resolution, StoredRequest, Verdict, Vote,
};
pub use approver::{
    Approver, ApproverError, Notice, Queue, Routes, ServerDispatch, Terminal, VoteSender,
};
pub use audit::{AuditError, AuditLog, AuditRecord, AuditSink, Durability, Event, JsonlSink};
pub use directory::{Directory, DirectoryError, StaticDirectory};
pub use error::{Denial, DeniedBy, Error, RejectReason, TimedOut, VoteRejection};
pub use gate::{ActionGate, Gate, GateBuilder, Outcome, Permit, Submission, VoteOutcome};
pub use grant::{Grant, Revocation, ScopeField};
pub use policy::{
    ApprovalRequirements, Decision, Effect, Evaluation, Explanation, OnTimeout, Policy,
    PolicyBuilder, PolicyError, PolicyIssue, Requirement, Risk, RuleBuilder, RuleTrace,
};
pub use principal::{Principal, PrincipalError, PrincipalKind};
pub use store::{ApprovalStore, MemoryStore, StoreError};
