//! The client role: submits messages over request-response and retries them
//! until acknowledged, delivers committed messages in `seq` order (gossip, gap
//! fetches, history), and follows the cluster's leader and room heads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A server's announced view counts for this long (a few missed heartbeats).
const VIEW_TTL: Duration = Duration::from_millis(3500);
/// A server that left a request unanswered is asked only when no other can
/// be, for this long.
const UNANSWERED_PAUSE: Duration = Duration::from_secs(3);

use libp2p::{request_response::OutboundRequestId, PeerId};
use rand::seq::IteratorRandom;
use sha2::{Digest, Sha256};
use tracing::debug;

use super::Node;
use crate::api::{ChatMessage, Event};
use crate::chat::{Action, Pending, Session, FETCH_LIMIT};
use crate::wire::{self, ClusterView, Committed, HistoryRange, Request, Response, Role, Submit};
use crate::{authorship, seal};

/// Why a history request was made.
#[derive(Debug, Clone, PartialEq)]
enum HistoryPurpose {
    /// Joining a room: the last N messages, then live delivery.
    Join,
    /// The user paging back.
    Page,
    /// Filling a gap in live delivery.
    Fill,
}

/// An outstanding request of this client.
#[derive(Debug, Clone)]
enum ClientRpc {
    Submit(u64),
    History(String, HistoryPurpose),
}

/// The client's part of a node's state.
pub(super) struct ClientPart {
    pub(super) session: Session,
    /// SHA-256 of peer id and process session: the client id in the log.
    client_id: [u8; 32],
    /// `<16 hex digits>`: the prefix of this session's message ids (the
    /// client id's first 8 bytes, see [`Submit::id_for`]).
    id_prefix: String,
    /// Direct conversations followed in this session, with the first seq
    /// that arrived live (earlier ones are the conversation's history, fetched
    /// on first contact); `None` until one arrived.
    dm_live_from: HashMap<String, Option<u64>>,
    rpcs: HashMap<OutboundRequestId, ClientRpc>,
    /// Rooms whose join history is still to be requested.
    history_wanted: BTreeSet<String>,
    /// How many messages of history to load on joining.
    history_limit: u32,
    /// The leader named by the last server that turned a submission away.
    leader_hint: Option<PeerId>,
    /// Servers whose answer did not come (timeout, closed connection), and
    /// when: not asked first for a while. A paused (not crashed) leader keeps
    /// its connections open for seconds, and every request to it times out.
    unanswered: HashMap<PeerId, Instant>,
    /// The latest view of the cluster announced by each server, and when.
    views: BTreeMap<PeerId, (Instant, ClusterView)>,
    /// The servers' views merged: what `status` reports.
    pub(super) cluster: Option<ClusterView>,
}

impl ClientPart {
    /// A client part for peer `me` in process session `session`.
    pub(super) fn new(me: PeerId, session: u64, history_limit: u32) -> Self {
        let mut h = Sha256::new();
        h.update(me.to_bytes());
        h.update(session.to_le_bytes());
        let client_id: [u8; 32] = h.finalize().into();
        ClientPart {
            session: Session::new(),
            client_id,
            id_prefix: hex::encode(&client_id[..8]),
            dm_live_from: HashMap::new(),
            rpcs: HashMap::new(),
            history_wanted: BTreeSet::new(),
            history_limit,
            leader_hint: None,
            unanswered: HashMap::new(),
            views: BTreeMap::new(),
            cluster: None,
        }
    }
}

impl Node {
    fn client(&mut self) -> Option<&mut ClientPart> {
        self.client.as_mut()
    }

    /// A connected server to ask: the leader if we are connected to it, else any.
    fn pick_server(&self) -> Option<PeerId> {
        let c = self.client.as_ref()?;
        let announced = c
            .cluster
            .as_ref()
            .and_then(|v| v.leader.as_ref())
            .and_then(|l| l.parse::<PeerId>().ok());
        let now = Instant::now();
        let answering = |p: &PeerId| {
            c.unanswered
                .get(p)
                .is_none_or(|at| now.saturating_duration_since(*at) >= UNANSWERED_PAUSE)
        };
        // A server's hint (from a rejection) is fresher than announcements.
        for l in [c.leader_hint, announced].into_iter().flatten() {
            if self.linked_server(&l) && answering(&l) {
                return Some(l);
            }
        }
        let servers: Vec<PeerId> = self
            .connected
            .keys()
            .copied()
            .filter(|p| self.linked_server(p))
            .collect();
        let answering_servers: Vec<PeerId> =
            servers.iter().copied().filter(|p| answering(p)).collect();
        let pool = if answering_servers.is_empty() {
            servers
        } else {
            answering_servers
        };
        pool.into_iter().choose(&mut rand::thread_rng())
    }

