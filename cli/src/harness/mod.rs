//! `chorus harness`: starts a local cluster of real `chorus` processes, drives
//! a recorded workload through the clients' `--json` interface while a seeded
//! nemesis kills, pauses and restarts servers, heals, waits for convergence,
//! reads the servers' room logs through a fresh client, and checks the history
//! ([`check`]). Prints a report, writes the history and report as JSON, and
//! fails on any violation. See `docs/testing.md`, "Harness".
//!
//! Everything runs on the main thread (one loop: events, workload, nemesis,
//! progress); one reader thread per process feeds its stdout lines into one
//! channel. All processes are stopped by PID on exit, error and Ctrl-C.

pub mod check;
mod netns;
mod proc;
mod report;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use crate::args::HarnessArgs;
use check::{Ack, ClientHistory, Delivery, History, LeaderReport, Send};
pub(crate) use proc::State as ProcState;
use proc::{Line, Proc, State};

/// Set by SIGINT/SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set [`INTERRUPTED`] (the loops then stop and clean up).
pub(crate) fn catch_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Parses `500ms`, `2s`, `1.5s`, `3m` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 2s, 5m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The nemesis's kinds of faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// kill -9 the leader; restarted after `--downtime`.
    KillLeader,
    /// kill -9 a random server; restarted after `--downtime`.
    KillRandom,
    /// kill -9 every server at once; all restarted after `--downtime`.
    KillAll,
    /// SIGSTOP a random server for `--downtime`.
    Pause,
    /// SIGSTOP the leader for `--downtime`.
    PauseLeader,
    /// kill -9 a random server and restart it at once from its data dir.
    Restart,
    /// Split the servers in two (needs `--netns`).
    Partition,
    /// Cut the leader off (needs `--netns`).
    PartitionLeader,
    /// Cut a minority off (needs `--netns`).
    IsolateMinority,
    /// Membership churn: retire a random server for good (kill -9, never
    /// restarted; the cluster removes it) and start a brand-new one (fresh
    /// data dir and identity) that joins as a learner and becomes a voter.
    Churn,
}

impl FaultKind {
    fn parse(s: &str) -> Result<FaultKind> {
        Ok(match s.trim() {
            "kill-leader" => FaultKind::KillLeader,
            "kill-random" | "kill" => FaultKind::KillRandom,
            "kill-all" => FaultKind::KillAll,
            "pause" => FaultKind::Pause,
            "pause-leader" => FaultKind::PauseLeader,
            "restart" => FaultKind::Restart,
            "partition" => FaultKind::Partition,
            "partition-leader" => FaultKind::PartitionLeader,
            "isolate-minority" => FaultKind::IsolateMinority,
            "churn" => FaultKind::Churn,
            other => bail!(
                "--faults: unknown fault {other:?} (kill-leader, kill-random, kill-all, pause, \
                 pause-leader, restart, partition, partition-leader, isolate-minority, churn)"
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill-leader",
            FaultKind::KillRandom => "kill-random",
            FaultKind::KillAll => "kill-all",
            FaultKind::Pause => "pause",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::Restart => "restart",
            FaultKind::Partition => "partition",
            FaultKind::PartitionLeader => "partition-leader",
            FaultKind::IsolateMinority => "isolate-minority",
            FaultKind::Churn => "churn",
        }
    }

    fn needs_netns(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::PartitionLeader | FaultKind::IsolateMinority
        )
    }
}

/// One fault the nemesis injected (or skipped).
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// Its kind.
    pub kind: FaultKind,
    /// The servers it hit.
    pub targets: Vec<String>,
    /// Whether it hit the leader of the moment.
    pub hit_leader: bool,
    /// When, ms since the start.
    pub at_ms: f64,
    /// Why it was skipped (None: injected).
    pub skipped: Option<String>,
}

/// Something the nemesis does later.
#[derive(Debug, Clone, Copy)]
enum Undo {
    Restart(usize),
    Resume(usize),
    Rejoin(usize),
}

/// A small deterministic generator (splitmix64): the nemesis's choices follow `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The harness's text of submission `tag`: `#<tag> ` padded with dots to `size` bytes.
pub fn message_text(tag: u64, size: usize) -> String {
    let mut text = format!("#{tag} ");
    while text.len() < size {
        text.push('.');
    }
    text
}

/// The tag of a harness message text.
pub fn message_tag(text: &str) -> Option<u64> {
    text.strip_prefix('#')?.split(' ').next()?.parse().ok()
}

