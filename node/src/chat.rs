//! The client's chat session, sans-IO: submissions that are retried with the
//! same (client id, counter) until acknowledged, and per-room delivery in `seq`
//! order that buffers what runs ahead and asks for gaps to be filled.
//!
//! The node's event loop feeds it replies, committed messages, room heads and
//! the time, and carries out the [`Action`]s it returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::wire::Committed;

/// How long a submission waits for its acknowledgement before it is sent again.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Longest wait between two tries of one submission.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long a gap in a room's seq may stay open before it is fetched.
pub const GAP_WAIT: Duration = Duration::from_millis(200);
/// Most messages one gap fetch asks for.
pub const FETCH_LIMIT: u32 = 500;
/// Most messages buffered ahead of a gap, per room (beyond that they are
/// dropped and fetched again once the gap is filled).
pub const MAX_AHEAD: usize = 10_000;

/// A message this client sent that is not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The client counter (retries reuse it).
    pub counter: u64,
    /// The message id shown to the user.
    pub id: String,
    /// The room.
    pub room: String,
    /// The text (direct messages: sealed).
    pub text: String,
    /// Direct messages: the recipient's peer id.
    pub to: Option<String>,
    /// Tries so far.
    pub attempts: u32,
    /// When to try again if no reply came.
    pub next_try: Instant,
}

/// What the session asks the event loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send (or send again) submission `counter`.
    Submit(Pending),
    /// Fetch committed messages of `room` with seq in `from..=to`.
    Fetch {
        /// The room.
        room: String,
        /// First seq wanted.
        from: u64,
        /// Last seq wanted (inclusive).
        to: u64,
    },
}

/// Per-room delivery state.
#[derive(Debug, Default)]
struct RoomView {
    /// Seq of the next message to deliver; 0 until the room's position is known.
    next: u64,
    /// Messages that arrived ahead of `next`.
    ahead: BTreeMap<u64, Committed>,
    /// Highest seq known to exist (from heads or messages).
    head: u64,
    /// Since when `next` has been missing while something later is known.
    gap_since: Option<Instant>,
    /// When a fetch was last asked for.
    fetched_at: Option<Instant>,
}

/// The client's session.
#[derive(Debug, Default)]
pub struct Session {
    counter: u64,
    pending: BTreeMap<u64, Pending>,
    rooms: BTreeMap<String, RoomView>,
}

impl Session {
    /// A new session (counters from 1).
    pub fn new() -> Self {
        Session::default()
    }

    /// Queues a new message and returns the submission to send now.
    pub fn submit(
        &mut self,
        now: Instant,
        id_prefix: &str,
        room: &str,
        text: &str,
        to: Option<&str>,
    ) -> Pending {
        self.counter += 1;
        let p = Pending {
            counter: self.counter,
            id: format!("{id_prefix}-{}", self.counter),
            room: room.to_string(),
            text: text.to_string(),
            to: to.map(str::to_string),
            attempts: 1,
            next_try: now + SUBMIT_TIMEOUT,
        };
        self.pending.insert(p.counter, p.clone());
        p
    }

    /// The lowest counter not yet acknowledged (servers may forget older ones).
    pub fn lowest_unacked(&self) -> u64 {
        self.pending
            .keys()
            .next()
            .copied()
            .unwrap_or(self.counter + 1)
    }

    /// Messages waiting for acknowledgement.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Submission `counter` was acknowledged; returns it (once).
    pub fn acknowledged(&mut self, counter: u64) -> Option<Pending> {
        self.pending.remove(&counter)
    }

    /// Submission `counter` was refused for now (no leader, no quorum): try again
    /// after a backoff rather than at the usual timeout.
    pub fn retry_later(&mut self, now: Instant, counter: u64) {
        if let Some(p) = self.pending.get_mut(&counter) {
            p.next_try = now + backoff(p.attempts);
        }
    }

    /// Starts watching `room`: live messages are kept until [`follow`](Self::follow)
    /// says where delivery starts.
    pub fn watch(&mut self, room: &str) {
        self.rooms.entry(room.to_string()).or_default();
    }

    /// Starts following `room` from seq `next` (history loaded up to `next - 1`).
    pub fn follow(&mut self, room: &str, next: u64) -> Vec<Committed> {
        let view = self.rooms.entry(room.to_string()).or_default();
        view.next = next.max(1);
        view.head = view.head.max(next.saturating_sub(1));
        view.ahead.retain(|seq, _| *seq >= next);
        self.drain(room)
    }

