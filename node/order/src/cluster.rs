//! Cluster formation and membership changes: a lone server forms a cluster after
//! the discovery window, `bootstrap_expect` forms one of N at once, new servers
//! join as learners, caught-up learners become voters, long-silent members are
//! removed. Voter changes go through a joint configuration, one at a time.

use crate::io::PersistOp;
use crate::membership::Membership;
use crate::message::{Body, Entry, Payload};
use crate::server::{OpKind, Server};
use crate::types::{ClusterId, Instant, NodeId};
use std::collections::BTreeSet;

impl Server {
    /// A server with no cluster: form one, or keep asking to join.
    pub(crate) fn on_discovery_timer(&mut self, now: Instant) {
        let mut known: BTreeSet<NodeId> = self.discovered.union(&self.live).copied().collect();
        known.insert(self.id);
        match self.cfg.bootstrap_expect {
            // Exactly the expected servers and no sign of an existing cluster after one round
            // of `Join` (a founder restarting without its first write hears the others): every
            // one of them writes the same first entry. With more servers known, join instead.
            Some(n)
                if known.len() == n.max(1)
                    && !self.cluster_seen
                    && now.since(self.start_time) >= self.cfg.heartbeat_ms * 4 =>
            {
                let founder = known.iter().next_back().copied().unwrap_or(self.id);
                self.form(now, ClusterId { founder }, known);
                return;
            }
            None if !self.cluster_seen
                && now.since(self.start_time) >= self.cfg.discovery_window_ms
                && known.iter().all(|k| *k <= self.id) =>
            {
                self.form(
                    now,
                    ClusterId { founder: self.id },
                    [self.id].into_iter().collect(),
                );
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
        if self.term == 0 {
            self.term = 1;
            self.persist_hard();
        }
        // Always term 1, whatever our term is now: every founder writes the same entry.
        let entry = Entry {
            index: 1,
            term: 1,
            payload: Payload::Config(Membership::new(cluster, voters)),
        };
        self.log.push(entry.clone());
        self.persist(
            PersistOp::Append {
                entries: vec![entry],
            },
            OpKind::Append { from: 1, to: 1 },
        );
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
        let Some(m) = self.log.membership().cloned() else {
            return;
        };
        if self.log.membership_index() > self.commit
            || self.log.term_at(self.commit) != Some(self.term)
        {
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
                    && p.stable_since
                        .is_some_and(|s| now.since(s) >= cfg.promote_stable_ms)
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
        self.joiners
            .retain(|id, t| !m.is_member(id) && now.since(*t) < cfg.removal_timeout_ms);
        if let Some(j) = self.joiners.keys().next().copied() {
            self.joiners.remove(&j);
            let mut learners = m.learners.clone();
            learners.insert(j);
            self.append_entry(Payload::Config(Membership { learners, ..m }));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::io::{Input, Output, PersistOp, Recovered};
    use crate::message::{Body, Message, Payload};
    use crate::server::Role;
    use crate::types::{Instant, NodeId};
    use crate::{Config, Server};

    fn n(i: u64) -> NodeId {
        NodeId::from_u64(i)
    }

    /// Drains outputs, completing every write at once.
    fn settle(s: &mut Server, now: Instant) -> Vec<Output> {
        let mut all = Vec::new();
        loop {
            let mut last = None;
            while let Some(o) = s.poll_output() {
                if let Output::Persist { id, .. } = &o {
                    last = Some(*id);
                }
                all.push(o);
            }
            match last {
                Some(id) => s.handle(now, Input::Persisted { id }),
                None => return all,
            }
        }
    }

    fn run_timers(s: &mut Server, until: u64) -> Vec<Output> {
        let mut all = Vec::new();
        while let Some(t) = s.poll_timeout() {
            if t.0 > until {
                break;
            }
            s.handle_timeout(t);
            all.extend(settle(s, t));
        }
        all
    }

    #[test]
    fn lone_server_forms_after_the_window_and_leads() {
        let mut s = Server::new(n(5), Config::default(), Recovered::default(), 1);
        run_timers(&mut s, 900);
        assert!(s.membership().is_none(), "still looking for a cluster");
        run_timers(&mut s, 3_000);
        assert_eq!(s.role(), Role::Leader);
        assert_eq!(s.voters(), [n(5)].into_iter().collect());
        assert_eq!(
            s.commit_index(),
            2,
            "formation entry and the leader's no-op"
        );
    }

    #[test]
    fn a_known_higher_id_keeps_a_server_from_forming() {
        let mut s = Server::new(n(5), Config::default(), Recovered::default(), 1);
        s.handle(Instant(0), Input::Discovered(n(9)));
        let out = run_timers(&mut s, 5_000);
        assert!(s.membership().is_none());
        assert!(out.iter().any(|o| matches!(o, Output::Send { to, msg: Message { body: Body::Join, .. } } if *to == n(9))));
    }

    #[test]
    fn bootstrap_expect_waits_for_exactly_n() {
        let cfg = Config {
            bootstrap_expect: Some(3),
            ..Config::default()
        };
        let mut s = Server::new(n(1), cfg, Recovered::default(), 1);
        s.handle(Instant(0), Input::Discovered(n(2)));
        run_timers(&mut s, 2_000);
        assert!(s.membership().is_none());
        s.handle(Instant(2_000), Input::Discovered(n(3)));
        run_timers(&mut s, 2_300);
        assert_eq!(s.voters(), [n(1), n(2), n(3)].into_iter().collect());
        assert_eq!(s.cluster().map(|c| c.founder), Some(n(3)));
    }

    #[test]
    fn leader_adds_a_joiner_as_learner_and_removes_a_silent_one() {
        let cfg = Config {
            removal_timeout_ms: 1_000,
            ..Config::default()
        };
        let mut s = Server::new(n(5), cfg, Recovered::default(), 1);
        run_timers(&mut s, 3_000);
        assert_eq!(s.role(), Role::Leader);
        let msg = Message {
            cluster: None,
            term: 0,
            body: Body::Join,
        };
        s.handle(Instant(3_000), Input::Message { from: n(2), msg });
        let out = settle(&mut s, Instant(3_000));
        assert!(out.iter().any(|o| matches!(o, Output::Send { to, msg: Message { body: Body::Join, .. } } if *to == n(2))));
        let out = run_timers(&mut s, 3_100);
        assert_eq!(s.learners(), [n(2)].into_iter().collect());
        let config_writes = out
            .iter()
            .filter(|o| {
                matches!(o, Output::Persist { op: PersistOp::Append { entries }, .. }
                    if matches!(entries[0].payload, Payload::Config(_)))
            })
            .count();
        assert_eq!(config_writes, 1);
        // n2 never answers: it is removed after the removal timeout.
        run_timers(&mut s, 4_500);
        assert!(s.learners().is_empty());
        assert_eq!(s.pending_config_changes(), 0);
    }
}
