//! The end-of-run report: counts, violations by kind, failovers, leader terms,
//! printed as tables and written as JSON.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::check::{self, Violation};
use super::{FaultRecord, Run};
use crate::args::HarnessArgs;

/// One fault and how long the cluster took to commit again.
#[derive(Debug, Clone, Serialize)]
pub struct Failover {
    /// The fault.
    pub fault: FaultRecord,
    /// Time from the fault to the first acknowledgement of a message submitted
    /// after it (None: none came).
    pub recovery_ms: Option<f64>,
}

/// One term and its leader.
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    /// The term.
    pub term: u64,
    /// Its leader (server names; more than one is a violation).
    pub leaders: Vec<String>,
    /// When it was first reported, ms since the start.
    pub first_ms: f64,
}

/// The report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Servers, clients, rate, size, rooms, duration, faults, every, seed.
    pub config: serde_json::Value,
    /// Messages submitted.
    pub sent: usize,
    /// Distinct messages acknowledged.
    pub acknowledged: usize,
    /// Deliveries at all clients together.
    pub delivered: usize,
    /// Messages each client delivered.
    pub delivered_per_client: BTreeMap<String, usize>,
    /// Submit → acknowledged, ms: p50, p90, p99, max.
    pub ack_latency_ms: Option<[f64; 4]>,
    /// Violations by kind.
    pub violations: BTreeMap<String, usize>,
    /// Faults and recoveries.
    pub failovers: Vec<Failover>,
    /// Leader terms.
    pub terms: Vec<Term>,
    /// Problems seen on the way (node errors, unexpected exits).
    pub notes: Vec<String>,
    /// Whether every promise was kept.
    pub ok: bool,
}

/// The `q` quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

impl Report {
    /// Builds the report of `run`.
    pub fn build(run: &Run, args: &HarnessArgs, violations: &[Violation]) -> Report {
        let h = &run.history;
        // Message id -> harness tag, from any delivery.
        let mut tag_of: HashMap<&str, u64> = HashMap::new();
        for c in &h.clients {
            for d in &c.deliveries {
                if let Some(t) = d.tag {
                    tag_of.insert(&d.id, t);
                }
            }
        }
        let sent_at: HashMap<u64, f64> = h.sends.iter().map(|s| (s.tag, s.at_ms)).collect();
        // (ack time, submit time) of every acknowledgement, in ack order.
        let mut acks: Vec<(f64, f64)> = Vec::new();
        let mut distinct = std::collections::HashSet::new();
        for c in &h.clients {
            for a in &c.acks {
                distinct.insert(&a.id);
                if let Some(s) = tag_of.get(a.id.as_str()).and_then(|t| sent_at.get(t)) {
                    acks.push((a.at_ms, *s));
                }
            }
        }
        acks.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut lat: Vec<f64> = acks.iter().map(|(a, s)| a - s).collect();
        lat.sort_by(f64::total_cmp);
        let ack_latency_ms = (!lat.is_empty()).then(|| {
            [
                quantile(&lat, 0.5),
                quantile(&lat, 0.9),
                quantile(&lat, 0.99),
                quantile(&lat, 1.0),
            ]
        });
        let failovers = run
            .faults
            .iter()
            .map(|f| Failover {
                fault: f.clone(),
                recovery_ms: if f.skipped.is_some() {
                    None
                } else {
                    acks.iter()
                        .find(|(a, s)| *s >= f.at_ms && *a >= f.at_ms)
                        .map(|(a, _)| a - f.at_ms)
                },
            })
            .collect();
        let mut terms: BTreeMap<u64, Term> = BTreeMap::new();
        for l in &h.leaders {
            let name = run.server_name(&l.peer_id);
            let t = terms.entry(l.term).or_insert(Term {
                term: l.term,
                leaders: Vec::new(),
                first_ms: l.at_ms,
            });
            if !t.leaders.contains(&name) {
                t.leaders.push(name);
            }
            t.first_ms = t.first_ms.min(l.at_ms);
        }
        let violations_by_kind = check::counts(violations)
            .into_iter()
            .map(|(k, n)| (k.name().to_string(), n))
            .collect();
        Report {
            config: serde_json::json!({
                "servers": args.servers,
                "clients": args.clients,
                "rate": args.rate,
                "size": args.size,
                "rooms": args.rooms,
                "duration_s": args.duration.as_secs_f64(),
                "faults": args.faults,
                "every_s": args.every.as_secs_f64(),
                "downtime_s": args.downtime.as_secs_f64(),
                "seed": args.seed,
            }),
            sent: h.sends.len(),
            acknowledged: distinct.len(),
            delivered: h.clients.iter().map(|c| c.deliveries.len()).sum(),
            delivered_per_client: h
                .clients
                .iter()
                .map(|c| (c.name.clone(), c.deliveries.len()))
                .collect(),
            ack_latency_ms,
            violations: violations_by_kind,
            failovers,
            terms: terms.into_values().collect(),
            notes: run.notes.clone(),
            ok: violations.is_empty(),
        }
    }

    /// Prints the report as tables on stdout.
    pub fn print(&self, violations: &[Violation]) {
        println!();
        println!("== chorus harness report ==");
        println!("{:<28} {:>10}", "messages sent", self.sent);
        println!("{:<28} {:>10}", "messages acknowledged", self.acknowledged);
        println!("{:<28} {:>10}", "deliveries (all clients)", self.delivered);
        for (c, n) in &self.delivered_per_client {
            println!("{:<28} {:>10}", format!("  delivered at {c}"), n);
        }
        if let Some([p50, p90, p99, max]) = self.ack_latency_ms {
            println!(
                "{:<28} p50 {p50:.1} ms, p90 {p90:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
                "submit -> acknowledged"
            );
        }
        println!();
        println!("{:<16} {:>6}", "violation", "count");
        for k in check::Kind::ALL {
            let n = self.violations.get(k.name()).copied().unwrap_or(0);
            println!("{:<16} {n:>6}", k.name());
        }
        for v in violations.iter().take(20) {
            println!("  {}: {}", v.kind.name(), v.detail);
        }
        if violations.len() > 20 {
            println!("  ... and {} more (see --out)", violations.len() - 20);
        }
        if !self.failovers.is_empty() {
            println!();
            println!(
                "{:>8}  {:<17} {:<12} {:<7} {:>12}",
                "at (s)", "fault", "target", "leader", "recovery"
            );
            for f in &self.failovers {
                let rec = match (&f.fault.skipped, f.recovery_ms) {
                    (Some(why), _) => format!("skipped: {why}"),
                    (None, Some(ms)) => format!("{ms:.0} ms"),
                    (None, None) => "none".into(),
                };
                println!(
                    "{:>8.1}  {:<17} {:<12} {:<7} {:>12}",
                    f.fault.at_ms / 1000.0,
                    f.fault.kind.name(),
                    f.fault.targets.join(","),
                    if f.fault.hit_leader { "yes" } else { "" },
                    rec
                );
            }
        }
        println!();
        println!("{:>6}  {:<12} {:>10}", "term", "leader", "from (s)");
        for t in &self.terms {
            println!(
                "{:>6}  {:<12} {:>10.1}",
                t.term,
                t.leaders.join(","),
                t.first_ms / 1000.0
            );
        }
        for n in &self.notes {
            println!("note: {n}");
        }
        println!();
        println!(
            "{}",
            if self.ok {
                "result: PASS (no violations)".to_string()
            } else {
                format!("result: FAIL ({} violations)", violations.len())
            }
        );
    }
}
