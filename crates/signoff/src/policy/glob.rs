//! Globs on action names (`.`-separated) and on resources and actors
//! (`/`-separated). `*` matches within one segment, `**` any number of whole
//! segments (zero included). Only `*` is special; matching is case sensitive.

use std::fmt;

/// One segment of a compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// A segment without `*`.
    Literal(Box<str>),
    /// A segment with one or more `*`, split at them: `a*b*c` is `[a, b, c]`.
    Wild(Box<[Box<str>]>),
    /// `**`: zero or more whole segments.
    Any,
}

/// Shapes matched without splitting the text into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fast {
    /// No wildcard.
    Literal,
    /// `a.b.**`: the text is `a.b` or starts with `a.b.` (`**` alone: anything).
    Under(Box<str>),
    /// `a.b.x*y`: the text starts with `a.b.` and the rest is one segment
    /// matching the wildcard pieces.
    LastWild(Box<str>, Box<[Box<str>]>),
}

/// A compiled glob pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: Box<str>,
    sep: char,
    segments: Box<[Segment]>,
    fast: Option<Fast>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

/// Why a pattern is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The pattern is the empty string.
    #[error("bad glob: an empty pattern never matches anything")]
    Empty,
    /// `**` shares its segment with other characters.
    #[error("bad glob `{0}`: `**` must be a whole segment")]
    DoubleStarInSegment(String),
    /// An action pattern with an empty segment (`a..b`, leading or trailing `.`).
    #[error("bad glob `{0}`: empty segment between dots")]
    EmptySegment(String),
}

impl Glob {
    /// Compiles an action-name glob (segments separated by `.`).
    pub fn action(pattern: &str) -> Result<Self, GlobError> {
        Self::compile(pattern, '.', false)
    }

    /// Compiles a resource or actor glob (segments separated by `/`).
    pub fn path(pattern: &str) -> Result<Self, GlobError> {
        Self::compile(pattern, '/', true)
    }

