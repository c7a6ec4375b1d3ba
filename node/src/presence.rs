//! Presence: who is in the network right now. A pure table (no I/O) fed with
//! heartbeats, connection events and servers' "gone" reports, with the current
//! time passed in; it answers with join/leave changes.
//!
//! The failure detector, documented in `docs/architecture.md`:
//! - every node announces itself on the presence topic every heartbeat interval;
//! - a peer not heard from (announcement, ping or identify) for `timeout` is gone:
//!   this catches paused and cut-off peers;
//! - a server whose last connection to a peer closes reports it "gone"; once every
//!   server the peer last said it was linked to has reported it (a kill -9 closes
//!   all of them at once), the peer is gone without waiting for the timeout;
//! - a peer heard from again after being gone joins again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

use crate::api::PeerInfo;
use crate::limits::MAX_PRESENCE_PEERS;
use crate::wire::{Announce, Role};

/// A join or a departure, to be reported to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The peer arrived or came back.
    Joined(PeerInfo),
    /// The peer left or crashed.
    Left(PeerInfo),
}

/// What is known about one peer.
#[derive(Debug, Clone)]
struct Peer {
    role: Role,
    nick: Option<String>,
    addrs: Vec<String>,
    rooms: Vec<String>,
    /// Servers the peer said it is linked to.
    links: BTreeSet<PeerId>,
    /// Servers that reported the peer gone since its last announcement.
    gone_reports: BTreeSet<PeerId>,
    /// Last sign of life; `None` once reported gone.
    last_heard: Option<Instant>,
    /// Whether we have reported it as joined (and not since as left).
    alive: bool,
    incarnation: u64,
    /// Counter of the newest announcement of this incarnation.
    last_n: Option<u64>,
}

/// The presence table of one node.
#[derive(Debug)]
pub struct Presence {
    me: PeerId,
    timeout: Duration,
    peers: BTreeMap<PeerId, Peer>,
    /// Peers we have at least one direct connection to.
    connected: BTreeSet<PeerId>,
}

impl Presence {
    /// A table for node `me`; peers silent for `timeout` are considered gone.
    pub fn new(me: PeerId, timeout: Duration) -> Self {
        Presence {
            me,
            timeout,
            peers: BTreeMap::new(),
            connected: BTreeSet::new(),
        }
    }

    /// An announcement from `from` arrived.
    pub fn announced(&mut self, now: Instant, from: PeerId, a: &Announce) -> Vec<Change> {
        if from == self.me {
            return Vec::new();
        }
        if !self.peers.contains_key(&from) && !self.make_room() {
            return Vec::new(); // table full of live peers: a flood of identities
        }
        let links = a.links.iter().filter_map(|s| s.parse().ok()).collect();
        let mut changes = Vec::new();
        let peer = self.peers.entry(from).or_insert_with(|| Peer {
            role: a.role,
            nick: a.nick.clone(),
            addrs: Vec::new(),
            rooms: Vec::new(),
            links: BTreeSet::new(),
            gone_reports: BTreeSet::new(),
            last_heard: None,
            alive: false,
            incarnation: a.incarnation,
            last_n: None,
        });
        if peer.incarnation == a.incarnation && peer.last_n.is_some_and(|n| a.n <= n) {
            return changes; // an old heartbeat, re-sent late by gossip
        }
        peer.last_n = Some(a.n);
        if peer.alive && peer.incarnation != a.incarnation {
            // Restarted faster than we noticed: report the crash and the return.
            changes.push(Change::Left(info(from, peer)));
            peer.alive = false;
        }
        peer.role = a.role;
        peer.nick = a.nick.clone();
        peer.addrs = a.addrs.clone();
        peer.rooms = a.rooms.clone();
        peer.links = links;
        peer.gone_reports.clear();
        peer.incarnation = a.incarnation;
        peer.last_heard = Some(now);
        if !peer.alive {
            peer.alive = true;
            changes.push(Change::Joined(info(from, peer)));
        }
        changes
    }

    /// Keeps the table within [`MAX_PRESENCE_PEERS`]: when full, forgets the
    /// peers that left. Whether there is room for one more now.
    fn make_room(&mut self) -> bool {
        if self.peers.len() < MAX_PRESENCE_PEERS {
            return true;
        }
        let connected = &self.connected;
        self.peers.retain(|id, p| p.alive || connected.contains(id));
        self.peers.len() < MAX_PRESENCE_PEERS
    }

