//! Counting approvals: one person fills at most one slot across all
//! requirements, assigned where it helps most (a bipartite matching).

/// Whether `candidates` can fill every slot: `slots[i]` is the requirement of
/// slot `i`, and `eligible(voter, requirement)` says who may fill what.
/// Kuhn's augmenting paths; slots and voters are small.
pub(crate) fn can_fill(
    slots: &[usize],
    voters: usize,
    eligible: &dyn Fn(usize, usize) -> bool,
) -> bool {
    let mut slot_of_voter: Vec<Option<usize>> = vec![None; voters];
    let mut voter_of_slot: Vec<Option<usize>> = vec![None; slots.len()];
    for s in 0..slots.len() {
        let mut seen = vec![false; voters];
        if !augment(
            s,
            slots,
            &mut seen,
            &mut slot_of_voter,
            &mut voter_of_slot,
            eligible,
        ) {
            return false;
        }
    }
    true
}

fn augment(
    s: usize,
    slots: &[usize],
    seen: &mut [bool],
    slot_of_voter: &mut [Option<usize>],
    voter_of_slot: &mut [Option<usize>],
    eligible: &dyn Fn(usize, usize) -> bool,
) -> bool {
    for v in 0..seen.len() {
        if seen[v] || !eligible(v, slots[s]) {
            continue;
        }
        seen[v] = true;
        let free = match slot_of_voter[v] {
            None => true,
            Some(other) => augment(other, slots, seen, slot_of_voter, voter_of_slot, eligible),
        };
        if free {
            slot_of_voter[v] = Some(s);
            voter_of_slot[s] = Some(v);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_in_two_groups_fills_one_slot() {
        // requirements: 0 = data-owners x1, 1 = sre x1; voter 0 is in both
        let slots = [0, 1];
        let both = |_: usize, _: usize| true;
        assert!(!can_fill(&slots, 1, &both));
        assert!(can_fill(&slots, 2, &both));
    }

    #[test]
    fn a_voter_in_both_groups_goes_where_it_helps() {
        // voter 0 in both, voter 1 only in group 0: 0 must take group 1
        let slots = [0, 1];
        let eligible = |v: usize, g: usize| v == 0 || g == 0;
        assert!(can_fill(&slots, 2, &eligible));
        // two from group 0 and one from group 1, voters: 0 both, 1 g0, 2 g0
        let slots = [0, 0, 1];
        let eligible = |v: usize, g: usize| v == 0 || g == 0;
        assert!(can_fill(&slots, 3, &eligible));
        assert!(!can_fill(&slots, 2, &eligible));
    }
}
