//! Helpers for the ordered-chat tests: a cluster of servers formed with
//! `--bootstrap-expect`, waiting for a stable leader, restarting a server
//! with fresh bootstrap addresses, and reading what clients delivered.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Net, Node};

/// How often status polls look again (a paced poll, not a wait by itself).
const STATUS_POLL: Duration = Duration::from_millis(150);

/// Starts `n` servers `S1..Sn` forming one cluster (`--bootstrap-expect n`),
/// each bootstrapping from the ones started before it.
pub fn servers(net: &Net, n: usize) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for i in 1..=n {
        let name = format!("S{i}");
        let boot: Vec<String> = out.iter().map(|s| s.addr().to_string()).collect();
        let boot: Vec<&str> = boot.iter().map(String::as_str).collect();
        let mut args = net.node_args(&name, "server", &boot);
        args.extend(["--bootstrap-expect".into(), n.to_string()]);
        out.push(net.start_ready(&name, args));
    }
    out
}

/// Replaces the `--bootstrap` arguments of `node` with `addrs`.
pub fn set_bootstrap(node: &mut Node, addrs: &[String]) {
    let mut args = Vec::new();
    let mut it = node.spec.args.iter();
    while let Some(a) = it.next() {
        if a == "--bootstrap" {
            it.next();
        } else {
            args.push(a.clone());
        }
    }
    for a in addrs {
        args.push("--bootstrap".into());
        args.push(a.clone());
    }
    node.spec.args = args;
}

/// Makes `node` listen on the port it has now when it is restarted (so that
/// addresses others know stay valid, as for a server with a fixed port).
pub fn pin_port(node: &mut Node) {
    let addr = node.addr().to_string();
    let addr = addr
        .rsplit_once("/p2p/")
        .map_or(addr.as_str(), |(a, _)| a)
        .to_string();
    if let Some(i) = node.spec.args.iter().position(|a| a == "--listen") {
        node.spec.args[i + 1] = addr;
    }
}

/// Restarts server `i` of `servers` from its data dir (kill -9 first if it
/// runs) on the same port, bootstrapping from all the other servers, and
/// waits for `ready`.
pub fn restart(servers: &mut [Node], i: usize) {
    let addrs: Vec<String> = servers
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, s)| s.addr().to_string())
        .collect();
    set_bootstrap(&mut servers[i], &addrs);
    pin_port(&mut servers[i]);
    servers[i].restart();
}

/// Index of the server whose peer id is `peer`.
pub fn index_of(servers: &[Node], peer: &str) -> usize {
    servers
        .iter()
        .position(|s| s.peer_id == peer)
        .unwrap_or_else(|| panic!("{peer} is none of the servers"))
}

/// The `leader` of a status (None while unknown).
pub fn leader_of(status: &Value) -> Option<String> {
    status["leader"].as_str().map(str::to_string)
}

/// One look at every running server: if all report the same leader (one of
/// them), `voters` voters, a quorum, and `check` holds for the statuses,
/// returns the leader's index. Also returns the statuses.
pub fn stable_once(
    servers: &mut [Node],
    voters: usize,
    check: impl Fn(&[Value]) -> bool,
) -> (Option<usize>, Vec<Value>) {
    let mut statuses = Vec::new();
    for s in servers.iter_mut() {
        if s.is_running() {
            statuses.push(s.status());
        }
    }
    let leaders: HashSet<Option<String>> = statuses.iter().map(leader_of).collect();
    let ok = leaders.len() == 1
        && statuses.iter().all(|st| {
            st["quorum"] == true && st["voters"].as_array().map(Vec::len) == Some(voters)
        })
        && check(&statuses);
    let leader = match (ok, leaders.into_iter().next()) {
        (true, Some(Some(l))) => servers.iter().position(|s| s.peer_id == l),
        _ => None,
    };
    (leader, statuses)
}

