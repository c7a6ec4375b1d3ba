//! The server role: drives the sans-IO ordering core with swarm events, timers
//! and storage completions, carries out its outputs (messages to other servers,
//! disk writes, committed entries, replies to clients), keeps the committed room
//! history and publishes committed messages on their room topics.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libp2p::{
    gossipsub,
    request_response::{OutboundRequestId, ResponseChannel},
    PeerId,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::Node;
use crate::api::Event;
use crate::config::NodeConfig;
use crate::history::{Appended, RoomHistory};
use crate::order::{self, NodeId};
use crate::store::disk::{self, Disk, Job};
use crate::wire::{self, ClusterView, Committed, Request, Response, Role, Submit};

/// The chat content of a log entry: what a client sent, with its author as
/// authenticated by the server that took the submission.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatBody {
    /// The message id shown to users.
    pub id: String,
    /// The author's peer id.
    pub from: String,
    /// The author's nick.
    pub nick: String,
    /// The text (direct messages: sealed).
    pub text: String,
    /// Direct messages: the recipient's peer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The author's signature (checked before the entry was sequenced).
    #[serde(default, with = "serde_bytes")]
    pub sig: Vec<u8>,
}

/// Where the reply to a submission goes.
enum ReplyTo {
    /// A client asked us directly.
    Client(ResponseChannel<Response>),
    /// A server forwarded it to us.
    Forwarded(ResponseChannel<Response>),
}

/// The server's part of a node's state.
pub(super) struct ServerPart {
    core: order::Server,
    /// The clock's zero: core time is milliseconds since then.
    epoch: Instant,
    disk: mpsc::UnboundedSender<Job>,
    completions: mpsc::UnboundedReceiver<u64>,
    history: RoomHistory,
    /// Submissions waiting for the core's reply, by (client, counter).
    waiting: HashMap<(order::ClientId, u64), Vec<ReplyTo>>,
    /// Submissions we forwarded to the leader, by request id.
    forwarded: HashMap<OutboundRequestId, ResponseChannel<Response>>,
    /// The leader we last reported, with its term.
    reported_leader: Option<(u64, Option<NodeId>)>,
    /// Servers the core has been told about.
    told: BTreeSet<NodeId>,
    /// Rooms whose history before a snapshot is being fetched, up to which seq.
    backfill: std::collections::BTreeMap<String, u64>,
    /// Back-fill requests in flight, by request id.
    backfills: HashMap<OutboundRequestId, String>,
    /// Ordering messages of this event-loop turn not yet sent, per server (CBOR each).
    outgoing: std::collections::BTreeMap<PeerId, Vec<Vec<u8>>>,
    /// Messages committed in this event-loop turn, to publish on their room topics.
    to_publish: Vec<Committed>,
}

/// Most bytes of committed messages batched into one gossipsub message (well
/// under [`wire::MAX_GOSSIP_BYTES`]); a new batch starts beyond it.
const MAX_PUBLISH_BYTES: usize = 64 * 1024;

/// Most bytes of ordering messages coalesced into one request (well under
/// [`wire::MAX_RPC_BYTES`]); a larger single message goes alone.
const MAX_COALESCED_BYTES: usize = 1024 * 1024;

/// Groups a turn's committed messages into what is published: per room, in
/// order, at most [`wire::MAX_COMMITTED_BATCH`] messages or about
/// [`MAX_PUBLISH_BYTES`] per gossipsub message.
fn publish_batches(committed: Vec<Committed>) -> Vec<Vec<Committed>> {
    // Per room: its batches, and the size of the last one.
    let mut rooms: std::collections::BTreeMap<String, (Vec<Vec<Committed>>, usize)> =
        Default::default();
    for msg in committed {
        // Roughly what the message adds to the payload.
        let size = msg.text.len() + msg.nick.len() + msg.id.len() + msg.from.len() + 32;
        let (batches, bytes) = rooms.entry(msg.room.clone()).or_default();
        let full = batches.last().is_none_or(|b| {
            b.len() >= wire::MAX_COMMITTED_BATCH || *bytes + size > MAX_PUBLISH_BYTES
        });
        if full {
            batches.push(Vec::new());
            *bytes = 0;
        }
        *bytes += size;
        if let Some(b) = batches.last_mut() {
            b.push(msg);
        }
    }
    rooms.into_values().flat_map(|(b, _)| b).collect()
}

