//! The rule index: a decision only looks at rules that can match the action's
//! name. Exact names are a hash lookup, globs with a literal first segment are
//! filed under that segment, and only globs starting with a wildcard (or rules
//! without `actions`) are checked for every action.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{Effect, Rule, rank};

/// Rule indices by effect, each list ascending.
#[derive(Debug, Default)]
struct Buckets([Vec<u32>; 3]);

impl Buckets {
    fn add(&mut self, effect: Effect, i: u32) {
        let list = &mut self.0[rank(effect)];
        if list.last() != Some(&i) {
            list.push(i);
        }
    }
}

/// FNV-1a: fast on short keys. Keys come from the policy author, so hash
/// flooding (which needs attacker-chosen keys inserted) does not apply.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<V> = HashMap<Box<str>, V, BuildHasherDefault<Fnv>>;

/// Candidate rules for a name.
#[derive(Debug, Default)]
pub(crate) struct Index {
    exact: FnvMap<Buckets>,
    by_head: FnvMap<Buckets>,
    wild: Buckets,
}

static EMPTY: Buckets = Buckets([Vec::new(), Vec::new(), Vec::new()]);

/// The rules that may match one action name.
pub(crate) struct Candidates<'a> {
    lists: [&'a Buckets; 3],
}

impl Index {
    pub fn build(rules: &[Rule]) -> Self {
        let mut index = Index::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            match &rule.actions {
                None => index.wild.add(rule.effect, i),
                Some(globs) => {
                    for g in globs.iter() {
                        if g.is_literal() {
                            index
                                .exact
                                .entry(g.as_str().into())
                                .or_default()
                                .add(rule.effect, i);
                        } else if let Some(head) = g.literal_head() {
                            index
                                .by_head
                                .entry(head.into())
                                .or_default()
                                .add(rule.effect, i);
                        } else {
                            index.wild.add(rule.effect, i);
                        }
                    }
                }
            }
        }
        index
    }

    pub fn candidates(&self, name: &str) -> Candidates<'_> {
        let head = name
            .as_bytes()
            .iter()
            .position(|b| *b == b'.')
            .and_then(|i| name.get(..i))
            .unwrap_or(name);
        Candidates {
            lists: [
                self.exact.get(name).unwrap_or(&EMPTY),
                self.by_head.get(head).unwrap_or(&EMPTY),
                &self.wild,
            ],
        }
    }
}

impl Candidates<'_> {
    /// Calls `f` with each candidate of `effect` once, in policy order.
    pub fn for_each(&self, effect: Effect, mut f: impl FnMut(u32)) {
        let r = rank(effect);
        let [a, b, c] = [
            &self.lists[0].0[r],
            &self.lists[1].0[r],
            &self.lists[2].0[r],
        ];
        let (mut i, mut j, mut k) = (0, 0, 0);
        loop {
            let next = [a.get(i), b.get(j), c.get(k)]
                .into_iter()
                .flatten()
                .min()
                .copied();
            let Some(n) = next else { return };
            if a.get(i) == Some(&n) {
                i += 1;
            }
            if b.get(j) == Some(&n) {
                j += 1;
            }
            if c.get(k) == Some(&n) {
                k += 1;
            }
            f(n);
        }
    }
}