/// Waits until every running server in `servers` reports the same leader (one
/// of them), `voters` voters, a quorum, and `check` holds for the statuses.
/// Returns the leader's index and the statuses.
pub fn wait_stable_with(
    servers: &mut [Node],
    voters: usize,
    timeout: Duration,
    check: impl Fn(&[Value]) -> bool,
) -> (usize, Vec<Value>) {
    let deadline = Instant::now() + timeout;
    loop {
        let (leader, statuses) = stable_once(servers, voters, &check);
        if let Some(i) = leader {
            return (i, statuses);
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = servers
                .iter()
                .map(|s| format!("{}={}", s.name(), s.peer_id))
                .collect();
            panic!(
                "no stable leader with {voters} voters within {timeout:?}: {names:?}\nlast statuses:\n{}",
                statuses
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        std::thread::sleep(STATUS_POLL);
    }
}

/// [`wait_stable_with`] without an extra check; returns the leader's index.
pub fn wait_stable(servers: &mut [Node], voters: usize, timeout: Duration) -> usize {
    wait_stable_with(servers, voters, timeout, |_| true).0
}

/// Index of the server with the highest id as the core orders them: by the
/// bytes of the ed25519 public key in the peer id.
pub fn highest(servers: &[Node]) -> usize {
    (0..servers.len())
        .max_by_key(|i| key_bytes(&servers[*i].peer_id))
        .expect("servers")
}

/// The ed25519 public key bytes in a peer id (identity multihash).
pub fn key_bytes(peer: &str) -> Vec<u8> {
    let bytes = bs58_decode(peer);
    assert!(
        bytes.len() == 38 && bytes[..6] == [0x00, 0x24, 0x08, 0x01, 0x12, 0x20],
        "{peer} is not an ed25519 peer id"
    );
    bytes[6..].to_vec()
}

/// Minimal base58 (bitcoin alphabet) decoding.
fn bs58_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut out: Vec<u8> = Vec::new(); // little-endian base-256
    for c in s.bytes() {
        let mut carry = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("bad base58 in {s}")) as u32;
        for b in out.iter_mut() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|c| *c == b'1').count();
    out.extend(std::iter::repeat_n(0, zeros));
    out.reverse();
    out
}

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub room: String,
    pub seq: u64,
    pub id: String,
    pub text: String,
    pub from: String,
    pub history: bool,
}

/// Every `message` event a node printed (all runs), in order.
pub fn delivered(node: &mut Node) -> Vec<Delivered> {
    node.history().iter().filter_map(as_delivered).collect()
}

/// A `message` event as a [`Delivered`].
pub fn as_delivered(e: &Value) -> Option<Delivered> {
    if e["event"] != "message" {
        return None;
    }
    Some(Delivered {
        room: e["room"].as_str()?.to_string(),
        seq: e["seq"].as_u64()?,
        id: e["id"].as_str()?.to_string(),
        text: e["text"].as_str()?.to_string(),
        from: e["from"].as_str()?.to_string(),
        history: e["history"] == true,
    })
}

/// `(id, seq)` of every `sent` event a node printed.
pub fn sent(node: &mut Node) -> Vec<(String, u64)> {
    node.history()
        .iter()
        .filter(|e| e["event"] == "sent")
        .map(|e| {
            (
                e["id"].as_str().expect("sent.id").to_string(),
                e["seq"].as_u64().expect("sent.seq"),
            )
        })
        .collect()
}

/// Number of `message` events in `room` in `lines`.
pub fn count_messages(lines: &[Value], room: &str) -> usize {
    lines
        .iter()
        .filter(|e| e["event"] == "message" && e["room"] == room)
        .count()
}

/// Number of `sent` events in `lines`.
pub fn count_sent(lines: &[Value]) -> usize {
    lines.iter().filter(|e| e["event"] == "sent").count()
}

/// Checks that `msgs` (one client's deliveries in one room, in the order
/// printed) are seq 1..=N without gaps or duplicates; returns seq → id.
pub fn check_gap_free(who: &str, msgs: &[Delivered]) -> BTreeMap<u64, String> {
    let mut ids = HashSet::new();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            m.seq,
            i as u64 + 1,
            "{who}: delivery #{i} has seq {} (expected {}): {m:?}",
            m.seq,
            i + 1
        );
        assert!(ids.insert(m.id.clone()), "{who}: {} delivered twice", m.id);
    }
    msgs.iter().map(|m| (m.seq, m.id.clone())).collect()
}

