//! Group membership for vote eligibility.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::principal::Principal;

/// Why membership could not be looked up (the vote is then rejected).
#[derive(Debug, Clone, thiserror::Error)]
#[error("directory lookup failed: {0}")]
pub struct DirectoryError(pub String);

/// Answers "is this person in that group?".
#[async_trait]
pub trait Directory: Send + Sync {
    /// Whether `who` belongs to `group`.
    async fn is_member(&self, group: &str, who: &Principal) -> Result<bool, DirectoryError>;
}

/// Fixed groups, e.g. the `[groups]` of a policy file.
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    groups: BTreeMap<String, Vec<Principal>>,
}

impl StaticDirectory {
    /// A directory of these groups.
    pub fn new(groups: BTreeMap<String, Vec<Principal>>) -> Self {
        StaticDirectory { groups }
    }
}

#[async_trait]
impl Directory for StaticDirectory {
    async fn is_member(&self, group: &str, who: &Principal) -> Result<bool, DirectoryError> {
        Ok(self.groups.get(group).is_some_and(|m| m.contains(who)))
    }
}
