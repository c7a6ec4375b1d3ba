//! Log replication: pipelined, batched `Append`s with conflict back-tracking,
//! snapshot catch-up, durable-only acknowledgements and the commit rule
//! (a quorum stores it and it is from the current term).

use crate::io::{Output, PersistOp};
use crate::message::{Body, Entry, Snapshot};
use crate::server::{OpKind, Role, Server};
use crate::types::{Index, Instant, LogId, NodeId};

impl Server {
    /// Sends to every follower what it lacks (an empty `Append` as heartbeat if `heartbeat`).
    pub(crate) fn broadcast_append(&mut self, heartbeat: bool) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for p in peers {
            self.send_append(p, heartbeat);
        }
    }

    /// Sends `peer` its next batches within the pipelining window, or the snapshot.
    pub(crate) fn send_append(&mut self, peer: NodeId, heartbeat: bool) {
        let base = self.log.base();
        let last = self.log.last_index();
        let Some(p) = self.progress.get(&peer) else {
            return;
        };
        let (mut next, matched, probe) = (p.next, p.matched, p.probe);
        if next <= base.index && base.index > 0 {
            let Some(snapshot) = self.snapshot.clone() else {
                return;
            };
            self.send(peer, Body::InstallSnapshot { snapshot });
            if let Some(p) = self.progress.get_mut(&peer) {
                p.next = base.index + 1;
                p.probe = true;
            }
            return;
        }
        let mut sent = false;
        loop {
            let prev_index = next - 1;
            let Some(prev_term) = self.log.term_at(prev_index) else {
                break;
            };
            let window = self
                .cfg
                .max_inflight
                .saturating_sub(prev_index.saturating_sub(matched));
            let max = (self.cfg.max_batch as u64).min(window) as usize;
            let entries = if next <= last {
                self.log.slice(next, max)
            } else {
                Vec::new()
            };
            if entries.is_empty() && (sent || !heartbeat) {
                break;
            }
            let n = entries.len() as u64;
            let prev = LogId {
                term: prev_term,
                index: prev_index,
            };
            self.send(
                peer,
                Body::Append {
                    prev,
                    entries,
                    commit: self.commit,
                },
            );
            sent = true;
            if probe || n == 0 {
                break;
            }
            next += n;
        }
        if let Some(p) = self.progress.get_mut(&peer) {
            p.next = next;
        }
    }

    /// Follower: accept entries that extend a matching prefix.
    pub(crate) fn on_append(
        &mut self,
        now: Instant,
        from: NodeId,
        prev: LogId,
        entries: Vec<Entry>,
        commit: Index,
    ) {
        if self.role == Role::Leader {
            return; // two leaders in one term cannot happen; ignore a forged message
        }
        if self.role != Role::Follower || self.leader != Some(from) {
            let term = self.term;
            self.become_follower(now, term, Some(from));
        }
        self.leader_contact = Some(now);
        self.reset_election_timer(now);
        // Entries must be contiguous after prev, with terms not above the leader's.
        let contiguous = entries.iter().enumerate().all(|(k, e)| {
            e.index == prev.index.saturating_add(k as u64 + 1)
                && e.term <= self.term
                && e.term >= prev.term
        });
        if !contiguous {
            return;
        }
        let base = self.log.base();
        let (prev, entries) = if prev.index < base.index {
            // The part we already compacted is committed, hence the same as the leader's.
            let skip = (base.index - prev.index) as usize;
            (base, entries.into_iter().skip(skip).collect::<Vec<_>>())
        } else {
            (prev, entries)
        };
        if self.log.term_at(prev.index) != Some(prev.term) {
            let last = self.log.last_index();
            let hint = if prev.index > last {
                last + 1
            } else {
                self.log.first_of_term(prev.index, self.commit + 1)
            };
            self.send(
                from,
                Body::AppendResp {
                    success: false,
                    match_index: prev.index,
                    hint,
                },
            );
            return;
        }
        let upto = prev.index + entries.len() as u64;
        let mut first_new = None;
        for (k, e) in entries.iter().enumerate() {
            match self.log.term_at(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    if e.index <= self.commit {
                        return; // would change a committed entry: a forged message
                    }
                    self.log.truncate_from(e.index);
                    first_new = Some(k);
                    break;
                }
                None => {
                    first_new = Some(k);
                    break;
                }
            }
        }
        if let Some(k) = first_new {
            let new: Vec<Entry> = entries[k..].to_vec();
            let (from_i, to_i) = (new[0].index, upto);
            for e in &new {
                self.log.push(e.clone());
            }
            self.persist(
                PersistOp::Append { entries: new },
                OpKind::Append {
                    from: from_i,
                    to: to_i,
                },
            );
        }
        self.leader_match = self.leader_match.max(upto);
        let c = commit.min(upto);
        if c > self.commit {
            self.commit = c;
        }
        self.send_ack();
    }

    /// Follower: acknowledge what matches the leader and is durable.
    pub(crate) fn send_ack(&mut self) {
        let Some(leader) = self.leader else { return };
        let m = if self.bug_ack_before_durable() {
            self.leader_match
        } else {
            self.leader_match.min(self.durable)
        };
        self.acked = self.acked.max(m);
        self.send(
            leader,
            Body::AppendResp {
                success: true,
                match_index: m,
                hint: 0,
            },
        );
    }

    /// Follower: acknowledge again when more became durable.
    pub(crate) fn maybe_ack(&mut self) {
        if self.leader.is_some()
            && self.leader != Some(self.id)
            && self.leader_match.min(self.durable) > self.acked
        {
            self.send_ack();
        }
    }

    pub(crate) fn on_install_snapshot(&mut self, now: Instant, from: NodeId, snapshot: Snapshot) {
        if self.role == Role::Leader {
            return;
        }
        if self.role != Role::Follower || self.leader != Some(from) {
            let term = self.term;
            self.become_follower(now, term, Some(from));
        }
        self.leader_contact = Some(now);
        self.reset_election_timer(now);
        let last = snapshot.last;
        if last.term > self.term {
            return;
        }
        if last.index <= self.commit {
            self.leader_match = self.leader_match.max(self.commit.min(last.index));
            self.send_ack();
            return;
        }
        let kept = self.log.install(last, snapshot.membership.clone());
        self.seq = snapshot.state.clone();
        self.commit = last.index;
        self.applied = last.index;
        self.snapshot = Some(snapshot.clone());
        self.outputs.push_back(Output::SnapshotInstalled {
            index: last.index,
            rooms: snapshot.state.rooms.clone(),
        });
        self.persist(
            PersistOp::Snapshot {
                snapshot,
                discard_log: !kept,
            },
            OpKind::Snapshot {
                last: last.index,
                discard: !kept,
            },
        );
        self.leader_match = self.leader_match.max(last.index);
        self.send_ack();
    }

    /// Leader: record a follower's answer, move the commit index, send more.
    pub(crate) fn on_append_resp(
        &mut self,
        now: Instant,
        from: NodeId,
        success: bool,
        match_index: Index,
        hint: Index,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        let window = self.cfg.election_ms;
        let Some(p) = self.progress.get_mut(&from) else {
            return;
        };
        if p.last_heard.is_none_or(|t| now.since(t) >= window) {
            p.stable_since = Some(now);
        }
        p.last_heard = Some(now);
        if success {
            if match_index > last {
                return;
            }
            let advanced = match_index > p.matched;
            p.matched = p.matched.max(match_index);
            // Only the answer to the current probe (or a newer one) ends probing; a stale
            // success must not restart a full pipelining window.
            if match_index + 1 >= p.next {
                p.probe = false;
            }
            p.next = p.next.max(p.matched + 1);
            // While probing, answer only progress (not every duplicate acknowledgement).
            let send = advanced || !p.probe;
            self.advance_commit();
            if send {
                self.send_append(from, false);
            }
        } else {
            if hint == 0 {
                return; // a stale-term answer; the term check already handled it
            }
            // On failure `match_index` is the rejected `prev`: ignore answers to anything but
            // the current probe, so that stale rejections cannot make the leader resend in bulk.
            let rejected = match_index;
            if rejected < p.matched || (p.probe && rejected + 1 != p.next) {
                return;
            }
            let next = hint.min(rejected).clamp(p.matched + 1, last + 1);
            let repeat = p.probe && next == p.next;
            p.next = next;
            p.probe = true;
            // The same rejection again (a stale answer, or a peer contradicting itself):
            // wait for the next heartbeat rather than answer in a tight loop.
            if !repeat {
                self.send_append(from, false);
            }
        }
    }

    /// Leader: commit the highest index a quorum stores durably, if it is of the current term.
    pub(crate) fn advance_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let own = if self.bug_ack_before_durable() {
            self.log.last_index()
        } else {
            self.durable
        };
        let Some(m) = self.log.membership() else {
            return;
        };
        let q = m.quorum_index(|v| {
            if *v == self.id {
                own
            } else {
                self.progress.get(v).map(|p| p.matched).unwrap_or(0)
            }
        });
        if q > self.commit && (self.bug_commit_old_term() || self.log.term_at(q) == Some(self.term))
        {
            self.commit = q;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::io::{Input, Output, PersistOp, Recovered};
    use crate::message::{Body, Entry, Message, Payload};
    use crate::types::{Instant, LogId, NodeId};
    use crate::{Config, Server};

    fn n(i: u64) -> NodeId {
        NodeId::from_u64(i)
    }

    fn follower() -> Server {
        let cfg = Config {
            bootstrap_expect: Some(2),
            ..Config::default()
        };
        let mut s = Server::new(n(1), cfg, Recovered::default(), 1);
        s.handle(Instant(0), Input::Discovered(n(2)));
        s.handle_timeout(Instant(0));
        s.handle_timeout(Instant(200));
        let mut last = 0;
        while let Some(o) = s.poll_output() {
            if let Output::Persist { id, .. } = o {
                last = id;
            }
        }
        s.handle(Instant(0), Input::Persisted { id: last });
        while s.poll_output().is_some() {}
        assert_eq!(s.durable_index(), 1);
        s
    }

    fn append(
        s: &Server,
        term: u64,
        prev: (u64, u64),
        entries: &[(u64, u64)],
        commit: u64,
    ) -> Input {
        let entries = entries
            .iter()
            .map(|(i, t)| Entry {
                index: *i,
                term: *t,
                payload: Payload::Noop,
            })
            .collect();
        let body = Body::Append {
            prev: LogId {
                index: prev.0,
                term: prev.1,
            },
            entries,
            commit,
        };
        Input::Message {
            from: n(2),
            msg: Message {
                cluster: s.cluster(),
                term,
                body,
            },
        }
    }

    fn acks(s: &mut Server) -> (Vec<(bool, u64, u64)>, Vec<u64>) {
        let mut a = Vec::new();
        let mut p = Vec::new();
        while let Some(o) = s.poll_output() {
            match o {
                Output::Send {
                    msg:
                        Message {
                            body:
                                Body::AppendResp {
                                    success,
                                    match_index,
                                    hint,
                                },
                            ..
                        },
                    ..
                } => a.push((success, match_index, hint)),
                Output::Persist {
                    id,
                    op: PersistOp::Append { .. },
                } => p.push(id),
                _ => {}
            }
        }
        (a, p)
    }

    #[test]
    fn ack_waits_for_the_write_and_conflicts_truncate() {
        let mut s = follower();
        s.handle(Instant(10), append(&s, 2, (1, 1), &[(2, 2), (3, 2)], 0));
        let (a, p) = acks(&mut s);
        assert_eq!(
            a,
            vec![(true, 1, 0)],
            "only the durable prefix is acknowledged"
        );
        s.handle(Instant(11), Input::Persisted { id: p[0] });
        assert_eq!(acks(&mut s).0, vec![(true, 3, 0)]);
        // A new leader's entries conflict at index 3.
        s.handle(Instant(12), append(&s, 3, (2, 2), &[(3, 3)], 3));
        let (a, p) = acks(&mut s);
        assert_eq!(a, vec![(true, 2, 0)]);
        assert_eq!(s.last_log(), LogId { index: 3, term: 3 });
        assert_eq!(s.commit_index(), 3);
        assert_eq!(s.applied_index(), 2, "apply waits for the write");
        s.handle(Instant(13), Input::Persisted { id: p[0] });
        assert_eq!(s.applied_index(), 3);
    }

    #[test]
    fn mismatch_gives_a_back_tracking_hint() {
        let mut s = follower();
        s.handle(
            Instant(10),
            append(&s, 2, (1, 1), &[(2, 2), (3, 2), (4, 2)], 0),
        );
        let _ = acks(&mut s);
        s.handle(Instant(11), append(&s, 3, (9, 3), &[], 0));
        assert_eq!(acks(&mut s).0, vec![(false, 9, 5)]);
        s.handle(Instant(12), append(&s, 3, (4, 3), &[], 0));
        assert_eq!(
            acks(&mut s).0,
            vec![(false, 4, 2)],
            "skips the whole conflicting term"
        );
    }

    #[test]
    fn malformed_append_is_ignored() {
        let mut s = follower();
        s.handle(Instant(10), append(&s, 2, (1, 1), &[(3, 2)], 99));
        assert_eq!(acks(&mut s).0, vec![]);
        assert_eq!(s.last_log().index, 1);
        s.handle(Instant(10), append(&s, 2, (u64::MAX, 1), &[(0, 2)], 99));
        assert_eq!(s.last_log().index, 1);
    }
}