/// Splits the messages for one server into the requests that carry them, in
/// order: one [`Request::Order`] for a lone message, [`Request::Orders`] for
/// several, each request at most [`MAX_COALESCED_BYTES`] unless one message is larger.
fn coalesce(messages: Vec<Vec<u8>>) -> Vec<Request> {
    let mut requests = Vec::new();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0;
    let close = |batch: &mut Vec<Vec<u8>>, requests: &mut Vec<Request>| match batch.len() {
        0 => {}
        1 => requests.extend(batch.pop().map(Request::Order)),
        _ => requests.push(Request::Orders(
            batch.drain(..).map(serde_bytes::ByteBuf::from).collect(),
        )),
    };
    for m in messages {
        if !batch.is_empty() && bytes + m.len() > MAX_COALESCED_BYTES {
            close(&mut batch, &mut requests);
            bytes = 0;
        }
        bytes += m.len();
        batch.push(m);
    }
    close(&mut batch, &mut requests);
    requests
}

/// Checks a submission before it is sequenced: names and sizes, the author's
/// signature, the id bound to (client, counter), and for direct messages the
/// conversation named by author and recipient.
pub fn check_submission(author: &str, submit: &Submit) -> Result<(), String> {
    wire::validate_room(&submit.room)?;
    wire::validate_body(&submit.room, &submit.text)?;
    wire::validate_nick(&submit.nick)?;
    if submit.id != Submit::id_for(&submit.client, submit.counter) {
        return Err(format!(
            "message id {:?} does not match its client and counter",
            submit.id
        ));
    }
    crate::authorship::verify(author, &submit.signed(), &submit.sig).map_err(|e| e.to_string())?;
    match &submit.to {
        Some(to) => {
            let (Ok(a), Ok(t)) = (author.parse::<PeerId>(), to.parse::<PeerId>()) else {
                return Err(format!("direct message to {to:?}: not a peer id"));
            };
            if submit.room != crate::seal::dm_room(&a, &t) {
                return Err("direct message filed under the wrong conversation".into());
            }
        }
        None if crate::seal::is_dm_room(&submit.room) => {
            return Err(
                "rooms starting with \"dm.\" are direct conversations: name a recipient".into(),
            );
        }
        None => {}
    }
    Ok(())
}

/// The core's node id of a peer: its ed25519 public key.
pub fn node_id(peer: &PeerId) -> Option<NodeId> {
    let bytes = peer.to_bytes();
    // An ed25519 peer id is the identity multihash of the protobuf-encoded key:
    // 0x00 0x24 | 0x08 0x01 0x12 0x20 | 32 key bytes.
    if bytes.len() != 38 || bytes[..6] != [0x00, 0x24, 0x08, 0x01, 0x12, 0x20] {
        return None;
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(&bytes[6..]);
    Some(NodeId(id))
}

/// The peer id of a core node id.
pub fn peer_id(id: &NodeId) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&id.0).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}

impl ServerPart {
    /// Opens the server's storage in `dir`, recovers the core from it and starts
    /// the storage thread.
    pub(super) fn open(config: &NodeConfig, me: PeerId, dir: &Path) -> Result<ServerPart> {
        let id = node_id(&me).context("the server identity must be an ed25519 key")?;
        let (mut recovered, history_records, disk) = Disk::open(dir)?;
        // Re-applying is idempotent (history appends ignore known seqs), so
        // the core may re-apply everything it recovers.
        recovered.applied = 0;
        let mut history = RoomHistory::new();
        for msg in history_records {
            history.append(msg);
        }
        info!(
            "recovered {} history messages from {}",
            history.len(),
            dir.display()
        );
        // Formation is left to the core's rule (the highest stateless server
        // forms after the discovery window); making `--bootstrap` servers
        // join-only would deadlock when one of them has the highest id.
        let defaults = order::Config::default();
        let core_config = order::Config {
            bootstrap_expect: config.bootstrap_expect,
            discovery_window_ms: match config.join_only {
                true => u64::MAX,
                false => defaults.discovery_window_ms,
            },
            ..defaults
        };
        let seed = rand::random();
        let core = order::Server::new(id, core_config, recovered, seed);
        let (jobs, completions) = disk::spawn(disk);
        Ok(ServerPart {
            core,
            epoch: Instant::now(),
            disk: jobs,
            completions,
            history,
            waiting: HashMap::new(),
            forwarded: HashMap::new(),
            reported_leader: None,
            told: BTreeSet::new(),
            backfill: Default::default(),
            backfills: HashMap::new(),
            outgoing: Default::default(),
            to_publish: Vec::new(),
        })
    }

