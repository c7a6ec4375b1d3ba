//! The libp2p side: the composed `NetworkBehaviour` and the swarm built from it
//! (TCP and QUIC, noise, yamux, identify, ping, mDNS, Kademlia, gossipsub and the
//! Chorus request-response protocol).

use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{
    gossipsub, identify,
    identity::Keypair,
    kad, mdns, noise, ping, pnet, request_response,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    tcp, yamux, StreamProtocol, Swarm, SwarmBuilder,
};

use crate::config::NodeConfig;
use crate::wire::{self, Request, Response, Role};

/// The composed behaviour of a Chorus node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Tells peers our role and listen addresses.
    pub identify: identify::Behaviour,
    /// Heartbeats on every connection.
    pub ping: ping::Behaviour,
    /// LAN discovery (off with `--no-mdns`).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Discovery beyond the LAN, through bootstrap nodes.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Rooms and presence.
    pub gossipsub: gossipsub::Behaviour,
    /// Chorus requests (status now; ordering and history later).
    pub rpc: request_response::cbor::Behaviour<Request, Response>,
}

/// Gossipsub tuned for small networks (2–20 nodes, see `docs/architecture.md`):
/// small mesh bounds, flood publishing, a short heartbeat, signed messages with
/// strict validation, and our content-based message id.
pub fn gossipsub_config() -> Result<gossipsub::Config> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_initial_delay(Duration::from_millis(200))
        .mesh_n_low(1)
        .mesh_n(4)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .gossip_lazy(4)
        .flood_publish(true)
        .max_transmit_size(wire::MAX_GOSSIP_BYTES)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(wire::message_id)
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
        .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))
}

/// The error type the swarm builder's constructors return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the swarm for `config` with identity `key`.
pub fn build_swarm(config: &NodeConfig, key: Keypair) -> Result<Swarm<Behaviour>> {
    build_with(key, config.network_key, config.timing.idle_timeout, |key| {
        behaviour(config, key)
    })
}

/// Builds a swarm with behaviour `make`: TCP and QUIC, or, in a closed network
/// (`network_key`), TCP wrapped in libp2p's private-network handshake only
/// (pnet does not work over QUIC).
pub fn build_with<B: NetworkBehaviour>(
    key: Keypair,
    network_key: Option<pnet::PreSharedKey>,
    idle: Duration,
    make: impl FnOnce(&Keypair) -> Result<B, BoxError>,
) -> Result<Swarm<B>> {
    let builder = SwarmBuilder::with_existing_identity(key).with_tokio();
    let swarm = match network_key {
        None => builder
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .context("TCP transport")?
            .with_quic()
            .with_behaviour(make)
            .map_err(|e| anyhow::anyhow!("cannot build the network behaviour: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        Some(psk) => builder
            .with_other_transport(|key| -> Result<_, BoxError> {
                use libp2p::Transport;
                let noise = noise::Config::new(key)?;
                Ok(
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                        .and_then(move |socket, _| pnet::PnetConfig::new(psk).handshake(socket))
                        .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default()),
                )
            })
            .map_err(|e| anyhow::anyhow!("private-network transport: {e}"))?
            .with_behaviour(make)
            .map_err(|e| anyhow::anyhow!("cannot build the network behaviour: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
    };
    Ok(swarm)
}

/// Reads a network key file (the standard libp2p `/key/swarm/psk/1.0.0/` format).
pub fn read_network_key(path: &std::path::Path) -> Result<pnet::PreSharedKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read network key {}", path.display()))?;
    text.parse()
        .map_err(|e| anyhow::anyhow!("{} is not a network key: {e}", path.display()))
}

/// A new random network key, in the key file format.
pub fn new_network_key() -> String {
    pnet::PreSharedKey::new(rand::random()).to_key_file()
}

/// The composed behaviour for `config`.
fn behaviour(config: &NodeConfig, key: &Keypair) -> Result<Behaviour, BoxError> {
    let role = config.role;
    let timing = &config.timing;
    let mdns_on = config.mdns;
    let peer_id = key.public().to_peer_id();
    let identify = identify::Behaviour::new(
        identify::Config::new(wire::IDENTIFY_PROTOCOL.into(), key.public())
            .with_agent_version(role.agent_version())
            .with_interval(Duration::from_secs(60)),
    );
    let ping = ping::Behaviour::new(
        ping::Config::new()
            .with_interval(timing.ping_interval)
            .with_timeout(timing.ping_timeout),
    );
    let mdns = if mdns_on {
        let cfg = mdns::Config {
            // libp2p-notes 12: the 5-minute default misses peers that start together.
            query_interval: Duration::from_secs(2),
            ..Default::default()
        };
        Some(mdns::tokio::Behaviour::new(cfg, peer_id)?)
    } else {
        None
    };
    let mut kad_cfg = kad::Config::new(StreamProtocol::new(wire::KAD_PROTOCOL));
    kad_cfg.set_query_timeout(Duration::from_secs(10));
    kad_cfg.set_periodic_bootstrap_interval(Some(timing.kad_interval));
    let mut kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_cfg);
    // Servers answer DHT queries; clients only ask.
    kad.set_mode(Some(match role {
        Role::Server => kad::Mode::Server,
        Role::Client => kad::Mode::Client,
    }));
    let gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossipsub_config()?,
    )?;
    let codec = request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(wire::MAX_RPC_BYTES)
        .set_response_size_maximum(wire::MAX_RPC_BYTES);
    let rpc = request_response::Behaviour::with_codec(
        codec,
        [(
            StreamProtocol::new(wire::RPC_PROTOCOL),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
    );
    Ok(Behaviour {
        identify,
        ping,
        mdns: Toggle::from(mdns),
        kad,
        gossipsub,
        rpc,
    })
}
