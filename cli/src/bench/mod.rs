//! `chorus bench`: commit throughput, latency at a fixed rate and failover
//! time of a local cluster of real `chorus` processes on 127.0.0.1, driven
//! through the clients' `--json` interface by the harness's machinery
//! ([`crate::harness`]). Prints tables and writes JSON; `docs/benchmarks.md`
//! holds the results.
//!
//! Times are taken where the harness reads a client's event line, so they
//! include the client's JSON encoding and the pipe: they are what a program
//! driving Chorus sees.

use std::collections::HashMap;
use std::time::{Duration, Instant};

mod catchup;
mod etcd;
pub mod gossip;
mod plot;
mod scale;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;

use crate::args::BenchArgs;
use crate::harness::{self, Run};

/// p50, p90, p99 and max of a histogram of microseconds, in ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quantiles {
    /// How many values.
    pub count: u64,
    /// Median, ms.
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Maximum, ms.
    pub max: f64,
}

fn quantiles(h: &Histogram<u64>) -> Quantiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Quantiles {
        count: h.len(),
        p50: ms(h.value_at_quantile(0.5)),
        p90: ms(h.value_at_quantile(0.9)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    }
}

fn histogram() -> Result<Histogram<u64>> {
    // 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).context("cannot create a histogram")
}

fn record_ms(h: &mut Histogram<u64>, ms: f64) {
    let us = (ms * 1000.0).round().max(1.0) as u64;
    h.saturating_record(us);
}

/// One throughput measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Servers.
    pub servers: u8,
    /// Clients submitting (each keeps `window` messages outstanding).
    pub clients: u16,
    /// Bytes per message.
    pub size: usize,
    /// Messages acknowledged per second in the measured window.
    pub committed_per_s: f64,
    /// Messages delivered at every client per second in the measured window.
    pub delivered_all_per_s: f64,
    /// Submit -> acknowledged under that load.
    pub ack_latency: Quantiles,
}

/// The latency measurement at a fixed rate.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Servers.
    pub servers: u8,
    /// Clients.
    pub clients: u16,
    /// Bytes per message.
    pub size: usize,
    /// Messages per second offered.
    pub rate: f64,
    /// Submit -> acknowledged (`sent`).
    pub submit_to_ack: Quantiles,
    /// Submit -> delivered at every client.
    pub submit_to_delivered_all: Quantiles,
    /// Messages not delivered at every client by the end.
    pub incomplete: usize,
}

/// Failover trials.
#[derive(Debug, Clone, Serialize)]
pub struct Failover {
    /// `kill -9` or `SIGSTOP`.
    pub fault: String,
    /// Servers.
    pub servers: u8,
    /// Fault -> first acknowledgement of a message submitted after it.
    pub recovery: Quantiles,
    /// Every trial, ms.
    pub trials_ms: Vec<f64>,
}

/// The raw gossipsub baseline: one publisher, `subscribers` subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct GossipBaseline {
    /// Subscriber processes.
    pub subscribers: u16,
    /// Bytes per message.
    pub size: usize,
    /// Messages per second published.
    pub offered_per_s: f64,
    /// Messages received by every subscriber per second in the measured window.
    pub delivered_all_per_s: f64,
    /// Published messages some subscriber never received.
    pub lost: usize,
    /// Chorus 3-server commits per second of the same size in this run, divided by
    /// `delivered_all_per_s` (None: not measured).
    pub chorus_ratio: Option<f64>,
}

/// The etcd baseline: a 3-member cluster on loopback.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdBaseline {
    /// Concurrent writer connections.
    pub connections: usize,
    /// Bytes per value.
    pub size: usize,
    /// Puts per second.
    pub puts_per_s: f64,
    /// Chorus 3-server commits per second of the same size in this run divided
    /// by `puts_per_s` (None: not measured).
    pub chorus_ratio: Option<f64>,
}

/// Everything measured.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// etcd baselines.
    pub etcd: Vec<EtcdBaseline>,
    /// Raw gossipsub baselines.
    pub gossip: Vec<GossipBaseline>,
    /// Commit throughput runs.
    pub throughput: Vec<Throughput>,
    /// Latency runs.
    pub latency: Vec<Latency>,
    /// Failover runs.
    pub failover: Vec<Failover>,
    /// Catch-up runs.
    pub catch_up: Vec<catchup::CatchUp>,
    /// Scale runs.
    pub scale: Vec<scale::Scale>,
    /// Machine facts.
    pub machine: serde_json::Value,
}