    /// Stops following `room`.
    pub fn unfollow(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    /// A committed message arrived (gossip or fetch); returns what can now be
    /// delivered, in seq order.
    pub fn committed(&mut self, now: Instant, msg: Committed) -> Vec<Committed> {
        let room = msg.room.clone();
        let Some(view) = self.rooms.get_mut(&room) else {
            return Vec::new();
        };
        view.head = view.head.max(msg.seq);
        if msg.seq < view.next {
            return Vec::new(); // already delivered
        }
        // With the position still unknown (history not loaded yet) the message
        // is kept until `follow` says where delivery starts.
        if view.ahead.len() < MAX_AHEAD || msg.seq == view.next {
            view.ahead.insert(msg.seq, msg);
        }
        if view.next == 0 {
            return Vec::new();
        }
        let out = self.drain(&room);
        self.note_gap(now, &room);
        out
    }

    /// A server says `room` has messages up to `head`.
    pub fn head(&mut self, now: Instant, room: &str, head: u64) {
        if let Some(view) = self.rooms.get_mut(room) {
            view.head = view.head.max(head);
        }
        self.note_gap(now, room);
    }

    fn drain(&mut self, room: &str) -> Vec<Committed> {
        let mut out = Vec::new();
        if let Some(view) = self.rooms.get_mut(room) {
            while let Some(msg) = view.ahead.remove(&view.next) {
                view.next += 1;
                out.push(msg);
            }
            if !out.is_empty() {
                view.gap_since = None;
                view.fetched_at = None;
            }
        }
        out
    }

    fn note_gap(&mut self, now: Instant, room: &str) {
        if let Some(view) = self.rooms.get_mut(room) {
            let behind = view.next > 0 && view.head >= view.next;
            match (behind, view.gap_since) {
                (true, None) => view.gap_since = Some(now),
                (false, _) => view.gap_since = None,
                _ => {}
            }
        }
    }

    /// The time passed: resend overdue submissions, fetch stale gaps.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for p in self.pending.values_mut() {
            if now >= p.next_try {
                p.attempts += 1;
                p.next_try = now + SUBMIT_TIMEOUT.max(backoff(p.attempts));
                actions.push(Action::Submit(p.clone()));
            }
        }
        for (room, view) in self.rooms.iter_mut() {
            let Some(since) = view.gap_since else {
                continue;
            };
            let due = now.saturating_duration_since(since) >= GAP_WAIT
                && view
                    .fetched_at
                    .is_none_or(|t| now.saturating_duration_since(t) >= SUBMIT_TIMEOUT);
            if due {
                view.fetched_at = Some(now);
                let to = view.head.min(view.next + u64::from(FETCH_LIMIT) - 1);
                actions.push(Action::Fetch {
                    room: room.clone(),
                    from: view.next,
                    to,
                });
            }
        }
        actions
    }

    /// Rooms with an open gap.
    #[cfg(test)]
    fn gaps(&self) -> Vec<String> {
        self.rooms
            .iter()
            .filter(|(_, v)| v.gap_since.is_some())
            .map(|(r, _)| r.clone())
            .collect()
    }
}

/// Exponential backoff: 100 ms doubling with each try, at most [`MAX_BACKOFF`].
fn backoff(attempts: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(8));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room: &str, seq: u64) -> Committed {
        Committed {
            room: room.into(),
            seq,
            id: format!("x-{seq}"),
            from: "p".into(),
            nick: "n".into(),
            text: format!("m{seq}"),
            to: None,
            sig: Vec::new(),
        }
    }

    fn seqs(v: &[Committed]) -> Vec<u64> {
        v.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn delivers_in_order_and_buffers_what_runs_ahead() {
        let t = Instant::now();
        let mut s = Session::new();
        s.follow("r", 1);
        assert_eq!(seqs(&s.committed(t, msg("r", 2))), Vec::<u64>::new());
        assert_eq!(seqs(&s.committed(t, msg("r", 3))), Vec::<u64>::new());
        assert_eq!(seqs(&s.committed(t, msg("r", 1))), vec![1, 2, 3]);
        assert!(s.committed(t, msg("r", 2)).is_empty(), "no duplicates");
        assert!(s.committed(t, msg("other", 1)).is_empty(), "not followed");
    }

    #[test]
    fn live_messages_before_history_are_kept() {
        let t = Instant::now();
        let mut s = Session::new();
        s.watch("r");
        assert!(s.committed(t, msg("r", 11)).is_empty());
        assert!(s.committed(t, msg("r", 9)).is_empty());
        // History covered 1..=10: 9 is dropped, 11 delivered.
        assert_eq!(seqs(&s.follow("r", 11)), vec![11]);
    }

    #[test]
    fn a_gap_is_fetched_after_a_while() {
        let t = Instant::now();
        let mut s = Session::new();
        s.follow("r", 1);
        s.committed(t, msg("r", 3));
        assert!(s.tick(t + Duration::from_millis(50)).is_empty());
        let actions = s.tick(t + GAP_WAIT);
        assert_eq!(
            actions,
            vec![Action::Fetch {
                room: "r".into(),
                from: 1,
                to: 3
            }]
        );
        assert!(
            s.tick(t + GAP_WAIT + Duration::from_millis(10)).is_empty(),
            "not asked twice at once"
        );
        s.committed(t, msg("r", 1));
        s.committed(t, msg("r", 2));
        assert!(s.gaps().is_empty());
    }

    #[test]
    fn a_head_announcement_reveals_a_lost_last_message() {
        let t = Instant::now();
        let mut s = Session::new();
        s.follow("r", 5);
        s.head(t, "r", 5);
        assert_eq!(
            s.tick(t + GAP_WAIT),
            vec![Action::Fetch {
                room: "r".into(),
                from: 5,
                to: 5
            }]
        );
    }

    #[test]
    fn submissions_are_retried_with_the_same_counter_until_acknowledged() {
        let t = Instant::now();
        let mut s = Session::new();
        let a = s.submit(t, "c", "r", "hello", None);
        let b = s.submit(t, "c", "r", "again", None);
        assert_eq!((a.counter, b.counter), (1, 2));
        assert_eq!(s.lowest_unacked(), 1);
        let retried = s.tick(t + SUBMIT_TIMEOUT);
        assert_eq!(retried.len(), 2);
        assert!(matches!(&retried[0], Action::Submit(p) if p.counter == 1 && p.attempts == 2));
        assert!(s.acknowledged(1).is_some());
        assert!(s.acknowledged(1).is_none(), "acknowledged once");
        assert_eq!(s.lowest_unacked(), 2);
        s.acknowledged(2);
        assert_eq!(s.lowest_unacked(), 3);
        assert_eq!(s.pending(), 0);
    }
}
