//! Command-line arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use libp2p::Multiaddr;

/// Chorus: a peer-to-peer chat that keeps every message, in one order, while servers crash and come back.
#[derive(Parser, Debug)]
#[command(name = "chorus", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a server: relays, orders and stores room messages.
    Server(ServerArgs),
    /// Run a client: chat in rooms.
    Client(ClientArgs),
    /// Ask a running node what it knows.
    Status(StatusArgs),
    /// Write a new network key for a closed network (give the file to every node with --network-key).
    Keygen(KeygenArgs),
    /// Start a local 3-server cluster and chat on it (the quickest way to try Chorus).
    Up(UpArgs),
    /// Server admission: operator keys and admissions (docs/security.md).
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Print a node's peer id (creating its identity key if the data dir has none).
    Id(IdArgs),
    /// Run a local cluster under a recorded workload and a fault schedule, then check every promise (docs/testing.md).
    Harness(HarnessArgs),
    /// Print a shell completion script, e.g. `chorus completions bash > ~/.local/share/bash-completion/completions/chorus`.
    Completions(CompletionsArgs),
    /// Measure commit throughput, latency and failover time of a local cluster (docs/benchmarks.md).
    Bench(BenchArgs),
    /// A bare gossipsub node: the raw baseline of `chorus bench`.
    #[command(hide = true)]
    BenchGossipNode(GossipNodeArgs),
    /// A hostile client submitting as fast as servers answer (the flood test's attacker).
    #[command(hide = true)]
    FloodClient(FloodArgs),
}

/// Flags shared by servers and clients.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001. Default: any interface, random TCP and QUIC ports.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// A node to join through (repeatable), e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3Koo...
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<Multiaddr>,
    /// Where the identity key (and a server's log) is kept. Default: per role under the user's data dir.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Do not use mDNS (LAN discovery).
    #[arg(long, overrides_with = "mdns")]
    pub no_mdns: bool,
    /// Use mDNS even if the config file says `no_mdns = true`.
    #[arg(long, overrides_with = "no_mdns")]
    pub mdns: bool,
    /// Closed network: only peers holding this pre-shared key connect (TCP only; see `chorus keygen`).
    #[arg(long, value_name = "FILE")]
    pub network_key: Option<PathBuf>,
    /// Admitted servers only: count only servers admitted by this operator id (see `chorus admin`).
    #[arg(long, value_name = "OPERATOR_ID")]
    pub operator: Option<String>,
    /// Machine interface: JSON events on stdout, JSON commands on stdin (docs/json-api.md).
    #[arg(long)]
    pub json: bool,
    /// Exit when standard input closes (used by `chorus up` for its servers).
    #[arg(long, hide = true)]
    pub exit_on_eof: bool,
    /// Which configuration file to read.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Which configuration file to read (docs/user-guide.md#configuration-file).
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Read defaults from this TOML file (flags override it). Default: ~/.config/chorus/config.toml when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Read no configuration file.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
}

/// Flags of `chorus server`.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Form a new cluster only once this many servers are present (all become voters at once).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub bootstrap_expect: Option<u16>,
    /// Only join an existing cluster, never form a new one: use it when adding a server to a running cluster.
    #[arg(long, conflicts_with = "bootstrap_expect")]
    pub join: bool,
    /// This server's admission, written by `chorus admin admit` (needed with --operator).
    #[arg(long, value_name = "FILE")]
    pub admission: Option<PathBuf>,
    /// Messages this server takes from one client per second (bursts of 5 s worth); over it
    /// they are refused for a while and the client retries. 0: no limit.
    #[arg(long, value_name = "RATE", default_value_t = chorus_node::limits::SUBMIT_RATE)]
    pub submit_rate: f64,
    /// Flags shared with clients.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Flags of `chorus client`.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Your nick (1-32 bytes, no spaces). Required here or in the config file.
    #[arg(long)]
    pub nick: Option<String>,
    /// Room to join (repeatable; the last is the current room). Default: the config file's rooms, else lobby.
    #[arg(long)]
    pub room: Vec<String>,
    /// How many recent messages to show when joining a room. Default: 50.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub history: Option<u32>,
    /// Flags shared with servers.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Flags of `chorus status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The node's address, ending in /p2p/<peer id> (as its `ready` event prints).
    #[arg(value_name = "MULTIADDR")]
    pub addr: Multiaddr,
    /// Print the status as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// The closed network's key, if the node is in one.
    #[arg(long, value_name = "FILE")]
    pub network_key: Option<PathBuf>,
}

