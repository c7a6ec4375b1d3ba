//! The node's event loop: owns the swarm and the presence table, turns swarm
//! events into [`Event`]s and [`Command`]s into swarm calls (the event-loop /
//! handle split of rust-libp2p's file-sharing example).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{FutureExt, StreamExt};
use libp2p::{
    core::ConnectedPoint,
    gossipsub, identify,
    identity::Keypair,
    kad, mdns,
    multiaddr::Protocol,
    ping, request_response,
    swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use rand::Rng;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

mod client;
#[cfg(test)]
mod proptests;
mod server;

use client::ClientPart;
use server::ServerPart;

use crate::admission::{Admission, Gate};
use crate::api::{Command, Event, Status};
use crate::config::{NodeConfig, CLIENT_SERVER_LINKS};
use crate::identity::DataDir;
use crate::limits::{self, RequestLimits};
use crate::net::{build_swarm, Behaviour, BehaviourEvent};
use crate::presence::{Change, Presence};
use crate::wire::{self, Announce, Committed, PresenceMsg, Request, Response, Role};

/// Most further ready swarm events handled in one event-loop turn (bounds the
/// time before the turn's outputs go out).
const MAX_EVENTS_PER_TURN: usize = 64;

/// How often a client's session resends and fetches gaps.
const CLIENT_TICK: Duration = Duration::from_millis(100);

/// A handle to a running node: send it commands.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
}

impl NodeHandle {
    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Sends a command; `false` once the node has stopped.
    pub async fn send(&self, cmd: Command) -> bool {
        self.commands.send(cmd).await.is_ok()
    }
}

/// Starts a node: opens its data dir, binds its listeners and dials its
/// bootstrap nodes. Errors here (data dir, bad address, port in use) are
/// returned before anything runs; afterwards problems become `error` events.
/// Returns the handle, the stream of events and the task running the node.
pub async fn start(
    config: NodeConfig,
) -> Result<(
    NodeHandle,
    mpsc::Receiver<Event>,
    tokio::task::JoinHandle<()>,
)> {
    let data_dir = DataDir::open(&config.data_dir)?;
    let key = data_dir.load_or_create_identity()?;
    let me = key.public().to_peer_id();
    if let (Role::Server, Some(op)) = (config.role, &config.operator) {
        match &config.admission {
            Some(a) if op.admits(&me, a) => {}
            Some(_) => anyhow::bail!(
                "the admission given does not admit this server ({me}) under operator {}",
                op.id()
            ),
            None => anyhow::bail!(
                "server {me} has no admission: ask the operator to run \
                 `chorus admin admit {me}` and start with --admission FILE"
            ),
        }
    }
    let mut swarm = build_swarm(&config, key.clone())?;

    let listen = match (config.listen.is_empty(), config.network_key.is_some()) {
        (true, false) => vec![
            "/ip4/0.0.0.0/tcp/0".parse()?,
            "/ip4/0.0.0.0/udp/0/quic-v1".parse()?,
        ],
        (true, true) => vec!["/ip4/0.0.0.0/tcp/0".parse()?],
        (false, _) => config.listen.clone(),
    };
    if config.network_key.is_some() {
        if let Some(quic) = listen
            .iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)))
        {
            anyhow::bail!(
                "cannot listen on {quic}: a closed network (--network-key) works over TCP only"
            );
        }
    }
    let mut listeners = HashSet::new();
    for addr in &listen {
        let id = swarm
            .listen_on(addr.clone())
            .with_context(|| format!("cannot listen on {addr}"))?;
        listeners.insert(id);
    }
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossipsub::IdentTopic::new(wire::PRESENCE_TOPIC))
        .map_err(|e| anyhow::anyhow!("cannot subscribe to presence: {e}"))?;
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossipsub::IdentTopic::new(wire::DM_TOPIC))
        .map_err(|e| anyhow::anyhow!("cannot subscribe to direct messages: {e}"))?;

    let session: u64 = rand::thread_rng().gen();
    let server = match config.role {
        Role::Server => Some(ServerPart::open(&config, me, data_dir.path())?),
        Role::Client => None,
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (event_tx, event_rx) = mpsc::channel(4096);
    let mut node = Node {
        key,
        gate: Gate::new(config.operator.clone()),
        presence: Presence::new(me, config.timing.presence_timeout),
        me,
        role: config.role,
        nick: config.nick.clone(),
        rooms: BTreeSet::new(),
        current_room: None,
        listeners,
        listen_addrs: Vec::new(),
        ready: false,
        connected: BTreeMap::new(),
        ping_failures: BTreeMap::new(),
        session,
        announce_n: 0,
        client: (config.role == Role::Client).then(|| ClientPart::new(me, session, config.history)),
        server: None,
        outbox: VecDeque::new(),
        request_limits: RequestLimits::new(config.submit_rate),
        config,
        swarm,
        _data_dir: data_dir,
    };
    node.server = server;
    for room in node.config.rooms.clone() {
        node.client_join(&room);
    }
    node.dial_bootstrap();
    let task = tokio::spawn(node.run(cmd_rx, event_tx));
    Ok((
        NodeHandle {
            peer_id: me,
            commands: cmd_tx,
        },
        event_rx,
        task,
    ))
}