    /// A sign of life from a directly connected peer (ping, identify).
    pub fn heard(&mut self, now: Instant, from: PeerId) {
        if let Some(peer) = self.peers.get_mut(&from) {
            if peer.alive {
                peer.last_heard = Some(now);
            }
        }
    }

    /// A first connection to `peer` was established.
    pub fn connected(&mut self, peer: PeerId) {
        self.connected.insert(peer);
    }

    /// The last connection to `peer` closed. `reporter` is this node when it is
    /// a server (its own view counts as a "gone" report), `None` for a client.
    pub fn disconnected(&mut self, peer: PeerId, reporter: Option<PeerId>) -> Vec<Change> {
        self.connected.remove(&peer);
        match reporter {
            Some(me) => self.reported_gone(me, peer),
            None => match self.peers.get_mut(&peer) {
                // Servers may have reported it while we still saw it ourselves.
                Some(p) if p.alive && !p.links.is_empty() && p.links.is_subset(&p.gone_reports) => {
                    p.alive = false;
                    p.last_heard = None;
                    vec![Change::Left(info(peer, p))]
                }
                _ => Vec::new(),
            },
        }
    }

    /// Server `reporter` says its last connection to `peer` closed.
    pub fn reported_gone(&mut self, reporter: PeerId, peer: PeerId) -> Vec<Change> {
        if peer == self.me {
            return Vec::new();
        }
        if reporter != self.me && self.role_of(&reporter) != Some(Role::Server) {
            return Vec::new(); // only servers' reports count
        }
        let directly_connected = self.connected.contains(&peer);
        let Some(p) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        p.gone_reports.insert(reporter);
        if directly_connected {
            return Vec::new(); // we see it ourselves
        }
        let all_links_gone = p.links.iter().all(|l| p.gone_reports.contains(l));
        if p.alive && all_links_gone {
            p.alive = false;
            p.last_heard = None;
            return vec![Change::Left(info(peer, p))];
        }
        Vec::new()
    }

    /// Expires peers not heard from within the timeout.
    pub fn tick(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            let stale = match p.last_heard {
                Some(t) => now.saturating_duration_since(t) >= self.timeout,
                None => true,
            };
            if p.alive && stale {
                p.alive = false;
                changes.push(Change::Left(info(*id, p)));
            }
        }
        changes
    }

    /// The role of a peer we know of (alive or not).
    pub fn role_of(&self, peer: &PeerId) -> Option<Role> {
        self.peers.get(peer).map(|p| p.role)
    }

    /// Whether a peer is currently considered alive.
    pub fn is_alive(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.alive)
    }

    /// Live peers, in peer-id order.
    pub fn alive(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .filter(|(_, p)| p.alive)
            .map(|(id, p)| info(*id, p))
            .collect()
    }

    /// Live servers with the addresses they announced.
    pub fn alive_servers(&self) -> Vec<(PeerId, Vec<String>)> {
        self.peers
            .iter()
            .filter(|(_, p)| p.alive && p.role == Role::Server)
            .map(|(id, p)| (*id, p.addrs.clone()))
            .collect()
    }

    /// Live clients in `room`, as (peer, nick).
    pub fn members_of(&self, room: &str) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .filter(|(_, p)| p.alive && p.rooms.iter().any(|r| r == room))
            .map(|(id, p)| info(*id, p))
            .collect()
    }
}

