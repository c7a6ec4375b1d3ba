//! The raw gossipsub baseline: `chorus bench-gossip-node` (hidden) is a bare
//! libp2p node with the same transport as Chorus (TCP, noise, yamux) and
//! gossipsub only (signed, strict validation, Chorus's small-network mesh
//! settings), no ordering, no storage. It speaks a sliver of the `--json`
//! interface so the bench drives it like a Chorus client:
//! - stdout: `ready` (`peer_id`, `listen_addrs`), one `message` per received
//!   message (`room`, `seq` = arrival count, `id`, `text`), `status`
//!   (`subscribers`: peers subscribed to the topic);
//! - stdin: `{"cmd":"send","room":..,"text":..}` publishes, `{"cmd":"status"}`.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use libp2p::{gossipsub, identity::Keypair, swarm::SwarmEvent, Multiaddr};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::args::GossipNodeArgs;

const TOPIC: &str = "chorus-bench/1";

fn print(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Runs one baseline node until stdin closes or it is killed.
pub async fn run(args: GossipNodeArgs) -> Result<()> {
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut swarm = chorus_node::net::build_with(key, None, Duration::from_secs(120), |key| {
        let config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(Duration::from_millis(200))
            .mesh_n_low(1)
            .mesh_n(4)
            .mesh_n_high(8)
            .mesh_outbound_min(1)
            .flood_publish(true)
            .max_transmit_size(256 * 1024)
            .validation_mode(gossipsub::ValidationMode::Strict)
            .build()
            .map_err(|e| format!("gossipsub config: {e}"))?;
        let behaviour: gossipsub::Behaviour =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .map_err(|e| format!("gossipsub: {e}"))?;
        Ok(behaviour)
    })?;
    let topic = gossipsub::IdentTopic::new(TOPIC);
    swarm
        .behaviour_mut()
        .subscribe(&topic)
        .context("cannot subscribe")?;
    let listen: Multiaddr = args.listen.parse().context("--listen")?;
    swarm.listen_on(listen).context("cannot listen")?;
    for b in &args.bootstrap {
        let addr: Multiaddr = b.parse().context("--bootstrap")?;
        swarm.dial(addr).context("cannot dial")?;
    }
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut received: u64 = 0;
    let mut subscribers = std::collections::BTreeSet::new();
    let mut ready = false;
    loop {
        tokio::select! {
            line = stdin.next_line() => {
                let Ok(Some(line)) = line else { return Ok(()) };
                let Ok(cmd) = serde_json::from_str::<Value>(&line) else { continue };
                match cmd["cmd"].as_str() {
                    Some("send") => {
                        let text = cmd["text"].as_str().unwrap_or("").as_bytes().to_vec();
                        if let Err(e) = swarm.behaviour_mut().publish(topic.clone(), text) {
                            print(&json!({"event": "error", "message": e.to_string()}));
                        }
                    }
                    Some("status") => print(&json!({"event": "status", "subscribers": subscribers.len()})),
                    Some("quit") => return Ok(()),
                    _ => {}
                }
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } if !ready => {
                    ready = true;
                    print(&json!({"event": "ready", "peer_id": me.to_string(),
                        "listen_addrs": [format!("{address}/p2p/{me}")]}));
                }
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. }) => {
                    subscribers.insert(peer_id);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Unsubscribed { peer_id, .. }) => {
                    subscribers.remove(&peer_id);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Message { message_id, message, .. }) => {
                    received += 1;
                    print(&json!({"event": "message", "room": "bench", "seq": received,
                        "id": message_id.to_string(),
                        "text": String::from_utf8_lossy(&message.data)}));
                }
                _ => {}
            }
        }
    }
}