    fn now(&self) -> order::Instant {
        order::Instant(self.epoch.elapsed().as_millis() as u64)
    }

    /// Submissions held now (waiting for the core, or forwarded): bounded by
    /// [`crate::limits::MAX_IN_FLIGHT_SUBMISSIONS`].
    pub(super) fn in_flight(&self) -> usize {
        self.waiting.len() + self.forwarded.len()
    }
}

/// The next storage completion (pending forever for clients).
pub(super) async fn next_completion(server: &mut Option<ServerPart>) -> u64 {
    match server {
        Some(s) => match s.completions.recv().await {
            Some(id) => id,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

impl Node {
    /// When the core next wants the time.
    pub(super) fn server_deadline(&self) -> tokio::time::Instant {
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let Some(s) = &self.server else { return far };
        match s.core.poll_timeout() {
            // A deadline beyond the far future (e.g. "never form a cluster") is the far future.
            Some(at) => s
                .epoch
                .checked_add(Duration::from_millis(at.0))
                .map(tokio::time::Instant::from_std)
                .map_or(far, |t| t.min(far)),
            None => far,
        }
    }

    /// The core's deadline passed.
    pub(super) fn server_timeout(&mut self) {
        if let Some(s) = self.server.as_mut() {
            let now = s.now();
            s.core.handle_timeout(now);
        }
    }

    /// Storage writes completed, up to write `id` (and any others ready now).
    pub(super) fn server_persisted(&mut self, id: u64) {
        if let Some(s) = self.server.as_mut() {
            let mut id = id;
            // Completions are cumulative: one input for all that are ready.
            while let Ok(later) = s.completions.try_recv() {
                id = id.max(later);
            }
            let now = s.now();
            s.core.handle(now, order::Input::Persisted { id });
        }
    }

    /// Feeds the core one input; its outputs are carried out at the end of the
    /// event-loop turn ([`Node::server_flush`]), so that what several inputs of
    /// one turn produce travels together.
    fn core_input(&mut self, input: order::Input) {
        if let Some(s) = self.server.as_mut() {
            let now = s.now();
            s.core.handle(now, input);
        }
    }

    /// Tells the core about a server it may not know (discovery proposes, the log decides).
    /// Servers that are not admitted are never told: they cannot vote, lead or
    /// count in a quorum.
    pub(super) fn server_discovered(&mut self, peer: PeerId) {
        if !self.gate.admits(&peer) {
            debug!(%peer, "server not admitted (yet): not told to the core");
            return;
        }
        let Some(id) = node_id(&peer) else { return };
        let Some(s) = self.server.as_mut() else {
            return;
        };
        if s.told.insert(id) {
            self.core_input(order::Input::Discovered(id));
        }
        self.core_input(order::Input::PeerUp(id));
    }

    /// A server's connection closed or its pings failed.
    pub(super) fn server_peer_down(&mut self, peer: PeerId) {
        if self.server.is_none() {
            return;
        }
        if let Some(id) = node_id(&peer) {
            self.core_input(order::Input::PeerDown(id));
        }
    }

    /// Carries out the core's outputs until it has none.
    fn drive_core(&mut self) {
        loop {
            let Some(s) = self.server.as_mut() else {
                return;
            };
            let Some(output) = s.core.poll_output() else {
                break;
            };
            match output {
                order::Output::Send { to, msg } => self.send_core_message(to, msg),
                order::Output::Persist { id, op } => {
                    if s.disk.send(Job::Persist { id, op }).is_err() {
                        warn!("storage thread gone: write {id} not done");
                    }
                }
                order::Output::Apply(applied) => self.apply(applied),
                order::Output::Reply {
                    client,
                    counter,
                    result,
                } => self.reply(client, counter, result),
                order::Output::LeaderChanged { term, leader } => self.leader_changed(term, leader),
                order::Output::SnapshotInstalled { index, rooms } => {
                    info!(index, "installed a snapshot from the leader");
                    self.backfill(rooms);
                }
                order::Output::MembershipChanged(m) => {
                    info!("membership changed: {m:?}");
                }
            }
        }
    }

    /// Queues an ordering message; [`Node::server_flush`] sends the turn's
    /// messages to each server together.
    fn send_core_message(&mut self, to: NodeId, msg: order::Message) {
        let Some(peer) = peer_id(&to) else { return };
        let Some(s) = self.server.as_mut() else {
            return;
        };
        s.outgoing.entry(peer).or_default().push(wire::encode(&msg));
    }

    /// End of an event-loop turn: carries out the core's outputs and sends
    /// the ordering messages queued for each server, coalesced into as few
    /// requests as fit (one stream per server per turn rather than one per message).
    pub(super) fn server_flush(&mut self) {
        self.drive_core();
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let outgoing = std::mem::take(&mut s.outgoing);
        let committed = std::mem::take(&mut s.to_publish);
        for (peer, messages) in outgoing {
            for request in coalesce(messages) {
                // Fire and forget: the core resends what is not acknowledged.
                self.swarm.behaviour_mut().rpc.send_request(&peer, request);
            }
        }
        for batch in publish_batches(committed) {
            self.publish_committed(&batch);
        }
    }

    fn leader_changed(&mut self, term: u64, leader: Option<NodeId>) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        if s.reported_leader == Some((term, leader)) {
            return;
        }
        s.reported_leader = Some((term, leader));
        if let Some(peer) = leader.as_ref().and_then(peer_id) {
            info!(term, leader = %peer, "new leader");
            self.emit(Event::Leader {
                term,
                peer_id: peer.to_base58(),
            });
        }
    }

    /// A committed entry: record it in the room history and, on the leader,
    /// publish it on the room's topic.
    fn apply(&mut self, applied: order::Applied) {
        let body: ChatBody = match wire::decode(&applied.body) {
            Ok(b) => b,
            Err(e) => {
                warn!("entry {} holds no chat message: {e}", applied.index);
                return;
            }
        };
        let msg = Committed {
            room: applied.room,
            seq: applied.seq,
            id: body.id,
            from: body.from,
            nick: body.nick,
            text: body.text,
            to: body.to,
            sig: body.sig,
        };
        let Some(s) = self.server.as_mut() else {
            return;
        };
        if s.history.append(msg.clone()) == Appended::Duplicate {
            return;
        }
        let _ = s.disk.send(Job::History(msg.clone()));
        if s.core.role() == order::Role::Leader {
            // Published at the end of the turn, with the others committed in it.
            s.to_publish.push(msg);
        }
    }

    /// After a snapshot install, the history before the snapshot's room heads
    /// was never applied here: fetch it from other servers.
    fn backfill(&mut self, rooms: std::collections::BTreeMap<String, u64>) {
        for (room, head) in rooms {
            if let Some(s) = self.server.as_mut() {
                s.backfill.insert(room.clone(), head);
            }
            self.backfill_next(room);
        }
    }

    /// Resumes back-fills that have no request in flight (every presence tick).
    pub(super) fn server_retry_backfills(&mut self) {
        let Some(s) = self.server.as_ref() else {
            return;
        };
        let idle: Vec<String> = s
            .backfill
            .keys()
            .filter(|r| !s.backfills.values().any(|b| b == *r))
            .cloned()
            .collect();
        for room in idle {
            self.backfill_next(room);
        }
    }

    /// Asks a server for the first messages of `room` still missing here.
    fn backfill_next(&mut self, room: String) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let Some(upto) = s.backfill.get(&room).copied() else {
            return;
        };
        let Some(missing) = s.history.first_missing(&room, upto) else {
            info!(%room, upto, "history back-filled");
            s.backfill.remove(&room);
            return;
        };
        let leader = s.core.leader().as_ref().and_then(peer_id);
        let others: Vec<PeerId> = self
            .connected
            .iter()
            .filter(|(_, r)| **r == Some(Role::Server))
            .map(|(p, _)| *p)
            .collect();
        let source = leader
            .filter(|l| *l != self.me && self.connected.contains_key(l))
            .or_else(|| others.get(missing as usize % others.len().max(1)).copied());
        let Some(source) = source else {
            warn!(%room, "no server to back-fill history from");
            return;
        };
        let request = Request::History {
            room: room.clone(),
            range: wire::HistoryRange::From {
                seq: missing,
                limit: wire::MAX_HISTORY_LIMIT,
            },
        };
        let id = self
            .swarm
            .behaviour_mut()
            .rpc
            .send_request(&source, request);
        if let Some(s) = self.server.as_mut() {
            s.backfills.insert(id, room);
        }
    }

    /// Publishes committed messages of one room (or direct conversation), in
    /// seq order, as one gossipsub message.
    fn publish_committed(&mut self, batch: &[Committed]) {
        let Some(first) = batch.first() else { return };
        let topic = match first.to {
            Some(_) => gossipsub::IdentTopic::new(wire::DM_TOPIC),
            None => wire::room_topic(&first.room),
        };
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        if !gs.topics().any(|t| *t == topic.hash()) {
            let _ = gs.subscribe(&topic);
        }
        let payload = if planted_tampering() {
            let tampered: Vec<Committed> = batch
                .iter()
                .map(|m| Committed {
                    text: format!("tampered: {}", m.text),
                    ..m.clone()
                })
                .collect();
            wire::encode_room_payload(&tampered)
        } else {
            wire::encode_room_payload(batch)
        };
        match gs.publish(topic, payload) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
            // Nobody subscribed (yet): clients fetch by seq when they notice.
            Err(e) => debug!(room = %first.room, seq = first.seq, n = batch.len(), "publish: {e}"),
        }
    }

    fn reply(&mut self, client: order::ClientId, counter: u64, result: order::SubmitResult) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let Some(waiters) = s.waiting.remove(&(client, counter)) else {
            return;
        };
        let hint = s.core.leader().as_ref().and_then(peer_id);
        let response = match result {
            order::SubmitResult::Ok { room, seq } => Response::Submitted { room, seq },
            order::SubmitResult::NotLeader { hint: h } => Response::Rejected {
                reason: "not the leader".into(),
                leader: h.as_ref().and_then(peer_id).or(hint).map(|p| p.to_base58()),
                retry: true,
            },
            order::SubmitResult::Busy => Response::Rejected {
                reason: "the leader is busy".into(),
                leader: hint.map(|p| p.to_base58()),
                retry: true,
            },
            order::SubmitResult::Stale => Response::Rejected {
                reason: "already acknowledged".into(),
                leader: None,
                retry: false,
            },
        };
        for w in waiters {
            let channel = match w {
                ReplyTo::Client(c) | ReplyTo::Forwarded(c) => c,
            };
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, response.clone());
        }
    }

    /// A request to this server.
    pub(super) fn server_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        match request {
            // Answered by the node for every role.
            Request::Status | Request::Admission(_) => {}
            Request::Order(bytes) => {
                self.respond(peer, channel, Response::Ack);
                self.order_message(peer, &bytes);
            }
            Request::Orders(batch) => {
                self.respond(peer, channel, Response::Ack);
                for bytes in batch {
                    self.order_message(peer, &bytes);
                }
            }
            Request::Submit(submit) => {
                if self.presence.role_of(&peer) == Some(Role::Server) {
                    return self.respond(peer, channel, Response::Error("servers forward".into()));
                }
                self.take_submission(peer.to_base58(), submit, ReplyTo::Client(channel));
            }
            Request::Forward { author, submit } => {
                if !self.linked_server(&peer) {
                    return self.respond(
                        peer,
                        channel,
                        Response::Error("only servers forward submissions".into()),
                    );
                }
                self.take_submission(author, submit, ReplyTo::Forwarded(channel));
            }
            Request::History { room, range } => {
                let response = match self.server.as_ref() {
                    Some(s) => {
                        let (head, messages) = s.history.range(&room, range);
                        Response::History {
                            room,
                            head,
                            messages,
                        }
                    }
                    None => Response::Error("not a server".into()),
                };
                self.respond(peer, channel, response);
            }
        }
    }

    /// One ordering message from another server: to the core, if it is one.
    fn order_message(&mut self, peer: PeerId, bytes: &[u8]) {
        let from = node_id(&peer);
        let msg = wire::decode::<order::Message>(bytes);
        match (from, msg) {
            (Some(from), Ok(msg))
                if self.presence.role_of(&peer) != Some(Role::Client)
                    && self.gate.admits(&peer) =>
            {
                self.core_input(order::Input::Message { from, msg })
            }
            (_, Err(e)) => warn!(%peer, "bad ordering message: {e}"),
            _ => debug!(%peer, "ordering message from a non-admitted peer ignored"),
        }
    }

    /// A submission from a client (directly, or forwarded by another server).
    fn take_submission(&mut self, author: String, submit: Submit, reply_to: ReplyTo) {
        if let Err(e) = check_submission(&author, &submit) {
            let channel = match reply_to {
                ReplyTo::Client(c) | ReplyTo::Forwarded(c) => c,
            };
            let _ = self.swarm.behaviour_mut().rpc.send_response(
                channel,
                Response::Rejected {
                    reason: e,
                    leader: None,
                    retry: false,
                },
            );
            return;
        }
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let leader = s.core.leader();
        let am_leader = s.core.role() == order::Role::Leader;
        if !am_leader {
            // Pass it on to the leader if we know one and reach it; the client
            // retries otherwise.
            let channel = match reply_to {
                ReplyTo::Client(c) => c,
                ReplyTo::Forwarded(c) => {
                    let _ = self.swarm.behaviour_mut().rpc.send_response(
                        c,
                        Response::Rejected {
                            reason: "not the leader".into(),
                            leader: leader.as_ref().and_then(peer_id).map(|p| p.to_base58()),
                            retry: true,
                        },
                    );
                    return;
                }
            };
            match leader.as_ref().and_then(peer_id) {
                // Each forwarded submission holds a stream to the leader until
                // it commits; beyond a bound the client retries later, so the
                // connection always has streams left for ordering messages.
                Some(l)
                    if self.connected.contains_key(&l)
                        && s.forwarded.len() >= crate::limits::MAX_FORWARDS_IN_FLIGHT =>
                {
                    let _ = self.swarm.behaviour_mut().rpc.send_response(
                        channel,
                        Response::Rejected {
                            reason: "the leader is busy: try again".into(),
                            leader: Some(l.to_base58()),
                            retry: true,
                        },
                    );
                }
                Some(l) if self.connected.contains_key(&l) => {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .rpc
                        .send_request(&l, Request::Forward { author, submit });
                    if let Some(s) = self.server.as_mut() {
                        s.forwarded.insert(id, channel);
                    }
                }
                other => {
                    let _ = self.swarm.behaviour_mut().rpc.send_response(
                        channel,
                        Response::Rejected {
                            reason: "no leader reachable (no quorum?)".into(),
                            leader: other.map(|p| p.to_base58()),
                            retry: true,
                        },
                    );
                }
            }
            return;
        }
        let body = ChatBody {
            id: submit.id,
            from: author,
            nick: submit.nick,
            text: submit.text,
            to: submit.to,
            sig: submit.sig,
        };
        let client = order::ClientId(submit.client);
        s.waiting
            .entry((client, submit.counter))
            .or_default()
            .push(reply_to);
        self.core_input(order::Input::Submit {
            client,
            counter: submit.counter,
            lowest_unacked: submit.lowest_unacked,
            room: submit.room,
            body: wire::encode(&body),
        });
    }

    /// A response to one of this server's requests.
    pub(super) fn server_response(
        &mut self,
        _peer: PeerId,
        id: OutboundRequestId,
        response: Response,
    ) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        if let Some(room) = s.backfills.remove(&id) {
            let mut progress = false;
            if let Response::History { messages, .. } = response {
                for msg in messages.into_iter().filter(|m| m.room == room) {
                    if s.history.append(msg.clone()) == Appended::New {
                        let _ = s.disk.send(Job::History(msg));
                        progress = true;
                    }
                }
            }
            // Without progress, try again (elsewhere) at the next retry tick.
            if progress {
                self.backfill_next(room);
            }
            return;
        }
        if let Some(channel) = s.forwarded.remove(&id) {
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, response);
        }
    }

    /// One of this server's requests failed.
    pub(super) fn server_request_failed(&mut self, peer: PeerId, id: OutboundRequestId) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        if s.backfills.remove(&id).is_some() {
            return; // retried at the next retry tick
        }
        if let Some(channel) = s.forwarded.remove(&id) {
            let _ = self.swarm.behaviour_mut().rpc.send_response(
                channel,
                Response::Rejected {
                    reason: format!("leader {peer} did not answer"),
                    leader: None,
                    retry: true,
                },
            );
        }
    }

    /// What this server's room history holds, by room (empty for clients).
    pub(super) fn server_history_held(
        &self,
    ) -> std::collections::BTreeMap<String, crate::api::HistoryHeld> {
        let Some(s) = self.server.as_ref() else {
            return Default::default();
        };
        s.history
            .held()
            .into_iter()
            .map(|(room, head, held)| (room, crate::api::HistoryHeld { head, held }))
            .collect()
    }

    /// This server's view of the cluster, for announcements and status.
    /// The leader of the current term, as this server's core knows it.
    pub(super) fn server_leader(&self) -> Option<PeerId> {
        self.server
            .as_ref()?
            .core
            .leader()
            .as_ref()
            .and_then(peer_id)
    }

    pub(super) fn server_cluster_view(&self) -> Option<ClusterView> {
        let s = self.server.as_ref()?;
        let core = &s.core;
        Some(ClusterView {
            term: core.term(),
            leader: core
                .leader()
                .as_ref()
                .and_then(peer_id)
                .map(|p| p.to_base58()),
            commit_index: core.commit_index(),
            voters: core
                .voters()
                .iter()
                .filter_map(peer_id)
                .map(|p| p.to_base58())
                .collect(),
            quorum: core.has_quorum(s.now()),
            heads: s.history.heads(),
        })
    }
}