/// An open-loop load: `rate` messages per second spread over clients and rooms.
struct Load {
    begin: Instant,
    rate: f64,
    size: usize,
    tag: u64,
}

impl Load {
    fn new(rate: f64, size: usize, first_tag: u64) -> Load {
        Load {
            begin: Instant::now(),
            rate,
            size,
            tag: first_tag,
        }
    }

    /// Submits what is due and handles events for a few ms.
    fn tick(&mut self, run: &mut Run, first_tag: u64) -> Result<()> {
        if harness::interrupted() {
            bail!("interrupted");
        }
        let due = first_tag + (self.begin.elapsed().as_secs_f64() * self.rate) as u64;
        let n = run.clients.len().max(1) as u64;
        while self.tag < due {
            self.tag += 1;
            let room = run.rooms[0].clone();
            run.submit((self.tag % n) as usize, &room, self.tag, self.size);
        }
        run.pump(Instant::now() + Duration::from_millis(2));
        Ok(())
    }
}

/// A fresh cluster in a fresh directory under `base`.
fn cluster(base: &std::path::Path, name: &str, servers: u8, clients: u16) -> Result<Run> {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut run = Run::new(dir, 1, true);
    // Benchmarks measure capacity: no per-client rate limit at the servers.
    run.submit_rate = Some(0.0);
    if let Err(e) = harness::setup(&mut run, servers, clients) {
        run.stop_all();
        return Err(e);
    }
    Ok(run)
}

/// Message tag -> (deliveries, time of the last), and tag -> submit time.
fn delivery_times(run: &Run) -> (HashMap<u64, (usize, f64)>, HashMap<u64, f64>) {
    let mut d: HashMap<u64, (usize, f64)> = HashMap::new();
    for c in &run.history.clients {
        for x in &c.deliveries {
            if let Some(t) = x.tag {
                let e = d.entry(t).or_insert((0, 0.0));
                e.0 += 1;
                e.1 = e.1.max(x.at_ms);
            }
        }
    }
    let s = run.history.sends.iter().map(|s| (s.tag, s.at_ms)).collect();
    (d, s)
}

/// Message id -> tag, from the deliveries.
fn tags(run: &Run) -> HashMap<String, u64> {
    run.history
        .clients
        .iter()
        .flat_map(|c| c.deliveries.iter())
        .filter_map(|d| d.tag.map(|t| (d.id.clone(), t)))
        .collect()
}

fn throughput(
    base: &std::path::Path,
    servers: u8,
    size: usize,
    args: &BenchArgs,
) -> Result<Throughput> {
    let clients = args.clients;
    let mut run = cluster(base, &format!("tput-{servers}-{size}"), servers, clients)?;
    let result = (|| {
        let window = args.window;
        let start = Instant::now();
        let warm = Duration::from_secs(1);
        let end = start + warm + args.seconds;
        let mut tag = 0u64;
        let mut sent = vec![0usize; run.clients.len()];
        let room = run.rooms[0].clone();
        while Instant::now() < end {
            if harness::interrupted() {
                bail!("interrupted");
            }
            for (c, s) in sent.iter_mut().enumerate() {
                let acked = run.history.clients[c].acks.len();
                while *s < acked + window {
                    tag += 1;
                    run.submit(c, &room, tag, size);
                    *s += 1;
                }
            }
            run.pump(Instant::now() + Duration::from_millis(2));
        }
        let from = run.ms(start + warm);
        let to = run.ms(end);
        let secs = (to - from) / 1000.0;
        let ids = tags(&run);
        let (deliveries, sends) = delivery_times(&run);
        let mut lat = histogram()?;
        let mut committed = 0usize;
        for c in &run.history.clients {
            for a in &c.acks {
                if a.at_ms >= from && a.at_ms < to {
                    committed += 1;
                    if let Some(s) = ids.get(&a.id).and_then(|t| sends.get(t)) {
                        record_ms(&mut lat, a.at_ms - s);
                    }
                }
            }
        }
        let n = run.clients.len();
        let all = deliveries
            .values()
            .filter(|(k, at)| *k == n && *at >= from && *at < to)
            .count();
        Ok(Throughput {
            servers,
            clients,
            size,
            committed_per_s: committed as f64 / secs,
            delivered_all_per_s: all as f64 / secs,
            ack_latency: quantiles(&lat),
        })
    })();
    run.stop_all();
    result
}

