//! The sequencer and the client table, applied identically on every server:
//! per-room `seq` numbers assigned at apply time, and exactly-once by
//! (client id, counter), bounded by the client's lowest unacknowledged counter.

use crate::types::ClientId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most results remembered per client. An honest client has at most its
/// unacknowledged messages here (the node's client holds at most 1,000); a
/// client that never acknowledges anything would otherwise grow its record,
/// and every snapshot, without bound. Beyond it the oldest results are
/// forgotten as if acknowledged: a retry of one is then `Stale`, never applied twice.
pub const MAX_DONE_PER_CLIENT: usize = 4096;

/// What the client table remembers of one client.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Counters below this were acknowledged to the client and are forgotten.
    pub lowest_unacked: u64,
    /// Results of applied counters at or above `lowest_unacked`: counter → (room, seq).
    pub done: BTreeMap<u64, (String, u64)>,
}

/// The applied state machine: room heads and the client table. Part of every snapshot.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Sequencer {
    /// Room → last assigned `seq` (rooms start at seq 1).
    pub rooms: BTreeMap<String, u64>,
    /// Client → its record.
    pub clients: BTreeMap<ClientId, ClientRecord>,
}

/// The outcome of applying one client command.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ApplyOutcome {
    /// First time: the command got this `seq` in its room.
    Fresh {
        /// The assigned room sequence number.
        seq: u64,
    },
    /// Already applied earlier: the earlier result (nothing new is delivered).
    Duplicate {
        /// Room of the earlier application.
        room: String,
        /// Its seq.
        seq: u64,
    },
    /// The counter is below what the client declared acknowledged: ignored.
    Stale,
}

impl Sequencer {
    /// Applies one command; deterministic given the same prior state.
    pub fn apply(
        &mut self,
        client: ClientId,
        counter: u64,
        lowest_unacked: u64,
        room: &str,
    ) -> ApplyOutcome {
        let rec = self.clients.entry(client).or_default();
        let outcome = if counter < rec.lowest_unacked {
            ApplyOutcome::Stale
        } else if let Some((r, s)) = rec.done.get(&counter) {
            ApplyOutcome::Duplicate {
                room: r.clone(),
                seq: *s,
            }
        } else {
            let head = self.rooms.entry(room.to_string()).or_insert(0);
            *head += 1;
            rec.done.insert(counter, (room.to_string(), *head));
            ApplyOutcome::Fresh { seq: *head }
        };
        // The client's own command is never forgotten by its own acknowledgement floor.
        let floor = lowest_unacked.min(counter);
        if floor > rec.lowest_unacked {
            rec.lowest_unacked = floor;
            rec.done = rec.done.split_off(&floor);
        }
        while rec.done.len() > MAX_DONE_PER_CLIENT {
            if let Some((oldest, _)) = rec.done.pop_first() {
                rec.lowest_unacked = rec.lowest_unacked.max(oldest + 1);
            }
        }
        outcome
    }

    /// The earlier result of (client, counter), if it is still remembered.
    pub fn lookup(&self, client: &ClientId, counter: u64) -> Option<(String, u64)> {
        self.clients
            .get(client)
            .and_then(|r| r.done.get(&counter).cloned())
    }

    /// Whether (client, counter) is below the client's acknowledged floor.
    pub fn is_stale(&self, client: &ClientId, counter: u64) -> bool {
        self.clients
            .get(client)
            .is_some_and(|r| counter < r.lowest_unacked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_per_room_and_exactly_once() {
        let mut s = Sequencer::default();
        let a = ClientId::from_u64(1);
        let b = ClientId::from_u64(2);
        assert_eq!(s.apply(a, 0, 0, "x"), ApplyOutcome::Fresh { seq: 1 });
        assert_eq!(s.apply(b, 0, 0, "x"), ApplyOutcome::Fresh { seq: 2 });
        assert_eq!(s.apply(a, 1, 0, "y"), ApplyOutcome::Fresh { seq: 1 });
        assert_eq!(
            s.apply(a, 0, 0, "x"),
            ApplyOutcome::Duplicate {
                room: "x".into(),
                seq: 1
            }
        );
        assert_eq!(s.rooms["x"], 2);
    }

    #[test]
    fn a_client_that_never_acknowledges_is_bounded_too() {
        let mut s = Sequencer::default();
        let a = ClientId::from_u64(1);
        let n = MAX_DONE_PER_CLIENT as u64 + 10;
        for c in 1..=n {
            assert!(matches!(s.apply(a, c, 1, "r"), ApplyOutcome::Fresh { .. }));
        }
        assert_eq!(s.clients[&a].done.len(), MAX_DONE_PER_CLIENT);
        // The forgotten oldest ones are stale: never applied a second time.
        assert_eq!(s.apply(a, 1, 1, "r"), ApplyOutcome::Stale);
        assert_eq!(s.apply(a, 10, 1, "r"), ApplyOutcome::Stale);
        assert_eq!(s.lookup(&a, n), Some(("r".into(), n)));
        assert_eq!(s.rooms["r"], n);
    }

    #[test]
    fn table_is_bounded_by_lowest_unacked() {
        let mut s = Sequencer::default();
        let a = ClientId::from_u64(1);
        for c in 0..100 {
            s.apply(a, c, c.saturating_sub(3), "r");
        }
        assert!(s.clients[&a].done.len() <= 4);
        assert_eq!(s.apply(a, 10, 97, "r"), ApplyOutcome::Stale);
        assert!(s.is_stale(&a, 10));
        assert_eq!(s.lookup(&a, 99), Some(("r".into(), 100)));
    }
}
