//! The server state machine: construction from recovered state, input dispatch,
//! timers, durability tracking and the apply loop. Election, replication and
//! cluster changes are `impl Server` blocks in their own modules.

use crate::apply::{ApplyOutcome, Sequencer};
use crate::config::Config;
use crate::io::{Applied, HardState, Input, Output, PersistOp, Recovered, SubmitResult};
use crate::log::Log;
use crate::membership::Membership;
use crate::message::{Body, Entry, Message, Payload, Snapshot};
use crate::types::{ClientId, ClusterId, Index, Instant, LogId, NodeId, Term};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The role of a server in its current term.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking whether a quorum would vote for it (no term change yet).
    PreCandidate,
    /// Asking for votes in its term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// A storage write not yet reported durable.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OpKind {
    Hard(HardState),
    Append { from: Index, to: Index },
    Snapshot { last: Index, discard: bool },
}

/// The leader's view of one follower or learner.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Next index to send.
    pub next: Index,
    /// Highest index known stored there.
    pub matched: Index,
    /// After a rejection: one message at a time until a success.
    pub probe: bool,
    /// Last answer received.
    pub last_heard: Option<Instant>,
    /// Start of the current run of steady answers.
    pub stable_since: Option<Instant>,
    /// When this member got a progress entry (leader start or its addition).
    pub added: Instant,
}

/// One Chorus ordering server (sans-IO).
pub struct Server {
    pub(crate) id: NodeId,
    pub(crate) cfg: Config,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) started: bool,
    pub(crate) start_time: Instant,
    // Persistent state (in memory; durable copies tracked below).
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) log: Log,
    pub(crate) snapshot: Option<Snapshot>,
    // Volatile state.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) commit: Index,
    pub(crate) applied: Index,
    pub(crate) apply_floor: Index,
    pub(crate) seq: Sequencer,
    pub(crate) last_membership: Option<Membership>,
    // Durability.
    pub(crate) next_op: u64,
    pub(crate) pending_ops: VecDeque<(u64, OpKind)>,
    pub(crate) disk_last: Index,
    pub(crate) durable: Index,
    pub(crate) durable_hard: HardState,
    pub(crate) emitted_hard: HardState,
    // Election.
    pub(crate) election_deadline: Option<Instant>,
    pub(crate) prevotes: BTreeSet<NodeId>,
    pub(crate) votes: BTreeSet<NodeId>,
    pub(crate) deferred_term: Option<Term>,
    pub(crate) leader_contact: Option<Instant>,
    pub(crate) vote_replies: Vec<(NodeId, Term)>,
    // Leader.
    pub(crate) heartbeat_deadline: Option<Instant>,
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) leader_since: Instant,
    pub(crate) transfer: Option<(NodeId, Instant)>,
    pub(crate) joiners: BTreeMap<NodeId, Instant>,
    pub(crate) waiters: BTreeSet<(ClientId, u64)>,
    pub(crate) inflight: BTreeMap<(ClientId, u64), Index>,
    /// New entries were appended since followers were last sent theirs: send
    /// them once the pending outputs are drained (see [`Server::poll_output`]).
    pub(crate) append_due: bool,
    // Follower.
    pub(crate) leader_match: Index,
    pub(crate) acked: Index,
    // Liveness and discovery hints.
    pub(crate) live: BTreeSet<NodeId>,
    pub(crate) discovered: BTreeSet<NodeId>,
    /// Without a cluster: whether we heard from a member of one (then we join, never form alone).
    pub(crate) cluster_seen: bool,
    pub(crate) outputs: VecDeque<Output>,
}

