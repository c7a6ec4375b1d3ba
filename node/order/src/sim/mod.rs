//! Deterministic simulator: real servers, a virtual clock, a faulty network,
//! disks that lose unfinished writes, crashes, restarts, pauses, membership
//! changes and retrying clients, all driven by one seeded RNG. Runs in
//! `cargo test` (see `docs/testing.md`).

mod check;
#[cfg(test)]
mod tests;

use crate::config::Bugs;
use crate::io::{Input, Output, PersistOp, SubmitResult};
use crate::message::{Body, Message};
use crate::server::{Role, Server};
use crate::storage::MemStorage;
use crate::types::{ClientId, Instant, NodeId};
use crate::Config;
use check::Checker;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

/// How a seed's cluster forms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Formation {
    /// All initial servers start with `bootstrap_expect = n`.
    Bootstrap,
    /// No bootstrap: the highest forms alone after the discovery window, the others join.
    Lone,
}

/// The knobs a seed draws.
#[derive(Clone, Debug)]
pub struct Params {
    /// Initial servers.
    pub servers: usize,
    /// Clients.
    pub clients: usize,
    /// Formation mode.
    pub formation: Formation,
    /// Per-message drop probability during chaos.
    pub drop: f64,
    /// Per-message duplicate probability.
    pub dup: f64,
    /// Probability that a message takes a long (reordering) delay.
    pub slow: f64,
    /// Mean milliseconds between faults (0 = no faults).
    pub fault_every: u64,
    /// Weights of fault kinds: crash, pause, partition, asymmetric, heal, add, kill.
    pub weights: [u32; 7],
    /// Events of the chaos phase.
    pub events: u64,
    /// Storage write latency range in ms (usual writes; 5% take up to 8x longer).
    pub disk_ms: (u64, u64),
    /// Probability that a newly elected leader crashes within 30 ms (a targeted nemesis).
    pub crash_new_leader: f64,
    /// Server configuration.
    pub config: Config,
}

impl Params {
    /// Draws the parameters of one seed.
    pub fn draw(rng: &mut ChaCha8Rng, events: u64) -> Params {
        let config = Config {
            removal_timeout_ms: rng.gen_range(1_500..6_000),
            snapshot_threshold: rng.gen_range(16..200),
            max_batch: rng.gen_range(1..16),
            max_inflight: rng.gen_range(4..64),
            ..Config::default()
        };
        let w = |rng: &mut ChaCha8Rng| rng.gen_range(0..10);
        Params {
            servers: rng.gen_range(1..=7),
            clients: rng.gen_range(1..=4),
            formation: if rng.gen_bool(0.7) {
                Formation::Bootstrap
            } else {
                Formation::Lone
            },
            drop: [0.0, 0.01, 0.05, 0.15][rng.gen_range(0..4)],
            dup: [0.0, 0.02, 0.1][rng.gen_range(0..3)],
            slow: [0.0, 0.05, 0.2][rng.gen_range(0..3)],
            fault_every: [0, 100, 300, 1_000][rng.gen_range(0..4)],
            weights: [
                w(rng) + 2,
                w(rng),
                w(rng),
                w(rng),
                3,
                w(rng) / 2,
                w(rng) / 3,
            ],
            events,
            disk_ms: (1, 5),
            crash_new_leader: [0.0, 0.0, 0.1][rng.gen_range(0..3)],
            config,
        }
    }
}

impl Params {
    /// A harsher mix for hunting rare interleavings (Raft's figure 8): five servers, one
    /// entry per message, frequent crashes and partitions, no membership churn.
    pub fn harsh(rng: &mut ChaCha8Rng, events: u64) -> Params {
        let mut p = Params::draw(rng, events);
        p.servers = rng.gen_range(3..=5);
        p.formation = Formation::Bootstrap;
        p.drop = 0.05;
        p.slow = 0.1;
        p.fault_every = 300;
        p.weights = [10, 2, 3, 1, 3, 0, 0];
        p.disk_ms = (10, 100);
        p.crash_new_leader = 0.3;
        p.config.max_batch = 1;
        p.config.max_inflight = 4;
        p.config.removal_timeout_ms = 20_000;
        p
    }
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Faults injected.
    pub faults: u64,
    /// Simulated milliseconds.
    pub sim_ms: u64,
    /// Committed entries.
    pub committed: u64,
    /// Client messages acknowledged.
    pub acked: u64,
    /// Elections won.
    pub leaders: u64,
    /// A running hash of every event processed (time, order, target, outputs): same seed, same trail.
    pub trail: u64,
}