fn info(id: PeerId, p: &Peer) -> PeerInfo {
    PeerInfo {
        peer_id: id.to_base58(),
        role: p.role,
        nick: p.nick.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce(role: Role, links: &[PeerId], incarnation: u64) -> Announce {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(1);
        Announce {
            role,
            nick: None,
            addrs: vec![],
            links: links.iter().map(|l| l.to_base58()).collect(),
            rooms: vec!["lobby".into()],
            n: N.fetch_add(1, Ordering::Relaxed),
            incarnation,
            cluster: None,
        }
    }

    fn left(c: &[Change]) -> bool {
        matches!(c, [Change::Left(_)])
    }

    fn joined(c: &[Change]) -> bool {
        matches!(c, [Change::Joined(_)])
    }

    #[test]
    fn the_table_is_bounded_and_forgets_departed_peers_first() {
        let t = Instant::now();
        let mut p = Presence::new(PeerId::random(), Duration::from_secs(3));
        let first: Vec<PeerId> = (0..MAX_PRESENCE_PEERS).map(|_| PeerId::random()).collect();
        for id in &first {
            assert!(joined(&p.announced(
                t,
                *id,
                &announce(Role::Client, &[], 1)
            )));
        }
        let extra = PeerId::random();
        assert!(
            p.announced(t, extra, &announce(Role::Client, &[], 1))
                .is_empty(),
            "full of live peers: a new one is ignored"
        );
        assert!(!p.is_alive(&extra));
        // Once they time out, departed peers make room.
        let later = t + Duration::from_secs(4);
        assert_eq!(p.tick(later).len(), MAX_PRESENCE_PEERS);
        assert!(joined(&p.announced(
            later,
            extra,
            &announce(Role::Client, &[], 1)
        )));
        assert_eq!(p.peers.len(), 1);
    }

    #[test]
    fn silent_peer_leaves_after_timeout_and_comes_back() {
        let t0 = Instant::now();
        let (me, s) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, Duration::from_secs(3));
        assert!(joined(&p.announced(t0, s, &announce(Role::Server, &[], 1))));
        assert!(p
            .announced(
                t0 + Duration::from_secs(1),
                s,
                &announce(Role::Server, &[], 1)
            )
            .is_empty());
        assert!(p.tick(t0 + Duration::from_secs(3)).is_empty());
        assert!(left(&p.tick(t0 + Duration::from_secs(4))));
        assert!(p.tick(t0 + Duration::from_secs(5)).is_empty(), "left once");
        assert!(joined(&p.announced(
            t0 + Duration::from_secs(6),
            s,
            &announce(Role::Server, &[], 2)
        )));
    }

    #[test]
    fn gone_needs_every_linked_server() {
        let t0 = Instant::now();
        let (me, a, b, c) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        let mut p = Presence::new(me, Duration::from_secs(3));
        p.announced(t0, a, &announce(Role::Server, &[], 1));
        p.announced(t0, b, &announce(Role::Server, &[], 1));
        assert!(joined(&p.announced(
            t0,
            c,
            &announce(Role::Client, &[a, b], 1)
        )));
        assert!(p.reported_gone(a, c).is_empty(), "still linked through b");
        assert!(left(&p.reported_gone(b, c)));
        assert!(p.reported_gone(b, c).is_empty(), "left once");
    }

    #[test]
    fn reports_from_clients_and_about_direct_peers_are_ignored() {
        let t0 = Instant::now();
        let (me, a, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, Duration::from_secs(3));
        p.announced(t0, a, &announce(Role::Client, &[], 1));
        p.announced(t0, c, &announce(Role::Client, &[a], 1));
        assert!(p.reported_gone(a, c).is_empty(), "a is a client");
        p.announced(t0, a, &announce(Role::Server, &[], 1));
        p.announced(t0, c, &announce(Role::Client, &[a, me], 1));
        p.connected(c);
        assert!(p.reported_gone(a, c).is_empty(), "we still see c ourselves");
        assert!(
            left(&p.disconnected(c, Some(me))),
            "our own view completes the reports"
        );
    }

    #[test]
    fn a_late_old_heartbeat_does_not_revive() {
        let t0 = Instant::now();
        let (me, s) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, Duration::from_secs(3));
        let old = announce(Role::Server, &[], 1);
        let new = announce(Role::Server, &[], 1);
        p.announced(t0, s, &new);
        assert!(p.announced(t0 + Duration::from_secs(2), s, &old).is_empty());
        assert!(
            left(&p.tick(t0 + Duration::from_secs(3))),
            "old heartbeat ignored"
        );
    }

    #[test]
    fn quick_restart_is_reported_as_leave_and_join() {
        let t0 = Instant::now();
        let (me, s) = (PeerId::random(), PeerId::random());
        let mut p = Presence::new(me, Duration::from_secs(3));
        p.announced(t0, s, &announce(Role::Server, &[], 1));
        let c = p.announced(t0, s, &announce(Role::Server, &[], 2));
        assert!(matches!(c.as_slice(), [Change::Left(_), Change::Joined(_)]));
    }
}