    fn client_request(&mut self, request: Request, purpose: ClientRpc) -> bool {
        let Some(server) = self.pick_server() else {
            return false;
        };
        let id = self
            .swarm
            .behaviour_mut()
            .rpc
            .send_request(&server, request);
        if let Some(c) = self.client() {
            c.rpcs.insert(id, purpose);
        }
        true
    }

    /// `send`: queue the message and submit it.
    pub(super) fn client_send(&mut self, room: Option<String>, text: String) {
        let Some(room) = room.or_else(|| self.current_room.clone()) else {
            return self.error("not in any room: join one first");
        };
        if !self.rooms.contains(&room) {
            return self.error(format!("not in room {room:?}: join it first"));
        }
        if let Err(e) = wire::validate_text(&text) {
            return self.error(e);
        }
        let Some(c) = self.client.as_mut() else {
            return;
        };
        if let Err(e) = crate::limits::check_pending(c.session.pending()) {
            return self.error(e);
        }
        let prefix = c.id_prefix.clone();
        let pending = c
            .session
            .submit(Instant::now(), &prefix, &room, &text, None);
        self.submit(pending);
    }

    /// `dm`: seal `text` for `to` (a peer id, or the nick of exactly one peer
    /// online) and submit it to the conversation between the two of them.
    pub(super) fn client_dm(&mut self, to: String, text: String) {
        if let Err(e) = wire::validate_text(&text) {
            return self.error(e);
        }
        let peer = match self.resolve_peer(&to) {
            Ok(p) => p,
            Err(e) => return self.error(e),
        };
        if peer == self.me {
            return self.error("a direct message to yourself: use a room");
        }
        let sealed = match seal::seal(&self.key, &peer, &text) {
            Ok(s) => s,
            Err(e) => return self.error(format!("cannot send to {to}: {e}")),
        };
        let room = seal::dm_room(&self.me, &peer);
        let Some(c) = self.client.as_mut() else {
            return;
        };
        if !c.dm_live_from.contains_key(&room) {
            // First contact in this session: deliver the conversation from its
            // start, the part before the first live message as history.
            c.session.watch(&room);
            c.session.follow(&room, 1);
            c.dm_live_from.insert(room.clone(), None);
        }
        let prefix = c.id_prefix.clone();
        let to = peer.to_base58();
        let pending = c
            .session
            .submit(Instant::now(), &prefix, &room, &sealed, Some(&to));
        self.submit(pending);
    }

    /// A peer named by peer id or by the nick of exactly one peer online.
    fn resolve_peer(&self, name: &str) -> Result<PeerId, String> {
        let name = name.trim_start_matches('@');
        if let Ok(peer) = name.parse::<PeerId>() {
            return Ok(peer);
        }
        let matches: Vec<String> = self
            .presence
            .alive()
            .into_iter()
            .filter(|p| p.role == Role::Client && p.nick.as_deref() == Some(name))
            .map(|p| p.peer_id)
            .collect();
        match matches.as_slice() {
            [one] => one.parse().map_err(|_| format!("bad peer id {one}")),
            [] => Err(format!("no one called {name:?} is online (give a peer id)")),
            many => Err(format!(
                "{} peers are called {name:?}: give a peer id ({})",
                many.len(),
                many.join(", ")
            )),
        }
    }

    fn submit(&mut self, p: Pending) {
        let Some(c) = self.client.as_ref() else {
            return;
        };
        let mut submit = Submit {
            client: c.client_id,
            counter: p.counter,
            lowest_unacked: c.session.lowest_unacked(),
            room: p.room,
            id: p.id,
            nick: self.nick.clone().unwrap_or_else(|| "anonymous".into()),
            text: p.text,
            to: p.to,
            sig: Vec::new(),
        };
        match authorship::sign(&self.key, &submit.signed()) {
            Ok(sig) => submit.sig = sig,
            Err(e) => return self.error(format!("message {} not sent: {e}", submit.id)),
        }
        if let Some(fault) = planted_forgery() {
            fault.apply(&mut submit);
        }
        if !self.client_request(Request::Submit(submit), ClientRpc::Submit(p.counter)) {
            debug!("no server connected: message {} waits", p.counter);
        }
    }

