//! What goes into the core and what comes out of it.

use crate::membership::Membership;
use crate::message::{Entry, Message, Snapshot};
use crate::types::{ClientId, Index, NodeId, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An event for the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// A message from another server (`from` is the authenticated peer).
    Message {
        /// Sender.
        from: NodeId,
        /// Content.
        msg: Message,
    },
    /// A client submission received by this server.
    Submit {
        /// The client.
        client: ClientId,
        /// Its counter for this message (same on retries).
        counter: u64,
        /// Its lowest unacknowledged counter.
        lowest_unacked: u64,
        /// Room.
        room: String,
        /// Body.
        body: Vec<u8>,
    },
    /// The storage write `Output::Persist { id, .. }` is durable (and so is every earlier one).
    Persisted {
        /// The write's id.
        id: u64,
    },
    /// Liveness hint: the peer answers (libp2p ping/connection).
    PeerUp(NodeId),
    /// Liveness hint: the peer stopped answering.
    PeerDown(NodeId),
    /// Discovery saw a server (it may join; the log decides).
    Discovered(NodeId),
}

/// Durable hard state: written before anything that depends on it is sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct HardState {
    /// Current term.
    pub term: Term,
    /// Vote cast in `term`.
    pub vote: Option<NodeId>,
    /// A commit index whose entries are durable locally (lets commit survive restarts).
    pub commit: Index,
}

/// A storage write. The shell performs writes in the order given, then reports
/// each with `Input::Persisted`; a crash may lose any not yet reported.
#[derive(Clone, PartialEq, Debug)]
pub enum PersistOp {
    /// Replace the hard state.
    HardState(HardState),
    /// Delete every entry at or after `entries[0].index`, then append `entries`.
    Append {
        /// Contiguous entries.
        entries: Vec<Entry>,
    },
    /// Store `snapshot` (replacing the older one) and delete entries up to `snapshot.last.index`;
    /// if `discard_log`, delete all entries.
    Snapshot {
        /// The snapshot.
        snapshot: Snapshot,
        /// Whether the whole log is dropped (installing a leader's snapshot that the log does not match).
        discard_log: bool,
    },
}

/// What the shell recovered from disk at start (all default for a new server).
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Last durable hard state.
    pub hard: HardState,
    /// Last durable snapshot.
    pub snapshot: Option<Snapshot>,
    /// Durable entries after the snapshot (decoded up to the first torn record).
    pub entries: Vec<Entry>,
    /// Highest index the shell had durably applied (Apply outputs up to it are not repeated).
    pub applied: Index,
}

/// A committed client message, in index order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Applied {
    /// Log index.
    pub index: Index,
    /// Room.
    pub room: String,
    /// The room sequence number (1, 2, 3 … per room).
    pub seq: u64,
    /// Sender.
    pub client: ClientId,
    /// Sender's counter.
    pub counter: u64,
    /// Body.
    pub body: Vec<u8>,
}

/// The answer to a submission (given by the server that received it).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SubmitResult {
    /// Committed and applied: the message has this seq in this room.
    Ok {
        /// Room.
        room: String,
        /// Seq.
        seq: u64,
    },
    /// Not the leader (or lost leadership before the message was applied): retry there.
    NotLeader {
        /// The leader, if known.
        hint: Option<NodeId>,
    },
    /// The leader has too many uncommitted entries: retry later.
    Busy,
    /// The counter is below the client's acknowledged floor: nothing was done.
    Stale,
}

/// An action for the shell.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a message to a server.
    Send {
        /// Destination.
        to: NodeId,
        /// Content.
        msg: Message,
    },
    /// Perform a storage write, then feed `Input::Persisted { id }`.
    Persist {
        /// Increasing write id.
        id: u64,
        /// The write.
        op: PersistOp,
    },
    /// Deliver a committed client message.
    Apply(Applied),
    /// A snapshot from the leader replaced entries up to `index`: the messages before the
    /// given room heads were not delivered here and must be fetched from another server.
    SnapshotInstalled {
        /// Last index the snapshot covers.
        index: Index,
        /// Room → last seq at that point.
        rooms: BTreeMap<String, u64>,
    },
    /// Answer a client submission received here.
    Reply {
        /// Client.
        client: ClientId,
        /// Its counter.
        counter: u64,
        /// Result.
        result: SubmitResult,
    },
    /// The known leader changed.
    LeaderChanged {
        /// Current term.
        term: Term,
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// The configuration in force changed.
    MembershipChanged(Membership),
}