fn latency(base: &std::path::Path, args: &BenchArgs) -> Result<Latency> {
    let (servers, clients, size, rate) = (3u8, args.clients, 100usize, args.rate);
    let mut run = cluster(base, "latency", servers, clients)?;
    let result = (|| {
        let mut load = Load::new(rate, size, 0);
        let end = Instant::now() + args.seconds * 2;
        while Instant::now() < end {
            load.tick(&mut run, 0)?;
        }
        // Let the last ones arrive.
        run.pump(Instant::now() + Duration::from_secs(2));
        let ids = tags(&run);
        let (deliveries, sends) = delivery_times(&run);
        let mut ack = histogram()?;
        for c in &run.history.clients {
            for a in &c.acks {
                if let Some(s) = ids.get(&a.id).and_then(|t| sends.get(t)) {
                    record_ms(&mut ack, a.at_ms - s);
                }
            }
        }
        let mut all = histogram()?;
        let n = run.clients.len();
        let mut incomplete = 0;
        for (tag, at) in &sends {
            match deliveries.get(tag) {
                Some((k, last)) if *k == n => record_ms(&mut all, last - at),
                _ => incomplete += 1,
            }
        }
        Ok(Latency {
            servers,
            clients,
            size,
            rate,
            submit_to_ack: quantiles(&ack),
            submit_to_delivered_all: quantiles(&all),
            incomplete,
        })
    })();
    run.stop_all();
    result
}

fn failover(base: &std::path::Path, pause: bool, args: &BenchArgs) -> Result<Failover> {
    let servers = 3u8;
    let name = if pause {
        "failover-stop"
    } else {
        "failover-kill"
    };
    let mut run = cluster(base, name, servers, 2)?;
    let result = (|| {
        let mut load = Load::new(args.failover_rate, 100, 0);
        let mut hist = histogram()?;
        let mut trials = Vec::new();
        for trial in 1..=args.trials {
            // Steady state: every server up and acknowledgements flowing.
            let steady = Instant::now() + Duration::from_millis(1500);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                load.tick(&mut run, 0)?;
                let all_up = run
                    .servers
                    .iter()
                    .all(|i| run.procs[*i].state == harness::ProcState::Up);
                let acks_before = run
                    .history
                    .clients
                    .iter()
                    .map(|c| c.acks.len())
                    .sum::<usize>();
                if Instant::now() >= steady
                    && all_up
                    && run.leader_idx().is_some()
                    && acks_before > 0
                {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("trial {trial}: the cluster did not settle");
                }
            }
            let Some(leader) = run.leader_idx() else {
                bail!("trial {trial}: no leader");
            };
            let fault_at = Instant::now();
            let fault_ms = run.ms(fault_at);
            if pause {
                run.procs[leader].pause()?;
            } else {
                run.procs[leader].kill();
            }
            let first_tag = load.tag;
            let ids = |run: &Run| -> Option<f64> {
                // The first ack of a message submitted after the fault.
                let t = tags(run);
                run.history
                    .clients
                    .iter()
                    .flat_map(|c| c.acks.iter().rev().take(200))
                    .filter(|a| a.at_ms >= fault_ms)
                    .filter(|a| t.get(&a.id).is_some_and(|tag| *tag > first_tag))
                    .map(|a| a.at_ms)
                    .min_by(f64::total_cmp)
            };
            let deadline = fault_at + Duration::from_secs(30);
            let recovered = loop {
                load.tick(&mut run, 0)?;
                if let Some(at) = ids(&run) {
                    break at - fault_ms;
                }
                if Instant::now() >= deadline {
                    bail!("trial {trial}: no commit within 30 s of the fault");
                }
            };
            record_ms(&mut hist, recovered);
            trials.push(recovered);
            eprintln!(
                "bench: failover {} trial {trial}/{}: {recovered:.0} ms",
                if pause { "SIGSTOP" } else { "kill -9" },
                args.trials
            );
            if pause {
                run.procs[leader].resume()?;
            } else {
                run.start(leader)?;
            }
        }
        Ok(Failover {
            fault: if pause { "SIGSTOP" } else { "kill -9" }.into(),
            servers,
            recovery: quantiles(&hist),
            trials_ms: trials,
        })
    })();
    run.stop_all();
    result
}

