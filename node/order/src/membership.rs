//! Cluster configuration: voters, learners and the joint (old + new) state used
//! while the voter set changes. The configuration in force is the latest one in
//! the log, committed or not; changes go one at a time.

use crate::quorum::{is_quorum, quorum_index};
use crate::types::{ClusterId, Index, NodeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One configuration, as stored in a log entry or snapshot.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Membership {
    /// The cluster this configuration belongs to.
    pub cluster: ClusterId,
    /// The (incoming) voters.
    pub voters: BTreeSet<NodeId>,
    /// While joint: the previous voter set, which must also reach a quorum. Empty otherwise.
    pub outgoing: BTreeSet<NodeId>,
    /// Servers that receive the log but do not vote.
    pub learners: BTreeSet<NodeId>,
}

impl Membership {
    /// A fresh configuration with the given voters.
    pub fn new(cluster: ClusterId, voters: BTreeSet<NodeId>) -> Self {
        Membership {
            cluster,
            voters,
            outgoing: BTreeSet::new(),
            learners: BTreeSet::new(),
        }
    }

    /// Whether this is a joint configuration (old and new voters both decide).
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether `id` votes (in either half of a joint configuration).
    pub fn is_voter(&self, id: &NodeId) -> bool {
        self.voters.contains(id) || self.outgoing.contains(id)
    }

    /// Whether `id` is a voter or a learner.
    pub fn is_member(&self, id: &NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(id)
    }

    /// Every voter of either half.
    pub fn all_voters(&self) -> BTreeSet<NodeId> {
        self.voters.union(&self.outgoing).copied().collect()
    }

    /// Every member: voters of both halves and learners.
    pub fn all_members(&self) -> BTreeSet<NodeId> {
        let mut s = self.all_voters();
        s.extend(self.learners.iter().copied());
        s
    }

    /// Whether the servers for which `has` holds form a quorum (of both halves if joint).
    pub fn has_quorum(&self, has: impl Fn(&NodeId) -> bool) -> bool {
        is_quorum(&self.voters, &has) && (self.outgoing.is_empty() || is_quorum(&self.outgoing, &has))
    }

    /// The highest index stored by a quorum (of both halves if joint).
    pub fn quorum_index(&self, matched: impl Fn(&NodeId) -> Index) -> Index {
        let a = quorum_index(&self.voters, &matched);
        if self.outgoing.is_empty() {
            a
        } else {
            a.min(quorum_index(&self.outgoing, &matched))
        }
    }

    /// The joint configuration that moves the voter set to `new_voters`.
    pub fn joint_to(&self, new_voters: BTreeSet<NodeId>, learners: BTreeSet<NodeId>) -> Self {
        Membership {
            cluster: self.cluster,
            outgoing: self.voters.clone(),
            voters: new_voters,
            learners,
        }
    }

    /// The configuration that leaves a joint state (keeps the incoming voters).
    pub fn leave_joint(&self) -> Self {
        Membership {
            cluster: self.cluster,
            voters: self.voters.clone(),
            outgoing: BTreeSet::new(),
            learners: self.learners.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().map(|i| NodeId::from_u64(*i)).collect()
    }

    #[test]
    fn joint_quorum_needs_both_halves() {
        let c = ClusterId { founder: NodeId::from_u64(3), nonce: 0 };
        let old = Membership::new(c, set(&[1, 2, 3]));
        let joint = old.joint_to(set(&[1, 2]), BTreeSet::new());
        assert!(joint.is_joint());
        // {2} is a quorum of {1,2} (half with top) but not of {1,2,3}.
        assert!(!joint.has_quorum(|v| *v == NodeId::from_u64(2)));
        let two = set(&[2, 3]);
        assert!(joint.has_quorum(|v| two.contains(v)));
        assert!(!joint.leave_joint().is_joint());
        assert!(joint.is_voter(&NodeId::from_u64(3)));
        assert!(!joint.leave_joint().is_voter(&NodeId::from_u64(3)));
    }
}
