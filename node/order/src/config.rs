//! Timings and limits of the core, with the design's LAN defaults.

/// Settings of one server. All durations in milliseconds.
#[derive(Clone, Debug)]
pub struct Config {
    /// Leader heartbeat (empty `Append`) interval.
    pub heartbeat_ms: u64,
    /// `E0`: base election timeout; also the leader lease (a voter that heard a
    /// leader within it refuses votes) and the CheckQuorum window.
    pub election_ms: u64,
    /// `Δ`: extra election timeout per live higher-ID voter (rank step).
    pub rank_step_ms: u64,
    /// Random extra election timeout, uniform in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// A member the leader has not heard from for this long is removed.
    pub removal_timeout_ms: u64,
    /// A higher-ID voter must have answered steadily this long before the leader hands over to it.
    pub transfer_stable_ms: u64,
    /// A learner must have answered steadily this long (and be caught up) before promotion.
    pub promote_stable_ms: u64,
    /// Without `bootstrap_expect`: how long a server with no state looks for a cluster before forming one
    /// alone. `u64::MAX` means "join only" (use it when the server was given a bootstrap address).
    pub discovery_window_ms: u64,
    /// Form a cluster of exactly this many servers once that many are known (as Consul's `-bootstrap-expect`).
    pub bootstrap_expect: Option<usize>,
    /// Most entries in one `Append`.
    pub max_batch: usize,
    /// Most entries sent ahead of a follower's acknowledged index (pipelining window).
    pub max_inflight: u64,
    /// Take a snapshot once this many applied entries are held in memory.
    pub snapshot_threshold: u64,
    /// Most uncommitted entries the leader accepts; beyond it submissions get `Busy`.
    pub max_uncommitted: u64,
    /// Planted bugs (tests of the checkers only).
    #[cfg(any(test, feature = "planted-bugs"))]
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_ms: 50,
            election_ms: 300,
            rank_step_ms: 100,
            jitter_ms: 100,
            removal_timeout_ms: 5_000,
            transfer_stable_ms: 1_000,
            promote_stable_ms: 500,
            discovery_window_ms: 1_000,
            bootstrap_expect: None,
            max_batch: 64,
            max_inflight: 512,
            snapshot_threshold: 1_024,
            max_uncommitted: 4_096,
            #[cfg(any(test, feature = "planted-bugs"))]
            bugs: Bugs::default(),
        }
    }
}

/// Known bugs that can be planted to show a checker catches them.
#[cfg(any(test, feature = "planted-bugs"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Commit an entry of an older term once a quorum stores it (Raft's figure 8).
    pub commit_old_term: bool,
    /// Grant a vote even after voting for someone else in the same term.
    pub double_vote: bool,
    /// Acknowledge entries (and count the leader's own) before the storage write completes.
    pub ack_before_durable: bool,
}
