//! Asking a running node what it knows, from outside (`chorus status ADDR`): a
//! short-lived peer with a fresh identity dials the node and sends a `Status`
//! request. It takes no part in presence or chat.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent, Multiaddr, StreamProtocol};

use crate::api::Status;
use crate::wire::{self, Request, Response};

/// Connects to `addr`, asks for the node's status and returns it; fails after `timeout`.
/// `network_key`: the closed network's key, if it is one.
pub async fn query_status(
    addr: Multiaddr,
    timeout: Duration,
    network_key: Option<libp2p::pnet::PreSharedKey>,
) -> Result<Status> {
    tokio::time::timeout(timeout, query(addr.clone(), network_key))
        .await
        .map_err(|_| anyhow!("no answer from {addr} within {timeout:?}"))?
}

async fn query(addr: Multiaddr, network_key: Option<libp2p::pnet::PreSharedKey>) -> Result<Status> {
    let codec = request_response::cbor::codec::Codec::<Request, Response>::default()
        .set_request_size_maximum(wire::MAX_RPC_BYTES)
        .set_response_size_maximum(wire::MAX_RPC_BYTES);
    let mut swarm = crate::net::build_with(
        libp2p::identity::Keypair::generate_ed25519(),
        network_key,
        Duration::from_secs(30),
        |_| {
            Ok(request_response::Behaviour::with_codec(
                codec,
                [(
                    StreamProtocol::new(wire::RPC_PROTOCOL),
                    request_response::ProtocolSupport::Outbound,
                )],
                request_response::Config::default(),
            ))
        },
    )?;
    swarm
        .dial(addr.clone())
        .with_context(|| format!("cannot dial {addr}"))?;
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                swarm
                    .behaviour_mut()
                    .send_request(&peer_id, Request::Status);
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                bail!("cannot connect to {addr}: {error}")
            }
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => {
                return match response {
                    Response::Status(status) => Ok(*status),
                    Response::Error(e) => Err(anyhow!("{addr} refused: {e}")),
                    other => Err(anyhow!("{addr} answered out of turn: {other:?}")),
                }
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                bail!("status request to {addr} failed: {error}")
            }
            _ => {}
        }
    }
}
