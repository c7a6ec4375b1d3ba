//! Cluster formation and membership changes: a lone server forms a cluster after
//! the discovery window, `bootstrap_expect` forms one of N at once, new servers
//! join as learners, caught-up learners become voters, long-silent members are
//! removed. Voter changes go through a joint configuration, one at a time.

use crate::membership::Membership;
use crate::message::{Body, Payload};
use crate::server::Server;
use crate::types::{ClusterId, Instant, NodeId};
use rand::Rng;
use std::collections::BTreeSet;

impl Server {
    /// A server with no cluster: form one, or keep asking to join.
    pub(crate) fn on_discovery_timer(&mut self, now: Instant) {
        let mut known: BTreeSet<NodeId> = self.discovered.union(&self.live).copied().collect();
        known.insert(self.id);
        match self.cfg.bootstrap_expect {
            Some(n) if known.len() >= n.max(1) => {
                let voters: BTreeSet<NodeId> = known.iter().rev().take(n.max(1)).copied().collect();
                if voters.contains(&self.id) {
                    let founder = voters.iter().next_back().copied().unwrap_or(self.id);
                    self.form(now, ClusterId { founder, nonce: 0 }, voters);
                    return;
                }
            }
            None if !self.cluster_seen
                && now.since(self.start_time) >= self.cfg.discovery_window_ms
                && known.iter().all(|k| *k <= self.id) =>
            {
                let nonce = self.rng.gen();
                self.form(now, ClusterId { founder: self.id, nonce }, [self.id].into_iter().collect());
                return;
            }
            _ => {}
        }
        self.request_join();
        self.election_deadline = Some(now.plus(self.cfg.heartbeat_ms * 4));
    }

    /// Writes the first configuration entry (index 1, term 1), identical on every founder.
    fn form(&mut self, now: Instant, cluster: ClusterId, voters: BTreeSet<NodeId>) {
        if self.log.last_index() != 0 {
            return;
        }
        self.term = self.term.max(1);
        self.persist_hard();
        self.append_entry(Payload::Config(Membership::new(cluster, voters)));
        self.reset_election_timer(now);
    }

    /// Asks every server we know of to add us (only the leader acts on it).
    pub(crate) fn request_join(&mut self) {
        let mut targets: BTreeSet<NodeId> = self.discovered.union(&self.live).copied().collect();
        if let Some(m) = self.log.membership() {
            targets.extend(m.all_members());
        }
        targets.remove(&self.id);
        for t in targets {
            self.send(t, Body::Join);
        }
    }

    /// Leader: propose the next configuration change, if none is pending.
    pub(crate) fn maybe_reconfigure(&mut self, now: Instant) {
        let Some(m) = self.log.membership().cloned() else { return };
        if self.log.membership_index() > self.commit || self.log.term_at(self.commit) != Some(self.term) {
            return;
        }
        if m.is_joint() {
            self.append_entry(Payload::Config(m.leave_joint()));
            return;
        }
        let cfg = self.cfg.clone();
        // 1. Remove a member silent for longer than the removal timeout.
        let silent = m.all_members().into_iter().find(|id| {
            *id != self.id
                && self.progress.get(id).is_some_and(|p| {
                    let since = p.last_heard.unwrap_or(p.added).max(p.added);
                    now.since(since) >= cfg.removal_timeout_ms
                })
        });
        if let Some(gone) = silent {
            let mut learners = m.learners.clone();
            if learners.remove(&gone) {
                let next = Membership { learners, ..m };
                self.append_entry(Payload::Config(next));
            } else {
                let mut voters = m.voters.clone();
                voters.remove(&gone);
                self.append_entry(Payload::Config(m.joint_to(voters, learners)));
            }
            return;
        }
        // 2. Promote a learner that is caught up and steady.
        let ready = m.learners.iter().copied().find(|id| {
            self.progress.get(id).is_some_and(|p| {
                p.matched >= self.commit
                    && p.last_heard.is_some_and(|t| now.since(t) < cfg.election_ms)
                    && p.stable_since.is_some_and(|s| now.since(s) >= cfg.promote_stable_ms)
            })
        });
        if let Some(l) = ready {
            let mut voters = m.voters.clone();
            voters.insert(l);
            let mut learners = m.learners.clone();
            learners.remove(&l);
            self.append_entry(Payload::Config(m.joint_to(voters, learners)));
            return;
        }
        // 3. Add a server that asked to join (recently) as a learner.
        self.joiners.retain(|id, t| !m.is_member(id) && now.since(*t) < cfg.removal_timeout_ms);
        if let Some(j) = self.joiners.keys().next().copied() {
            self.joiners.remove(&j);
            let mut learners = m.learners.clone();
            learners.insert(j);
            self.append_entry(Payload::Config(Membership { learners, ..m }));
        }
    }
}
