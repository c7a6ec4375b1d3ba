//! `chorus flood-client` (hidden, test-only): a hostile client for the flood
//! test. It dials the given servers and submits messages of the largest size
//! as fast as they answer, with 32 requests in flight per server (the
//! servers' stream limit), giving up on each after 100 ms (so a server's
//! wait for the commit does not slow it down), never backing off and never
//! acknowledging anything (`lowest_unacked` stays 1), and dialing again every
//! second a server that dropped it. It speaks only the Chorus
//! request-response protocol. It prints one JSON line a second:
//! `{"event":"flood","sent":N,"accepted":N,"rejected":N,"failed":N,"servers":N}`.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use chorus_node::wire::{self, Request, Response, Submit, MAX_RPC_BYTES, MAX_TEXT_BYTES};
use futures::StreamExt;
use libp2p::{identity::Keypair, request_response, swarm::SwarmEvent, PeerId, StreamProtocol};
use serde_json::json;

use crate::args::FloodArgs;

/// Requests in flight per server.
const WINDOW: usize = 32;
/// How long the flooder waits for an answer.
const GIVE_UP: Duration = Duration::from_millis(100);

/// Runs the flooder until killed.
pub async fn run(args: FloodArgs) -> Result<()> {
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut swarm =
        chorus_node::net::build_with(key.clone(), None, Duration::from_secs(120), |_| {
            let codec = request_response::cbor::codec::Codec::<Request, Response>::default()
                .set_request_size_maximum(MAX_RPC_BYTES)
                .set_response_size_maximum(MAX_RPC_BYTES);
            Ok(request_response::Behaviour::with_codec(
                codec,
                [(
                    StreamProtocol::new(wire::RPC_PROTOCOL),
                    request_response::ProtocolSupport::Outbound,
                )],
                request_response::Config::default().with_request_timeout(GIVE_UP),
            ))
        })?;
    for addr in &args.bootstrap {
        swarm
            .dial(addr.clone())
            .with_context(|| format!("cannot dial {addr}"))?;
    }
    let mut client = [0u8; 32];
    let id_bytes = me.to_bytes();
    let n = id_bytes.len().min(32);
    client[..n].copy_from_slice(&id_bytes[id_bytes.len() - n..]);
    let text = "x".repeat(args.size.min(MAX_TEXT_BYTES));
    let mut counter = 0u64;
    let mut in_flight: HashMap<PeerId, usize> = HashMap::new();
    let (mut sent, mut accepted, mut rejected, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let peer = tokio::select! {
            _ = tick.tick() => {
                for addr in &args.bootstrap {
                    let connected = addr.iter().any(|p| matches!(
                        p,
                        libp2p::multiaddr::Protocol::P2p(peer) if in_flight.contains_key(&peer)
                    ));
                    if !connected {
                        let _ = swarm.dial(addr.clone());
                    }
                }
                let line = json!({"event": "flood", "sent": sent, "accepted": accepted,
                    "rejected": rejected, "failed": failed, "servers": in_flight.len()});
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
                continue;
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    in_flight.entry(peer_id).or_insert(0);
                    peer_id
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    in_flight.remove(&peer_id);
                    continue;
                }
                SwarmEvent::Behaviour(request_response::Event::Message {
                    peer,
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => {
                    match response {
                        Response::Submitted { .. } => accepted += 1,
                        _ => rejected += 1,
                    }
                    if let Some(n) = in_flight.get_mut(&peer) {
                        *n = n.saturating_sub(1);
                    }
                    peer
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { peer, .. }) => {
                    failed += 1;
                    if let Some(n) = in_flight.get_mut(&peer) {
                        *n = n.saturating_sub(1);
                    }
                    peer
                }
                _ => continue,
            },
        };
        // Refill this server's window at once.
        while let Some(n) = in_flight.get_mut(&peer) {
            if *n >= WINDOW {
                break;
            }
            *n += 1;
            counter += 1;
            sent += 1;
            // Built from JSON, so that new optional wire fields need no change
            // here; signed like an honest client's, so that what stops the
            // flood is the rate limit, not the signature check.
            let mut submit: Submit = wire::decode(&wire::encode(&json!({
                "client": client.to_vec(), "counter": counter, "lowest_unacked": 1,
                "room": args.room, "id": Submit::id_for(&client, counter), "nick": "flood",
                "text": text,
            })))
            .context("the shape of Submit changed: update flood.rs")?;
            submit.sig = chorus_node::authorship::sign(&key, &submit.signed())?;
            swarm
                .behaviour_mut()
                .send_request(&peer, Request::Submit(submit));
        }
    }
}