/// The state of a run.
pub(crate) struct Run {
    pub(crate) start: Instant,
    pub(crate) dir: PathBuf,
    pub(crate) procs: Vec<Proc>,
    pub(crate) tx: Sender<Line>,
    pub(crate) rx: Receiver<Line>,
    pub(crate) servers: Vec<usize>,
    pub(crate) clients: Vec<usize>,
    pub(crate) audit: Option<usize>,
    pub(crate) rooms: Vec<String>,
    /// Client position by process index.
    pub(crate) client_pos: HashMap<usize, usize>,
    pub(crate) history: History,
    pub(crate) audit_history: ClientHistory,
    /// The newest leader known: (term, peer id).
    pub(crate) leader: Option<(u64, String)>,
    pub(crate) statuses: HashMap<usize, (Instant, Value)>,
    pub(crate) faults: Vec<FaultRecord>,
    undo: Vec<(Instant, Undo)>,
    /// Problems seen on the way (node errors, exits).
    pub(crate) notes: Vec<String>,
    pub(crate) errors: usize,
    /// `--submit-rate` of the servers (None: the servers' default).
    pub(crate) submit_rate: Option<f64>,
    /// When the last `churn` fault retired a server.
    last_churn: Option<Instant>,
    pub(crate) acked: usize,
    pub(crate) delivered: usize,
    pub(crate) quiet: bool,
    /// Servers cut off the network (`--netns` partitions).
    cut: Vec<usize>,
    /// Proc index -> host index in `lan`.
    hosts: HashMap<usize, usize>,
    /// The namespaces (`--netns`); after `procs`, so dropped after them.
    lan: Option<netns::Lan>,
}

impl Run {
    /// A run with no process yet, keeping its nodes' files in `dir`, with
    /// rooms `room1`..`room<rooms>`.
    pub(crate) fn new(dir: PathBuf, rooms: u16, quiet: bool) -> Run {
        let (tx, rx) = mpsc::channel();
        Run {
            start: Instant::now(),
            dir,
            procs: Vec::new(),
            tx,
            rx,
            servers: Vec::new(),
            clients: Vec::new(),
            audit: None,
            rooms: (1..=rooms).map(|i| format!("room{i}")).collect(),
            client_pos: HashMap::new(),
            history: History::default(),
            audit_history: ClientHistory::default(),
            leader: None,
            statuses: HashMap::new(),
            faults: Vec::new(),
            undo: Vec::new(),
            notes: Vec::new(),
            errors: 0,
            submit_rate: None,
            last_churn: None,
            acked: 0,
            delivered: 0,
            quiet,
            cut: Vec::new(),
            hosts: HashMap::new(),
            lan: None,
        }
    }