#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        from: NodeId,
        msg: Message,
    },
    Timer {
        node: usize,
        gen: u64,
    },
    Disk {
        node: usize,
        inc: u32,
    },
    Submit {
        node: usize,
        client: usize,
        counter: u64,
        lowest: u64,
    },
    Reply {
        client: usize,
        from: usize,
        counter: u64,
        result: SubmitResult,
    },
    ClientTick {
        client: usize,
    },
    Fault,
    Restart {
        node: usize,
        inc: u32,
    },
    Crash {
        node: usize,
        inc: u32,
    },
    Unpause {
        node: usize,
    },
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct Node {
    id: NodeId,
    core: Option<Server>,
    disk: MemStorage,
    pending: VecDeque<(u64, PersistOp, u64)>,
    inc: u32,
    timer_gen: u64,
    timer_at: Option<u64>,
    paused: bool,
    dead: bool,
    held: Vec<Ev>,
    told_up: BTreeSet<usize>,
    config: Config,
}

struct SimClient {
    id: ClientId,
    next: u64,
    pending: BTreeMap<u64, String>,
    guess: Option<usize>,
}

/// One simulated world.
pub struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    nodes: Vec<Node>,
    by_id: BTreeMap<NodeId, usize>,
    clients: Vec<SimClient>,
    blocked: BTreeSet<(usize, usize)>,
    /// Per directed link: when its last in-order message arrives.
    links: BTreeMap<(usize, usize), u64>,
    p: Params,
    healing: bool,
    trace: bool,
    /// The invariant checker.
    pub check: Checker,
    /// Run counters.
    pub stats: Stats,
    bugs: Bugs,
    next_id: u64,
    kills: u32,
    init_err: Option<String>,
}

const ROOMS: [&str; 3] = ["lobby", "dev", "ops"];

impl Sim {
    /// A world for `seed` with parameters `p`.
    pub fn new(seed: u64, p: Params, bugs: Bugs, trace: bool) -> Sim {
        let mut sim = Sim {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: Vec::new(),
            by_id: BTreeMap::new(),
            clients: Vec::new(),
            blocked: BTreeSet::new(),
            links: BTreeMap::new(),
            p,
            healing: false,
            trace,
            check: Checker::default(),
            stats: Stats::default(),
            bugs,
            next_id: 1,
            kills: 0,
            init_err: None,
        };
        let n = sim.p.servers;
        for _ in 0..n {
            let mut cfg = sim.p.config.clone();
            if sim.p.formation == Formation::Bootstrap {
                cfg.bootstrap_expect = Some(n);
            }
            sim.add_node(cfg);
        }
        for c in 0..sim.p.clients {
            sim.clients.push(SimClient {
                id: ClientId::from_u64(1000 + c as u64),
                next: 0,
                pending: BTreeMap::new(),
                guess: None,
            });
            sim.push(10 + c as u64, Ev::ClientTick { client: c });
        }
        if sim.p.fault_every > 0 {
            let d = sim.rng.gen_range(1..=2 * sim.p.fault_every);
            sim.push(d, Ev::Fault);
        }
        for i in 0..sim.nodes.len() {
            if let Err(e) = sim.boot(i) {
                sim.init_err.get_or_insert(e);
            }
        }
        sim
    }