    /// `join`: subscribe to the room and load its recent history.
    pub(super) fn client_join(&mut self, room: &str) {
        if let Err(e) = wire::validate_room(room) {
            return self.error(e);
        }
        if seal::is_dm_room(room) {
            return self.error(format!(
                "{room} is a direct conversation, not a room: use dm (or /msg) to write to someone"
            ));
        }
        self.current_room = Some(room.to_string());
        if !self.rooms.insert(room.to_string()) {
            return; // already in it: just made current
        }
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&wire::room_topic(room))
        {
            self.rooms.remove(room);
            return self.error(format!("cannot join {room}: {e}"));
        }
        if let Some(c) = self.client() {
            c.session.watch(room);
            c.history_wanted.insert(room.to_string());
        }
        self.request_join_history();
    }

    fn request_join_history(&mut self) {
        let Some(c) = self.client.as_ref() else {
            return;
        };
        let limit = c.history_limit;
        for room in c.history_wanted.clone() {
            let request = Request::History {
                room: room.clone(),
                range: HistoryRange::Last { limit },
            };
            if !self.client_request(
                request,
                ClientRpc::History(room.clone(), HistoryPurpose::Join),
            ) {
                return;
            }
            if let Some(c) = self.client() {
                c.history_wanted.remove(&room);
            }
        }
    }

    /// `leave`.
    pub(super) fn client_leave(&mut self, room: &str) {
        if !self.rooms.remove(room) {
            return self.error(format!("not in room {room:?}"));
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .unsubscribe(&wire::room_topic(room));
        if let Some(c) = self.client() {
            c.session.unfollow(room);
            c.history_wanted.remove(room);
        }
        if self.current_room.as_deref() == Some(room) {
            self.current_room = self.rooms.iter().next_back().cloned();
        }
    }

    /// `history`: page back through a room.
    pub(super) fn client_history(&mut self, room: String, before: Option<u64>, limit: Option<u32>) {
        if let Err(e) = wire::validate_room(&room) {
            return self.error(e);
        }
        let limit = limit.unwrap_or(50).clamp(1, wire::MAX_HISTORY_LIMIT);
        let range = match before {
            Some(seq) => HistoryRange::Before { seq, limit },
            None => HistoryRange::Last { limit },
        };
        let request = Request::History {
            room: room.clone(),
            range,
        };
        if !self.client_request(request, ClientRpc::History(room, HistoryPurpose::Page)) {
            self.error("no server connected: history is not available right now");
        }
    }

    /// Periodic work: resend overdue submissions, fetch gaps, load history.
    pub(super) fn client_tick(&mut self) {
        self.refresh_cluster(Instant::now());
        let Some(c) = self.client() else { return };
        let actions = c.session.tick(Instant::now());
        for action in actions {
            match action {
                Action::Submit(p) => self.submit(p),
                Action::Fetch { room, from, to } => {
                    let limit = (to + 1 - from).min(u64::from(FETCH_LIMIT)) as u32;
                    let request = Request::History {
                        room: room.clone(),
                        range: HistoryRange::From { seq: from, limit },
                    };
                    self.client_request(request, ClientRpc::History(room, HistoryPurpose::Fill));
                }
            }
        }
        self.request_join_history();
    }

    /// A committed message arrived by gossip: a room message for a room this
    /// client is in, or a direct message (any: keep those between this client
    /// and someone else). Delivered if it came from the leader; otherwise it
    /// only says that there is something to fetch, by seq, from a server.
    pub(super) fn client_committed_gossip(&mut self, msg: Committed, from_leader: bool) {
        if let Some(to) = &msg.to {
            let me = self.me.to_base58();
            if msg.from != me && *to != me {
                return;
            }
            let Some(c) = self.client.as_mut() else {
                return;
            };
            match c.dm_live_from.get_mut(&msg.room) {
                Some(Some(_)) => {}
                Some(live_from) => *live_from = Some(msg.seq),
                None => {
                    // First contact in this session: earlier messages of the
                    // conversation are its history, fetched from seq 1.
                    c.dm_live_from.insert(msg.room.clone(), Some(msg.seq));
                    c.session.watch(&msg.room);
                    c.session.follow(&msg.room, 1);
                }
            }
        } else if !self.rooms.contains(&msg.room) {
            return;
        }
        if from_leader {
            self.client_committed(msg);
        } else if let Some(c) = self.client() {
            c.session.head(Instant::now(), &msg.room, msg.seq);
        }
    }

    /// A committed message (from the leader or a gap fetch) to deliver in order.
    pub(super) fn client_committed(&mut self, msg: Committed) {
        let Some(c) = self.client() else { return };
        let delivered = c.session.committed(Instant::now(), msg);
        for m in delivered {
            self.deliver(m, false);
        }
    }

    /// Reports a message to the user (its signature was checked where it
    /// came in); a direct message once it decrypts, an `error` event if not.
    fn deliver(&mut self, m: Committed, history: bool) {
        let text = match &m.to {
            None => m.text,
            Some(to) => {
                let (Ok(from), Ok(to)) = (m.from.parse::<PeerId>(), to.parse::<PeerId>()) else {
                    return;
                };
                match seal::open(&self.key, &from, &to, &m.text) {
                    Ok(text) => text,
                    Err(e) => {
                        return self.error(format!(
                            "direct message {} from {} not shown: {e}",
                            m.id, m.from
                        ))
                    }
                }
            }
        };
        let history = history
            || self
                .client
                .as_ref()
                .and_then(|c| c.dm_live_from.get(&m.room).copied().flatten())
                .is_some_and(|live| m.seq < live);
        self.emit(Event::Message(ChatMessage {
            room: m.room,
            id: m.id,
            from: m.from,
            nick: m.nick,
            text,
            seq: Some(m.seq),
            history,
            to: m.to,
        }));
    }

    /// Server `from` announced its view of the cluster.
    pub(super) fn client_cluster_view(&mut self, from: PeerId, view: ClusterView) {
        if !self.gate.admits(&from) {
            return; // a server not admitted says nothing about the cluster
        }
        let now = Instant::now();
        let Some(c) = self.client.as_mut() else {
            return;
        };
        for (room, head) in &view.heads {
            c.session.head(now, room, *head);
        }
        c.views.insert(from, (now, view));
        self.refresh_cluster(now);
    }

    /// Merges the servers' recent views: leader and term from the newest term,
    /// quorum if any server heard recently is in touch with a quorum.
    fn refresh_cluster(&mut self, now: Instant) {
        let Some(c) = self.client.as_mut() else {
            return;
        };
        c.views
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < VIEW_TTL);
        let best = c
            .views
            .values()
            .map(|(_, v)| v)
            .max_by_key(|v| (v.term, v.leader.is_some(), v.commit_index));
        let Some(best) = best else {
            if let Some(old) = c.cluster.as_mut() {
                old.quorum = false;
            }
            return;
        };
        let mut merged = best.clone();
        merged.quorum = c.views.values().any(|(_, v)| v.quorum);
        merged.commit_index = c
            .views
            .values()
            .map(|(_, v)| v.commit_index)
            .max()
            .unwrap_or(0);
        let old = c.cluster.as_ref().map(|o| (o.term, o.leader.clone()));
        let new_leader = merged.leader.clone().filter(|_| {
            old.as_ref()
                .is_none_or(|(t, l)| (merged.term, &merged.leader) != (*t, l) && merged.term >= *t)
        });
        let term = merged.term;
        c.cluster = Some(merged);
        if new_leader.is_some() {
            // The servers announce a newer leader than any earlier hint.
            c.leader_hint = None;
        }
        if let Some(peer_id) = new_leader {
            self.emit(Event::Leader { term, peer_id });
        }
    }

    /// A response to one of this client's requests.
    pub(super) fn client_response(&mut self, id: OutboundRequestId, response: Response) {
        let Some(c) = self.client.as_mut() else {
            return;
        };
        let Some(purpose) = c.rpcs.remove(&id) else {
            return;
        };
        match (purpose, response) {
            (ClientRpc::Submit(counter), Response::Submitted { room, seq }) => {
                if let Some(p) = c.session.acknowledged(counter) {
                    self.emit(Event::Sent {
                        id: p.id,
                        room,
                        seq,
                    });
                }
            }
            (
                ClientRpc::Submit(counter),
                Response::Rejected {
                    reason,
                    retry,
                    leader,
                },
            ) => {
                if retry {
                    debug!("submission {counter} not taken yet: {reason}");
                    c.session.retry_later(Instant::now(), counter);
                    if let Some(l) = leader.and_then(|l| l.parse().ok()) {
                        c.leader_hint = Some(l);
                    }
                } else if let Some(p) = c.session.acknowledged(counter) {
                    self.error(format!("message {} refused: {reason}", p.id));
                }
            }
            (
                ClientRpc::History(room, purpose),
                Response::History {
                    room: r,
                    head,
                    messages,
                },
            ) if r == room => self.client_history_answer(room, purpose, head, messages),
            (ClientRpc::History(room, HistoryPurpose::Join), other) => {
                debug!("join history of {room} failed: {other:?}");
                c.history_wanted.insert(room);
            }
            (ClientRpc::History(room, HistoryPurpose::Page), other) => {
                self.error(format!("history of {room} not available: {other:?}"))
            }
            (purpose, other) => debug!("unexpected answer to {purpose:?}: {other:?}"),
        }
    }

    fn client_history_answer(
        &mut self,
        room: String,
        purpose: HistoryPurpose,
        head: u64,
        messages: Vec<Committed>,
    ) {
        let now = Instant::now();
        let mut messages: Vec<Committed> = messages
            .into_iter()
            .filter(|m| m.room == room && crate::limits::check_committed(m).is_ok())
            .collect();
        // Only what its author signed; a gap left by a refused message is
        // fetched again (from another server, most likely).
        let mut forged = Vec::new();
        messages.retain(|m| match m.verify() {
            Ok(()) => true,
            Err(e) => {
                forged.push(format!(
                    "message {} of {} (seq {}) not shown: {e}",
                    m.id, m.room, m.seq
                ));
                false
            }
        });
        for e in forged {
            self.error(e);
        }
        match purpose {
            HistoryPurpose::Page => {
                for m in messages {
                    self.deliver(m, true);
                }
            }
            HistoryPurpose::Fill => {
                for m in messages {
                    self.client_committed(m);
                }
            }
            HistoryPurpose::Join => {
                if !self.rooms.contains(&room) {
                    return;
                }
                let next = messages.last().map(|m| m.seq + 1).unwrap_or(head + 1);
                // The server sends at least one message (it also tells the head);
                // show only as many as asked for (`--history 0`: none).
                let wanted = self.client.as_ref().map_or(0, |c| c.history_limit) as usize;
                let skip = messages.len().saturating_sub(wanted);
                for m in messages.into_iter().skip(skip) {
                    self.deliver(m, true);
                }
                let Some(c) = self.client() else { return };
                let live = c.session.follow(&room, next);
                c.session.head(now, &room, head);
                for m in live {
                    self.deliver(m, false);
                }
            }
        }
    }

    /// A request of this client failed (timeout, connection closed).
    pub(super) fn client_request_failed(&mut self, peer: PeerId, id: OutboundRequestId) {
        let Some(c) = self.client() else { return };
        c.unanswered.insert(peer, Instant::now());
        if c.leader_hint == Some(peer) {
            c.leader_hint = None;
        }
        match c.rpcs.remove(&id) {
            // The server went away (often: the leader crashed): try again soon
            // rather than at the full timeout. Gaps are re-fetched by the timer.
            Some(ClientRpc::Submit(counter)) => c.session.retry_later(Instant::now(), counter),
            Some(ClientRpc::History(room, HistoryPurpose::Join)) => {
                c.history_wanted.insert(room);
            }
            Some(ClientRpc::History(room, HistoryPurpose::Page)) => {
                self.error(format!("history of {room}: the server did not answer"))
            }
            _ => {}
        }
    }

    /// The client's numbers for `status`: (pending messages).
    pub(super) fn client_pending(&self) -> usize {
        self.client.as_ref().map_or(0, |c| c.session.pending())
    }
}

/// A planted fault for the tests of authentic messages (debug builds only):
/// `CHORUS_PLANTED_FAULT=forge-signature` makes this client sign with a key
/// that is not its own, `alter-text=<text>` replaces the text after signing.
/// Servers must refuse both.
#[derive(Debug)]
enum Forgery {
    WrongKey,
    AlteredText(String),
}

impl Forgery {
    fn apply(&self, submit: &mut Submit) {
        match self {
            Forgery::WrongKey => {
                let other = libp2p::identity::Keypair::generate_ed25519();
                if let Ok(sig) = authorship::sign(&other, &submit.signed()) {
                    submit.sig = sig;
                }
            }
            Forgery::AlteredText(text) => submit.text = text.clone(),
        }
    }
}

fn planted_forgery() -> Option<Forgery> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let fault = std::env::var("CHORUS_PLANTED_FAULT").ok()?;
    if fault == "forge-signature" {
        Some(Forgery::WrongKey)
    } else {
        fault
            .strip_prefix("alter-text=")
            .map(|t| Forgery::AlteredText(t.to_string()))
    }
}
