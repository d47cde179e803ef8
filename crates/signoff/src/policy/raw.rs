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
    /// `[owners]`: actor globs → the people who run those agents.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, Vec<String>>,
}

/// Deserializes a present key; `null` is refused, because a matcher set to
/// `null` must never read as "absent" (which matches anything).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::custom(
            "`null` is not a value here; remove the key to leave it unset",
        )),
    }
}

/// The `[policy]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeader {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub default: Option<String>,
    /// Reviewers when `default = "approve"` decides.
    #[serde(default, deserialize_with = "present")]
    pub approvers: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub min_approvals: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub timeout: Option<String>,
    /// The explicit opt-in that permits `on_timeout = "allow"` in rules.
    #[serde(default, deserialize_with = "present")]
    pub unsafe_allow_on_timeout: Option<bool>,
    /// Paths redacted in every record and request, whichever rule decides.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub redact: Option<Vec<String>>,
    /// Whether keys that name secrets are redacted by default (default true).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub redact_defaults: Option<bool>,
    /// `break_glass = { approvers = "GROUP" }`: one member of GROUP may
    /// resolve an approve request alone, with a reason (DESIGN §13).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub break_glass: Option<RawBreakGlass>,
}

/// The `[policy] break_glass` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBreakGlass {
    #[serde(default, deserialize_with = "present")]
    pub approvers: Option<String>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    #[serde(default, deserialize_with = "present")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub effect: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub actions: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub resources: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub actors: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub when: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub approvers: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub min_approvals: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub timeout: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub on_timeout: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub allow_edit: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub redact: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub risk: Option<String>,
    /// The vote channels that count for this approve rule (e.g. `["slack", "web"]`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub channels: Option<Vec<String>>,
    /// The longest grant a reviewer may attach when approving (DESIGN §13).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_grant: Option<String>,
    /// The fields a later action must share with the approved one for a
    /// grant to cover it (default: action, actor, resource, env).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub grant_scope: Option<Vec<String>>,
    /// How often the channels are reminded of a pending request.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub remind_every: Option<String>,
    /// After how long `escalate_to`'s members may fill the requirement.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub escalate_after: Option<String>,
    /// The group escalated to.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub escalate_to: Option<String>,
}
