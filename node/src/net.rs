//! The libp2p side: the composed `NetworkBehaviour` and the swarm built from it
//! (TCP and QUIC, noise, yamux, identify, ping, mDNS, Kademlia, gossipsub and the
//! Chorus request-response protocol).

use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::{
    allow_block_list, connection_limits, gossipsub, identify,
    identity::Keypair,
    kad, mdns, noise, ping, pnet, request_response,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    tcp, yamux, StreamProtocol, Swarm, SwarmBuilder,
};

use crate::config::NodeConfig;
use crate::limits;
use crate::wire::{self, Request, Response, Role};

/// The composed behaviour of a Chorus node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps connections per peer and in total (first, so that a refused
    /// connection costs no other behaviour anything).
    pub limits: connection_limits::Behaviour,
    /// Peers banned for flooding (see [`crate::limits::BAN`]).
    pub banned: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
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

/// Peer scoring for a Chorus topic: the one penalty that matters is P4,
/// invalid messages (those the node reports as `Reject`): -10 × (count)², with
/// the count decaying by 3 % a second, so one invalid message costs -10 (the
/// gossip threshold), three -90 (below the graylist threshold: everything
/// from the peer is then ignored) and a steady flood keeps the peer there.
/// Mesh-delivery penalties (P3, P3b) are off: in a quiet room honest peers
/// deliver nothing, and small networks cannot afford to prune them. Time in
/// mesh and first deliveries give at most +2, so good behaviour cannot bank
/// credit against invalid messages.
pub fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 0.1,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.97,
        ..Default::default()
    }
}

/// Peer-score parameters: the presence topic scored with
/// [`topic_score_params`] (room topics are added as messages arrive, see
/// [`score_topic`]); no IP colocation penalty (clients behind one NAT, and
/// every test node on 127.0.0.1, share an address).
pub fn peer_score_params() -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        topic_score_cap: 10.0,
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    params.topics.insert(
        gossipsub::IdentTopic::new(wire::PRESENCE_TOPIC).hash(),
        topic_score_params(),
    );
    params
}

/// Makes gossipsub score `topic` (a room topic) before a message on it is
/// validated, so that a `Reject` counts against the peer that sent it.
pub fn score_topic(gossipsub: &mut gossipsub::Behaviour, topic: &gossipsub::TopicHash) {
    let topic = gossipsub::IdentTopic::new(topic.as_str());
    if let Err(e) = gossipsub.set_topic_params(topic, topic_score_params()) {
        tracing::debug!("topic score params: {e}");
    }
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
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossipsub_config()?,
    )?;
    gossipsub.with_peer_score(
        peer_score_params(),
        gossipsub::PeerScoreThresholds::default(),
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
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(5))
            .with_max_concurrent_streams(limits::MAX_CONCURRENT_STREAMS),
    );
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(limits::MAX_CONNECTIONS_PER_PEER))
            .with_max_established(Some(limits::MAX_CONNECTIONS))
            .with_max_pending_incoming(Some(limits::MAX_PENDING_INCOMING)),
    );
    Ok(Behaviour {
        limits,
        banned: Default::default(),
        identify,
        ping,
        mdns: Toggle::from(mdns),
        kad,
        gossipsub,
        rpc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;

    /// A bare gossipsub node with Chorus's config and peer scoring.
    fn scored_node() -> Swarm<gossipsub::Behaviour> {
        build_with(
            Keypair::generate_ed25519(),
            None,
            Duration::from_secs(60),
            |key| {
                let mut gs = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossipsub_config()?,
                )?;
                gs.with_peer_score(
                    peer_score_params(),
                    gossipsub::PeerScoreThresholds::default(),
                )?;
                Ok(gs)
            },
        )
        .expect("swarm")
    }

    /// Invalid messages on a room topic (scored as they arrive, as the node
    /// does) and on the presence topic push their sender below the graylist
    /// threshold; valid ones from an honest peer do not.
    #[tokio::test]
    async fn rejected_messages_sink_the_sender_score() {
        let thresholds = gossipsub::PeerScoreThresholds::default();
        for topic in [
            wire::room_topic("lobby"),
            gossipsub::IdentTopic::new(wire::PRESENCE_TOPIC),
        ] {
            let mut victim = scored_node();
            let mut hostile = scored_node();
            let hostile_id = *hostile.local_peer_id();
            victim.behaviour_mut().subscribe(&topic).expect("subscribe");
            hostile
                .behaviour_mut()
                .subscribe(&topic)
                .expect("subscribe");
            victim
                .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
                .expect("listen");
            let addr = loop {
                if let SwarmEvent::NewListenAddr { address, .. } = victim.select_next_some().await {
                    break address;
                }
            };
            hostile.dial(addr).expect("dial");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            let mut rejected = 0;
            let mut sent = 0u32;
            let mut publish = tokio::time::interval(Duration::from_millis(100));
            let graylisted = |v: &Swarm<gossipsub::Behaviour>| {
                v.behaviour()
                    .peer_score(&hostile_id)
                    .is_some_and(|s| s < thresholds.graylist_threshold)
            };
            while !graylisted(&victim) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{topic}: score {:?} after {rejected} invalid messages",
                    victim.behaviour().peer_score(&hostile_id)
                );
                tokio::select! {
                    _ = publish.tick() => {
                        sent += 1;
                        let _ = hostile
                            .behaviour_mut()
                            .publish(topic.clone(), format!("garbage {sent}").into_bytes());
                    }
                    _ = hostile.select_next_some() => {}
                    event = victim.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message {
                            propagation_source, message_id, message,
                        }) = event {
                            let gs = victim.behaviour_mut();
                            score_topic(gs, &message.topic);
                            gs.report_message_validation_result(
                                &message_id,
                                &propagation_source,
                                gossipsub::MessageAcceptance::Reject,
                            );
                            rejected += 1;
                        }
                    }
                }
            }
            assert!(rejected <= 3, "{topic}: graylisted only after {rejected}");
        }
    }
}