    fn compile(pattern: &str, sep: char, allow_empty_segments: bool) -> Result<Self, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        let mut segments = Vec::new();
        for seg in pattern.split(sep) {
            if seg.is_empty() && !allow_empty_segments {
                return Err(GlobError::EmptySegment(pattern.to_owned()));
            }
            if seg == "**" {
                // consecutive `**` are the same as one
                if segments.last() != Some(&Segment::Any) {
                    segments.push(Segment::Any);
                }
            } else if seg.contains("**") {
                return Err(GlobError::DoubleStarInSegment(pattern.to_owned()));
            } else if seg.contains('*') {
                segments.push(Segment::Wild(seg.split('*').map(Box::from).collect()));
            } else {
                segments.push(Segment::Literal(seg.into()));
            }
        }
        let fast = fast_shape(&segments, sep);
        Ok(Glob {
            text: pattern.into(),
            sep,
            segments: segments.into(),
            fast,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern contains no wildcard.
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// The first segment when it is literal: the key the policy index files
    /// this glob under.
    pub fn literal_head(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// Whether `text` matches. The empty string never matches.
    pub fn matches(&self, text: &str) -> bool {
        if text.is_empty() {
            return false;
        }
        match &self.fast {
            Some(Fast::Literal) => return *self.text == *text,
            Some(Fast::Under(base)) => {
                return base.is_empty()
                    || text
                        .strip_prefix(&**base)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(self.sep));
            }
            Some(Fast::LastWild(prefix, parts)) => {
                return text
                    .strip_prefix(&**prefix)
                    .is_some_and(|rest| !rest.contains(self.sep) && match_wild(parts, rest));
            }
            None => {}
        }
        let parts: SplitVec<'_> = SplitVec::new(text, self.sep);
        match_segments(&self.segments, parts.as_slice())
    }
}

fn fast_shape(segments: &[Segment], sep: char) -> Option<Fast> {
    let (last, init) = segments.split_last()?;
    let mut literals = Vec::with_capacity(init.len());
    for seg in init {
        match seg {
            Segment::Literal(l) => literals.push(&**l),
            _ => return None,
        }
    }
    let joined = literals.join(&sep.to_string());
    match last {
        Segment::Literal(_) => Some(Fast::Literal),
        Segment::Any => Some(Fast::Under(joined.into())),
        Segment::Wild(parts) => {
            let prefix = if literals.is_empty() {
                String::new()
            } else {
                format!("{joined}{sep}")
            };
            Some(Fast::LastWild(prefix.into(), parts.clone()))
        }
    }
}

/// Splits into segments without allocating for up to 16 of them.
struct SplitVec<'a> {
    inline: [&'a str; 16],
    len: usize,
    heap: Vec<&'a str>,
}

impl<'a> SplitVec<'a> {
    fn new(text: &'a str, sep: char) -> Self {
        let mut v = SplitVec {
            inline: [""; 16],
            len: 0,
            heap: Vec::new(),
        };
        for part in text.split(sep) {
            if v.heap.is_empty() && v.len < 16 {
                v.inline[v.len] = part;
                v.len += 1;
            } else {
                if v.heap.is_empty() {
                    v.heap.extend_from_slice(&v.inline[..v.len]);
                }
                v.heap.push(part);
            }
        }
        v
    }

    fn as_slice(&self) -> &[&'a str] {
        if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }
}

fn match_segments(pattern: &[Segment], text: &[&str]) -> bool {
    // iterative matcher with one backtrack point for the latest `**`
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match &pattern[p] {
                Segment::Any => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                seg if t < text.len() && match_one(seg, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if t == text.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

fn match_one(segment: &Segment, text: &str) -> bool {
    match segment {
        Segment::Literal(l) => **l == *text,
        Segment::Any => true,
        Segment::Wild(parts) => match_wild(parts, text),
    }
}

/// `parts` are the literal pieces between `*`s; at least two of them.
fn match_wild(parts: &[Box<str>], text: &str) -> bool {
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return true,
    };
    let Some(mut rem) = text.strip_prefix(&**first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return true;
    };
    for piece in middle {
        match rem.find(&**piece) {
            Some(i) => rem = &rem[i + piece.len()..],
            None => return false,
        }
    }
    rem.len() >= last.len() && rem.ends_with(&**last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: &str, t: &str) -> bool {
        Glob::action(p).unwrap().matches(t)
    }

    #[test]
    fn star_stays_within_one_segment() {
        assert!(a("iam.*", "iam.grant"));
        assert!(!a("iam.*", "iam.role.grant"));
        assert!(!a("iam.*", "iam"));
        assert!(a("db.ex*", "db.export"));
        assert!(a("db.*port", "db.export"));
        assert!(a("*", "anything"));
        assert!(!a("*", "two.segments"));
        assert!(a("a*b*c", "abc"));
        assert!(a("a*b*c", "axxbyyc"));
        assert!(!a("a*b*c", "axxbyy"));
        assert!(!a("ab*ba", "aba"));
    }

    #[test]
    fn double_star_spans_segments() {
        assert!(a("iam.**", "iam"));
        assert!(a("iam.**", "iam.role.grant"));
        assert!(a("**.delete", "delete"));
        assert!(a("**.delete", "a.b.delete"));
        assert!(!a("**.delete", "a.b.deleted"));
        assert!(a("a.**.z", "a.z"));
        assert!(a("a.**.z", "a.b.c.z"));
        assert!(a("**", "x.y"));
        assert!(a("a.**.b.**.c", "a.x.b.y.y.c"));
        assert!(!a("a.**.b.**.c", "a.x.c.y.b"));
    }

    #[test]
    fn fast_shapes_agree_with_the_general_matcher() {
        let patterns = [
            "a.**", "**", "a.b.*", "*", "a.x*y", "a.**.b", "*.b", "a", "a.b",
        ];
        let texts = [
            "a", "a.b", "a.b.c", "a.xy", "a.xzy", "a.x.y", "b", "a.", "x.b", "ab", "a.bb",
        ];
        for p in patterns {
            let g = Glob::action(p).unwrap();
            let mut general = g.clone();
            general.fast = None;
            for t in texts {
                assert_eq!(g.matches(t), general.matches(t), "{p} on {t}");
            }
        }
        let g = Glob::path("s3://b/**").unwrap();
        assert!(g.matches("s3://b") && g.matches("s3://b/x/y") && !g.matches("s3://bb/x"));
    }

    #[test]
    fn empty_name_never_matches() {
        assert!(!a("**", ""));
        assert!(!a("*", ""));
    }

    #[test]
    fn unicode_and_case() {
        assert!(a("db.*", "db.\u{e9}xport"));
        assert!(a("d\u{e9}.*t", "d\u{e9}.\u{e9}t"));
        assert!(!a("db.export", "DB.export"));
    }

    #[test]
    fn paths_use_slash_and_keep_colons() {
        let g = Glob::path("postgres://prod/*").unwrap();
        assert!(g.matches("postgres://prod/customers"));
        assert!(!g.matches("postgres://prod/a/b"));
        assert!(!g.matches("postgres://staging/x"));
        assert!(
            Glob::path("postgres://prod/**")
                .unwrap()
                .matches("postgres://prod/a/b")
        );
        assert!(Glob::path("agent:*").unwrap().matches("agent:bot"));
    }

    #[test]
    fn bad_globs_are_rejected() {
        assert!(Glob::action("").is_err());
        assert!(Glob::action("a..b").is_err());
        assert!(Glob::action(".a").is_err());
        assert!(Glob::action("db.**x").is_err());
        assert!(Glob::action("***").is_err());
        assert!(Glob::path("").is_err());
    }
}