impl Server {
    /// A server with identity `id`, restarted from `recovered` (default for a new one);
    /// all randomness comes from `seed`.
    pub fn new(id: NodeId, cfg: Config, recovered: Recovered, seed: u64) -> Self {
        let Recovered {
            hard,
            snapshot,
            entries,
            applied,
        } = recovered;
        let mut log = match &snapshot {
            Some(s) => Log::new(s.last, Some(s.membership.clone())),
            None => Log::default(),
        };
        for e in entries {
            if e.index <= log.base().index {
                continue;
            }
            if !log.push(e) {
                break;
            }
        }
        let base = log.base().index;
        let last = log.last_index();
        let commit = hard.commit.min(last).max(base);
        let mut s = Server {
            id,
            cfg,
            rng: ChaCha8Rng::seed_from_u64(seed),
            started: false,
            start_time: Instant(0),
            term: hard.term.max(log.last().term),
            vote: hard.vote,
            seq: snapshot
                .as_ref()
                .map(|s| s.state.clone())
                .unwrap_or_default(),
            snapshot,
            log,
            role: Role::Follower,
            leader: None,
            commit,
            applied: base,
            apply_floor: applied,
            last_membership: None,
            next_op: 1,
            pending_ops: VecDeque::new(),
            disk_last: last,
            durable: last,
            durable_hard: hard,
            emitted_hard: hard,
            election_deadline: None,
            prevotes: BTreeSet::new(),
            votes: BTreeSet::new(),
            deferred_term: None,
            leader_contact: None,
            vote_replies: Vec::new(),
            heartbeat_deadline: None,
            progress: BTreeMap::new(),
            leader_since: Instant(0),
            transfer: None,
            joiners: BTreeMap::new(),
            waiters: BTreeSet::new(),
            inflight: BTreeMap::new(),
            append_due: false,
            leader_match: 0,
            acked: 0,
            live: BTreeSet::new(),
            discovered: BTreeSet::new(),
            cluster_seen: false,
            outputs: VecDeque::new(),
        };
        if s.term != hard.term {
            s.vote = None;
        }
        s.last_membership = s.log.membership().cloned();
        s.apply_committed();
        s
    }

