//! Elections: rank-based timeouts, PreVote with a once-per-term deferral to a
//! live higher ID, durable votes, CheckQuorum and leadership transfer.

use crate::message::{Body, Payload};
use crate::server::{Progress, Role, Server};
use crate::types::{Instant, LogId, NodeId, Term};
use rand::Rng;

impl Server {
    /// Number of live voters with a higher ID than ours.
    pub(crate) fn rank(&self) -> u64 {
        let Some(m) = self.log.membership() else {
            return 0;
        };
        m.all_voters()
            .iter()
            .filter(|v| **v > self.id && self.live.contains(v))
            .count() as u64
    }

    /// `E0 + rank·Δ + jitter` from now.
    pub(crate) fn reset_election_timer(&mut self, now: Instant) {
        let jitter = self.rng.gen_range(0..=self.cfg.jitter_ms);
        let t = self.cfg.election_ms + self.rank() * self.cfg.rank_step_ms + jitter;
        self.election_deadline = Some(now.plus(t));
    }

    /// Leaves any role for follower at `term` (persisting a newer term) under `leader`.
    pub(crate) fn become_follower(&mut self, now: Instant, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.vote_replies.clear();
            self.persist_hard();
            // The leader-changed event must carry the new term.
            self.leader = None;
        }
        let was_leader = self.role == Role::Leader;
        self.role = Role::Follower;
        self.votes.clear();
        self.prevotes.clear();
        self.progress.clear();
        self.transfer = None;
        self.heartbeat_deadline = None;
        self.set_leader(leader);
        if was_leader {
            self.fail_waiters();
        }
        if leader.is_some() {
            self.leader_contact = Some(now);
        }
        self.reset_election_timer(now);
    }

    pub(crate) fn on_election_timer(&mut self, now: Instant) {
        let Some(m) = self.log.membership() else {
            self.on_discovery_timer(now);
            return;
        };
        if !m.is_voter(&self.id) {
            // Learner or removed: make sure the leader knows we are here.
            if !self.in_lease(now) {
                self.request_join();
            }
            self.reset_election_timer(now);
            return;
        }
        if self.role == Role::Leader {
            self.election_deadline = None;
            return;
        }
        self.start_prevote(now);
    }

    fn start_prevote(&mut self, now: Instant) {
        self.role = Role::PreCandidate;
        self.set_leader(None);
        self.leader_contact = None;
        self.prevotes.clear();
        self.prevotes.insert(self.id);
        let last = self.log.last();
        let term = self.term + 1;
        // Also ask servers we merely know of: if our configuration is stale (we were removed),
        // the real leader sees a non-member asking and adds it back as a learner.
        let mut targets = self.voters();
        targets.extend(self.discovered.iter().copied());
        targets.extend(self.live.iter().copied());
        for v in targets {
            self.send_term(v, term, Body::PreVote { last });
        }
        self.reset_election_timer(now);
        self.check_prevotes(now);
    }

    pub(crate) fn on_prevote(&mut self, now: Instant, from: NodeId, term: Term, last: LogId) {
        let granted = term > self.term && last >= self.log.last() && !self.in_lease(now);
        let t = if granted { term } else { self.term };
        let mine = self.log.last();
        self.send_term(
            from,
            t,
            Body::PreVoteResp {
                granted,
                last: mine,
            },
        );
    }

    pub(crate) fn on_prevote_resp(
        &mut self,
        now: Instant,
        from: NodeId,
        term: Term,
        granted: bool,
        last: LogId,
    ) {
        if !granted && term > self.term {
            self.become_follower(now, term, None);
            return;
        }
        if self.role != Role::PreCandidate || !self.voters().contains(&from) {
            return;
        }
        let defer = from > self.id
            && self.live.contains(&from)
            && last >= self.log.last()
            && self.deferred_term != Some(self.term);
        if defer {
            // Give the higher ID with as good a log its chance, once per term.
            self.deferred_term = Some(self.term);
            self.role = Role::Follower;
            self.prevotes.clear();
            self.reset_election_timer(now);
            if let Some(d) = self.election_deadline {
                self.election_deadline = Some(d.plus(self.cfg.rank_step_ms));
            }
            return;
        }
        if granted && term == self.term + 1 {
            self.prevotes.insert(from);
            self.check_prevotes(now);
        }
    }

    fn check_prevotes(&mut self, now: Instant) {
        let ok = self
            .log
            .membership()
            .is_some_and(|m| m.has_quorum(|v| self.prevotes.contains(v)));
        if self.role == Role::PreCandidate && ok {
            self.start_campaign(now, false);
        }
    }

    /// Becomes candidate at `term + 1` (votes for itself once that is durable).
    pub(crate) fn start_campaign(&mut self, now: Instant, transfer: bool) {
        self.term += 1;
        self.vote = Some(self.id);
        self.vote_replies.clear();
        self.role = Role::Candidate;
        self.set_leader(None);
        self.leader_contact = None;
        self.votes.clear();
        self.prevotes.clear();
        self.persist_hard();
        let last = self.log.last();
        for v in self.voters() {
            self.send(v, Body::Vote { last, transfer });
        }
        self.reset_election_timer(now);
        self.check_votes(now);
    }

    pub(crate) fn on_vote(&mut self, now: Instant, from: NodeId, last: LogId) {
        let free = self.vote.is_none()
            || self.vote == Some(from)
            || (self.bug_double_vote() && self.role != Role::Leader);
        if free && last >= self.log.last() && self.role != Role::Leader {
            self.vote = Some(from);
            self.persist_hard();
            self.vote_replies.push((from, self.term));
            self.reset_election_timer(now);
            self.flush_vote_replies();
        } else {
            self.send(from, Body::VoteResp { granted: false });
        }
    }

    /// Sends granted votes whose hard state is now durable.
    pub(crate) fn flush_vote_replies(&mut self) {
        let (term, h) = (self.term, self.durable_hard);
        let mut ready = Vec::new();
        self.vote_replies.retain(|(c, t)| {
            if *t != term {
                return false;
            }
            if h.term == term && h.vote == Some(*c) {
                ready.push(*c);
                return false;
            }
            true
        });
        for c in ready {
            self.send(c, Body::VoteResp { granted: true });
        }
    }

    pub(crate) fn on_vote_resp(&mut self, now: Instant, from: NodeId, granted: bool) {
        if self.role == Role::Candidate && granted {
            self.votes.insert(from);
            self.check_votes(now);
        }
    }

    pub(crate) fn check_votes(&mut self, now: Instant) {
        if self.role != Role::Candidate {
            return;
        }
        let self_durable =
            self.durable_hard.term == self.term && self.durable_hard.vote == Some(self.id);
        let ok = self.log.membership().is_some_and(|m| {
            m.has_quorum(|v| self.votes.contains(v) || (*v == self.id && self_durable))
        });
        if ok {
            self.become_leader(now);
        }
    }

    fn become_leader(&mut self, now: Instant) {
        self.role = Role::Leader;
        self.set_leader(Some(self.id));
        self.leader_since = now;
        self.transfer = None;
        self.election_deadline = None;
        self.progress.clear();
        self.sync_progress(now);
        self.append_entry(Payload::Noop);
        self.broadcast_append(true);
        self.heartbeat_deadline = Some(now.plus(self.cfg.heartbeat_ms));
    }

    /// Makes the leader's progress map match the configuration in force.
    pub(crate) fn sync_progress(&mut self, now: Instant) {
        let members = self
            .log
            .membership()
            .map(|m| m.all_members())
            .unwrap_or_default();
        self.progress.retain(|id, _| members.contains(id));
        let next = self.log.last_index() + 1;
        for m in members {
            if m != self.id && !self.progress.contains_key(&m) {
                self.progress.insert(
                    m,
                    Progress {
                        next,
                        matched: 0,
                        probe: true,
                        last_heard: None,
                        stable_since: None,
                        added: now,
                    },
                );
            }
        }
    }

    pub(crate) fn on_timeout_now(&mut self, now: Instant, from: NodeId) {
        let voter = self.log.membership().is_some_and(|m| m.is_voter(&self.id));
        if voter && self.role == Role::Follower && self.leader == Some(from) {
            self.start_campaign(now, true);
        }
    }

    /// Whether the leader heard from a quorum within the election timeout.
    pub(crate) fn quorum_heard(&self, now: Instant) -> bool {
        let window = self.cfg.election_ms;
        self.log.membership().is_some_and(|m| {
            m.has_quorum(|v| {
                *v == self.id
                    || self
                        .progress
                        .get(v)
                        .and_then(|p| p.last_heard)
                        .is_some_and(|t| now.since(t) < window)
            })
        })
    }

    /// Leader tick: CheckQuorum, configuration upkeep, leadership transfer, heartbeats.
    pub(crate) fn on_heartbeat(&mut self, now: Instant) {
        if self.role != Role::Leader {
            self.heartbeat_deadline = None;
            return;
        }
        if now.since(self.leader_since) >= self.cfg.election_ms && !self.quorum_heard(now) {
            let term = self.term;
            self.become_follower(now, term, None);
            return;
        }
        // A leader that committed a configuration without itself (it was being removed
        // when it won) steps down; it comes back by asking to join, as any removed server.
        let removed = self.log.membership().is_some_and(|m| !m.is_voter(&self.id));
        if removed && self.log.membership_index() <= self.commit {
            let term = self.term;
            self.become_follower(now, term, None);
            return;
        }
        self.maybe_reconfigure(now);
        self.maybe_transfer(now);
        self.broadcast_append(true);
        self.heartbeat_deadline = Some(now.plus(self.cfg.heartbeat_ms));
    }

    fn maybe_transfer(&mut self, now: Instant) {
        if let Some((target, deadline)) = self.transfer {
            if now < deadline {
                return;
            }
            self.transfer = None;
            if let Some(p) = self.progress.get_mut(&target) {
                p.stable_since = Some(now);
            }
        }
        let Some(m) = self.log.membership() else {
            return;
        };
        if m.is_joint() {
            return;
        }
        let last = self.log.last_index();
        let cfg = &self.cfg;
        let target = m.voters.iter().rev().copied().find(|v| {
            *v > self.id
                && self.progress.get(v).is_some_and(|p| {
                    p.matched == last
                        && p.last_heard
                            .is_some_and(|t| now.since(t) < cfg.election_ms / 2)
                        && p.stable_since
                            .is_some_and(|s| now.since(s) >= cfg.transfer_stable_ms)
                })
        });
        if let Some(t) = target {
            self.transfer = Some((t, now.plus(self.cfg.election_ms)));
            self.send(t, Body::TimeoutNow);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::io::{Input, Output, PersistOp, Recovered};
    use crate::message::{Body, Message};
    use crate::server::{Role, Server};
    use crate::storage::MemStorage;
    use crate::types::{Instant, LogId, NodeId};
    use crate::Config;

    fn n(i: u64) -> NodeId {
        NodeId::from_u64(i)
    }

    /// A server that is a voter of {1,2,3} at term 1 (formed by bootstrap_expect 3).
    fn member(id: u64) -> (Server, MemStorage) {
        let cfg = Config {
            bootstrap_expect: Some(3),
            ..Config::default()
        };
        let mut s = Server::new(n(id), cfg, Recovered::default(), id);
        for p in [1, 2, 3] {
            s.handle(Instant(0), Input::Discovered(n(p)));
        }
        s.handle_timeout(Instant(0));
        s.handle_timeout(Instant(200));
        let mut disk = MemStorage::default();
        drain_persist(&mut s, &mut disk, Instant(200));
        assert_eq!(s.voters().len(), 3);
        (s, disk)
    }

    fn drain_persist(s: &mut Server, disk: &mut MemStorage, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let mut done = Vec::new();
        while let Some(o) = s.poll_output() {
            if let Output::Persist { id, op } = &o {
                disk.apply(op);
                done.push(*id);
            }
            out.push(o);
        }
        for id in done {
            s.handle(now, Input::Persisted { id });
            while let Some(o) = s.poll_output() {
                if let Output::Persist { op, .. } = &o {
                    disk.apply(op);
                }
                out.push(o);
            }
        }
        out
    }

    fn msg(s: &Server, term: u64, body: Body) -> Message {
        Message {
            cluster: s.cluster(),
            term,
            body,
        }
    }

    #[test]
    fn vote_is_sent_only_after_it_is_durable_and_only_once_per_term() {
        let (mut s, _) = member(1);
        let last = LogId { term: 1, index: 1 };
        s.handle(
            Instant(1000),
            Input::Message {
                from: n(2),
                msg: msg(
                    &s,
                    5,
                    Body::Vote {
                        last,
                        transfer: false,
                    },
                ),
            },
        );
        let mut persist_id = None;
        while let Some(o) = s.poll_output() {
            match o {
                Output::Persist {
                    id,
                    op: PersistOp::HardState(h),
                } => {
                    assert_eq!(h.term, 5);
                    persist_id = Some((id, h.vote));
                }
                Output::Send {
                    msg:
                        Message {
                            body: Body::VoteResp { .. },
                            ..
                        },
                    ..
                } => {
                    panic!("vote sent before durable")
                }
                _ => {}
            }
        }
        let (id, vote) = persist_id.unwrap();
        assert_eq!(vote, Some(n(2)));
        s.handle(Instant(1001), Input::Persisted { id });
        let granted: Vec<_> = std::iter::from_fn(|| s.poll_output())
            .filter(|o| matches!(o, Output::Send { to, msg: Message { body: Body::VoteResp { granted: true }, .. } } if *to == n(2)))
            .collect();
        assert_eq!(granted.len(), 1);
        // Another candidate in the same term is refused.
        s.handle(
            Instant(1002),
            Input::Message {
                from: n(3),
                msg: msg(
                    &s,
                    5,
                    Body::Vote {
                        last,
                        transfer: false,
                    },
                ),
            },
        );
        let refused = std::iter::from_fn(|| s.poll_output()).any(|o| {
            matches!(
                o,
                Output::Send {
                    msg: Message {
                        body: Body::VoteResp { granted: false },
                        ..
                    },
                    ..
                }
            )
        });
        assert!(refused);
        assert_eq!(s.vote(), Some(n(2)));
    }

    #[test]
    fn vote_refused_to_a_less_up_to_date_log() {
        let (mut s, _) = member(1);
        let stale = LogId { term: 0, index: 0 };
        s.handle(
            Instant(1000),
            Input::Message {
                from: n(2),
                msg: msg(
                    &s,
                    3,
                    Body::Vote {
                        last: stale,
                        transfer: false,
                    },
                ),
            },
        );
        assert_eq!(s.term(), 3);
        assert_eq!(s.vote(), None);
    }

    #[test]
    fn highest_id_times_out_first_and_wins_a_three_server_election() {
        let mut servers: Vec<(Server, MemStorage)> = (1..=3).map(member).collect();
        for (s, _) in servers.iter_mut() {
            for p in 1..=3 {
                s.handle(Instant(0), Input::PeerUp(n(p)));
            }
        }
        let deadlines: Vec<Instant> = servers
            .iter_mut()
            .map(|(s, _)| {
                s.reset_election_timer(Instant(0));
                s.poll_timeout().unwrap()
            })
            .collect();
        // Rank 0 (id 3) fires before rank 2 (id 1).
        assert!(deadlines[2] < deadlines[0]);
        // Run a tiny perfect network until someone leads.
        let mut now = Instant(0);
        let mut queue: Vec<(usize, NodeId, Message)> = Vec::new();
        for _ in 0..200 {
            now = now.plus(10);
            for (s, _) in servers.iter_mut() {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            for (to, from, m) in std::mem::take(&mut queue) {
                servers[to].0.handle(now, Input::Message { from, msg: m });
            }
            for (s, disk) in servers.iter_mut() {
                let id = s.id();
                for o in drain_persist(s, disk, now) {
                    if let Output::Send { to, msg } = o {
                        let t = (to.0[31] - 1) as usize;
                        queue.push((t, id, msg));
                    }
                }
            }
            if servers.iter().any(|(s, _)| s.role() == Role::Leader) {
                break;
            }
        }
        let leaders: Vec<NodeId> = servers
            .iter()
            .filter(|(s, _)| s.role() == Role::Leader)
            .map(|(s, _)| s.id())
            .collect();
        assert_eq!(leaders, vec![n(3)]);
    }
}
