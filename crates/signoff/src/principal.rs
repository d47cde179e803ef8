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
    /// The id holds whitespace, control, format, invisible or bidi characters.
    #[error("principal `{0}` contains {1}")]
    BadCharacter(String, Hidden),
}

/// A character that text naming a principal, an action or an environment
/// may not hold: it is invisible, changes how text is shown, or is a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hidden {
    /// The character.
    pub ch: char,
    /// Its position, counted in characters from 0.
    pub at: usize,
}

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.ch.is_whitespace() {
            "a space character"
        } else if self.ch.is_control() {
            "a control character"
        } else {
            "an invisible or formatting character"
        };
        write!(f, "{what} U+{:04X} at position {}", self.ch as u32, self.at)
    }
}

/// The first character of `text` that must not appear in a name: control
/// characters, every space (ASCII or not), Unicode format characters (Cf:
/// zero-width spaces and joiners, soft hyphen, word joiner, BOM, bidi
/// controls), unassigned, private-use and surrogate code points, line and
/// paragraph separators, and the other default-ignorable code points
/// (combining grapheme joiner, variation selectors, Hangul fillers...).
pub fn hidden_character(text: &str) -> Option<Hidden> {
    if text.is_ascii() {
        return text
            .bytes()
            .position(|b| b.is_ascii_control() || b == b' ')
            .map(|at| Hidden {
                ch: char::from(text.as_bytes()[at]),
                at,
            });
    }
    text.chars()
        .enumerate()
        .find(|(_, c)| is_hidden(*c))
        .map(|(at, ch)| Hidden { ch, at })
}

fn is_hidden(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    if c.is_ascii() {
        return c.is_ascii_control() || c == ' ';
    }
    if c.is_whitespace() || c.is_control() {
        return true;
    }
    if matches!(
        c.general_category(),
        G::Format
            | G::Unassigned
            | G::PrivateUse
            | G::Surrogate
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::SpaceSeparator
    ) {
        return true;
    }
    // Default_Ignorable_Code_Point entries outside Cf (DerivedCoreProperties)
    matches!(c as u32,
        0x034F | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F | 0x2800
        | 0x3164 | 0xFE00..=0xFE0F | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// A normalised principal such as `user:alice@example.com` or `agent:billing-bot`.
///
/// Parsing applies Unicode NFKC, lowercases the kind, lowercases every
/// `user:` id and every id that looks like an e-mail address (contains `@`);
/// other ids keep their case. Invisible, formatting, bidi and space
/// characters are refused (see [`hidden_character`]), so two principals that
/// look the same compare the same or one of them does not parse. Lookalikes
/// from other scripts (a Cyrillic `а` for `a`) do parse; the gate compares
/// [`Principal::skeleton`]s where that matters (self-approval, owners).
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

    /// The UTS #39 confusable skeleton of the whole principal: two principals
    /// with the same skeleton look alike to a human (`user:alice` and
    /// `user:\u{430}lice` with a Cyrillic `а`).
    pub fn skeleton(&self) -> String {
        skeleton(&self.text)
    }

    /// Whether a human could take `self` and `other` for the same principal:
    /// equal, or confusable under UTS #39.
    pub fn is_confusable_with(&self, other: &Principal) -> bool {
        self == other || (self.kind == other.kind && self.skeleton() == other.skeleton())
    }
}

/// The UTS #39 skeleton of `text`, lowercased so case cannot hide a lookalike.
pub fn skeleton(text: &str) -> String {
    let s: String = unicode_security::confusable_detection::skeleton(text).collect();
    s.to_lowercase()
}

/// Normalises a principal string, borrowing when it already is normal (the
/// common case on the hot path: ASCII, lowercase kind and user id).
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
    if let Some(h) = hidden_character(text) {
        return Err(PrincipalError::BadCharacter(text.to_owned(), h));
    }
    let ascii = text.is_ascii();
    let parsed_kind = PrincipalKind::parse(kind);
    let fold = parsed_kind == Some(PrincipalKind::User) || id.as_bytes().contains(&b'@');
    let id_needs_fold = fold && id.bytes().any(|b| b.is_ascii_uppercase());
    if ascii && parsed_kind.is_some() && !id_needs_fold {
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
    let Some(parsed) = PrincipalKind::parse(&kind) else {
        return Err(PrincipalError::UnknownKind(text.to_owned(), kind));
    };
    if id.is_empty() {
        return Err(PrincipalError::EmptyId(text.to_owned()));
    }
    if let Some(h) = hidden_character(id) {
        return Err(PrincipalError::BadCharacter(text.to_owned(), h));
    }
    let id = if parsed == PrincipalKind::User || id.contains('@') {
        // lowercase, then NFKC again: lowercasing may leave a non-NFKC form
        id.to_lowercase().nfkc().collect()
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
    fn every_user_id_is_case_folded() {
        assert_eq!(Principal::parse("user:Bob").unwrap().as_str(), "user:bob");
        assert_eq!(
            Principal::parse("user:Bob").unwrap(),
            Principal::parse("user:bob").unwrap()
        );
    }

    #[test]
    fn invisible_format_and_bidi_characters_are_refused() {
        for c in [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{00ad}',
            '\u{2060}',
            '\u{feff}',
            '\u{202e}',
            '\u{2066}',
            '\u{061c}',
            '\u{034f}',
            '\u{fe0f}',
            '\u{3164}',
            '\u{00a0}',
            '\u{2003}',
            '\u{3000}',
            '\u{2028}',
            '\u{e000}',
            '\u{e0041}',
        ] {
            let text = format!("user:ali{c}ce@example.com");
            let err = Principal::parse(&text).unwrap_err();
            assert!(
                matches!(err, PrincipalError::BadCharacter(_, Hidden { ch, at: 8 }) if ch == c),
                "U+{:04X}: {err}",
                c as u32
            );
            assert!(err.to_string().contains(&format!("U+{:04X}", c as u32)));
        }
    }

    #[test]
    fn lookalikes_parse_but_are_confusable() {
        let alice = Principal::parse("user:alice@example.com").unwrap();
        let cyrillic = Principal::parse("user:\u{430}lice@example.com").unwrap();
        assert_ne!(alice, cyrillic);
        assert!(alice.is_confusable_with(&cyrillic));
        let greek = Principal::parse("user:b\u{3bf}b@example.com").unwrap();
        assert!(
            Principal::parse("user:bob@example.com")
                .unwrap()
                .is_confusable_with(&greek)
        );
        assert!(!alice.is_confusable_with(&Principal::parse("user:bob@example.com").unwrap()));
    }

    #[test]
    fn malformed_principals_are_rejected() {
        for bad in ["alice", "robot:x", "user:", "user:a b", ":x", "user:\u{7}"] {
            assert!(Principal::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
