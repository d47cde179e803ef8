#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod action;
pub mod audit;
pub mod canonical;
pub mod policy;
pub mod principal;

pub use action::{Action, ActionError};
pub use policy::{
    ApprovalRequirements, Decision, Effect, Evaluation, Explanation, OnTimeout, Policy,
    PolicyBuilder, PolicyError, PolicyIssue, Requirement, Risk, RuleBuilder, RuleTrace,
};
pub use principal::{Principal, PrincipalError, PrincipalKind};
