//! Invariant checker of the simulator: everything it sees is checked as it happens.

use crate::io::{Applied, HardState, PersistOp};
use crate::message::{Entry, Payload};
use crate::server::{Role, Server};
use crate::types::{ClientId, Index, NodeId, Term};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// A violated invariant.
pub type Violation = String;

fn digest<T: Hash>(x: &T) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

/// What a server showed us last (within one incarnation).
#[derive(Clone, Copy, Default)]
struct Seen {
    term: Term,
    vote: Option<NodeId>,
    commit: Index,
    leader_term: Option<Term>,
    applied: Index,
}

/// Global history and per-server state used by the checks.
#[derive(Default)]
pub struct Checker {
    leaders: BTreeMap<Term, NodeId>,
    votes: BTreeMap<(Term, NodeId), NodeId>,
    /// (index, term) → (digest, previous entry's term): log matching.
    entries: BTreeMap<(Index, Term), (u64, Term)>,
    /// Committed entries: index → (term, digest).
    committed: BTreeMap<Index, (Term, u64)>,
    applied: BTreeMap<Index, (String, u64, ClientId, u64, u64)>,
    by_key: BTreeMap<(ClientId, u64), Index>,
    by_seq: BTreeMap<(String, u64), Index>,
    /// What clients submitted: (client, counter) → (room, body).
    pub sent: BTreeMap<(ClientId, u64), (String, Vec<u8>)>,
    /// Acknowledged (client, counter) → (room, seq).
    pub acked: BTreeMap<(ClientId, u64), (String, u64)>,
    seen: BTreeMap<NodeId, Seen>,
    max_commit: Index,
    disk: BTreeMap<NodeId, HardState>,
}

impl Checker {
    /// A vote was granted by `voter` to `candidate` in `term`.
    pub fn vote(&mut self, term: Term, voter: NodeId, candidate: NodeId) -> Result<(), Violation> {
        match self.votes.insert((term, voter), candidate) {
            Some(c) if c != candidate => Err(format!("{voter} voted for {c} and {candidate} in term {term}")),
            _ => Ok(()),
        }
    }

    /// A server asked for a write (checked when issued: every entry of every log passes here).
    pub fn persist(&mut self, s: &Server, op: &PersistOp) -> Result<(), Violation> {
        let PersistOp::Append { entries } = op else { return Ok(()) };
        let Some(first) = entries.first() else { return Err("empty append write".into()) };
        let mut prev_term = s
            .term_at(first.index - 1)
            .ok_or_else(|| format!("{}: entry {} written after a hole", s.id(), first.index))?;
        for e in entries {
            let d = digest(e);
            match self.entries.get(&(e.index, e.term)) {
                Some((d0, p0)) if (*d0, *p0) != (d, prev_term) => {
                    return Err(format!(
                        "log matching: two different entries or prefixes at index {} term {} ({} wrote it)",
                        e.index,
                        e.term,
                        s.id()
                    ));
                }
                Some(_) => {}
                None => {
                    self.entries.insert((e.index, e.term), (d, prev_term));
                }
            }
            prev_term = e.term;
            if matches!(e.payload, Payload::Config(_)) && s.role() == Role::Leader && e.term == s.term() {
                if s.pending_config_changes() > 1 {
                    return Err(format!("{} appended a config change while another is pending", s.id()));
                }
            }
        }
        Ok(())
    }

    /// A write reached the disk.
    pub fn disk_hard(&mut self, id: NodeId, h: HardState) -> Result<(), Violation> {
        let old = self.disk.insert(id, h).unwrap_or_default();
        if h.term < old.term {
            return Err(format!("{id}: durable term went back {} -> {}", old.term, h.term));
        }
        if h.term == old.term && old.vote.is_some() && h.vote != old.vote {
            return Err(format!("{id}: durable vote changed in term {}", h.term));
        }
        if h.commit < old.commit {
            return Err(format!("{id}: durable commit went back {} -> {}", old.commit, h.commit));
        }
        Ok(())
    }

    /// A server (re)started from its disk.
    pub fn restarted(&mut self, s: &Server) -> Result<(), Violation> {
        let disk = self.disk.get(&s.id()).copied().unwrap_or_default();
        if s.term() < disk.term || s.commit_index() < disk.commit {
            return Err(format!("{}: restart lost term or commit", s.id()));
        }
        self.seen.insert(s.id(), Seen { term: s.term(), vote: s.vote(), commit: s.log_base().index, ..Seen::default() });
        self.observe(s)
    }

    fn entry_digest(e: &Entry) -> (Term, u64) {
        (e.term, digest(e))
    }