/// Checks that every client delivered the same gap-free sequence of `room`
/// (the longest one extends the others: a client may lag behind by a suffix
/// only if `allow_lag`), that every `sent` of every client matches the seq of
/// its message, and that every acknowledged message was delivered everywhere.
/// Returns the common order (seq → id).
pub fn check_converged(clients: &mut [Node], room: &str) -> BTreeMap<u64, String> {
    let mut orders: Vec<(String, BTreeMap<u64, String>)> = Vec::new();
    for c in clients.iter_mut() {
        let msgs: Vec<Delivered> = delivered(c)
            .into_iter()
            .filter(|m| m.room == room)
            .collect();
        let order = check_gap_free(c.name(), &msgs);
        orders.push((c.name().to_string(), order));
    }
    let (first_name, first) = orders[0].clone();
    for (name, order) in &orders[1..] {
        assert_eq!(
            order.len(),
            first.len(),
            "{name} delivered {} messages, {first_name} {}",
            order.len(),
            first.len()
        );
        for (seq, id) in order {
            assert_eq!(
                first.get(seq),
                Some(id),
                "{name} and {first_name} disagree at seq {seq}"
            );
        }
    }
    let by_id: HashMap<&String, u64> = first.iter().map(|(s, id)| (id, *s)).collect();
    for c in clients.iter_mut() {
        let name = c.name().to_string();
        let acks = sent(c);
        let mut seen = HashSet::new();
        for (id, seq) in acks {
            assert!(seen.insert(id.clone()), "{name}: two `sent` for {id}");
            assert_eq!(
                by_id.get(&id),
                Some(&seq),
                "{name}: `sent` {id} with seq {seq}, but it was delivered at {:?}",
                by_id.get(&id)
            );
        }
    }
    first
}

/// Continuous traffic from clients: each [`Traffic::round`] sends one message
/// from every client and notes when clients delivered messages (to measure
/// pauses in commits).
pub struct Traffic {
    /// Messages sent per client.
    pub sent: Vec<usize>,
    /// Per client: when each of its `message` events was first seen.
    pub arrivals: Vec<Vec<Instant>>,
    /// Per client: how many lines of its history were looked at.
    cursor: Vec<usize>,
    /// Time between rounds.
    pub pace: Duration,
    room: String,
}

impl Traffic {
    /// Traffic in `room` from `clients` clients, one round every `pace`.
    pub fn new(clients: usize, room: &str, pace: Duration) -> Traffic {
        Traffic {
            sent: vec![0; clients],
            arrivals: vec![Vec::new(); clients],
            cursor: vec![0; clients],
            pace,
            room: room.into(),
        }
    }

    /// Every client sends one message (`<name>-<n>`), then waits `pace` and
    /// notes the deliveries seen.
    pub fn round(&mut self, clients: &mut [Node]) {
        for (i, c) in clients.iter_mut().enumerate() {
            self.sent[i] += 1;
            let text = format!("{}-{}", c.name(), self.sent[i]);
            c.say(&self.room, &text);
        }
        std::thread::sleep(self.pace);
        self.observe(clients);
    }

    /// Rounds until `d` passed.
    pub fn run_for(&mut self, clients: &mut [Node], d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.round(clients);
        }
    }

    /// Notes deliveries seen so far.
    pub fn observe(&mut self, clients: &mut [Node]) {
        let now = Instant::now();
        for (i, c) in clients.iter_mut().enumerate() {
            let h = c.history();
            let new = count_messages(&h[self.cursor[i]..], &self.room);
            self.cursor[i] = h.len();
            self.arrivals[i].extend(std::iter::repeat_n(now, new));
        }
    }

    /// Total messages sent.
    pub fn total(&self) -> usize {
        self.sent.iter().sum()
    }

    /// The longest time without a delivery at any client between `at` and
    /// `until`, counted from the last delivery before `at` (the max over
    /// clients; deliveries are timed when the test notices them, every
    /// `pace`). None if a client has no delivery before `at`.
    pub fn pause_around(&self, at: Instant, until: Instant) -> Option<Duration> {
        let mut worst = Duration::ZERO;
        for times in &self.arrivals {
            let mut prev = *times.iter().rev().find(|t| **t <= at)?;
            for t in times.iter().filter(|t| **t > at && **t <= until) {
                worst = worst.max(t.duration_since(prev));
                prev = *t;
            }
        }
        Some(worst)
    }

    /// Waits until every client delivered every message sent and got a
    /// `sent` for each of its own.
    pub fn wait_all_delivered(&mut self, clients: &mut [Node], timeout: Duration) {
        let total = self.total();
        for (i, c) in clients.iter_mut().enumerate() {
            let mine = self.sent[i];
            let room = self.room.clone();
            c.wait_until(
                &format!("all {total} messages delivered and its {mine} acknowledged"),
                timeout,
                |h| count_messages(h, &room) >= total && count_sent(h) >= mine,
            );
        }
        self.observe(clients);
    }
}