#[cfg(test)]
mod batching_tests {
    use crate::io::{Input, Output};
    use crate::message::{Body, Message};
    use crate::types::{ClientId, Instant, NodeId};
    use crate::{Config, Role, Server};

    /// Delivers every message and completes every write at once until both are quiet.
    fn settle(servers: &mut [Server; 2], now: Instant) {
        loop {
            let mut quiet = true;
            for i in 0..2 {
                let mut sends = Vec::new();
                let mut written = None;
                while let Some(o) = servers[i].poll_output() {
                    match o {
                        Output::Send { msg, .. } => sends.push(msg),
                        Output::Persist { id, .. } => written = Some(id),
                        _ => {}
                    }
                }
                if let Some(id) = written {
                    servers[i].handle(now, Input::Persisted { id });
                    quiet = false;
                }
                let from = servers[i].id();
                for msg in sends {
                    servers[1 - i].handle(now, Input::Message { from, msg });
                    quiet = false;
                }
            }
            if quiet {
                return;
            }
        }
    }

    #[test]
    fn submissions_fed_before_draining_travel_in_one_append() {
        let cfg = Config {
            bootstrap_expect: Some(2),
            ..Config::default()
        };
        let (a, b) = (NodeId::from_u64(1), NodeId::from_u64(2));
        let mut servers = [
            Server::new(a, cfg.clone(), Default::default(), 1),
            Server::new(b, cfg, Default::default(), 2),
        ];
        servers[0].handle(Instant(0), Input::Discovered(b));
        servers[1].handle(Instant(0), Input::Discovered(a));
        let mut now = Instant(0);
        while !servers.iter().any(|s| s.role() == Role::Leader) {
            assert!(now.0 < 10_000, "no leader elected");
            for s in servers.iter_mut() {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            settle(&mut servers, now);
            now = Instant(now.0 + 10);
        }
        let l = servers
            .iter()
            .position(|s| s.role() == Role::Leader)
            .unwrap_or(0);
        let follower = servers[1 - l].id();
        let leader = &mut servers[l];
        for counter in 1..=3 {
            leader.handle(
                now,
                Input::Submit {
                    client: ClientId::from_u64(7),
                    counter,
                    lowest_unacked: 1,
                    room: "lobby".into(),
                    body: vec![counter as u8],
                },
            );
        }
        let appends: Vec<usize> = std::iter::from_fn(|| leader.poll_output())
            .filter_map(|o| match o {
                Output::Send {
                    to,
                    msg:
                        Message {
                            body: Body::Append { entries, .. },
                            ..
                        },
                } if to == follower => Some(entries.len()),
                _ => None,
            })
            .collect();
        assert_eq!(
            appends,
            vec![3],
            "one Append carrying the three submissions"
        );
    }
}

#[cfg(test)]
mod snapshot_tests {
    use crate::apply::Sequencer;
    use crate::io::{Input, Output, PersistOp, Recovered};
    use crate::membership::Membership;
    use crate::message::{Body, Message, Snapshot};
    use crate::types::{ClusterId, Instant, LogId, NodeId};
    use crate::{Config, Server};