/// Flags of `chorus up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Your nick. Default: the config file's nick, else your user name.
    #[arg(long)]
    pub nick: Option<String>,
    /// Room to join (repeatable; the last is the current room). Default: the config file's rooms, else lobby.
    #[arg(long)]
    pub room: Vec<String>,
    /// Number of local servers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=7))]
    pub servers: u8,
    /// Where the cluster keeps its data (reused by the next `chorus up`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run the client with the JSON interface instead of the line interface.
    #[arg(long)]
    pub json: bool,
    /// Which configuration file to read (only its nick and rooms apply).
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Flags of `chorus harness`.
#[derive(Args, Debug, Clone)]
pub struct HarnessArgs {
    /// Number of servers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub servers: u8,
    /// Number of clients (each in every room).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub clients: u16,
    /// Messages per second, all clients together.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Bytes per message (16 to 4096).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Number of rooms.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub rooms: u16,
    /// How long the workload runs (e.g. 30s, 10m).
    #[arg(long, default_value = "10s", value_parser = crate::harness::parse_duration)]
    pub duration: std::time::Duration,
    /// Faults to inject, comma separated: kill-leader, kill-random, kill-all, pause, pause-leader, restart, partition, partition-leader, isolate-minority (partitions need --netns), churn (retire a server for good, start a new one).
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Time between faults.
    #[arg(long, default_value = "2s", value_parser = crate::harness::parse_duration)]
    pub every: std::time::Duration,
    /// How long a killed server stays down or a paused one stopped.
    #[arg(long, default_value = "1s", value_parser = crate::harness::parse_duration)]
    pub downtime: std::time::Duration,
    /// Seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long to wait for convergence after healing.
    #[arg(long, default_value = "30s", value_parser = crate::harness::parse_duration)]
    pub settle: std::time::Duration,
    /// Write the full history and report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Directory for the nodes' data dirs and logs. Default: a fresh one under $TMPDIR, removed after a passing run.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the directory of a passing run.
    #[arg(long)]
    pub keep: bool,
    /// Each node in its own network namespace on a bridge, mDNS on (root, iproute2); enables the partition faults.
    #[arg(long)]
    pub netns: bool,
    /// No progress output (the report is still printed).
    #[arg(long)]
    pub quiet: bool,
}

/// The subcommands of `chorus admin`.
#[derive(Subcommand, Debug)]
pub enum AdminCmd {
    /// Write a new operator key (mode 0600) and print its operator id.
    Keygen {
        /// Where to write the key (an existing file is not overwritten).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Admit a server: sign its peer id with the operator key and write the admission.
    Admit {
        /// The server's peer id (`chorus id --data-dir DIR` prints it).
        #[arg(value_name = "PEER_ID")]
        peer_id: String,
        /// The operator key written by `chorus admin keygen`.
        #[arg(long, value_name = "FILE")]
        operator_key: PathBuf,
        /// Write the admission to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Flags of `chorus id`.
#[derive(Args, Debug)]
pub struct IdArgs {
    /// The node's data dir. Default: the server's default data dir.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Flags of `chorus completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Flags of `chorus keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key (created with mode 0600; an existing file is not overwritten).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Flags of `chorus bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Only these benchmarks, comma separated: throughput, gossip, etcd, latency, failover, pause, catchup, scale. Default: all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Clients submitting in the throughput and latency runs.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub clients: u16,
    /// Messages each client keeps outstanding in the throughput runs.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Measured length of each throughput run (the latency run lasts twice as long).
    #[arg(long, default_value = "5s", value_parser = crate::harness::parse_duration)]
    pub seconds: std::time::Duration,
    /// Messages per second the raw gossipsub baseline publishes.
    #[arg(long, default_value_t = 3000.0)]
    pub gossip_rate: f64,
    /// Writer connections of the etcd baseline.
    #[arg(long, default_value_t = 64)]
    pub etcd_connections: usize,
    /// Messages per second in the latency run.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Messages per second during the failover trials.
    #[arg(long, default_value_t = 200.0)]
    pub failover_rate: f64,
    /// Failover trials of each kind.
    #[arg(long, default_value_t = 20)]
    pub trials: u32,
    /// Messages the cluster commits while the catch-up benchmark's follower is down.
    #[arg(long, default_value_t = 100_000)]
    pub catchup_messages: u64,
    /// Client processes of the scale benchmark (5 servers), comma separated: one run each.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub scale_clients: Vec<u16>,
    /// Messages per second spread over the clients in the scale benchmark.
    #[arg(long, default_value_t = 50.0)]
    pub scale_rate: f64,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write SVG plots of the results into this directory.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Directory for the nodes' files (kept). Default: a temporary one, removed after a successful run.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Flags of the hidden `chorus bench-gossip-node`.
#[derive(Args, Debug, Clone)]
pub struct GossipNodeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    pub listen: String,
    /// Nodes to dial (repeatable).
    #[arg(long)]
    pub bootstrap: Vec<String>,
}

/// Flags of the hidden `chorus flood-client`.
#[derive(Args, Debug, Clone)]
pub struct FloodArgs {
    /// Servers to flood (repeatable; each ends in /p2p/<peer id>).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<Multiaddr>,
    /// The room to flood.
    #[arg(long, default_value = "lobby")]
    pub room: String,
    /// Bytes of text per message (at most the message size limit).
    #[arg(long, default_value_t = chorus_node::wire::MAX_TEXT_BYTES)]
    pub size: usize,
}
