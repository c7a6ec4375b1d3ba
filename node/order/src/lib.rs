//! Sans-IO ordering core of Chorus: Raft-style election with a highest-ID
//! preference, replication, the per-room sequencer with exactly-once, and
//! membership in the log. No I/O, clock or ambient randomness: the shell feeds
//! [`Input`]s and time, and carries out [`Output`]s (see `docs/protocol.md`).

pub mod apply;
mod cluster;
pub mod config;
mod election;
pub mod io;
pub mod log;
pub mod membership;
pub mod message;
pub mod quorum;
mod replication;
pub mod server;
pub mod storage;
pub mod types;

#[cfg(test)]
mod sim;

pub use apply::{ClientRecord, Sequencer};
#[cfg(any(test, feature = "planted-bugs"))]
pub use config::Bugs;
pub use config::Config;
pub use io::{Applied, HardState, Input, Output, PersistOp, Recovered, SubmitResult};
pub use membership::Membership;
pub use message::{Body, Command, Entry, Message, Payload, Snapshot};
pub use server::{Role, Server};
pub use storage::MemStorage;
pub use types::{ClientId, ClusterId, Index, Instant, LogId, NodeId, Term};
