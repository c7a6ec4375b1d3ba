//! Identifiers, terms, indexes and time: the vocabulary of the core.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A term number (Raft term). Starts at 0 for a server that never joined.
pub type Term = u64;
/// A log index. The first entry is index 1; 0 means "before the log".
pub type Index = u64;

/// A server identity; higher bytes (lexicographic order) mean a higher ID.
/// The shell fills it from the server's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// An ID whose order matches `n`'s numeric order (for tests and the simulator).
    pub fn from_u64(n: u64) -> Self {
        NodeId(u64_id(n))
    }
}

/// A client identity (the chat client's public key in the shell).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ClientId(pub [u8; 32]);

impl ClientId {
    /// An ID whose order matches `n`'s numeric order (for tests and the simulator).
    pub fn from_u64(n: u64) -> Self {
        ClientId(u64_id(n))
    }
}

fn u64_id(n: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&n.to_be_bytes());
    b
}

fn fmt_id(b: &[u8; 32], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if b[..24].iter().all(|x| *x == 0) {
        let mut n = [0u8; 8];
        n.copy_from_slice(&b[24..]);
        write!(f, "{}", u64::from_be_bytes(n))
    } else {
        for x in &b[..4] {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("n")?;
        fmt_id(&self.0, f)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("c")?;
        fmt_id(&self.0, f)
    }
}

/// A point in time in milliseconds, supplied by the caller (never read from a clock).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Instant(pub u64);

impl Instant {
    /// This instant plus `ms` milliseconds (saturating).
    pub fn plus(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }
    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Identity of one cluster, fixed when it forms; messages of other clusters are ignored,
/// so two clusters that formed apart never overwrite each other's logs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ClusterId {
    /// The server that formed the cluster (the highest ID for `bootstrap_expect`).
    pub founder: NodeId,
    /// A random nonce for a lone formation (0 for `bootstrap_expect`, which all members compute alike).
    pub nonce: u64,
}

/// The position of a log entry, ordered by term then index (the "up to date" order).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct LogId {
    /// The entry's term (compared first).
    pub term: Term,
    /// The entry's index.
    pub index: Index,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_u64_keeps_numeric_order() {
        assert!(NodeId::from_u64(256) > NodeId::from_u64(255));
        assert_eq!(NodeId::from_u64(7).to_string(), "n7");
        assert!(LogId { term: 2, index: 1 } > LogId { term: 1, index: 9 });
    }
}