    fn log(&self, f: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>7} {}", self.now, f());
        }
    }

    fn push(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at: self.now + delay,
            seq: self.seq,
            ev,
        }));
    }

    fn add_node(&mut self, mut cfg: Config) -> usize {
        // IDs are spread out but drawn in random order, so that joins are not always "higher".
        let id = NodeId::from_u64(self.next_id * 10 + self.rng.gen_range(0..10));
        self.next_id += 1;
        cfg.bugs = self.bugs;
        let i = self.nodes.len();
        self.nodes.push(Node {
            id,
            core: None,
            disk: MemStorage::default(),
            pending: VecDeque::new(),
            inc: 0,
            timer_gen: 0,
            timer_at: None,
            paused: false,
            dead: false,
            held: Vec::new(),
            told_up: BTreeSet::new(),
            config: cfg,
        });
        self.by_id.insert(id, i);
        i
    }

    /// Starts (or restarts) node `i` from its disk.
    fn boot(&mut self, i: usize) -> Result<(), String> {
        let seed = self
            .seed
            .wrapping_mul(31)
            .wrapping_add(i as u64 * 1000 + self.nodes[i].inc as u64);
        let n = &mut self.nodes[i];
        let core = Server::new(n.id, n.config.clone(), n.disk.recover(), seed);
        n.core = Some(core);
        n.told_up.clear();
        n.timer_at = None;
        let id = n.id;
        self.log(|| format!("boot {id}"));
        if let Some(core) = &self.nodes[i].core {
            self.check.restarted(core)?;
        }
        let others: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|o| o.id != id && !o.dead)
            .map(|o| o.id)
            .collect();
        for o in others {
            self.input(i, Input::Discovered(o))?;
        }
        self.refresh_hints()?;
        self.after(i)
    }

    fn alive(&self, i: usize) -> bool {
        self.nodes[i].core.is_some() && !self.nodes[i].paused
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        !self.blocked.contains(&(a, b)) && !self.blocked.contains(&(b, a)) && self.alive(b)
    }

    /// Sends PeerUp/PeerDown where a node's view is out of date (liveness hints).
    fn refresh_hints(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            if !self.alive(i) {
                continue;
            }
            for j in 0..self.nodes.len() {
                if i == j {
                    continue;
                }
                let up = self.reachable(i, j);
                if up != self.nodes[i].told_up.contains(&j) {
                    let id = self.nodes[j].id;
                    if up {
                        self.nodes[i].told_up.insert(j);
                        self.input(i, Input::PeerUp(id))?;
                    } else {
                        self.nodes[i].told_up.remove(&j);
                        self.input(i, Input::PeerDown(id))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn input(&mut self, i: usize, input: Input) -> Result<(), String> {
        let now = Instant(self.now);
        if let Some(core) = self.nodes[i].core.as_mut() {
            core.handle(now, input);
        }
        self.after(i)
    }

    /// Drains node `i`'s outputs, checks it, and re-arms its timer.
    fn after(&mut self, i: usize) -> Result<(), String> {
        while let Some(out) = self.nodes[i].core.as_mut().and_then(Server::poll_output) {
            self.output(i, out)?;
        }
        let Some(core) = self.nodes[i].core.as_ref() else {
            return Ok(());
        };
        self.check.observe(core)?;
        let t = core.poll_timeout().map(|t| t.0.max(self.now));
        if t != self.nodes[i].timer_at {
            self.nodes[i].timer_at = t;
            self.nodes[i].timer_gen += 1;
            if let Some(t) = t {
                let gen = self.nodes[i].timer_gen;
                self.push(t - self.now, Ev::Timer { node: i, gen });
            }
        }
        Ok(())
    }

    fn output(&mut self, i: usize, out: Output) -> Result<(), String> {
        let me = self.nodes[i].id;
        match out {
            Output::Send { to, msg } => {
                if let (Body::VoteResp { granted: true }, true) = (&msg.body, true) {
                    self.check.vote(msg.term, me, to)?;
                }
                let Some(&j) = self.by_id.get(&to) else {
                    return Ok(());
                };
                self.net_send(
                    i,
                    j,
                    Ev::Deliver {
                        to: j,
                        from: me,
                        msg,
                    },
                );
            }
            Output::Persist { id, op } => {
                if let Some(core) = self.nodes[i].core.as_ref() {
                    self.check.persist(core, &op)?;
                }
                let last = self.nodes[i].pending.back().map(|p| p.2).unwrap_or(0);
                let (lo, hi) = self.p.disk_ms;
                let lat = if self.rng.gen_bool(0.05) {
                    self.rng.gen_range(hi..hi * 8)
                } else {
                    self.rng.gen_range(lo..hi)
                };
                let at = last.max(self.now + lat);
                self.nodes[i].pending.push_back((id, op, at));
                let inc = self.nodes[i].inc;
                self.push(at - self.now, Ev::Disk { node: i, inc });
            }
            Output::Apply(a) => {
                self.log(|| {
                    format!(
                        "{me} apply #{} {}/{} {}#{}",
                        a.index, a.room, a.seq, a.client, a.counter
                    )
                });
                self.check.apply(me, &a)?;
            }
            Output::Reply {
                client,
                counter,
                result,
            } => {
                let c = self.clients.iter().position(|c| c.id == client);
                if let Some(c) = c {
                    if self.healing || !self.rng.gen_bool(self.p.drop) {
                        let d = self.rng.gen_range(1..10);
                        self.push(
                            d,
                            Ev::Reply {
                                client: c,
                                from: i,
                                counter,
                                result,
                            },
                        );
                    }
                }
            }
            Output::LeaderChanged { term, leader } => {
                if leader == Some(me) {
                    self.stats.leaders += 1;
                    if !self.healing && self.rng.gen_bool(self.p.crash_new_leader) {
                        let inc = self.nodes[i].inc;
                        let d = self.rng.gen_range(0..30);
                        self.push(d, Ev::Crash { node: i, inc });
                    }
                }
                self.log(|| {
                    format!(
                        "{me} term {term} leader {}",
                        leader.map(|l| l.to_string()).unwrap_or("-".into())
                    )
                });
            }
            Output::MembershipChanged(m) => self.log(|| {
                format!(
                    "{me} config voters {} old {} learners {}",
                    ids(&m.voters),
                    ids(&m.outgoing),
                    ids(&m.learners)
                )
            }),
            Output::SnapshotInstalled { index, .. } => {
                self.log(|| format!("{me} installed snapshot {index}"))
            }
        }
        Ok(())
    }

    fn net_send(&mut self, from: usize, to: usize, ev: Ev) {
        if self.blocked.contains(&(from, to)) {
            return;
        }
        if !self.healing && self.rng.gen_bool(self.p.drop) {
            return;
        }
        let copies = if !self.healing && self.rng.gen_bool(self.p.dup) {
            2
        } else {
            1
        };
        let mut ev = Some(ev);
        for k in 0..copies {
            // Links are streams: in order, except the occasional slow message (reordering).
            let d = if !self.healing && self.rng.gen_bool(self.p.slow) {
                self.rng.gen_range(20..400)
            } else {
                let at = (self.now + self.rng.gen_range(1..8))
                    .max(self.links.get(&(from, to)).copied().unwrap_or(0));
                self.links.insert((from, to), at);
                at - self.now
            };
            let e = if k + 1 == copies {
                ev.take()
            } else {
                ev.as_ref().map(|e| match e {
                    Ev::Deliver { to, from, msg } => Ev::Deliver {
                        to: *to,
                        from: *from,
                        msg: msg.clone(),
                    },
                    Ev::Submit {
                        node,
                        client,
                        counter,
                        lowest,
                    } => Ev::Submit {
                        node: *node,
                        client: *client,
                        counter: *counter,
                        lowest: *lowest,
                    },
                    _ => Ev::Fault,
                })
            };
            if let Some(e) = e {
                self.push(d, e);
            }
        }
    }

    /// Processes one event; false when the queue is empty.
    pub fn step(&mut self) -> Result<bool, String> {
        if let Some(e) = self.init_err.take() {
            return Err(e);
        }
        let Some(Reverse(q)) = self.queue.pop() else {
            return Ok(false);
        };
        self.now = q.at;
        self.stats.sim_ms = self.now;
        let target = match &q.ev {
            Ev::Deliver { to, .. }
            | Ev::Submit { node: to, .. }
            | Ev::Timer { node: to, .. }
            | Ev::Disk { node: to, .. } => Some(*to),
            _ => None,
        };
        if let Some(t) = target {
            if self.nodes[t].core.is_none() {
                return Ok(true);
            }
            if self.nodes[t].paused {
                self.nodes[t].held.push(q.ev);
                return Ok(true);
            }
        }
        self.stats.events += 1;
        self.stats.trail = mix(
            self.stats.trail,
            q.at ^ (q.seq << 20) ^ ((target.unwrap_or(99) as u64) << 56),
        );
        match q.ev {
            Ev::Deliver { to, from, msg } => {
                if self.trace {
                    let me = self.nodes[to].id;
                    self.log(|| format!("{from} -> {me} t{} {:?}", msg.term, short(&msg.body)));
                }
                self.input(to, Input::Message { from, msg })?;
            }
            Ev::Timer { node, gen } => {
                if gen == self.nodes[node].timer_gen {
                    self.nodes[node].timer_at = None;
                    let now = Instant(self.now);
                    if let Some(c) = self.nodes[node].core.as_mut() {
                        c.handle_timeout(now);
                    }
                    self.after(node)?;
                }
            }
            Ev::Disk { node, inc } => {
                if inc == self.nodes[node].inc {
                    let mut last = None;
                    while self.nodes[node]
                        .pending
                        .front()
                        .is_some_and(|p| p.2 <= self.now)
                    {
                        let Some((id, op, _)) = self.nodes[node].pending.pop_front() else {
                            break;
                        };
                        self.nodes[node].disk.apply(&op);
                        if let PersistOp::HardState(h) = op {
                            let nid = self.nodes[node].id;
                            self.check.disk_hard(nid, h)?;
                        }
                        last = Some(id);
                    }
                    if let Some(id) = last {
                        self.input(node, Input::Persisted { id })?;
                    }
                }
            }
            Ev::Submit {
                node,
                client,
                counter,
                lowest,
            } => {
                let c = &self.clients[client];
                let Some(room) = c.pending.get(&counter).cloned() else {
                    return Ok(true);
                };
                let cid = c.id;
                let body = body_of(cid, counter);
                self.input(
                    node,
                    Input::Submit {
                        client: cid,
                        counter,
                        lowest_unacked: lowest,
                        room,
                        body,
                    },
                )?;
            }
            Ev::Reply {
                client,
                from,
                counter,
                result,
            } => self.on_reply(client, from, counter, result)?,
            Ev::ClientTick { client } => self.client_tick(client),
            Ev::Fault => {
                if !self.healing {
                    self.fault()?;
                    let d = self.rng.gen_range(1..=2 * self.p.fault_every);
                    self.push(d, Ev::Fault);
                }
            }
            Ev::Restart { node, inc } => {
                if !self.healing
                    && self.nodes[node].inc == inc
                    && self.nodes[node].core.is_none()
                    && !self.nodes[node].dead
                {
                    self.boot(node)?;
                }
            }
            Ev::Crash { node, inc } => {
                if !self.healing && self.nodes[node].inc == inc && self.nodes[node].core.is_some() {
                    self.stats.faults += 1;
                    self.crash(node);
                    let inc = self.nodes[node].inc;
                    let d = self.rng.gen_range(10..1_000);
                    self.push(d, Ev::Restart { node, inc });
                }
            }
            Ev::Unpause { node } => {
                if !self.healing {
                    self.unpause(node)?
                }
            }
        }
        Ok(true)
    }

    fn unpause(&mut self, node: usize) -> Result<(), String> {
        if !self.nodes[node].paused {
            return Ok(());
        }
        self.nodes[node].paused = false;
        self.log(|| "unpause".to_string());
        for ev in std::mem::take(&mut self.nodes[node].held) {
            self.push(0, ev);
        }
        self.refresh_hints()
    }

    fn on_reply(
        &mut self,
        client: usize,
        from: usize,
        counter: u64,
        result: SubmitResult,
    ) -> Result<(), String> {
        let cid = self.clients[client].id;
        match result {
            SubmitResult::Ok { room, seq } => {
                self.check.ack(cid, counter, &room, seq)?;
                if self.clients[client].pending.remove(&counter).is_some() {
                    self.stats.acked += 1;
                }
                self.clients[client].guess = Some(from);
            }
            SubmitResult::NotLeader { hint } => {
                self.clients[client].guess = hint.and_then(|h| self.by_id.get(&h).copied());
            }
            SubmitResult::Busy => {}
            SubmitResult::Stale => {
                if self.clients[client].pending.contains_key(&counter) {
                    return Err(format!(
                        "{cid}#{counter} refused as stale while unacknowledged"
                    ));
                }
            }
        }
        Ok(())
    }

    fn client_tick(&mut self, c: usize) {
        let n = self.nodes.len();
        if !self.healing && self.clients[c].pending.len() < 3 && self.rng.gen_bool(0.5) {
            let counter = self.clients[c].next;
            self.clients[c].next += 1;
            let room = ROOMS[self.rng.gen_range(0..ROOMS.len())].to_string();
            let cid = self.clients[c].id;
            self.check
                .sent
                .insert((cid, counter), (room.clone(), body_of(cid, counter)));
            self.clients[c].pending.insert(counter, room);
        }
        let lowest = self.clients[c]
            .pending
            .keys()
            .next()
            .copied()
            .unwrap_or(self.clients[c].next);
        let counters: Vec<u64> = self.clients[c].pending.keys().copied().collect();
        for counter in counters {
            let target = match self.clients[c].guess {
                Some(g) if self.rng.gen_bool(0.9) => g,
                _ => self.rng.gen_range(0..n),
            };
            // Clients reach servers over the same faulty network (never blocked by partitions).
            if self.healing || !self.rng.gen_bool(self.p.drop) {
                let d = self.rng.gen_range(1..10);
                self.push(
                    d,
                    Ev::Submit {
                        node: target,
                        client: c,
                        counter,
                        lowest,
                    },
                );
            }
        }
        let d = self.rng.gen_range(20..120);
        self.push(d, Ev::ClientTick { client: c });
    }

    fn live_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].core.is_some())
            .collect()
    }

    fn fault(&mut self) -> Result<(), String> {
        let total: u32 = self.p.weights.iter().sum();
        if total == 0 {
            return Ok(());
        }
        let mut pick = self.rng.gen_range(0..total);
        let mut kind = 0;
        for (k, w) in self.p.weights.iter().enumerate() {
            if pick < *w {
                kind = k;
                break;
            }
            pick -= w;
        }
        self.stats.faults += 1;
        let live = self.live_nodes();
        let n = self.nodes.len();
        match kind {
            0 => {
                // Crash, restart later (sometimes after the removal timeout).
                let Some(&i) = live.choose(&mut self.rng) else {
                    return Ok(());
                };
                let long = self.rng.gen_bool(0.2);
                let d = if long {
                    self.rng.gen_range(3_000..9_000)
                } else {
                    self.rng.gen_range(10..1_500)
                };
                self.crash(i);
                let inc = self.nodes[i].inc;
                self.push(d, Ev::Restart { node: i, inc });
            }
            1 => {
                let Some(&i) = live.choose(&mut self.rng) else {
                    return Ok(());
                };
                if !self.nodes[i].paused {
                    self.nodes[i].paused = true;
                    let id = self.nodes[i].id;
                    self.log(|| format!("pause {id}"));
                    let d = self.rng.gen_range(50..2_000);
                    self.push(d, Ev::Unpause { node: i });
                }
            }
            2 => {
                // Symmetric partition into two random sides.
                self.blocked.clear();
                let side: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
                for a in 0..n {
                    for b in 0..n {
                        if side[a] != side[b] {
                            self.blocked.insert((a, b));
                        }
                    }
                }
                self.log(|| format!("partition {side:?}"));
            }
            3 => {
                // Asymmetric: some directed links fail.
                for _ in 0..self.rng.gen_range(1..=n.max(1)) {
                    let a = self.rng.gen_range(0..n);
                    let b = self.rng.gen_range(0..n);
                    if a != b {
                        self.blocked.insert((a, b));
                    }
                }
                self.log(|| "asymmetric links".to_string());
            }
            4 => {
                self.blocked.clear();
                self.log(|| "heal network".to_string());
            }
            5 => {
                // Join-only servers are added once a cluster durably exists (as an operator would).
                let formed = self.nodes.iter().any(|x| {
                    x.disk.snapshot.is_some()
                        || x.disk
                            .entries
                            .iter()
                            .any(|e| matches!(e.payload, crate::message::Payload::Config(_)))
                });
                if formed && self.nodes.iter().filter(|x| !x.dead).count() < 7 {
                    // Started with the cluster's address: it joins, never forms a cluster of its own.
                    let cfg = Config {
                        discovery_window_ms: u64::MAX,
                        ..self.p.config.clone()
                    };
                    let i = self.add_node(cfg);
                    let id = self.nodes[i].id;
                    self.log(|| format!("add server {id}"));
                    self.boot(i)?;
                    for j in 0..self.nodes.len() {
                        if j != i && self.nodes[j].core.is_some() {
                            self.input(j, Input::Discovered(id))?;
                        }
                    }
                }
            }
            _ => self.maybe_kill()?,
        }
        self.refresh_hints()
    }

    /// Crashes node `i`: unfinished writes are lost, except maybe a torn prefix of the first append.
    fn crash(&mut self, i: usize) {
        let id = self.nodes[i].id;
        self.log(|| format!("crash {id}"));
        let pending = std::mem::take(&mut self.nodes[i].pending);
        if let Some((_, PersistOp::Append { entries }, _)) = pending.front() {
            let keep = self.rng.gen_range(0..=entries.len());
            if keep > 0 {
                let op = PersistOp::Append {
                    entries: entries[..keep].to_vec(),
                };
                self.nodes[i].disk.apply(&op);
            }
        }
        let n = &mut self.nodes[i];
        n.core = None;
        n.inc += 1;
        n.paused = false;
        n.held.clear();
        n.timer_at = None;
    }

    /// Kills a server for good when the cluster can afford it (it will be removed).
    fn maybe_kill(&mut self) -> Result<(), String> {
        if self.kills >= 2 {
            return Ok(());
        }
        let live = self.live_nodes();
        let dead: Vec<NodeId> = self.nodes.iter().filter(|n| n.dead).map(|n| n.id).collect();
        let mut ok = live.len() == self.nodes.iter().filter(|n| !n.dead).count();
        for &i in &live {
            match self.nodes[i].core.as_ref().and_then(|c| c.membership()) {
                Some(m) => {
                    if m.is_joint() || m.voters.len() < 3 || dead.iter().any(|d| m.is_member(d)) {
                        ok = false;
                    }
                }
                None => ok = false,
            }
        }
        if !ok {
            return Ok(());
        }
        let Some(&i) = live.choose(&mut self.rng) else {
            return Ok(());
        };
        self.crash(i);
        self.nodes[i].dead = true;
        self.kills += 1;
        let id = self.nodes[i].id;
        self.log(|| format!("kill {id} for good"));
        Ok(())
    }

    /// Heals everything: network, pauses, crashed servers; clients stop sending new messages.
    pub fn heal(&mut self) -> Result<(), String> {
        self.healing = true;
        self.blocked.clear();
        self.log(|| "HEAL".to_string());
        for i in 0..self.nodes.len() {
            self.unpause(i)?;
            if self.nodes[i].core.is_none() && !self.nodes[i].dead {
                self.nodes[i].inc += 1;
                self.boot(i)?;
            }
        }
        self.refresh_hints()
    }

    /// Whether the healed cluster is live: one leader (the highest live server), everyone
    /// caught up, nothing pending.
    pub fn settled(&self) -> Result<(), String> {
        let live = self.live_nodes();
        let Some(&top) = live.iter().max_by_key(|i| self.nodes[**i].id) else {
            return Err("no server".into());
        };
        let Some(leader) = self.nodes[top].core.as_ref() else {
            return Err("no core".into());
        };
        if leader.role() != Role::Leader {
            return Err(format!(
                "highest live server {} is {:?}",
                leader.id(),
                leader.role()
            ));
        }
        for &i in &live {
            let Some(c) = self.nodes[i].core.as_ref() else {
                continue;
            };
            if c.term() != leader.term() || c.leader() != Some(leader.id()) {
                return Err(format!(
                    "{} follows {:?} in term {}",
                    c.id(),
                    c.leader(),
                    c.term()
                ));
            }
            if !c.voters().contains(&c.id()) {
                return Err(format!("{} is not a voter", c.id()));
            }
            if c.applied_index() != leader.commit_index() {
                return Err(format!(
                    "{} applied {} of {}",
                    c.id(),
                    c.applied_index(),
                    leader.commit_index()
                ));
            }
        }
        for c in &self.clients {
            if let Some(k) = c.pending.keys().next() {
                return Err(format!("client {} still waits for #{k}", c.id));
            }
        }
        Ok(())
    }

    /// Runs the chaos phase, heals, and requires liveness within `bound_ms` of simulated time.
    pub fn run(&mut self, bound_ms: u64) -> Result<Stats, String> {
        while self.stats.events < self.p.events {
            if !self.step()? {
                break;
            }
        }
        self.heal()?;
        let healed = self.now;
        let mut next_check = self.now;
        loop {
            if self.now >= next_check {
                next_check = self.now + 100;
                if self.settled().is_ok() {
                    break;
                }
            }
            if self.now > healed + bound_ms {
                let why = self.settled().err().unwrap_or_default();
                return Err(format!("not live {bound_ms} ms after healing: {why}"));
            }
            if self.stats.events > 20 * self.p.events + 200_000 {
                return Err("event storm after healing".into());
            }
            if !self.step()? {
                return Err("event queue ran dry".into());
            }
        }
        self.check.finish()?;
        self.stats.committed = self.check.committed_len() as u64;
        Ok(self.stats)
    }

    /// Runs for `ms` of simulated time (no automatic faults unless configured).
    pub fn run_for(&mut self, ms: u64) -> Result<(), String> {
        let end = self.now + ms;
        while self.queue.peek().is_some_and(|q| q.0.at <= end) {
            self.step()?;
        }
        self.now = end;
        Ok(())
    }

    /// The node currently leading with the highest term, if any.
    pub fn leader(&self) -> Option<&Server> {
        self.nodes
            .iter()
            .filter_map(|n| n.core.as_ref())
            .filter(|c| c.role() == Role::Leader)
            .max_by_key(|c| c.term())
    }

    /// Crashes node `i` for good (scenario tests).
    pub fn kill(&mut self, i: usize) -> Result<(), String> {
        self.crash(i);
        self.nodes[i].dead = true;
        self.refresh_hints()
    }

    /// The ID of node `i`.
    pub fn id_of(&self, i: usize) -> NodeId {
        self.nodes[i].id
    }

    /// Number of acknowledged client messages so far.
    pub fn acked(&self) -> u64 {
        self.stats.acked
    }
}

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x100_0000_01b3).rotate_left(17)
}