    pub(crate) fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    pub(crate) fn server_name(&self, peer: &str) -> String {
        self.servers
            .iter()
            .map(|i| &self.procs[*i])
            .find(|p| p.peer_id == peer)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("{}…", &peer[..peer.len().min(12)]))
    }

    /// Handles one line a node printed.
    pub(crate) fn handle(&mut self, line: Line) {
        let at_ms = self.ms(line.at);
        let node = line.node;
        let Some(proc) = self.procs.get_mut(node) else {
            return;
        };
        if line.start != proc.starts && line.event.is_none() {
            // The end of an earlier run of a restarted node.
            return;
        }
        let Some(event) = line.event else {
            if proc.state != State::Down {
                let note = format!(
                    "{} exited unexpectedly at {:.1}s",
                    proc.name,
                    at_ms / 1000.0
                );
                self.notes.push(note);
                proc.state = State::Down;
            }
            return;
        };
        let kind = event["event"].as_str().unwrap_or("");
        match kind {
            "ready" => {
                if let Some(p) = event["peer_id"].as_str() {
                    proc.peer_id = p.to_string();
                }
                if let Some(a) = event["listen_addrs"]
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                {
                    proc.addr = a.to_string();
                }
            }
            "leader" => {
                let (Some(term), Some(peer)) = (event["term"].as_u64(), event["peer_id"].as_str())
                else {
                    return;
                };
                if proc.server {
                    let server = proc.name.clone();
                    self.history.leaders.push(LeaderReport {
                        server,
                        term,
                        peer_id: peer.to_string(),
                        at_ms,
                    });
                }
                if self.leader.as_ref().is_none_or(|(t, _)| term > *t) {
                    self.leader = Some((term, peer.to_string()));
                }
            }
            "message" => {
                let Some((room, seq, id)) = room_seq_id(&event) else {
                    return;
                };
                let d = Delivery {
                    room: room.to_string(),
                    seq,
                    id: id.to_string(),
                    tag: event["text"].as_str().and_then(message_tag),
                    at_ms,
                };
                if Some(node) == self.audit {
                    self.audit_history.deliveries.push(d);
                } else if let Some(pos) = self.client_pos.get(&node) {
                    // History on joining counts: a client that joined after
                    // the first messages were committed gets them that way.
                    self.history.clients[*pos].deliveries.push(d);
                    self.delivered += 1;
                }
            }
            "sent" => {
                let Some((room, seq, id)) = room_seq_id(&event) else {
                    return;
                };
                if let Some(pos) = self.client_pos.get(&node) {
                    self.history.clients[*pos].acks.push(Ack {
                        id: id.to_string(),
                        room: room.to_string(),
                        seq,
                        at_ms,
                    });
                    self.acked += 1;
                }
            }
            "status" => {
                self.statuses.insert(node, (line.at, event));
            }
            "error" => {
                self.errors += 1;
                if self.errors <= 20 {
                    let note = format!("{}: error event: {}", proc.name, event["message"]);
                    self.notes.push(note);
                }
            }
            _ => {}
        }
    }

    /// Handles lines until `until`.
    pub(crate) fn pump(&mut self, until: Instant) {
        loop {
            let now = Instant::now();
            if now >= until {
                // Still take what is already there.
                while let Ok(line) = self.rx.try_recv() {
                    self.handle(line);
                }
                return;
            }
            match self.rx.recv_timeout(until - now) {
                Ok(line) => self.handle(line),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(until - now);
                    return;
                }
            }
        }
    }

    /// Waits until `cond` holds, handling lines.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&mut Run) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return Ok(());
            }
            if interrupted() {
                bail!("interrupted");
            }
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            self.pump(Instant::now() + Duration::from_millis(20));
        }
    }

    /// Asks `nodes` for their status and waits for the answers (best effort).
    pub(crate) fn poll_status(&mut self, nodes: &[usize], timeout: Duration) {
        let asked = Instant::now();
        for i in nodes {
            let _ = self.procs[*i].send(r#"{"cmd":"status"}"#);
        }
        let nodes = nodes.to_vec();
        let _ = self.wait_until("status answers", timeout, |r| {
            nodes.iter().all(|i| {
                r.procs[*i].state != State::Up
                    || r.statuses.get(i).is_some_and(|(at, _)| *at >= asked)
            })
        });
    }

    /// The arguments of node `name` in `role`. With `--netns` this creates
    /// the node's namespace (call once per node, then [`Run::add_proc`]).
    pub(crate) fn node_args(&mut self, role: &str, name: &str) -> Result<Vec<String>> {
        // The user's config file must not reach the harness's nodes.
        let mut args = vec![role.to_string(), "--json".into(), "--no-config".into()];
        let listen = match self.lan.as_mut() {
            Some(lan) => {
                let host = lan.add_host(name)?;
                self.hosts.insert(self.procs.len(), host);
                format!("/ip4/{}/tcp/0", lan.hosts[host].addr)
            }
            None => {
                args.push("--no-mdns".into());
                "/ip4/127.0.0.1/tcp/0".into()
            }
        };
        args.extend([
            "--listen".into(),
            listen,
            "--data-dir".into(),
            self.dir.join(name).display().to_string(),
        ]);
        Ok(args)
    }

    pub(crate) fn add_proc(&mut self, name: String, server: bool, args: Vec<String>) -> usize {
        let idx = self.procs.len();
        let log = self.dir.join(format!("{name}.stderr"));
        let mut proc = Proc::new(idx, name, server, args, log);
        if let (Some(lan), Some(host)) = (&self.lan, self.hosts.get(&idx)) {
            proc.netns = Some(lan.fd(*host));
        }
        self.procs.push(proc);
        idx
    }

    /// Whether the leader's voters still include a server no longer in the
    /// run (a retired one the cluster has not removed yet), or the leader
    /// cannot be asked: then a `churn` must wait, or two retired voters could
    /// stand in the way of removing either.
    fn retired_still_voting(&mut self, leader: Option<usize>) -> bool {
        let Some(l) = leader else { return true };
        self.poll_status(&[l], Duration::from_secs(2));
        let Some((_, status)) = self.statuses.get(&l) else {
            return true;
        };
        let current: HashSet<&str> = self
            .servers
            .iter()
            .map(|i| self.procs[*i].peer_id.as_str())
            .collect();
        status["voters"].as_array().is_none_or(|voters| {
            voters
                .iter()
                .any(|v| !v.as_str().is_some_and(|v| current.contains(v)))
        })
    }

    /// Cuts server `idx` off the network (`--netns`).
    fn cut_off(&mut self, idx: usize) -> Result<()> {
        let (Some(lan), Some(host)) = (&self.lan, self.hosts.get(&idx)) else {
            bail!("partitions need --netns");
        };
        lan.cut(*host)?;
        self.cut.push(idx);
        Ok(())
    }

    /// Joins node `idx` to the network again.
    fn rejoin(&mut self, idx: usize) -> Result<()> {
        if let (Some(lan), Some(host)) = (&self.lan, self.hosts.get(&idx)) {
            lan.join(*host)?;
        }
        self.cut.retain(|i| *i != idx);
        Ok(())
    }

    pub(crate) fn start(&mut self, idx: usize) -> Result<()> {
        if self.procs[idx].server {
            // Bootstrap every other server at its current address: listen
            // ports are 0, so a restarted server comes back on a new port.
            let mut args = Vec::new();
            let mut old = std::mem::take(&mut self.procs[idx].args).into_iter();
            while let Some(a) = old.next() {
                if a == "--bootstrap" {
                    old.next();
                } else {
                    args.push(a);
                }
            }
            for i in &self.servers {
                let addr = &self.procs[*i].addr;
                if *i != idx && !addr.is_empty() {
                    args.extend(["--bootstrap".to_string(), addr.clone()]);
                }
            }
            self.procs[idx].args = args;
        }
        self.procs[idx].peer_id.clear();
        let tx = self.tx.clone();
        self.procs[idx].start(&tx)
    }

    pub(crate) fn wait_ready(&mut self, nodes: &[usize], timeout: Duration) -> Result<()> {
        let nodes = nodes.to_vec();
        let names: Vec<String> = nodes.iter().map(|i| self.procs[*i].name.clone()).collect();
        self.wait_until(&format!("ready of {}", names.join(", ")), timeout, |r| {
            nodes.iter().all(|i| !r.procs[*i].peer_id.is_empty())
        })
    }

    pub(crate) fn leader_idx(&self) -> Option<usize> {
        let (_, peer) = self.leader.as_ref()?;
        self.servers
            .iter()
            .copied()
            .find(|i| self.procs[*i].peer_id == *peer)
    }

    /// Submits harness message `tag` of `size` bytes from client number `c`
    /// (position in `clients`) to `room`, and records it.
    pub(crate) fn submit(&mut self, c: usize, room: &str, tag: u64, size: usize) {
        let idx = self.clients[c];
        let text = message_text(tag, size);
        let cmd = json!({"cmd": "send", "room": room, "text": text}).to_string();
        let at_ms = self.ms(Instant::now());
        match self.procs[idx].send(&cmd) {
            Ok(()) => self.history.sends.push(Send {
                tag,
                client: self.procs[idx].name.clone(),
                room: room.to_string(),
                at_ms,
            }),
            Err(e) => self.notes.push(format!("submission #{tag}: {e:#}")),
        }
    }

    pub(crate) fn stop_all(&mut self) {
        for p in &mut self.procs {
            p.stop();
        }
    }
}

