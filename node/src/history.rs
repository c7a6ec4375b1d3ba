//! A server's committed room history: every room's messages by `seq`, as the
//! sequencer applied them. Appends are idempotent (re-applying after a restart
//! is harmless) and history requests are answered from here.

use std::collections::BTreeMap;

use crate::wire::{Committed, HistoryRange, MAX_HISTORY_LIMIT};

/// Committed messages of every room, contiguous from seq 1 (or from the first
/// seq this server holds, after a snapshot install).
#[derive(Debug, Default)]
pub struct RoomHistory {
    rooms: BTreeMap<String, Room>,
}

#[derive(Debug, Default)]
struct Room {
    /// Seq of `messages[0]`.
    first: u64,
    messages: Vec<Committed>,
}

impl Room {
    fn head(&self) -> u64 {
        if self.messages.is_empty() {
            self.first.saturating_sub(1)
        } else {
            self.first + self.messages.len() as u64 - 1
        }
    }
}

/// What [`RoomHistory::append`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored: the next seq of its room.
    New,
    /// Already held (same seq): ignored.
    Duplicate,
    /// Beyond the head: seqs `head+1 .. msg.seq` are missing and must be fetched.
    Gap {
        /// The room's head before it.
        head: u64,
    },
}

impl RoomHistory {
    /// An empty history.
    pub fn new() -> Self {
        RoomHistory::default()
    }

    /// Adds a committed message, in seq order.
    pub fn append(&mut self, msg: Committed) -> Appended {
        let room = self.rooms.entry(msg.room.clone()).or_insert(Room {
            first: 1,
            messages: Vec::new(),
        });
        let head = room.head();
        if msg.seq <= head {
            return Appended::Duplicate;
        }
        if msg.seq == head + 1 {
            room.messages.push(msg);
            return Appended::New;
        }
        if room.messages.is_empty() && room.first == 1 && head == 0 {
            // Nothing held yet: a server that installed a snapshot starts here.
            room.first = msg.seq;
            room.messages.push(msg);
            return Appended::Gap { head };
        }
        Appended::Gap { head }
    }

    /// The room's last seq (0 for an unknown room).
    pub fn head(&self, room: &str) -> u64 {
        self.rooms.get(room).map_or(0, Room::head)
    }

    /// Every room's head.
    pub fn heads(&self) -> Vec<(String, u64)> {
        self.rooms
            .iter()
            .map(|(name, r)| (name.clone(), r.head()))
            .collect()
    }

    /// Answers a history request: (head, messages in seq order).
    pub fn range(&self, room: &str, range: HistoryRange) -> (u64, Vec<Committed>) {
        let Some(r) = self.rooms.get(room) else {
            return (0, Vec::new());
        };
        let head = r.head();
        let clamp = |limit: u32| u64::from(limit.clamp(1, MAX_HISTORY_LIMIT));
        // The inclusive seq span wanted, before clipping to what is held.
        let (lo, hi) = match range {
            HistoryRange::Last { limit } => ((head + 1).saturating_sub(clamp(limit)), head),
            HistoryRange::Before { seq, limit } => {
                let hi = seq.saturating_sub(1).min(head);
                ((hi + 1).saturating_sub(clamp(limit)), hi)
            }
            HistoryRange::From { seq, limit } => {
                (seq, seq.saturating_add(clamp(limit) - 1).min(head))
            }
        };
        let lo = lo.max(r.first).max(1);
        if hi < lo {
            return (head, Vec::new());
        }
        let start = (lo - r.first) as usize;
        let end = (hi - r.first + 1) as usize;
        (head, r.messages[start..end.min(r.messages.len())].to_vec())
    }

    /// Number of messages held.
    pub fn len(&self) -> usize {
        self.rooms.values().map(|r| r.messages.len()).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(room: &str, seq: u64) -> Committed {
        Committed {
            room: room.into(),
            seq,
            id: format!("i{seq}"),
            from: "p".into(),
            nick: "n".into(),
            text: format!("t{seq}"),
        }
    }

    fn seqs(v: &[Committed]) -> Vec<u64> {
        v.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn append_is_idempotent_and_ordered() {
        let mut h = RoomHistory::new();
        assert_eq!(h.append(m("a", 1)), Appended::New);
        assert_eq!(h.append(m("a", 2)), Appended::New);
        assert_eq!(h.append(m("a", 2)), Appended::Duplicate);
        assert_eq!(h.append(m("a", 5)), Appended::Gap { head: 2 });
        assert_eq!(h.head("a"), 2);
        assert_eq!(h.head("b"), 0);
    }

    #[test]
    fn ranges() {
        let mut h = RoomHistory::new();
        for s in 1..=100 {
            h.append(m("r", s));
        }
        let (head, v) = h.range("r", HistoryRange::Last { limit: 50 });
        assert_eq!(head, 100);
        assert_eq!(seqs(&v), (51..=100).collect::<Vec<_>>());
        let (_, v) = h.range("r", HistoryRange::Before { seq: 51, limit: 20 });
        assert_eq!(seqs(&v), (31..=50).collect::<Vec<_>>());
        let (_, v) = h.range("r", HistoryRange::Before { seq: 5, limit: 20 });
        assert_eq!(seqs(&v), (1..=4).collect::<Vec<_>>());
        let (_, v) = h.range("r", HistoryRange::From { seq: 99, limit: 20 });
        assert_eq!(seqs(&v), vec![99, 100]);
        let (_, v) = h.range(
            "r",
            HistoryRange::From {
                seq: 101,
                limit: 20,
            },
        );
        assert!(v.is_empty());
        let (_, v) = h.range("r", HistoryRange::Before { seq: 1, limit: 20 });
        assert!(v.is_empty());
        assert_eq!(
            h.range("nope", HistoryRange::Last { limit: 5 }),
            (0, vec![])
        );
    }

    #[test]
    fn history_starting_after_a_snapshot() {
        let mut h = RoomHistory::new();
        assert_eq!(h.append(m("r", 10)), Appended::Gap { head: 0 });
        assert_eq!(h.append(m("r", 11)), Appended::New);
        let (head, v) = h.range("r", HistoryRange::Last { limit: 50 });
        assert_eq!((head, seqs(&v)), (11, vec![10, 11]));
        let (_, v) = h.range("r", HistoryRange::From { seq: 1, limit: 50 });
        assert_eq!(seqs(&v), vec![10, 11]);
    }
}