fn ids(s: &BTreeSet<NodeId>) -> String {
    s.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn body_of(c: ClientId, counter: u64) -> Vec<u8> {
    format!("{c}/{counter}").into_bytes()
}

fn short(b: &Body) -> String {
    match b {
        Body::Append {
            prev,
            entries,
            commit,
        } => {
            format!(
                "Append prev {}/{} n={} commit {commit}",
                prev.index,
                prev.term,
                entries.len()
            )
        }
        Body::InstallSnapshot { snapshot } => format!("Snapshot {:?}", snapshot.last),
        other => format!("{other:?}"),
    }
}

/// Runs seed `seed` with `events` chaos events; the error carries the violation.
/// As [`run_seed`]; `harsh` selects [`Params::harsh`].
pub fn run_seed_with(
    seed: u64,
    events: u64,
    bugs: Bugs,
    trace: bool,
    harsh: bool,
) -> Result<Stats, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let p = if harsh {
        Params::harsh(&mut rng, events)
    } else {
        Params::draw(&mut rng, events)
    };
    if trace {
        println!("seed {seed}: {p:?}");
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut sim = Sim::new(seed, p, bugs, trace);
        sim.run(60_000)
            .map_err(|e| format!("{e} (at {} ms, event {})", sim.now, sim.stats.events))
    }));
    match result {
        Ok(r) => r,
        Err(_) => Err("panic".into()),
    }
}