/// Runs `chorus harness`.
pub fn run(args: HarnessArgs) -> Result<bool> {
    catch_signals();
    let faults: Vec<FaultKind> = args
        .faults
        .iter()
        .filter(|f| !f.trim().is_empty())
        .map(|f| FaultKind::parse(f))
        .collect::<Result<_>>()?;
    if args.size < 16 || args.size > 4096 {
        bail!("--size must be 16 to 4096 bytes");
    }
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        bail!("--rate must be above 0 and at most 100000");
    }
    let (dir, made_dir) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("chorus-harness-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut run = Run::new(dir.clone(), args.rooms, args.quiet);
    if args.netns {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            bail!("--netns needs root (network namespaces)");
        }
        run.lan = Some(netns::Lan::new().context("cannot create the network namespaces")?);
    }
    let result = drive(&mut run, &args, &faults);
    run.stop_all();
    let ok = match result {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("harness: node logs are in {}", dir.display());
            return Err(e);
        }
    };
    if made_dir && !args.keep && ok {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("harness: node logs and data are in {}", dir.display());
    }
    Ok(ok)
}

/// Starts the cluster, runs the workload and nemesis, heals, converges, audits,
/// checks and reports. Returns whether the run kept every promise.
/// Starts `servers_n` servers (each bootstrapping the ones started before it),
/// waits for a leader with every server a voter, then starts `clients_n`
/// clients in every room and waits until each knows the leader.
pub(crate) fn setup(run: &mut Run, servers_n: u8, clients_n: u16) -> Result<()> {
    let boot = Duration::from_secs(60);
    // Servers: the first alone, the others bootstrap those started before.
    for i in 1..=servers_n {
        let name = format!("s{i}");
        // `start` adds the bootstrap addresses (the servers started so far).
        let mut a = run.node_args("server", &name)?;
        if let Some(rate) = run.submit_rate {
            a.extend(["--submit-rate".into(), rate.to_string()]);
        }
        let idx = run.add_proc(name, true, a);
        run.servers.push(idx);
        run.start(idx)?;
        if i == 1 {
            run.wait_ready(&[idx], boot)?;
        }
    }
    let servers = run.servers.clone();
    run.wait_ready(&servers, boot)?;
    let n = usize::from(servers_n);
    run.wait_until("a leader with every server a voter", boot, |r| {
        let Some(l) = r.leader_idx() else {
            return false;
        };
        r.poll_status(&[l], Duration::from_secs(2));
        r.statuses
            .get(&l)
            .and_then(|(_, s)| s["voters"].as_array().map(Vec::len))
            .is_some_and(|v| v == n)
    })?;
    // Clients, in every room, bootstrapping every server.
    let addrs: Vec<String> = servers.iter().map(|i| run.procs[*i].addr.clone()).collect();
    for i in 1..=clients_n {
        let name = format!("c{i}");
        let mut a = run.node_args("client", &name)?;
        a.extend(["--nick".into(), name.clone()]);
        for r in &run.rooms {
            a.extend(["--room".into(), r.clone()]);
        }
        for addr in &addrs {
            a.extend(["--bootstrap".into(), addr.clone()]);
        }
        let idx = run.add_proc(name.clone(), false, a);
        run.client_pos.insert(idx, run.clients.len());
        run.clients.push(idx);
        run.history.clients.push(ClientHistory {
            name,
            rooms: run.rooms.clone(),
            ..ClientHistory::default()
        });
        run.start(idx)?;
    }
    let clients = run.clients.clone();
    run.wait_ready(&clients, boot)?;
    run.wait_until("every client to know the leader", boot, |r| {
        r.poll_status(&clients, Duration::from_secs(2));
        clients.iter().all(|i| {
            r.statuses
                .get(i)
                .is_some_and(|(_, s)| s["leader"].is_string() && s["quorum"] == true)
        })
    })?;
    Ok(())
}