    /// Feeds one input at time `now`; then drain [`Server::poll_output`].
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.start(now);
        match input {
            Input::Message { from, msg } => self.on_message(now, from, msg),
            Input::Submit {
                client,
                counter,
                lowest_unacked,
                room,
                body,
            } => self.on_submit(now, client, counter, lowest_unacked, room, body),
            Input::Persisted { id } => self.on_persisted(now, id),
            Input::PeerUp(p) => {
                if p != self.id {
                    self.live.insert(p);
                }
            }
            Input::PeerDown(p) => {
                self.live.remove(&p);
            }
            Input::Discovered(p) => {
                if p != self.id {
                    self.discovered.insert(p);
                }
            }
        }
        self.after(now);
    }

    /// Runs the timers due at `now` (call when [`Server::poll_timeout`] has passed).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.start(now);
        if self.heartbeat_deadline.is_some_and(|d| d <= now) {
            self.on_heartbeat(now);
        }
        if self.election_deadline.is_some_and(|d| d <= now) {
            self.on_election_timer(now);
        }
        self.after(now);
    }

    /// The next instant [`Server::handle_timeout`] must be called (at once if never started).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return Some(Instant(0));
        }
        match (self.election_deadline, self.heartbeat_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next pending output, in the order produced.
    ///
    /// A leader sends followers the entries of submissions only once the
    /// outputs produced before are drained: a shell that feeds several inputs
    /// (submissions) before draining gets one `Append` per follower carrying
    /// all of them, rather than one per submission.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() && self.append_due {
            self.append_due = false;
            if self.role == Role::Leader {
                self.broadcast_append(false);
            }
        }
        self.outputs.pop_front()
    }

    fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.start_time = now;
        if self.log.membership().is_none() {
            self.election_deadline = Some(now);
        } else {
            self.reset_election_timer(now);
        }
    }

    // ----- accessors -----

    /// This server's ID.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// Current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// Vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }
    /// The known leader of the current term.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Highest index known committed.
    pub fn commit_index(&self) -> Index {
        self.commit
    }
    /// Highest index applied here.
    pub fn applied_index(&self) -> Index {
        self.applied
    }
    /// Highest index whose entry (and all before it) is durable here.
    pub fn durable_index(&self) -> Index {
        self.durable
    }
    /// The last log entry.
    pub fn last_log(&self) -> LogId {
        self.log.last()
    }
    /// The log entries held in memory (after the snapshot).
    pub fn log_entries(&self) -> &[Entry] {
        self.log.entries()
    }
    /// The snapshot point (index/term of the last compacted entry).
    pub fn log_base(&self) -> LogId {
        self.log.base()
    }
    /// Term of the entry at `index` if known (held, or the snapshot point).
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.log.term_at(index)
    }
    /// Entry at `index` if held.
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        self.log.get(index)
    }
    /// Number of configuration entries not yet committed.
    pub fn pending_config_changes(&self) -> usize {
        self.log.configs_after(self.commit)
    }
    /// The configuration in force (None before joining a cluster).
    pub fn membership(&self) -> Option<&Membership> {
        self.log.membership()
    }
    /// The cluster this server belongs to.
    pub fn cluster(&self) -> Option<ClusterId> {
        self.log.membership().map(|m| m.cluster)
    }
    /// Voters in force (both halves while joint).
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.log
            .membership()
            .map(Membership::all_voters)
            .unwrap_or_default()
    }
    /// Learners in force.
    pub fn learners(&self) -> BTreeSet<NodeId> {
        self.log
            .membership()
            .map(|m| m.learners.clone())
            .unwrap_or_default()
    }
    /// The applied state (room heads, client table).
    pub fn sequencer(&self) -> &Sequencer {
        &self.seq
    }
    /// Leader: heard from a quorum within the election timeout. Others: heard from a leader within it.
    pub fn has_quorum(&self, now: Instant) -> bool {
        match self.role {
            Role::Leader => self.quorum_heard(now),
            _ => self.in_lease(now) && self.leader.is_some(),
        }
    }

    // ----- shared helpers -----

    pub(crate) fn bug_ack_before_durable(&self) -> bool {
        #[cfg(any(test, feature = "planted-bugs"))]
        {
            self.cfg.bugs.ack_before_durable
        }
        #[cfg(not(any(test, feature = "planted-bugs")))]
        {
            false
        }
    }

    pub(crate) fn bug_double_vote(&self) -> bool {
        #[cfg(any(test, feature = "planted-bugs"))]
        {
            self.cfg.bugs.double_vote
        }
        #[cfg(not(any(test, feature = "planted-bugs")))]
        {
            false
        }
    }

    pub(crate) fn bug_commit_old_term(&self) -> bool {
        #[cfg(any(test, feature = "planted-bugs"))]
        {
            self.cfg.bugs.commit_old_term
        }
        #[cfg(not(any(test, feature = "planted-bugs")))]
        {
            false
        }
    }

    pub(crate) fn send(&mut self, to: NodeId, body: Body) {
        self.send_term(to, self.term, body);
    }

    pub(crate) fn send_term(&mut self, to: NodeId, term: Term, body: Body) {
        if to == self.id {
            return;
        }
        let msg = Message {
            cluster: self.cluster(),
            term,
            body,
        };
        self.outputs.push_back(Output::Send { to, msg });
    }

    pub(crate) fn persist(&mut self, op: PersistOp, kind: OpKind) {
        let id = self.next_op;
        self.next_op += 1;
        match kind {
            OpKind::Append { from, .. } => self.durable = self.durable.min(from.saturating_sub(1)),
            OpKind::Snapshot { discard: true, .. } => self.durable = 0,
            _ => {}
        }
        self.pending_ops.push_back((id, kind));
        self.outputs.push_back(Output::Persist { id, op });
    }

    /// Writes term and vote (and a safe commit index) if they changed.
    pub(crate) fn persist_hard(&mut self) {
        let commit = self.commit.min(self.durable).max(self.emitted_hard.commit);
        let h = HardState {
            term: self.term,
            vote: self.vote,
            commit,
        };
        if h == self.emitted_hard {
            return;
        }
        self.emitted_hard = h;
        self.persist(PersistOp::HardState(h), OpKind::Hard(h));
    }

    /// Appends one entry as leader (or at formation) and schedules its write.
    pub(crate) fn append_entry(&mut self, payload: Payload) -> Index {
        let index = self.log.last_index() + 1;
        let e = Entry {
            index,
            term: self.term,
            payload,
        };
        self.log.push(e.clone());
        self.persist(
            PersistOp::Append { entries: vec![e] },
            OpKind::Append {
                from: index,
                to: index,
            },
        );
        index
    }

    pub(crate) fn set_leader(&mut self, leader: Option<NodeId>) {
        if self.leader != leader {
            self.leader = leader;
            self.leader_match = 0;
            self.acked = 0;
            self.outputs.push_back(Output::LeaderChanged {
                term: self.term,
                leader,
            });
        }
    }

    pub(crate) fn in_lease(&self, now: Instant) -> bool {
        self.role == Role::Leader
            || self
                .leader_contact
                .is_some_and(|t| now.since(t) < self.cfg.election_ms)
    }

    pub(crate) fn reply(&mut self, client: ClientId, counter: u64, result: SubmitResult) {
        self.outputs.push_back(Output::Reply {
            client,
            counter,
            result,
        });
    }

    // ----- inputs -----

    fn on_message(&mut self, now: Instant, from: NodeId, msg: Message) {
        if from == self.id {
            return;
        }
        if msg.cluster.is_some() && self.cluster().is_none() {
            self.cluster_seen = true;
        }
        if let (Some(_), None, Body::Join) = (self.cluster(), msg.cluster, &msg.body) {
            // Tell a server without a cluster that one exists here (so it joins, not forms).
            self.send(from, Body::Join);
        }
        match (self.cluster(), msg.cluster) {
            (Some(mine), Some(theirs)) if mine != theirs => return,
            // A server without a cluster (new, or a founder whose first write was lost) asks to
            // join, answers Appends, and votes: with an empty durable log it never acknowledged
            // anything, so its vote cannot elect a leader lacking a committed entry.
            (Some(_), None)
                if !matches!(
                    msg.body,
                    Body::Join
                        | Body::AppendResp { .. }
                        | Body::PreVoteResp { .. }
                        | Body::VoteResp { .. }
                ) =>
            {
                return
            }
            (None, _)
                if !matches!(
                    msg.body,
                    Body::Append { .. }
                        | Body::InstallSnapshot { .. }
                        | Body::PreVote { .. }
                        | Body::Vote { .. }
                ) =>
            {
                return
            }
            _ => {}
        }
        if self.role == Role::Leader {
            let member = self.log.membership().is_some_and(|m| m.is_member(&from));
            if !member
                && matches!(
                    msg.body,
                    Body::Join | Body::PreVote { .. } | Body::Vote { .. }
                )
            {
                self.joiners.insert(from, now);
            }
        }
        match msg.body {
            Body::Join => {}
            Body::PreVote { last } => self.on_prevote(now, from, msg.term, last),
            Body::PreVoteResp { granted, last } => {
                self.on_prevote_resp(now, from, msg.term, granted, last)
            }
            body => {
                if msg.term > self.term {
                    if let Body::Vote {
                        transfer: false, ..
                    } = body
                    {
                        if self.in_lease(now) {
                            return; // a leader is alive: do not let this candidate disrupt it
                        }
                    }
                    let leader = match body {
                        Body::Append { .. } | Body::InstallSnapshot { .. } | Body::TimeoutNow => {
                            Some(from)
                        }
                        _ => None,
                    };
                    self.become_follower(now, msg.term, leader);
                } else if msg.term < self.term {
                    match body {
                        Body::Append { .. } | Body::InstallSnapshot { .. } => self.send(
                            from,
                            Body::AppendResp {
                                success: false,
                                match_index: 0,
                                hint: 0,
                            },
                        ),
                        Body::Vote { .. } => self.send(from, Body::VoteResp { granted: false }),
                        _ => {}
                    }
                    return;
                }
                match body {
                    Body::Vote { last, .. } => self.on_vote(now, from, last),
                    Body::VoteResp { granted } => self.on_vote_resp(now, from, granted),
                    Body::Append {
                        prev,
                        entries,
                        commit,
                    } => self.on_append(now, from, prev, entries, commit),
                    Body::AppendResp {
                        success,
                        match_index,
                        hint,
                    } => self.on_append_resp(now, from, success, match_index, hint),
                    Body::InstallSnapshot { snapshot } => {
                        self.on_install_snapshot(now, from, snapshot)
                    }
                    Body::TimeoutNow => self.on_timeout_now(now, from),
                    Body::Join | Body::PreVote { .. } | Body::PreVoteResp { .. } => {}
                }
            }
        }
    }

    fn on_submit(
        &mut self,
        _now: Instant,
        client: ClientId,
        counter: u64,
        lowest_unacked: u64,
        room: String,
        body: Vec<u8>,
    ) {
        if self.role != Role::Leader || self.transfer.is_some() {
            let hint = self
                .transfer
                .map(|(t, _)| t)
                .or(self.leader)
                .filter(|l| *l != self.id);
            self.reply(client, counter, SubmitResult::NotLeader { hint });
            return;
        }
        if let Some((room, seq)) = self.seq.lookup(&client, counter) {
            self.reply(client, counter, SubmitResult::Ok { room, seq });
            return;
        }
        if self.seq.is_stale(&client, counter) {
            self.reply(client, counter, SubmitResult::Stale);
            return;
        }
        if self.inflight.contains_key(&(client, counter)) {
            self.waiters.insert((client, counter));
            return;
        }
        if self.log.last_index().saturating_sub(self.commit) >= self.cfg.max_uncommitted {
            self.reply(client, counter, SubmitResult::Busy);
            return;
        }
        self.waiters.insert((client, counter));
        let cmd = crate::message::Command {
            client,
            counter,
            lowest_unacked,
            room,
            body,
        };
        let index = self.append_entry(Payload::Command(cmd));
        self.inflight.insert((client, counter), index);
        self.append_due = true;
    }

    fn on_persisted(&mut self, now: Instant, id: u64) {
        let mut any = false;
        while self.pending_ops.front().is_some_and(|(i, _)| *i <= id) {
            let Some((_, kind)) = self.pending_ops.pop_front() else {
                break;
            };
            any = true;
            match kind {
                OpKind::Hard(h) => self.durable_hard = h,
                OpKind::Append { to, .. } => self.disk_last = to,
                OpKind::Snapshot { last, discard } => {
                    self.disk_last = if discard {
                        last
                    } else {
                        self.disk_last.max(last)
                    };
                }
            }
        }
        if !any {
            return;
        }
        let mut durable = self.disk_last.min(self.log.last_index());
        for (_, kind) in &self.pending_ops {
            match kind {
                OpKind::Append { from, .. } => durable = durable.min(from.saturating_sub(1)),
                OpKind::Snapshot { discard: true, .. } => durable = 0,
                _ => {}
            }
        }
        self.durable = durable;
        self.flush_vote_replies();
        self.check_votes(now);
        match self.role {
            Role::Leader => self.advance_commit(),
            Role::Follower => self.maybe_ack(),
            _ => {}
        }
    }

    /// Work done after every input: apply, persist commit, report configuration changes.
    fn after(&mut self, now: Instant) {
        self.apply_committed();
        if self.commit.min(self.durable) > self.emitted_hard.commit {
            let h = HardState {
                term: self.term,
                vote: self.vote,
                commit: self.commit.min(self.durable),
            };
            self.emitted_hard = h;
            self.persist(PersistOp::HardState(h), OpKind::Hard(h));
        }
        let m = self.log.membership().cloned();
        if m != self.last_membership {
            self.last_membership = m.clone();
            if self.role == Role::Leader {
                self.sync_progress(now);
            }
            if let Some(m) = m {
                self.outputs.push_back(Output::MembershipChanged(m));
            }
        }
    }

    /// Applies committed, locally durable entries in order.
    pub(crate) fn apply_committed(&mut self) {
        let limit = self.commit.min(self.durable);
        while self.applied < limit {
            let index = self.applied + 1;
            let Some(entry) = self.log.get(index) else {
                break;
            };
            self.applied = index;
            let Payload::Command(cmd) = &entry.payload else {
                continue;
            };
            let cmd = cmd.clone();
            let key = (cmd.client, cmd.counter);
            self.inflight.remove(&key);
            let result =
                match self
                    .seq
                    .apply(cmd.client, cmd.counter, cmd.lowest_unacked, &cmd.room)
                {
                    ApplyOutcome::Fresh { seq } => {
                        if index > self.apply_floor {
                            self.outputs.push_back(Output::Apply(Applied {
                                index,
                                room: cmd.room.clone(),
                                seq,
                                client: cmd.client,
                                counter: cmd.counter,
                                body: cmd.body,
                            }));
                        }
                        SubmitResult::Ok {
                            room: cmd.room,
                            seq,
                        }
                    }
                    ApplyOutcome::Duplicate { room, seq } => SubmitResult::Ok { room, seq },
                    ApplyOutcome::Stale => SubmitResult::Stale,
                };
            if self.waiters.remove(&key) {
                self.reply(key.0, key.1, result);
            }
        }
        self.maybe_snapshot();
    }

    fn maybe_snapshot(&mut self) {
        let base = self.log.base().index;
        if self.applied.saturating_sub(base) < self.cfg.snapshot_threshold {
            return;
        }
        let (Some(term), Some(membership)) = (
            self.log.term_at(self.applied),
            self.log.config_at(self.applied).cloned(),
        ) else {
            return;
        };
        let last = LogId {
            term,
            index: self.applied,
        };
        let snap = Snapshot {
            last,
            membership,
            state: self.seq.clone(),
        };
        self.log.compact(self.applied);
        self.snapshot = Some(snap.clone());
        self.persist(
            PersistOp::Snapshot {
                snapshot: snap,
                discard_log: false,
            },
            OpKind::Snapshot {
                last: last.index,
                discard: false,
            },
        );
    }

    /// Answers every waiting client "not leader" (after losing leadership).
    pub(crate) fn fail_waiters(&mut self) {
        let hint = self.leader.filter(|l| *l != self.id);
        for (c, k) in std::mem::take(&mut self.waiters) {
            self.reply(c, k, SubmitResult::NotLeader { hint });
        }
        self.inflight.clear();
    }
}

