//! A server's committed room history: every room's messages by `seq`, as the
//! sequencer applied them. Appends are idempotent (re-applying after a restart
//! is harmless) and history requests are answered from here.

use std::collections::BTreeMap;

use crate::limits::{committed_size, MAX_HISTORY_RESPONSE_BYTES};
use crate::wire::{Committed, HistoryRange, MAX_HISTORY_LIMIT};

/// Committed messages of every room by seq. Normally contiguous from 1; a
/// server that installed a leader's snapshot holds the newer part first and
/// back-fills the older part from other servers.
#[derive(Debug, Default)]
pub struct RoomHistory {
    rooms: BTreeMap<String, BTreeMap<u64, Committed>>,
}

/// What [`RoomHistory::append`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored.
    New,
    /// Already held (same seq): ignored.
    Duplicate,
}

impl RoomHistory {
    /// An empty history.
    pub fn new() -> Self {
        RoomHistory::default()
    }

    /// Adds a committed message (any order; a seq already held is ignored).
    pub fn append(&mut self, msg: Committed) -> Appended {
        let room = self.rooms.entry(msg.room.clone()).or_default();
        if room.contains_key(&msg.seq) {
            return Appended::Duplicate;
        }
        room.insert(msg.seq, msg);
        Appended::New
    }

    /// The room's highest seq held (0 for an unknown room).
    pub fn head(&self, room: &str) -> u64 {
        self.rooms
            .get(room)
            .and_then(|r| r.keys().next_back().copied())
            .unwrap_or(0)
    }

    /// Every room's head.
    pub fn heads(&self) -> Vec<(String, u64)> {
        self.rooms
            .iter()
            .map(|(name, r)| (name.clone(), r.keys().next_back().copied().unwrap_or(0)))
            .collect()
    }

    /// Every room's head and number of messages held.
    pub fn held(&self) -> Vec<(String, u64, u64)> {
        self.rooms
            .iter()
            .map(|(name, r)| {
                let head = r.keys().next_back().copied().unwrap_or(0);
                (name.clone(), head, r.len() as u64)
            })
            .collect()
    }

    /// The lowest seq of `room` at or below `upto` that is not held, if any.
    pub fn first_missing(&self, room: &str, upto: u64) -> Option<u64> {
        let held = self.rooms.get(room);
        let mut expect = 1;
        if let Some(r) = held {
            for seq in r.keys() {
                if *seq != expect || expect > upto {
                    break;
                }
                expect += 1;
            }
        }
        (expect <= upto).then_some(expect)
    }

    /// Answers a history request: (head, messages held in the span, in seq
    /// order), at most [`MAX_HISTORY_RESPONSE_BYTES`] of them (the newest kept
    /// for `Last` and `Before`, the oldest for `From`).
    pub fn range(&self, room: &str, range: HistoryRange) -> (u64, Vec<Committed>) {
        let Some(r) = self.rooms.get(room) else {
            return (0, Vec::new());
        };
        let head = r.keys().next_back().copied().unwrap_or(0);
        let clamp = |limit: u32| limit.clamp(1, MAX_HISTORY_LIMIT) as usize;
        let messages = match range {
            HistoryRange::Last { limit } => newest(r.range(..), clamp(limit)),
            HistoryRange::Before { seq, limit } => newest(r.range(..seq), clamp(limit)),
            HistoryRange::From { seq, limit } => within_budget(r.range(seq..).map(|(_, m)| m))
                .take(clamp(limit))
                .cloned()
                .collect(),
        };
        (head, messages)
    }

    /// Number of messages held.
    pub fn len(&self) -> usize {
        self.rooms.values().map(BTreeMap::len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The last `n` messages of a seq-ordered iterator, oldest first.
fn newest<'a>(
    it: impl DoubleEndedIterator<Item = (&'a u64, &'a Committed)>,
    n: usize,
) -> Vec<Committed> {
    let mut v: Vec<Committed> = within_budget(it.rev().map(|(_, m)| m))
        .take(n)
        .cloned()
        .collect();
    v.reverse();
    v
}

/// The messages of `it` while their sizes add up to at most
/// [`MAX_HISTORY_RESPONSE_BYTES`] (at least one).
fn within_budget<'a>(
    it: impl Iterator<Item = &'a Committed>,
) -> impl Iterator<Item = &'a Committed> {
    let mut used = 0usize;
    it.take_while(move |m| {
        let first = used == 0;
        used += committed_size(m);
        first || used <= MAX_HISTORY_RESPONSE_BYTES
    })
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
            to: None,
            sig: Vec::new(),
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
        assert_eq!(h.head("a"), 2);
        assert_eq!(h.head("b"), 0);
        assert_eq!(h.first_missing("a", 2), None);
        assert_eq!(h.first_missing("a", 3), Some(3));
        assert_eq!(h.first_missing("b", 1), Some(1));
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
    fn a_page_of_the_largest_messages_fits_in_a_response() {
        let mut h = RoomHistory::new();
        for s in 1..=MAX_HISTORY_LIMIT as u64 {
            let mut msg = m("r", s);
            msg.text = "x".repeat(crate::wire::MAX_TEXT_BYTES);
            h.append(msg);
        }
        let limit = MAX_HISTORY_LIMIT;
        for (range, newest_kept) in [
            (HistoryRange::Last { limit }, true),
            (HistoryRange::Before { seq: 1001, limit }, true),
            (HistoryRange::From { seq: 1, limit }, false),
        ] {
            let (_, v) = h.range("r", range);
            assert!(v.len() > 100 && v.len() < limit as usize, "{}", v.len());
            let bytes = crate::wire::encode(&crate::wire::Response::History {
                room: "r".into(),
                head: 1000,
                messages: v.clone(),
            });
            assert!(bytes.len() as u64 <= crate::wire::MAX_RPC_BYTES);
            assert!(bytes.len() <= MAX_HISTORY_RESPONSE_BYTES + 64 * 1024);
            let edge = if newest_kept { v.last() } else { v.first() };
            let expected = if newest_kept { 1000 } else { 1 };
            assert_eq!(edge.map(|m| m.seq), Some(expected));
            assert!(seqs(&v).windows(2).all(|w| w[1] == w[0] + 1));
        }
    }

    #[test]
    fn history_starting_after_a_snapshot_is_back_filled() {
        let mut h = RoomHistory::new();
        h.append(m("r", 10));
        h.append(m("r", 11));
        let (head, v) = h.range("r", HistoryRange::Last { limit: 50 });
        assert_eq!((head, seqs(&v)), (11, vec![10, 11]));
        assert_eq!(h.first_missing("r", 9), Some(1));
        assert_eq!(h.held(), vec![("r".to_string(), 11, 2)], "a gap shows");
        for s in 1..=9 {
            assert_eq!(h.append(m("r", s)), Appended::New);
        }
        assert_eq!(h.first_missing("r", 11), None);
        assert_eq!(h.held(), vec![("r".to_string(), 11, 11)]);
        let (_, v) = h.range("r", HistoryRange::From { seq: 1, limit: 50 });
        assert_eq!(seqs(&v), (1..=11).collect::<Vec<_>>());
    }
}
