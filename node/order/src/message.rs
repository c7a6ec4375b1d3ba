//! Log entries, snapshots and the messages servers exchange (all serde, so the
//! shell can encode them as CBOR).

use crate::apply::Sequencer;
use crate::membership::Membership;
use crate::types::{ClientId, ClusterId, Index, LogId, Term};
use serde::{Deserialize, Serialize};

/// A client's message as ordered in the log.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Command {
    /// The submitting client.
    pub client: ClientId,
    /// The client's counter for this message (a retry reuses it).
    pub counter: u64,
    /// The client's lowest unacknowledged counter (lets the client table forget older ones).
    pub lowest_unacked: u64,
    /// The chat room.
    pub room: String,
    /// Opaque message body.
    pub body: Vec<u8>,
}

/// What a log entry carries.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Payload {
    /// Appended by a new leader so that it can commit an entry of its own term.
    Noop,
    /// A client message.
    Command(Command),
    /// A configuration, in force as soon as it is in the log.
    Config(Membership),
}

/// One log entry.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log (1-based).
    pub index: Index,
    /// Term of the leader that created it.
    pub term: Term,
    /// The content.
    pub payload: Payload,
}

impl Entry {
    /// This entry's (term, index).
    pub fn id(&self) -> LogId {
        LogId {
            term: self.term,
            index: self.index,
        }
    }
}

/// The applied state up to and including `last`: replaces every entry up to it.
/// It holds room heads and the client table but not message bodies (room history
/// is the shell's business, see `docs/protocol.md`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last entry the snapshot covers.
    pub last: LogId,
    /// The configuration in force at `last`.
    pub membership: Membership,
    /// Rooms and client table after applying `last`.
    pub state: Sequencer,
}

/// A message between servers. The sender is not inside: the shell passes the
/// authenticated peer with [`crate::Input::Message`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Message {
    /// The sender's cluster (None while it has joined none).
    pub cluster: Option<ClusterId>,
    /// The sender's term (for `PreVote`, the term it proposes).
    pub term: Term,
    /// What it says.
    pub body: Body,
}

/// The kinds of server-to-server messages.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Body {
    /// Would you vote for me at `term`? (changes no state at the receiver)
    PreVote {
        /// The candidate's last log entry.
        last: LogId,
    },
    /// Answer to `PreVote`; carries the responder's last entry (used for deferral).
    PreVoteResp {
        /// Whether it would vote.
        granted: bool,
        /// The responder's last log entry.
        last: LogId,
    },
    /// Vote for me at `term`.
    Vote {
        /// The candidate's last log entry.
        last: LogId,
        /// Sent after `TimeoutNow`: voters skip the "I hear a leader" check.
        transfer: bool,
    },
    /// Answer to `Vote`, sent only once the vote is on disk.
    VoteResp {
        /// Whether the vote was granted.
        granted: bool,
    },
    /// Log entries after `prev` (empty = heartbeat) and the leader's commit index.
    Append {
        /// The entry just before `entries`.
        prev: LogId,
        /// Entries to append (contiguous from `prev.index + 1`).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: Index,
    },
    /// Answer to `Append`.
    AppendResp {
        /// Whether `prev` matched.
        success: bool,
        /// On success: the highest index known to match the leader and stored durably.
        /// On failure: the `prev.index` that did not match (lets the leader drop stale rejections).
        match_index: Index,
        /// On failure: where the leader should retry from.
        hint: Index,
    },
    /// The leader's snapshot, for a follower whose next entry was compacted away.
    InstallSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Leadership transfer: start an election now (sent to a caught-up higher-ID voter).
    TimeoutNow,
    /// A server outside the configuration asks the leader to add it as a learner.
    Join,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ClientRecord;
    use crate::types::NodeId;

    /// Every message kind survives the shell's CBOR encoding (cbor4ii), snapshots included.
    #[test]
    fn messages_roundtrip_through_cbor() {
        let n = NodeId::from_u64;
        let cluster = ClusterId { founder: n(9) };
        let membership = Membership::new(cluster, [n(1), n(9)].into_iter().collect());
        let mut state = Sequencer::default();
        state.rooms.insert("lobby".into(), 3);
        let mut rec = ClientRecord {
            lowest_unacked: 2,
            ..ClientRecord::default()
        };
        rec.done.insert(2, ("lobby".into(), 3));
        state.clients.insert(ClientId::from_u64(7), rec);
        let last = LogId { term: 2, index: 5 };
        let entries = vec![
            Entry {
                index: 4,
                term: 2,
                payload: Payload::Noop,
            },
            Entry {
                index: 5,
                term: 2,
                payload: Payload::Config(membership.clone()),
            },
            Entry {
                index: 6,
                term: 2,
                payload: Payload::Command(Command {
                    client: ClientId::from_u64(7),
                    counter: 3,
                    lowest_unacked: 2,
                    room: "lobby".into(),
                    body: b"hi".to_vec(),
                }),
            },
        ];
        let bodies = vec![
            Body::PreVote { last },
            Body::PreVoteResp {
                granted: true,
                last,
            },
            Body::Vote {
                last,
                transfer: true,
            },
            Body::VoteResp { granted: false },
            Body::Append {
                prev: last,
                entries,
                commit: 4,
            },
            Body::AppendResp {
                success: true,
                match_index: 6,
                hint: 0,
            },
            Body::InstallSnapshot {
                snapshot: Snapshot {
                    last,
                    membership,
                    state,
                },
            },
            Body::TimeoutNow,
            Body::Join,
        ];
        for body in bodies {
            for cluster in [None, Some(cluster)] {
                let msg = Message {
                    cluster,
                    term: 3,
                    body: body.clone(),
                };
                let bytes = cbor4ii::serde::to_vec(Vec::new(), &msg).unwrap();
                let back: Message = cbor4ii::serde::from_slice(&bytes).unwrap();
                assert_eq!(back, msg);
            }
        }
        // Garbage is an error, not a panic.
        assert!(cbor4ii::serde::from_slice::<Message>(&[0xff, 0x00, 0x13]).is_err());
    }
}