fn drive(run: &mut Run, args: &HarnessArgs, faults: &[FaultKind]) -> Result<bool> {
    setup(run, args.servers, args.clients)?;
    let setup = run.start.elapsed();
    if !run.quiet {
        eprintln!(
            "harness: {} servers and {} clients up in {:.1}s; running {:.0}s at {} msg/s",
            args.servers,
            args.clients,
            setup.as_secs_f64(),
            args.duration.as_secs_f64(),
            args.rate
        );
    }
    workload(run, args, faults)?;
    heal(run)?;
    let converged = converge(run, args.settle);
    run.history.not_converged = converged.err().map(|e| format!("{e:#}"));
    audit(run, args)?;
    let violations = check::check(&run.history);
    let report = report::Report::build(run, args, &violations);
    report.print(&violations);
    if let Some(out) = &args.out {
        let doc = json!({ "report": report, "violations": violations, "faults": run.faults, "history": run.history });
        let text = serde_json::to_string(&doc).context("cannot encode the history")?;
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("harness: history and report written to {}", out.display());
    }
    Ok(violations.is_empty())
}

/// The workload and the nemesis, for `--duration`.
fn workload(run: &mut Run, args: &HarnessArgs, faults: &[FaultKind]) -> Result<()> {
    let begin = Instant::now();
    let end = begin + args.duration;
    let mut rng = Rng(args.seed);
    let mut next_fault = (!faults.is_empty()).then(|| begin + args.every);
    let mut next_progress = begin;
    let tty = std::io::stderr().is_terminal();
    let mut tag: u64 = 0;
    let nclients = run.clients.len().max(1) as u64;
    let nrooms = run.rooms.len().max(1) as u64;
    loop {
        if interrupted() {
            bail!("interrupted");
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Submissions due by now.
        let due = (now.duration_since(begin).as_secs_f64() * args.rate) as u64;
        while tag < due {
            tag += 1;
            let c = ((tag - 1) / nrooms % nclients) as usize;
            let room = run.rooms[((tag - 1) % nrooms) as usize].clone();
            run.submit(c, &room, tag, args.size);
        }
        // The nemesis.
        if let Some(at) = next_fault {
            if now >= at {
                let kind = faults[rng.below(faults.len())];
                inject(run, kind, &mut rng, args)?;
                next_fault = Some(at + args.every);
            }
        }
        undo_due(run, now)?;
        if now >= next_progress && !run.quiet {
            progress(run, tty, begin);
            next_progress = now
                + if tty {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(5)
                };
        }
        let next_send = begin + Duration::from_secs_f64((tag + 1) as f64 / args.rate);
        let wake = [
            Some(next_send),
            next_fault,
            Some(now + Duration::from_millis(50)),
        ]
        .into_iter()
        .flatten()
        .chain(run.undo.iter().map(|(t, _)| *t))
        .min()
        .unwrap_or(now);
        run.pump(wake.min(end));
    }
    if tty && !run.quiet {
        eprintln!();
    }
    Ok(())
}

fn progress(run: &Run, tty: bool, begin: Instant) {
    let leader = match (&run.leader, run.leader_idx()) {
        (Some((term, _)), Some(i)) => format!("{} term {term}", run.procs[i].name),
        (Some((term, p)), None) => format!("{} term {term}", run.server_name(p)),
        _ => "none".into(),
    };
    let down: Vec<String> = run
        .servers
        .iter()
        .map(|i| &run.procs[*i])
        .filter(|p| p.state != State::Up)
        .map(|p| {
            format!(
                "{}{}",
                p.name,
                if p.state == State::Paused {
                    "⏸"
                } else {
                    "✗"
                }
            )
        })
        .collect();
    let line = format!(
        "[{:6.1}s] sent {} acked {} delivered {} | leader {leader} | faults {}{}",
        begin.elapsed().as_secs_f64(),
        run.history.sends.len(),
        run.acked,
        run.delivered,
        run.faults.iter().filter(|f| f.skipped.is_none()).count(),
        if down.is_empty() {
            String::new()
        } else {
            format!(" (down: {})", down.join(" "))
        }
    );
    if tty {
        eprint!("\r\x1b[K{line}");
    } else {
        eprintln!("harness: {line}");
    }
}

/// Injects one fault.
/// Least time between two `churn` faults: the servers' removal timeout (5 s)
/// and a new server's promotion, with room to spare.
const CHURN_SPACING: Duration = Duration::from_secs(8);

fn inject(run: &mut Run, kind: FaultKind, rng: &mut Rng, args: &HarnessArgs) -> Result<()> {
    let at_ms = run.ms(Instant::now());
    let leader = run.leader_idx();
    let mut record = FaultRecord {
        kind,
        targets: Vec::new(),
        hit_leader: false,
        at_ms,
        skipped: None,
    };
    let up: Vec<usize> = run
        .servers
        .iter()
        .copied()
        .filter(|i| run.procs[*i].state == State::Up)
        .collect();
    let up: Vec<usize> = up.into_iter().filter(|i| !run.cut.contains(i)).collect();
    let impaired = run.servers.len() - up.len();
    let tolerated = (run.servers.len() - 1) / 2;
    let target = match kind {
        _ if kind.needs_netns() && !args.netns => {
            record.skipped = Some("needs --netns".into());
            None
        }
        FaultKind::KillAll => None,
        FaultKind::KillLeader | FaultKind::PauseLeader | FaultKind::PartitionLeader => match leader
        {
            Some(l) if run.procs[l].state == State::Up => Some(l),
            _ => {
                record.skipped = Some("no live leader known".into());
                None
            }
        },
        _ => up.get(rng.below(up.len())).copied().or_else(|| {
            record.skipped = Some("no live server".into());
            None
        }),
    };
    let undo_at = Instant::now() + args.downtime;
    // A retired server stays a voter until the cluster removes it (after its
    // removal timeout): one retirement at a time, or two retired voters of
    // three would leave no quorum to remove either.
    let churn_busy = run
        .last_churn
        .is_some_and(|at| at.elapsed() < CHURN_SPACING);
    if kind == FaultKind::Churn && churn_busy && target.is_some() {
        record.skipped = Some("the previous retirement is still being removed".into());
    } else if kind == FaultKind::Churn && target.is_some() && run.retired_still_voting(leader) {
        record.skipped = Some("a retired server is still a voter (or no leader to ask)".into());
    } else if kind != FaultKind::Restart
        && kind != FaultKind::KillAll
        && target.is_some()
        && impaired + 1 > tolerated
    {
        record.skipped = Some(format!("{impaired} servers already down or paused"));
    } else if kind == FaultKind::KillAll {
        for i in run.servers.clone() {
            run.procs[i].kill();
            record.targets.push(run.procs[i].name.clone());
            run.undo
                .retain(|(_, u)| !matches!(u, Undo::Restart(j) | Undo::Resume(j) if *j == i));
            run.undo.push((undo_at, Undo::Restart(i)));
        }
        record.hit_leader = true;
    } else if let (Some(t), None) = (target, &record.skipped) {
        record.targets.push(run.procs[t].name.clone());
        record.hit_leader = Some(t) == leader;
        match kind {
            FaultKind::KillLeader | FaultKind::KillRandom => {
                run.procs[t].kill();
                run.undo.push((undo_at, Undo::Restart(t)));
            }
            FaultKind::Pause | FaultKind::PauseLeader => {
                run.procs[t].pause()?;
                run.undo.push((undo_at, Undo::Resume(t)));
            }
            FaultKind::Restart => {
                run.procs[t].kill();
                run.start(t)?;
            }
            FaultKind::Churn => {
                run.procs[t].kill();
                run.servers.retain(|i| *i != t);
                run.undo
                    .retain(|(_, u)| !matches!(u, Undo::Restart(j) | Undo::Resume(j) if *j == t));
                let name = format!("s{}", run.procs.iter().filter(|p| p.server).count() + 1);
                let mut a = run.node_args("server", &name)?;
                if let Some(rate) = run.submit_rate {
                    a.extend(["--submit-rate".into(), rate.to_string()]);
                }
                // Added to a running cluster: it must never form one of its own.
                a.push("--join".into());
                let idx = run.add_proc(name.clone(), true, a);
                run.servers.push(idx);
                run.start(idx)?;
                record.targets.push(name);
                run.last_churn = Some(Instant::now());
            }
            FaultKind::PartitionLeader => {
                run.cut_off(t)?;
                run.undo.push((undo_at, Undo::Rejoin(t)));
            }
            FaultKind::Partition | FaultKind::IsolateMinority => {
                // A minority of servers, each cut off (the rest stay a
                // majority); `partition` cuts a client off too.
                let room = tolerated - impaired;
                let extra = if kind == FaultKind::IsolateMinority {
                    room
                } else {
                    1 + rng.below(room)
                };
                let mut pool: Vec<usize> = up.iter().copied().filter(|i| *i != t).collect();
                let mut victims = vec![t];
                while victims.len() < extra && !pool.is_empty() {
                    victims.push(pool.swap_remove(rng.below(pool.len())));
                }
                record.targets.clear();
                if kind == FaultKind::Partition && !run.clients.is_empty() {
                    victims.push(run.clients[rng.below(run.clients.len())]);
                }
                for v in victims {
                    record.targets.push(run.procs[v].name.clone());
                    record.hit_leader |= Some(v) == leader;
                    run.cut_off(v)?;
                    run.undo.push((undo_at, Undo::Rejoin(v)));
                }
            }
            _ => {}
        }
    }
    if !run.quiet && std::io::stderr().is_terminal() {
        // Faults show in the progress line.
    } else if !run.quiet {
        eprintln!(
            "harness: {:.1}s {} {}{}",
            at_ms / 1000.0,
            kind.name(),
            record.targets.join(","),
            record
                .skipped
                .as_ref()
                .map(|s| format!(" (skipped: {s})"))
                .unwrap_or_default()
        );
    }
    run.faults.push(record);
    Ok(())
}

/// Performs the restarts and resumes that are due.
fn undo_due(run: &mut Run, now: Instant) -> Result<()> {
    let (due, later): (Vec<_>, Vec<_>) = run.undo.drain(..).partition(|(t, _)| *t <= now);
    run.undo = later;
    for (_, u) in due {
        match u {
            Undo::Restart(i) if run.procs[i].state == State::Down => run.start(i)?,
            Undo::Resume(i) if run.procs[i].state == State::Paused => run.procs[i].resume()?,
            Undo::Rejoin(i) => run.rejoin(i)?,
            _ => {}
        }
    }
    Ok(())
}

/// Ends every fault: resumes paused servers, restarts killed ones.
fn heal(run: &mut Run) -> Result<()> {
    run.undo.clear();
    for i in run.cut.clone() {
        run.rejoin(i)?;
    }
    for i in run.servers.clone() {
        match run.procs[i].state {
            State::Paused => run.procs[i].resume()?,
            State::Down => run.start(i)?,
            State::Up => {}
        }
    }
    let servers = run.servers.clone();
    run.wait_ready(&servers, Duration::from_secs(60))
}

/// The last seq each client delivered per room.
fn heads(run: &Run) -> Vec<BTreeMap<String, u64>> {
    run.history
        .clients
        .iter()
        .map(|c| {
            let mut m = BTreeMap::new();
            for d in &c.deliveries {
                let e = m.entry(d.room.clone()).or_insert(0);
                *e = (*e).max(d.seq);
            }
            m
        })
        .collect()
}

/// Waits until every client has nothing pending and every room's last seq is
/// the same at every client, twice in a row a second apart.
fn converge(run: &mut Run, settle: Duration) -> Result<()> {
    let deadline = Instant::now() + settle;
    let clients = run.clients.clone();
    let mut last: Option<Vec<BTreeMap<String, u64>>> = None;
    loop {
        if interrupted() {
            bail!("interrupted");
        }
        run.poll_status(&clients, Duration::from_secs(3));
        let pending: usize = clients
            .iter()
            .map(|i| {
                run.statuses
                    .get(i)
                    .and_then(|(_, s)| s["pending"].as_u64())
                    .unwrap_or(u64::MAX / 1024) as usize
            })
            .sum();
        let h = heads(run);
        let equal = h.windows(2).all(|w| w[0] == w[1]);
        let dead: Vec<&str> = clients
            .iter()
            .map(|i| &run.procs[*i])
            .filter(|p| p.state != State::Up)
            .map(|p| p.name.as_str())
            .collect();
        if !dead.is_empty() {
            bail!("clients {} are not running", dead.join(", "));
        }
        if pending == 0 && equal && last.as_ref() == Some(&h) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "not converged within {settle:?}: {pending} messages pending; last seqs per client {:?}",
                h
            );
        }
        last = Some(h);
        run.pump(Instant::now() + Duration::from_secs(1));
    }
}