    /// Checks a server after it handled an event.
    pub fn observe(&mut self, s: &Server) -> Result<(), Violation> {
        let id = s.id();
        let old = self.seen.get(&id).copied().unwrap_or_default();
        if s.term() < old.term {
            return Err(format!("{id}: term went back {} -> {}", old.term, s.term()));
        }
        if s.term() == old.term && old.vote.is_some() && s.vote() != old.vote {
            return Err(format!("{id}: vote changed within term {}", s.term()));
        }
        if s.commit_index() < old.commit {
            return Err(format!("{id}: commit went back {} -> {}", old.commit, s.commit_index()));
        }
        self.max_commit = self.max_commit.max(s.commit_index());
        // Newly committed entries must agree with what was committed before.
        let base = s.log_base().index;
        for i in (old.commit + 1).max(base + 1)..=s.commit_index() {
            let Some(e) = s.entry(i) else { return Err(format!("{id}: committed entry {i} missing")) };
            let d = Self::entry_digest(e);
            match self.committed.get(&i) {
                Some(c) if *c != d => return Err(format!("committed entry {i} changed (seen on {id})")),
                Some(_) => {}
                None => {
                    self.committed.insert(i, d);
                }
            }
        }
        let mut leader_term = old.leader_term;
        if s.role() == Role::Leader && old.leader_term != Some(s.term()) {
            if let Some(other) = self.leaders.insert(s.term(), id) {
                if other != id {
                    return Err(format!("two leaders in term {}: {other} and {id}", s.term()));
                }
            }
            // Leader completeness: a new leader holds every committed entry.
            if let Some((&top, _)) = self.committed.iter().next_back() {
                if s.last_log().index < top {
                    return Err(format!("leader {id} of term {} lacks committed entry {top}", s.term()));
                }
            }
            for (i, d) in self.committed.range(base + 1..) {
                let ok = s.entry(*i).map(Self::entry_digest) == Some(*d);
                if !ok {
                    return Err(format!("leader {id} of term {} has a different committed entry {i}", s.term()));
                }
            }
            leader_term = Some(s.term());
        }
        self.seen.insert(
            id,
            Seen { term: s.term(), vote: s.vote(), commit: s.commit_index(), leader_term, applied: old.applied },
        );
        Ok(())
    }

    /// A server delivered a committed client message.
    pub fn apply(&mut self, id: NodeId, a: &Applied) -> Result<(), Violation> {
        let key = (a.client, a.counter);
        match self.sent.get(&key) {
            Some((room, body)) if *room == a.room && *body == a.body => {}
            _ => return Err(format!("{id} delivered {}#{} that nobody sent", a.client, a.counter)),
        }
        let seen = self.seen.entry(id).or_default();
        if a.index <= seen.applied {
            return Err(format!("{id} applied index {} after {}", a.index, seen.applied));
        }
        seen.applied = a.index;
        let rec = (a.room.clone(), a.seq, a.client, a.counter, digest(&a.body));
        match self.applied.get(&a.index) {
            Some(r) if *r != rec => return Err(format!("{id} applied index {} differently", a.index)),
            Some(_) => return Ok(()),
            None => {}
        }
        if let Some(i) = self.by_key.insert(key, a.index) {
            return Err(format!("{}#{} committed twice (indexes {i} and {})", a.client, a.counter, a.index));
        }
        if let Some(i) = self.by_seq.insert((a.room.clone(), a.seq), a.index) {
            return Err(format!("room {} seq {} assigned twice ({i}, {})", a.room, a.seq, a.index));
        }
        if a.seq != 1 && !self.by_seq.contains_key(&(a.room.clone(), a.seq - 1)) {
            return Err(format!("room {} seq {} applied before seq {}", a.room, a.seq, a.seq - 1));
        }
        self.applied.insert(a.index, rec);
        Ok(())
    }

    /// A client got "sent" with this room and seq.
    pub fn ack(&mut self, client: ClientId, counter: u64, room: &str, seq: u64) -> Result<(), Violation> {
        let Some(i) = self.by_seq.get(&(room.to_string(), seq)) else {
            return Err(format!("{client}#{counter} acknowledged as {room}/{seq}, which was never applied"));
        };
        if self.by_key.get(&(client, counter)) != Some(i) {
            return Err(format!("{client}#{counter} acknowledged with another message's seq {room}/{seq}"));
        }
        self.acked.insert((client, counter), (room.to_string(), seq));
        Ok(())
    }

    /// End of run: rooms are gap-free and every acknowledged message is committed.
    pub fn finish(&self) -> Result<(), Violation> {
        let mut rooms: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
        for (room, seq) in self.by_seq.keys() {
            rooms.entry(room).or_default().insert(*seq);
        }
        for (room, seqs) in rooms {
            let n = seqs.len() as u64;
            if seqs.iter().next_back() != Some(&n) {
                return Err(format!("room {room} has a gap in seq"));
            }
        }
        for (key, (room, seq)) in &self.acked {
            let Some(i) = self.by_seq.get(&(room.clone(), *seq)) else { return Err("acked but not applied".into()) };
            if *i > self.max_commit {
                return Err(format!("{}#{} acknowledged but not committed", key.0, key.1));
            }
        }
        Ok(())
    }

    /// Highest commit index observed.
    pub fn committed_len(&self) -> usize {
        self.max_commit as usize
    }
}
