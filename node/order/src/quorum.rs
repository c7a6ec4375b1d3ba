//! The dynamic-linear quorum rule: a strict majority of the voters, or exactly
//! half of them if that half holds the highest voter ID. Any two quorums of one
//! voter set intersect, and it lets a 2-voter set continue with its higher ID alone.

use crate::types::{Index, NodeId};
use std::collections::BTreeSet;

/// Whether the voters for which `has` is true form a quorum of `voters`.
/// An empty voter set has no quorum.
pub fn is_quorum(voters: &BTreeSet<NodeId>, has: impl Fn(&NodeId) -> bool) -> bool {
    let n = voters.len();
    if n == 0 {
        return false;
    }
    let count = voters.iter().filter(|v| has(v)).count();
    if 2 * count > n {
        return true;
    }
    if 2 * count == n {
        if let Some(top) = voters.iter().next_back() {
            return has(top);
        }
    }
    false
}

/// The highest index `i` such that the voters with `matched(v) >= i` form a quorum
/// (0 if none).
pub fn quorum_index(voters: &BTreeSet<NodeId>, matched: impl Fn(&NodeId) -> Index) -> Index {
    let mut candidates: Vec<Index> = voters.iter().map(&matched).collect();
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    candidates.dedup();
    for c in candidates {
        if is_quorum(voters, |v| matched(v) >= c) {
            return c;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().map(|i| NodeId::from_u64(*i)).collect()
    }

    /// Exhaustive over every voter set of size 1..=7 and every pair of subsets.
    #[test]
    fn quorums_intersect_exhaustively() {
        for n in 1..=7u64 {
            let voters = set(&(1..=n).collect::<Vec<_>>());
            let ids: Vec<NodeId> = voters.iter().copied().collect();
            let subsets: Vec<BTreeSet<NodeId>> = (0u32..(1 << n))
                .map(|mask| {
                    ids.iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, id)| *id)
                        .collect()
                })
                .collect();
            let quorums: Vec<&BTreeSet<NodeId>> = subsets
                .iter()
                .filter(|s| is_quorum(&voters, |v| s.contains(v)))
                .collect();
            for a in &quorums {
                for b in &quorums {
                    assert!(a.intersection(b).next().is_some(), "n={n} {a:?} {b:?}");
                }
                // Monotone: adding a voter keeps a quorum.
                for id in &ids {
                    let mut bigger = (*a).clone();
                    bigger.insert(*id);
                    assert!(is_quorum(&voters, |v| bigger.contains(v)));
                }
            }
            for s in &subsets {
                let q = is_quorum(&voters, |v| s.contains(v));
                let majority = 2 * s.len() > ids.len();
                let half_top = 2 * s.len() == ids.len() && s.contains(&ids[ids.len() - 1]);
                assert_eq!(q, majority || half_top);
            }
        }
    }

    #[test]
    fn two_voters_continue_with_the_higher_id() {
        let v = set(&[1, 2]);
        assert!(is_quorum(&v, |x| *x == NodeId::from_u64(2)));
        assert!(!is_quorum(&v, |x| *x == NodeId::from_u64(1)));
        assert!(!is_quorum(&BTreeSet::new(), |_| true));
    }

    #[test]
    fn quorum_index_picks_the_highest_index_a_quorum_has() {
        let v = set(&[1, 2, 3, 4]);
        let m = |x: &NodeId| match x.0[31] {
            1 => 9,
            2 => 3,
            3 => 5,
            _ => 4,
        };
        // {1,3} has 5 but is half without the top; {1,3,4} has 4.
        assert_eq!(quorum_index(&v, m), 4);
        let m2 = |x: &NodeId| if x.0[31] == 4 { 7 } else { 1 };
        assert_eq!(quorum_index(&set(&[1, 4]), m2), 7);
    }
}