/// The state of a running node.
struct Node {
    config: NodeConfig,
    /// The identity key: signs this node's messages, opens its direct messages.
    key: Keypair,
    /// Which servers count (server admission).
    gate: Gate,
    swarm: Swarm<Behaviour>,
    presence: Presence,
    me: PeerId,
    role: Role,
    nick: Option<String>,
    rooms: BTreeSet<String>,
    current_room: Option<String>,
    /// Listeners that have not reported an address yet.
    listeners: HashSet<libp2p::core::transport::ListenerId>,
    listen_addrs: Vec<Multiaddr>,
    ready: bool,
    /// Directly connected peers and their role once identify told us.
    connected: BTreeMap<PeerId, Option<Role>>,
    ping_failures: BTreeMap<PeerId, u32>,
    /// Random per process start: the incarnation in presence, the client session.
    session: u64,
    announce_n: u64,
    /// The client role's state (clients only).
    client: Option<ClientPart>,
    /// The server role's state: the ordering core and its storage (servers only).
    server: Option<ServerPart>,
    /// Events waiting to be handed to the front end.
    outbox: VecDeque<Event>,
    /// Per-peer rate limits of inbound requests (servers).
    request_limits: RequestLimits,
    _data_dir: DataDir,
}

impl Node {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, events: mpsc::Sender<Event>) {
        let timing = self.config.timing.clone();
        let mut presence_tick = tokio::time::interval(timing.presence_interval);
        let mut maintain_tick = tokio::time::interval(timing.maintain_interval);
        let mut client_tick = tokio::time::interval(CLIENT_TICK);
        loop {
            let deadline = self.server_deadline();
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                cmd = commands.recv() => match cmd {
                    Some(Command::Quit) | None => break,
                    Some(cmd) => self.on_command(cmd),
                },
                _ = presence_tick.tick() => self.on_presence_tick(),
                _ = maintain_tick.tick() => self.maintain_links(),
                _ = client_tick.tick(), if self.client.is_some() => self.client_tick(),
                _ = tokio::time::sleep_until(deadline) => self.server_timeout(),
                done = server::next_completion(&mut self.server) => self.server_persisted(done),
            }
            // Whatever else the network has ready joins this turn, so that the
            // core sees several submissions (and acknowledgements) before it
            // sends, and sends each server one request for all of them.
            for _ in 0..MAX_EVENTS_PER_TURN {
                match self.swarm.next().now_or_never() {
                    Some(Some(event)) => self.on_swarm_event(event),
                    _ => break,
                }
            }
            self.server_flush();
            while let Some(event) = self.outbox.pop_front() {
                if events.send(event).await.is_err() {
                    return; // the front end is gone: stop
                }
            }
        }
        info!("node stopped");
    }

    /// Queues an event for the front end (sent by the run loop).
    fn emit(&mut self, event: Event) {
        self.outbox.push_back(event);
    }

    fn emit_changes(&mut self, changes: Vec<Change>) {
        for change in changes {
            let event = match change {
                Change::Joined(p) => {
                    info!(peer = %p.peer_id, role = %p.role, "peer joined");
                    Event::PeerJoined(p)
                }
                Change::Left(p) => {
                    info!(peer = %p.peer_id, role = %p.role, "peer left");
                    Event::PeerLeft(p)
                }
            };
            self.emit(event);
        }
    }

    fn error(&mut self, message: impl Into<String>) {
        self.emit(Event::Error {
            message: message.into(),
        });
    }

    // ---- commands ----------------------------------------------------------------

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Status => {
                let status = self.status();
                self.emit(Event::Status(status));
            }
            Command::Quit => {}
            _ if self.role == Role::Server => {
                self.error("servers do not chat: this command is for clients")
            }
            Command::Send { room, text } => self.client_send(room, text),
            Command::Dm { to, text } => self.client_dm(to, text),
            Command::Join { room } => self.client_join(&room),
            Command::Leave { room } => self.client_leave(&room),
            Command::History {
                room,
                before,
                limit,
            } => self.client_history(room, before, limit),
            Command::Nick { nick } => match wire::validate_nick(&nick) {
                Ok(()) => {
                    self.nick = Some(nick);
                    self.announce();
                }
                Err(e) => self.error(e),
            },
        }
    }

    // ---- presence ----------------------------------------------------------------

    fn on_presence_tick(&mut self) {
        for p in self.request_limits.expired_bans(Instant::now()) {
            self.swarm.behaviour_mut().banned.unblock_peer(p);
        }
        self.announce();
        self.server_retry_backfills();
        let changes = self.presence.tick(Instant::now());
        self.emit_changes(changes);
    }

    /// Publishes this node's heartbeat on the presence topic.
    fn announce(&mut self) {
        self.announce_n += 1;
        // Within the limits receivers enforce (`limits::check_announce`).
        let links = self
            .connected
            .iter()
            .filter(|(_, r)| **r == Some(Role::Server))
            .map(|(p, _)| p.to_base58())
            .take(limits::MAX_ANNOUNCED_LINKS)
            .collect();
        let addrs = match self.role {
            Role::Server => self
                .listen_addrs
                .iter()
                .map(|a| a.to_string())
                .filter(|a| a.len() <= limits::MAX_ADDR_BYTES)
                .take(limits::MAX_ANNOUNCED_ADDRS)
                .collect(),
            Role::Client => Vec::new(),
        };
        let msg = PresenceMsg::Announce(Announce {
            role: self.role,
            nick: self.nick.clone(),
            addrs,
            links,
            rooms: self
                .rooms
                .iter()
                .take(limits::MAX_ANNOUNCED_ROOMS)
                .cloned()
                .collect(),
            n: self.announce_n,
            incarnation: self.session,
            cluster: self.server_cluster_view(),
        });
        self.publish_presence(&msg);
    }

    fn publish_presence(&mut self, msg: &PresenceMsg) {
        let topic = gossipsub::IdentTopic::new(wire::PRESENCE_TOPIC);
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, wire::encode(msg))
        {
            // Normal while alone or just started (libp2p-notes 1, 15).
            debug!("presence publish: {e}");
        }
    }

    fn status(&self) -> Status {
        let peers = self.presence.alive();
        let mut servers: Vec<String> = peers
            .iter()
            .filter(|p| p.role == Role::Server)
            .map(|p| p.peer_id.clone())
            .collect();
        if self.role == Role::Server {
            servers.push(self.me.to_base58());
            servers.sort();
        }
        let view = self
            .server_cluster_view()
            .or_else(|| self.client.as_ref().and_then(|c| c.cluster.clone()));
        Status {
            peer_id: self.me.to_base58(),
            role: self.role,
            listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            servers,
            peers,
            rooms: self.rooms.iter().cloned().collect(),
            nick: self.nick.clone(),
            connected: self.connected.keys().map(|p| p.to_base58()).collect(),
            leader: view.as_ref().and_then(|v| v.leader.clone()),
            term: view.as_ref().map_or(0, |v| v.term),
            commit_index: view.as_ref().map_or(0, |v| v.commit_index),
            voters: view.as_ref().map_or_else(Vec::new, |v| v.voters.clone()),
            pending: self.client_pending(),
            quorum: view.as_ref().is_some_and(|v| v.quorum),
            history: self.server_history_held(),
        }
    }

    // ---- links -------------------------------------------------------------------

    fn dial_bootstrap(&mut self) {
        for addr in self.config.bootstrap.clone() {
            let opts = match peer_of(&addr) {
                Some(peer) if peer == self.me => continue,
                Some(peer) => {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    DialOpts::peer_id(peer)
                        .addresses(vec![addr.clone()])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .allocate_new_port()
                        .build()
                }
                None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
            };
            if let Err(e) = self.swarm.dial(opts) {
                debug!("dial bootstrap {addr}: {e}");
            }
        }
    }

    fn dial(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == self.me || self.connected.contains_key(&peer) || addrs.is_empty() {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .allocate_new_port()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!("dial {peer}: {e}");
        }
    }

    /// Servers keep a connection to every live server; clients to a few.
    fn maintain_links(&mut self) {
        let servers = self.presence.alive_servers();
        let connected_servers = self
            .connected
            .values()
            .filter(|r| **r == Some(Role::Server))
            .count();
        let wanted = match self.role {
            Role::Server => usize::MAX,
            Role::Client => CLIENT_SERVER_LINKS.saturating_sub(connected_servers),
        };
        let mut dialed = 0;
        for (peer, addrs) in servers {
            if dialed >= wanted {
                break;
            }
            if self.connected.contains_key(&peer) {
                continue;
            }
            let addrs = addrs.iter().filter_map(|a| a.parse().ok()).collect();
            self.dial(peer, addrs);
            dialed += 1;
        }
        if self.connected.is_empty() {
            self.dial_bootstrap();
        }
    }

    // ---- swarm events ------------------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                let full = address.with_p2p(self.me).unwrap_or_else(|a| a);
                info!("listening on {full}");
                self.listen_addrs.push(full);
                self.listeners.remove(&listener_id);
                if !self.ready && self.listeners.is_empty() {
                    self.ready = true;
                    self.emit(Event::Ready {
                        peer_id: self.me.to_base58(),
                        role: self.role,
                        listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
                    });
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address.with_p2p(self.me).unwrap_or_else(|a| a);
                self.listen_addrs.retain(|a| *a != full);
            }
            SwarmEvent::ListenerError { error, .. } => {
                self.error(format!("listener error: {error}"))
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                debug!(%peer_id, "connected ({num_established})");
                if let ConnectedPoint::Dialer { address, .. } = &endpoint {
                    self.swarm.add_peer_address(peer_id, address.clone());
                }
                self.connected.entry(peer_id).or_insert(None);
                self.presence.connected(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                debug!(%peer_id, ?cause, "connection closed ({num_established} left)");
                if num_established == 0 {
                    let role = self.connected.remove(&peer_id).flatten();
                    self.ping_failures.remove(&peer_id);
                    if role == Some(Role::Server) {
                        self.server_peer_down(peer_id);
                    }
                    let reporter = (self.role == Role::Server && role.is_some()).then_some(self.me);
                    if reporter.is_some() {
                        self.announce_n += 1;
                        let msg = PresenceMsg::Gone {
                            peer: peer_id.to_base58(),
                            n: self.announce_n,
                        };
                        self.publish_presence(&msg);
                    }
                    let changes = self.presence.disconnected(peer_id, reporter);
                    self.emit_changes(changes);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(?peer_id, "dial failed: {error}");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let role = Role::from_agent_version(&info.agent_version);
                if let Some(slot) = self.connected.get_mut(&peer_id) {
                    *slot = role;
                }
                if let (Some(_), Some(admission)) = (role, &self.config.admission) {
                    let request = Request::Admission(admission.as_bytes().to_vec());
                    self.swarm
                        .behaviour_mut()
                        .rpc
                        .send_request(&peer_id, request);
                }
                if role == Some(Role::Server) {
                    for addr in info.listen_addrs {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                    if self.role == Role::Server {
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                        self.server_discovered(peer_id);
                    }
                }
                self.presence.heard(Instant::now(), peer_id);
            }
            BehaviourEvent::Ping(ping::Event { peer, result, .. }) => match result {
                Ok(_) => {
                    if self.ping_failures.remove(&peer).is_some()
                        && self.connected.get(&peer) == Some(&Some(Role::Server))
                    {
                        self.server_discovered(peer); // back after failures
                    }
                    self.presence.heard(Instant::now(), peer);
                }
                Err(e) => {
                    let n = {
                        let n = self.ping_failures.entry(peer).or_insert(0);
                        *n += 1;
                        *n
                    };
                    debug!(%peer, "ping failure {n}: {e}");
                    if n == 1 && self.connected.get(&peer) == Some(&Some(Role::Server)) {
                        self.server_peer_down(peer); // a hint: the core decides
                    }
                    if n >= self.config.timing.ping_failures {
                        warn!(%peer, "{n} ping failures: closing the connection");
                        self.ping_failures.remove(&peer);
                        let _ = self.swarm.disconnect_peer_id(peer);
                    }
                }
            },
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut by_peer: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    debug!(%peer, "mDNS discovered");
                    self.dial(peer, addrs);
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer, addresses, ..
            }) if self.role == Role::Server => self.dial(peer, addresses.into_vec()),
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                crate::net::score_topic(&mut self.swarm.behaviour_mut().gossipsub, &message.topic);
                let verdict = self.on_gossip(message);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
            }
            // Servers relay every room some peer is in, so the room's mesh spans
            // the network.
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. })
                if self.role == Role::Server && wire::topic_room(&topic).is_some() =>
            {
                let ident = gossipsub::IdentTopic::new(topic.as_str());
                if let Err(e) = self.swarm.behaviour_mut().gossipsub.subscribe(&ident) {
                    debug!("subscribe {topic}: {e}");
                }
            }
            BehaviourEvent::Rpc(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => match self.over_limit(peer, &request) {
                        // Flood control first: over-limit requests get a refusal.
                        Some(refusal) => self.respond(peer, channel, refusal),
                        None => self.on_request(peer, request, channel),
                    },
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if self.client.is_some() {
                            self.client_response(request_id, response);
                        } else {
                            self.server_response(peer, request_id, response);
                        }
                    }
                }
            }
            BehaviourEvent::Rpc(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                debug!(%peer, "request failed: {error}");
                if self.client.is_some() {
                    self.client_request_failed(peer, request_id);
                } else {
                    self.server_request_failed(peer, request_id);
                }
            }
            BehaviourEvent::Rpc(request_response::Event::InboundFailure {
                peer, error, ..
            }) => {
                debug!(%peer, "inbound request failed: {error}");
            }
            _ => {}
        }
    }

    /// A request of `peer` within its limits.
    fn on_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: request_response::ResponseChannel<Response>,
    ) {
        match request {
            Request::Status => {
                let status = Response::Status(Box::new(self.status()));
                self.respond(peer, channel, status);
            }
            Request::Admission(bytes) => {
                self.respond(peer, channel, Response::Ack);
                self.on_admission(peer, Admission::from_bytes(bytes));
            }
            other if self.server.is_some() => self.server_request(peer, other, channel),
            _ => self.respond(
                peer,
                channel,
                Response::Error("not a server: ask a server".into()),
            ),
        }
    }

    /// Servers: the refusal of a request over `peer`'s rate or a server limit
    /// (see [`limits`]); `None` to handle it.
    /// Servers are not limited (they back-fill history in bursts; admission
    /// decides who is one).
    fn over_limit(&mut self, peer: PeerId, request: &Request) -> Option<Response> {
        let in_flight = self.server.as_ref()?.in_flight();
        if self.linked_server(&peer) {
            return None;
        }
        let refusal = self
            .request_limits
            .admit(Instant::now(), peer, request, in_flight);
        if let Some(r) = &refusal {
            debug!(%peer, "request refused: {r:?}");
        }
        for p in self.request_limits.take_new_bans() {
            warn!(peer = %p, "banned for {:?}: kept sending far over its rate limit", limits::BAN);
            self.swarm.behaviour_mut().banned.block_peer(p);
        }
        refusal
    }

    /// Answers a request; a closed connection is not an error worth more than a log line.
    fn respond(
        &mut self,
        peer: PeerId,
        channel: request_response::ResponseChannel<Response>,
        response: Response,
    ) {
        if self
            .swarm
            .behaviour_mut()
            .rpc
            .send_response(channel, response)
            .is_err()
        {
            debug!(%peer, "response not sent: connection gone");
        }
    }

    /// A server presented its admission.
    fn on_admission(&mut self, peer: PeerId, admission: Admission) {
        if !self.gate.closed() {
            return;
        }
        if !self.gate.present(peer, &admission) {
            if !self.gate.admits(&peer) {
                warn!(%peer, "admission refused: not signed by this network's operator");
            }
            return;
        }
        info!(%peer, "server admitted");
        if self.connected.get(&peer) == Some(&Some(Role::Server)) {
            self.server_discovered(peer);
        }
    }

    /// Whether `peer` is a server this node counts: a server by identify or
    /// presence, and admitted.
    fn trusted_server(&self, peer: &PeerId) -> bool {
        self.linked_server(peer)
            || (self.presence.role_of(peer) == Some(Role::Server) && self.gate.admits(peer))
    }

    /// Whether `peer` is directly connected, a server by identify, and admitted.
    fn linked_server(&self, peer: &PeerId) -> bool {
        self.connected.get(peer) == Some(&Some(Role::Server)) && self.gate.admits(peer)
    }

    /// Handles a gossipsub message and says whether to forward it.
    fn on_gossip(&mut self, message: gossipsub::Message) -> gossipsub::MessageAcceptance {
        use gossipsub::MessageAcceptance::{Accept, Ignore, Reject};
        let Some(source) = message.source else {
            return Reject;
        };
        if message.topic.as_str() == wire::PRESENCE_TOPIC {
            let msg = match wire::decode::<PresenceMsg>(&message.data) {
                Ok(m) => m,
                Err(e) => {
                    warn!(%source, "bad presence message: {e}");
                    return Reject;
                }
            };
            let changes = match msg {
                PresenceMsg::Announce(a) if limits::check_announce(&a).is_err() => {
                    warn!(%source, "oversized announcement refused");
                    return Reject;
                }
                PresenceMsg::Announce(a) => {
                    if let (Some(view), Role::Server) = (&a.cluster, a.role) {
                        if self.client.is_some() {
                            self.client_cluster_view(source, view.clone());
                        }
                    }
                    self.presence.announced(Instant::now(), source, &a)
                }
                PresenceMsg::Gone { peer, .. } => match peer.parse::<PeerId>() {
                    Ok(peer) => self.presence.reported_gone(source, peer),
                    Err(_) => return Reject,
                },
            };
            self.emit_changes(changes);
            return Accept;
        }
        let dm = message.topic.as_str() == wire::DM_TOPIC;
        let topic_room = wire::topic_room(&message.topic);
        if !dm && topic_room.is_none() {
            return Reject;
        }
        // One committed message, or several the leader committed together.
        let batch = match wire::decode_room_payload(&message.data) {
            Ok(b) => b,
            Err(e) => {
                warn!(%source, "bad room message: {e}");
                return Reject;
            }
        };
        let filed_right = |msg: &Committed| match topic_room {
            Some(room) => msg.room == room && msg.to.is_none(),
            None => msg.to.is_some() && crate::seal::is_dm_room(&msg.room),
        };
        if batch.iter().any(|msg| {
            !filed_right(msg)
                || msg.seq == 0
                || wire::validate_body(&msg.room, &msg.text).is_err()
                || limits::check_committed(msg).is_err()
        }) {
            warn!(%source, "invalid room message refused");
            return Reject;
        }
        // Only admitted servers publish committed messages, and only what
        // authors signed.
        if !self.trusted_server(&source) {
            // Rejected (and so penalised by peer scoring) only when the author
            // is known to be a client: a server not heard of (or admitted) yet
            // is ignored, so an honest relay is never penalised for it.
            let known_client = self.presence.role_of(&source) == Some(Role::Client)
                || self.connected.get(&source) == Some(&Some(Role::Client));
            warn!(%source, "room message from a non-server refused");
            return if known_client { Reject } else { Ignore };
        }
        // Only the current leader of the current term gives messages their
        // place; a message from another server is a hint that there is more
        // to fetch (from a server, by seq), not something to deliver.
        let from_leader = self.is_leader(&source);
        // Clients check every author's signature before delivering. A server
        // relaying its leader's publication leaves that to the clients (the
        // leader's servers checked it before sequencing): one signature check
        // per message and reader, not per hop.
        if self.client.is_some() || !from_leader {
            for msg in &batch {
                if let Err(e) = msg.verify() {
                    warn!(%source, room = %msg.room, seq = msg.seq, "forged message refused: {e}");
                    return Reject;
                }
            }
        }
        if !from_leader {
            debug!(%source, "committed messages from a non-leader: fetched instead");
        }
        if self.client.is_some() {
            for msg in batch {
                self.client_committed_gossip(msg, from_leader);
            }
        }
        if from_leader {
            Accept
        } else {
            Ignore
        }
    }

    /// Whether `peer` leads the current term, as far as this node knows.
    fn is_leader(&self, peer: &PeerId) -> bool {
        if self.server.is_some() {
            return self.server_leader() == Some(*peer);
        }
        self.client
            .as_ref()
            .and_then(|c| c.cluster.as_ref())
            .and_then(|v| v.leader.as_deref())
            .is_some_and(|l| l == peer.to_base58())
    }
}

/// The peer id at the end of a multiaddr, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}