    #[test]
    fn install_snapshot_replaces_state_and_acks_once_durable() {
        let n = NodeId::from_u64;
        let mut s = Server::new(n(1), Config::default(), Recovered::default(), 1);
        s.handle_timeout(Instant(0));
        while s.poll_output().is_some() {}
        let cluster = ClusterId { founder: n(2) };
        let mut state = Sequencer::default();
        state.rooms.insert("lobby".into(), 7);
        let snapshot = Snapshot {
            last: LogId { term: 3, index: 40 },
            membership: Membership::new(cluster, [n(1), n(2)].into_iter().collect()),
            state,
        };
        let msg = Message {
            cluster: Some(cluster),
            term: 3,
            body: Body::InstallSnapshot { snapshot },
        };
        s.handle(Instant(10), Input::Message { from: n(2), msg });
        let mut persist = None;
        let mut installed = false;
        while let Some(o) = s.poll_output() {
            match o {
                Output::Persist {
                    id,
                    op: PersistOp::Snapshot { discard_log, .. },
                } => {
                    assert!(discard_log);
                    persist = Some(id);
                }
                Output::SnapshotInstalled { index, rooms } => {
                    assert_eq!((index, rooms["lobby"]), (40, 7));
                    installed = true;
                }
                Output::Send {
                    msg:
                        Message {
                            body: Body::AppendResp { match_index, .. },
                            ..
                        },
                    ..
                } => {
                    assert!(
                        match_index < 40,
                        "acknowledged before the snapshot is durable"
                    )
                }
                _ => {}
            }
        }
        assert!(installed);
        assert_eq!((s.commit_index(), s.applied_index()), (40, 40));
        assert_eq!(s.sequencer().rooms["lobby"], 7);
        s.handle(
            Instant(11),
            Input::Persisted {
                id: persist.unwrap(),
            },
        );
        let acked = std::iter::from_fn(|| s.poll_output()).any(|o| {
            matches!(
                o,
                Output::Send {
                    msg: Message {
                        body: Body::AppendResp {
                            success: true,
                            match_index: 40,
                            ..
                        },
                        ..
                    },
                    ..
                }
            )
        });
        assert!(acked);
    }
}
