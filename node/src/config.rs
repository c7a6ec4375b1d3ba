//! Node configuration: what the CLI (or a program embedding the library) sets.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;

use crate::wire::Role;

/// Everything needed to start a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Server or client.
    pub role: Role,
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Known nodes to join through (each ends in `/p2p/<peer id>`, or is dialed to learn it).
    pub bootstrap: Vec<Multiaddr>,
    /// Where the identity key (and, for servers, the log) lives.
    pub data_dir: PathBuf,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// The nick (clients).
    pub nick: Option<String>,
    /// Rooms to join at start; the last one is the current room.
    pub rooms: Vec<String>,
    /// How many recent messages a client loads when it joins a room.
    pub history: u32,
    /// Servers: form a new cluster only once this many servers are present.
    pub bootstrap_expect: Option<usize>,
    /// Servers: only join an existing cluster, never form one (for a server
    /// added to a running cluster: alone in its discovery window it would
    /// otherwise form a cluster of its own).
    pub join_only: bool,
    /// Servers: submissions taken from one peer per second (0: no limit; see
    /// [`crate::limits::SUBMIT_RATE`]).
    pub submit_rate: f64,
    /// A closed network: only peers with this pre-shared key can connect (TCP only).
    pub network_key: Option<libp2p::pnet::PreSharedKey>,
    /// Server admission: count only servers admitted by this operator
    /// (`None`: every server counts, the zero-configuration local cluster).
    pub operator: Option<crate::admission::Operator>,
    /// Servers: this server's admission by `operator`.
    pub admission: Option<crate::admission::Admission>,
    /// Timings of heartbeats and failure detection.
    pub timing: Timing,
}

/// Heartbeat and failure-detection timings (see `docs/architecture.md`).
#[derive(Debug, Clone)]
pub struct Timing {
    /// How often a node announces itself on the presence topic.
    pub presence_interval: Duration,
    /// A peer silent for this long is reported as gone.
    pub presence_timeout: Duration,
    /// libp2p ping interval (a liveness hint, not an election trigger).
    pub ping_interval: Duration,
    /// libp2p ping timeout.
    pub ping_timeout: Duration,
    /// Consecutive ping failures after which the connection is closed.
    pub ping_failures: u32,
    /// How often connections to servers are checked and re-dialed.
    pub maintain_interval: Duration,
    /// How often Kademlia re-bootstraps.
    pub kad_interval: Duration,
    /// Idle connections are closed after this long.
    pub idle_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            presence_interval: Duration::from_millis(1000),
            presence_timeout: Duration::from_millis(3500),
            ping_interval: Duration::from_millis(500),
            ping_timeout: Duration::from_millis(1500),
            ping_failures: 3,
            maintain_interval: Duration::from_millis(1000),
            kad_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// How many servers a client keeps connections to.
pub const CLIENT_SERVER_LINKS: usize = 3;

impl NodeConfig {
    /// A config with defaults for `role`, keeping its key in `data_dir`.
    pub fn new(role: Role, data_dir: PathBuf) -> Self {
        NodeConfig {
            role,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            data_dir,
            mdns: true,
            nick: None,
            rooms: Vec::new(),
            history: 50,
            bootstrap_expect: None,
            join_only: false,
            submit_rate: crate::limits::SUBMIT_RATE,
            network_key: None,
            operator: None,
            admission: None,
            timing: Timing::default(),
        }
    }
}
