//! The policy file schema as written (TOML or JSON), before validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole policy document.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    #[serde(default)]
    pub policy: RawHeader,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// The `[policy]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeader {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default: Option<String>,
    /// Reviewers when `default = "approve"` decides.
    pub approvers: Option<String>,
    pub min_approvals: Option<i64>,
    pub timeout: Option<String>,
    /// The explicit opt-in that permits `on_timeout = "allow"` in rules.
    pub unsafe_allow_on_timeout: Option<bool>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: Option<String>,
    pub description: Option<String>,
    pub effect: Option<String>,
    pub actions: Option<Vec<String>>,
    pub resources: Option<Vec<String>>,
    pub actors: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub when: Option<String>,
    pub reason: Option<String>,
    pub approvers: Option<String>,
    pub min_approvals: Option<i64>,
    pub timeout: Option<String>,
    pub on_timeout: Option<String>,
    pub allow_edit: Option<bool>,
    pub redact: Option<Vec<String>>,
    pub risk: Option<String>,
}