/// Reads the servers' room logs through a fresh client (history requests).
fn audit(run: &mut Run, args: &HarnessArgs) -> Result<()> {
    let name = "audit".to_string();
    let mut a = run.node_args("client", &name)?;
    a.extend([
        "--nick".into(),
        name.clone(),
        "--history".into(),
        "1000".into(),
    ]);
    for r in &run.rooms {
        a.extend(["--room".into(), r.clone()]);
    }
    for i in &run.servers {
        a.extend(["--bootstrap".into(), run.procs[*i].addr.clone()]);
    }
    let idx = run.add_proc(name.clone(), false, a);
    run.audit = Some(idx);
    run.audit_history = ClientHistory {
        name,
        rooms: run.rooms.clone(),
        ..ClientHistory::default()
    };
    run.start(idx)?;
    if let Err(e) = run.wait_ready(&[idx], Duration::from_secs(30)) {
        run.notes.push(format!("audit client: {e:#}"));
        return Ok(());
    }
    // What the clients delivered: the audit should find at least that much.
    let want: BTreeMap<String, u64> = heads(run).into_iter().fold(BTreeMap::new(), |mut m, h| {
        for (room, seq) in h {
            let e = m.entry(room).or_insert(0);
            *e = (*e).max(seq);
        }
        m
    });
    let rooms = run.rooms.clone();
    let mut asked: BTreeMap<String, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20).max(args.settle / 2);
    let mut quiet_since = Instant::now();
    let mut seen = 0;
    loop {
        run.pump(Instant::now() + Duration::from_millis(100));
        if interrupted() {
            bail!("interrupted");
        }
        let got = run.audit_history.deliveries.len();
        if got != seen {
            seen = got;
            quiet_since = Instant::now();
        }
        let mut complete = true;
        for room in &rooms {
            let seqs: Vec<u64> = run
                .audit_history
                .deliveries
                .iter()
                .filter(|d| d.room == *room)
                .map(|d| d.seq)
                .collect();
            let low = seqs.iter().copied().min();
            let high = seqs.iter().copied().max().unwrap_or(0);
            let target = want.get(room).copied().unwrap_or(0);
            if high < target || low.is_some_and(|l| l > 1) {
                complete = false;
            }
            // Page back from the lowest seq held, once per page.
            if let Some(low) = low.filter(|l| *l > 1) {
                if quiet_since.elapsed() > Duration::from_millis(500)
                    && asked.get(room) != Some(&low)
                {
                    asked.insert(room.clone(), low);
                    let cmd = json!({"cmd": "history", "room": room, "before": low, "limit": 1000});
                    let _ = run.procs[idx].send(&cmd.to_string());
                }
            }
        }
        let settled = quiet_since.elapsed() > Duration::from_secs(3);
        if (complete && quiet_since.elapsed() > Duration::from_secs(1))
            || settled
            || Instant::now() >= deadline
        {
            break;
        }
    }
    run.history.audit = Some(run.audit_history.clone());
    Ok(())
}

/// The `room`, `seq` and `id` fields that `message` and `sent` events share.
fn room_seq_id(event: &serde_json::Value) -> Option<(&str, u64, &str)> {
    Some((
        event["room"].as_str()?,
        event["seq"].as_u64()?,
        event["id"].as_str()?,
    ))
}