/// A planted fault for the tests of authentic messages (debug builds only):
/// `CHORUS_PLANTED_FAULT=tamper-published` makes the leader alter the text of
/// every message it publishes; clients must refuse what the author did not sign.
fn planted_tampering() -> bool {
    cfg!(debug_assertions)
        && std::env::var("CHORUS_PLANTED_FAULT").is_ok_and(|f| f == "tamper-published")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_keeps_order_and_splits_large_turns() {
        assert!(coalesce(vec![]).is_empty());
        assert_eq!(coalesce(vec![vec![1]]), vec![Request::Order(vec![1])]);
        let batch = |ms: &[&[u8]]| {
            Request::Orders(
                ms.iter()
                    .map(|m| serde_bytes::ByteBuf::from(m.to_vec()))
                    .collect(),
            )
        };
        assert_eq!(
            coalesce(vec![vec![1], vec![2], vec![3]]),
            vec![batch(&[&[1], &[2], &[3]])]
        );
        let big = vec![0u8; MAX_COALESCED_BYTES - 1];
        let huge = vec![9u8; MAX_COALESCED_BYTES + 5];
        let requests = coalesce(vec![vec![1], big.clone(), vec![2], huge.clone(), vec![3]]);
        assert_eq!(
            requests,
            vec![
                batch(&[&[1], &big]),
                Request::Order(vec![2]),
                Request::Order(huge),
                Request::Order(vec![3]),
            ]
        );
        for r in &requests {
            assert!(wire::encode(r).len() as u64 <= wire::MAX_RPC_BYTES);
        }
    }

    #[test]
    fn committed_messages_are_published_per_room_in_bounded_batches() {
        let c = |room: &str, seq: u64, text_len: usize| Committed {
            room: room.into(),
            seq,
            id: format!("x-{seq}"),
            from: "p".into(),
            nick: "n".into(),
            text: "t".repeat(text_len),
            to: None,
            sig: Vec::new(),
        };
        assert!(publish_batches(vec![]).is_empty());
        let turn = vec![c("a", 1, 5), c("b", 1, 5), c("a", 2, 5)];
        let seqs = |bs: &[Vec<Committed>]| -> Vec<Vec<(String, u64)>> {
            bs.iter()
                .map(|b| b.iter().map(|m| (m.room.clone(), m.seq)).collect())
                .collect()
        };
        assert_eq!(
            seqs(&publish_batches(turn)),
            vec![
                vec![("a".into(), 1), ("a".into(), 2)],
                vec![("b".into(), 1)]
            ]
        );
        let many: Vec<Committed> = (1..=wire::MAX_COMMITTED_BATCH as u64 + 1)
            .map(|s| c("a", s, 5))
            .collect();
        let b = publish_batches(many);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![wire::MAX_COMMITTED_BATCH, 1]
        );
        let big: Vec<Committed> = (1..=40).map(|s| c("a", s, 4000)).collect();
        for batch in publish_batches(big) {
            let bytes = wire::encode_room_payload(&batch).len();
            assert!(bytes <= wire::MAX_GOSSIP_BYTES / 2, "{bytes} bytes");
        }
    }

    #[test]
    fn a_batch_of_order_messages_round_trips() {
        let r = Request::Orders(vec![serde_bytes::ByteBuf::from(vec![1, 2]), vec![3].into()]);
        assert_eq!(wire::decode::<Request>(&wire::encode(&r)), Ok(r));
    }
}