#[cfg(test)]
mod tests {
    use crate::io::{Input, Output, Recovered, SubmitResult};
    use crate::storage::MemStorage;
    use crate::types::{ClientId, Instant, NodeId};
    use crate::{Config, Role, Server};

    /// Runs a lone server with its writes going to `disk`; returns the outputs.
    fn run(s: &mut Server, disk: &mut MemStorage, inputs: Vec<Input>, until: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let drain = |s: &mut Server, disk: &mut MemStorage, now: Instant, out: &mut Vec<Output>| loop {
            let mut last = None;
            while let Some(o) = s.poll_output() {
                if let Output::Persist { id, op } = &o {
                    disk.apply(op);
                    last = Some(*id);
                }
                out.push(o);
            }
            match last {
                Some(id) => s.handle(now, Input::Persisted { id }),
                None => break,
            }
        };
        let start = s.poll_timeout().unwrap_or(Instant(0));
        for i in inputs {
            s.handle(start, i);
            drain(s, disk, start, &mut out);
        }
        while let Some(t) = s.poll_timeout() {
            if t.0 > until {
                break;
            }
            s.handle_timeout(t);
            drain(s, disk, t, &mut out);
        }
        out
    }

    #[test]
    fn restart_recovers_commit_and_reapplies_above_the_shells_applied_index() {
        let cfg = Config {
            snapshot_threshold: 4,
            ..Config::default()
        };
        let mut disk = MemStorage::default();
        let mut s = Server::new(NodeId::from_u64(1), cfg.clone(), Recovered::default(), 1);
        run(&mut s, &mut disk, vec![], 3_000);
        assert_eq!(s.role(), Role::Leader);
        let c = ClientId::from_u64(9);
        let submits = (0..6)
            .map(|k| Input::Submit {
                client: c,
                counter: k,
                lowest_unacked: 0,
                room: "r".into(),
                body: vec![k as u8],
            })
            .collect();
        let out = run(&mut s, &mut disk, submits, 3_100);
        let oks = out
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Reply {
                        result: SubmitResult::Ok { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(oks, 6);
        let commit = s.commit_index();
        assert!(disk.snapshot.is_some(), "compacted");
        // Restart: the shell had applied everything up to the first entry still in the log.
        let applied = disk.entries.first().map(|e| e.index).unwrap_or(commit);
        let mut rec = disk.recover();
        rec.applied = applied;
        let mut s2 = Server::new(NodeId::from_u64(1), cfg, rec, 2);
        assert_eq!(s2.commit_index(), commit, "commit survives the restart");
        assert_eq!(s2.sequencer().rooms["r"], 6);
        let reapplied: Vec<u64> = std::iter::from_fn(|| s2.poll_output())
            .filter_map(|o| match o {
                Output::Apply(a) => Some(a.index),
                _ => None,
            })
            .collect();
        assert!(reapplied.iter().all(|i| *i > applied));
        // A retry of an applied message gets its original seq, once the server leads again.
        let out = run(&mut s2, &mut disk, vec![], 6_000);
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::LeaderChanged { .. })));
        let retry = Input::Submit {
            client: c,
            counter: 5,
            lowest_unacked: 0,
            room: "r".into(),
            body: vec![5],
        };
        let out = run(&mut s2, &mut disk, vec![retry], 6_000);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Reply {
                result: SubmitResult::Ok { seq: 6, .. },
                ..
            }
        )));
    }
}
