//! Principals: `kind:id` names for the people, agents and services involved in
//! an action, compared after normalisation.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// The kind of a principal: the part before the first `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    /// A human; only users may vote on approvals.
    User,
    /// An AI agent acting on its own or for a user.
    Agent,
    /// A non-human service account.
    Service,
    /// A named group of principals.
    Group,
}

impl PrincipalKind {
    /// The lowercase name used in `kind:id`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Agent => "agent",
            PrincipalKind::Service => "service",
            PrincipalKind::Group => "group",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        match kind {
            "user" => Some(PrincipalKind::User),
            "agent" => Some(PrincipalKind::Agent),
            "service" => Some(PrincipalKind::Service),
            "group" => Some(PrincipalKind::Group),
            _ => None,
        }
    }
}

/// Why a principal string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The string has no `:` separating kind and id.
    #[error("principal `{0}` is not of the form `kind:id` (kinds: user, agent, service, group)")]
    MissingKind(String),
    /// The kind is not one of the four known kinds.
    #[error("principal `{0}` has unknown kind `{1}` (kinds: user, agent, service, group)")]
    UnknownKind(String, String),
    /// Nothing after the `:`.
    #[error("principal `{0}` has an empty id")]
    EmptyId(String),
    /// The id holds whitespace or control characters.
    #[error("principal `{0}` contains whitespace or control characters")]
    BadCharacter(String),
}

/// A normalised principal such as `user:alice@example.com` or `agent:billing-bot`.
///
/// Parsing applies Unicode NFKC, lowercases the kind, and lowercases ids that
/// look like e-mail addresses (contain `@`); other ids keep their case.
///
/// ```
/// use signoff::Principal;
/// let p = Principal::parse("User:Alice@Example.COM").unwrap();
/// assert_eq!(p.as_str(), "user:alice@example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    text: String,
    kind: PrincipalKind,
}

impl Principal {
    /// Parses and normalises `text`.
    pub fn parse(text: &str) -> Result<Self, PrincipalError> {
        let normal = normalize(text)?;
        let kind = normal
            .split_once(':')
            .and_then(|(k, _)| PrincipalKind::parse(k))
            .ok_or_else(|| PrincipalError::MissingKind(text.to_owned()))?;
        Ok(Principal {
            text: normal.into_owned(),
            kind,
        })
    }

    /// The normalised `kind:id` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The principal's kind.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// The id after `kind:`.
    pub fn id(&self) -> &str {
        self.text.split_once(':').map_or("", |(_, id)| id)
    }
}

/// Normalises a principal string, borrowing when it already is normal (the
/// common case on the hot path: ASCII, lowercase kind).
pub fn normalize(text: &str) -> Result<Cow<'_, str>, PrincipalError> {
    let colon = text
        .as_bytes()
        .iter()
        .position(|b| *b == b':')
        .ok_or_else(|| PrincipalError::MissingKind(text.to_owned()))?;
    let (kind, id) = (&text[..colon], &text[colon + 1..]);
    if id.is_empty() {
        return Err(PrincipalError::EmptyId(text.to_owned()));
    }
    let ascii = text.is_ascii();
    let kind_ok = PrincipalKind::parse(kind).is_some();
    let email = id.as_bytes().contains(&b'@');
    let id_needs_fold = email && id.bytes().any(|b| b.is_ascii_uppercase());
    if ascii && kind_ok && !id_needs_fold {
        if id
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(PrincipalError::BadCharacter(text.to_owned()));
        }
        return Ok(Cow::Borrowed(text));
    }
    let nfkc: Cow<'_, str> = if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    };
    let (kind, id) = nfkc
        .split_once(':')
        .ok_or_else(|| PrincipalError::MissingKind(text.to_owned()))?;
    let kind = kind.to_lowercase();
    if PrincipalKind::parse(&kind).is_none() {
        return Err(PrincipalError::UnknownKind(text.to_owned(), kind));
    }
    if id.is_empty() {
        return Err(PrincipalError::EmptyId(text.to_owned()));
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PrincipalError::BadCharacter(text.to_owned()));
    }
    let id = if id.contains('@') {
        id.to_lowercase()
    } else {
        id.to_owned()
    };
    Ok(Cow::Owned(format!("{kind}:{id}")))
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Principal {
    type Err = PrincipalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Principal::parse(s)
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Principal::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_email_ids_are_case_folded() {
        assert_eq!(
            Principal::parse("USER:Alice@Example.com").unwrap().as_str(),
            "user:alice@example.com"
        );
        assert_eq!(Principal::parse("Agent:Bot").unwrap().as_str(), "agent:Bot");
    }

    #[test]
    fn nfkc_is_applied() {
        // fullwidth letters fold to ASCII under NFKC
        assert_eq!(
            Principal::parse("user:\u{ff41}lice@example.com")
                .unwrap()
                .as_str(),
            "user:alice@example.com"
        );
    }

    #[test]
    fn malformed_principals_are_rejected() {
        for bad in ["alice", "robot:x", "user:", "user:a b", ":x", "user:\u{7}"] {
            assert!(Principal::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