fn gossip_baseline(
    base: &std::path::Path,
    size: usize,
    args: &BenchArgs,
) -> Result<GossipBaseline> {
    let dir = base.join(format!("gossip-{size}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut run = Run::new(dir, 1, true);
    let result = (|| {
        let publisher = run.add_proc("pub".into(), false, vec!["bench-gossip-node".into()]);
        run.start(publisher)?;
        run.wait_until("the publisher", Duration::from_secs(30), |r| {
            !r.procs[publisher].peer_id.is_empty()
        })?;
        let addr = run.procs[publisher].addr.clone();
        for i in 1..=args.clients {
            let name = format!("sub{i}");
            let a = vec![
                "bench-gossip-node".into(),
                "--bootstrap".into(),
                addr.clone(),
            ];
            let idx = run.add_proc(name.clone(), false, a);
            run.client_pos.insert(idx, run.clients.len());
            run.clients.push(idx);
            run.history.clients.push(harness::check::ClientHistory {
                name,
                rooms: vec!["bench".into()],
                ..Default::default()
            });
            run.start(idx)?;
        }
        let want = usize::from(args.clients);
        run.wait_until(
            "every subscriber in the mesh",
            Duration::from_secs(30),
            |r| {
                let _ = r.procs[publisher].send(r#"{"cmd":"status"}"#);
                r.pump(Instant::now() + Duration::from_millis(200));
                r.statuses
                    .get(&publisher)
                    .and_then(|(_, s)| s["subscribers"].as_u64())
                    .is_some_and(|n| n as usize >= want)
            },
        )?;
        run.pump(Instant::now() + Duration::from_secs(1));
        let rate = args.gossip_rate;
        let begin = Instant::now();
        let warm = Duration::from_secs(1);
        let end = begin + warm + args.seconds;
        let mut tag = 0u64;
        while Instant::now() < end {
            if harness::interrupted() {
                bail!("interrupted");
            }
            let due = (begin.elapsed().as_secs_f64() * rate) as u64;
            while tag < due {
                tag += 1;
                let text = harness::message_text(tag, size);
                let cmd = json!({"cmd": "send", "room": "bench", "text": text}).to_string();
                let at_ms = run.ms(Instant::now());
                run.procs[publisher].send(&cmd)?;
                run.history.sends.push(harness::check::Send {
                    tag,
                    client: "pub".into(),
                    room: "bench".into(),
                    at_ms,
                });
            }
            run.pump(Instant::now() + Duration::from_millis(2));
        }
        run.pump(Instant::now() + Duration::from_secs(2));
        let from = run.ms(begin + warm);
        let to = run.ms(end);
        let (deliveries, sends) = delivery_times(&run);
        let all = deliveries
            .values()
            .filter(|(k, at)| *k == want && *at >= from && *at < to)
            .count();
        let lost = sends
            .keys()
            .filter(|t| deliveries.get(t).is_none_or(|(k, _)| *k < want))
            .count();
        Ok(GossipBaseline {
            subscribers: args.clients,
            size,
            offered_per_s: rate,
            delivered_all_per_s: all as f64 / ((to - from) / 1000.0),
            lost,
            chorus_ratio: None,
        })
    })();
    run.stop_all();
    result
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_string))
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": mem,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

fn print(results: &Results) {
    if !results.etcd.is_empty() {
        println!();
        println!("== etcd baseline (3 members, v3 HTTP gateway puts) ==");
        println!(
            "{:>11} {:>6} {:>10} {:>16}",
            "connections", "bytes", "puts/s", "chorus/etcd"
        );
        for e in &results.etcd {
            println!(
                "{:>11} {:>6} {:>10.0} {:>16}",
                e.connections,
                e.size,
                e.puts_per_s,
                e.chorus_ratio
                    .map(|r| format!("{r:.2}x"))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    if !results.gossip.is_empty() {
        println!();
        println!("== raw gossipsub baseline (1 publisher, open loop) ==");
        println!(
            "{:>11} {:>6} {:>10} {:>16} {:>6} {:>16}",
            "subscribers", "bytes", "offered/s", "delivered-all/s", "lost", "chorus/baseline"
        );
        for g in &results.gossip {
            println!(
                "{:>11} {:>6} {:>10.0} {:>16.0} {:>6} {:>16}",
                g.subscribers,
                g.size,
                g.offered_per_s,
                g.delivered_all_per_s,
                g.lost,
                g.chorus_ratio
                    .map(|r| format!("{:.0}%", r * 100.0))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    if !results.throughput.is_empty() {
        println!();
        println!("== commit throughput (closed loop) ==");
        println!(
            "{:>7} {:>7} {:>6} {:>12} {:>14} {:>9} {:>9}",
            "servers", "clients", "bytes", "committed/s", "delivered-all/s", "ack p50", "ack p99"
        );
        for t in &results.throughput {
            println!(
                "{:>7} {:>7} {:>6} {:>12.0} {:>14.0} {:>7.1}ms {:>7.1}ms",
                t.servers,
                t.clients,
                t.size,
                t.committed_per_s,
                t.delivered_all_per_s,
                t.ack_latency.p50,
                t.ack_latency.p99
            );
        }
    }
    let row = |what: &str, q: &Quantiles| {
        println!(
            "{what:<34} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            q.count, q.p50, q.p90, q.p99, q.max
        );
    };
    for l in &results.latency {
        println!();
        println!(
            "== latency at {} msg/s ({} servers, {} clients, {} B), ms ==",
            l.rate, l.servers, l.clients, l.size
        );
        println!(
            "{:<34} {:>7} {:>8} {:>8} {:>8} {:>8}",
            "", "n", "p50", "p90", "p99", "max"
        );
        row("submit -> acknowledged", &l.submit_to_ack);
        row(
            "submit -> delivered at all clients",
            &l.submit_to_delivered_all,
        );
        if l.incomplete > 0 {
            println!("  {} messages not delivered at every client", l.incomplete);
        }
    }
    if !results.failover.is_empty() {
        println!();
        println!("== failover: fault of the leader -> first new commit, ms ==");
        println!(
            "{:<34} {:>7} {:>8} {:>8} {:>8} {:>8}",
            "", "trials", "p50", "p90", "p99", "max"
        );
        for f in &results.failover {
            row(
                &format!("{} leader ({} servers)", f.fault, f.servers),
                &f.recovery,
            );
        }
    }
}

fn print_more(results: &Results) {
    for c in &results.catch_up {
        println!();
        println!(
            "== catch-up: a follower of {} servers restarted after missing {} messages ({} B, made at {:.0}/s) ==",
            c.servers, c.missed, c.size, c.load_per_s
        );
        println!(
            "{:<44} {:>10}",
            "restart -> ready",
            format!("{:.0} ms", c.ready_ms)
        );
        println!(
            "{:<44} {:>10}",
            "restart -> commit index = leader's",
            format!("{:.0} ms", c.log_ms)
        );
        println!(
            "{:<44} {:>10}",
            "restart -> room history = leader's (caught up)",
            format!("{:.0} ms", c.caught_up_ms)
        );
    }
    if !results.scale.is_empty() {
        println!();
        println!("== scale: 5 servers + N clients, open loop ==");
        println!(
            "{:>7} {:>7} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>15} {:>15} {:>5}",
            "clients",
            "setup",
            "sent",
            "acked",
            "all",
            "ack p99",
            "all p50",
            "all p99",
            "server RSS med",
            "client RSS med",
            "load"
        );
        let mut cpu = Vec::new();
        for s in &results.scale {
            let q = |q: &Option<Quantiles>, f: fn(&Quantiles) -> f64| {
                q.as_ref()
                    .map(|q| format!("{:.1}ms", f(q)))
                    .unwrap_or_else(|| "-".into())
            };
            let m = |m: &Option<scale::Spread>| {
                m.map(|m| format!("{:.1}/{:.1}MiB", m.median, m.max))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{:>7} {:>6.0}s {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>15} {:>15} {:>5.1}",
                s.clients,
                s.setup_s,
                s.sent,
                s.acked,
                s.delivered_all,
                q(&s.submit_to_ack, |q| q.p99),
                q(&s.submit_to_delivered_all, |q| q.p50),
                q(&s.submit_to_delivered_all, |q| q.p99),
                m(&s.server_rss),
                m(&s.client_rss),
                s.load_average
            );
            if let Some(e) = &s.error {
                println!("        {} clients: {e}", s.clients);
            }
            for note in &s.notes {
                println!("        {} clients: {note}", s.clients);
            }
            if s.ran && s.deliveries < s.sent * usize::from(s.clients) {
                println!(
                    "        {} clients: {} of {} deliveries",
                    s.clients,
                    s.deliveries,
                    s.sent * usize::from(s.clients)
                );
            }
            if let (Some(sc), Some(cc)) = (s.server_cpu, s.client_cpu) {
                cpu.push(format!(
                    "        {} clients{}: CPU per server {:.0}% (max {:.0}%), per client {:.1}% (max {:.1}%) of a core",
                    s.clients,
                    if s.ran { "" } else { " (idle, after the failed start)" },
                    sc.median,
                    sc.max,
                    cc.median,
                    cc.max
                ));
            }
        }
        println!("        (RSS: median/max of the processes at the end of the run)");
        for line in cpu {
            println!("{line}");
        }
    }
}

/// Runs `chorus bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    harness::catch_signals();
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("chorus-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let wanted = |what: &str| args.only.is_empty() || args.only.iter().any(|o| o == what);
    let mut results = Results {
        machine: machine(),
        ..Results::default()
    };
    let outcome = (|| -> Result<()> {
        if wanted("throughput") {
            for servers in [3u8, 5] {
                for size in [100usize, 1024] {
                    eprintln!("bench: throughput, {servers} servers, {size} B ...");
                    results
                        .throughput
                        .push(throughput(&base, servers, size, &args)?);
                }
            }
        }
        if wanted("gossip") {
            for size in [100usize, 1024] {
                eprintln!("bench: raw gossipsub baseline, {size} B ...");
                let mut g = gossip_baseline(&base, size, &args)?;
                g.chorus_ratio = results
                    .throughput
                    .iter()
                    .find(|t| t.servers == 3 && t.size == size)
                    .map(|t| t.committed_per_s / g.delivered_all_per_s.max(1e-9));
                results.gossip.push(g);
            }
        }
        if wanted("etcd") {
            for size in [100usize, 1024] {
                eprintln!("bench: etcd baseline (3 members), {size} B ...");
                let dir = base.join(format!("etcd-{size}"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                match etcd::measure(&dir, size, args.etcd_connections, args.seconds) {
                    Ok(puts) => results.etcd.push(EtcdBaseline {
                        connections: args.etcd_connections,
                        size,
                        puts_per_s: puts,
                        chorus_ratio: results
                            .throughput
                            .iter()
                            .find(|t| t.servers == 3 && t.size == size)
                            .map(|t| t.committed_per_s / puts.max(1e-9)),
                    }),
                    Err(e) => eprintln!("bench: etcd baseline skipped: {e:#}"),
                }
            }
        }
        if wanted("latency") {
            eprintln!("bench: latency at {} msg/s ...", args.rate);
            results.latency.push(latency(&base, &args)?);
        }
        if wanted("failover") {
            results.failover.push(failover(&base, false, &args)?);
        }
        if wanted("pause") {
            results.failover.push(failover(&base, true, &args)?);
        }
        if wanted("catchup") {
            eprintln!(
                "bench: catch-up after {} messages ...",
                args.catchup_messages
            );
            results
                .catch_up
                .push(catchup::catch_up(&base, args.catchup_messages, 100, &args)?);
        }
        if wanted("scale") {
            for clients in args.scale_clients.clone() {
                eprintln!("bench: scale, 5 servers and {clients} clients ...");
                let s = scale::scale(&base, clients, &args);
                if let Some(e) = &s.error {
                    eprintln!("bench: scale with {clients} clients: {e}");
                }
                results.scale.push(s);
            }
        }
        Ok(())
    })();
    print(&results);
    print_more(&results);
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, svg) in plot::plots(&results) {
            let path = dir.join(name);
            std::fs::write(&path, svg)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("bench: plot written to {}", path.display());
        }
    }
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&results).context("cannot encode the results")?;
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("bench: results written to {}", out.display());
    }
    match outcome {
        Ok(()) => {
            if args.dir.is_none() {
                let _ = std::fs::remove_dir_all(&base);
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("bench: node logs are in {}", base.display());
            Err(e)
        }
    }
}
