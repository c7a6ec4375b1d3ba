//! The scale benchmark: 5 servers and as many client processes as asked for
//! on this machine, an open-loop load spread over the clients; delivery
//! completeness, latency and the resident memory of every process.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::{delivery_times, histogram, quantiles, record_ms, tags, Load, Quantiles};
use crate::args::BenchArgs;
use crate::harness::{self, Run};

/// A figure over a group of processes (resident memory in MiB, or CPU in percent of a core).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    /// Processes measured.
    pub count: usize,
    /// Smallest value.
    pub min: f64,
    /// Median value.
    pub median: f64,
    /// Largest value.
    pub max: f64,
}

/// One scale measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// Servers.
    pub servers: u8,
    /// Client processes asked for.
    pub clients: u16,
    /// Whether the cluster came up with every client knowing the leader (else `error` says why).
    pub ran: bool,
    /// Why it did not run.
    pub error: Option<String>,
    /// Seconds from the first process start until every client knew the leader.
    pub setup_s: f64,
    /// Messages per second offered (spread over the clients).
    pub rate: f64,
    /// Messages submitted.
    pub sent: usize,
    /// Messages acknowledged to their sender.
    pub acked: usize,
    /// Deliveries of the load's messages, all clients together (`sent` × clients when complete).
    pub deliveries: usize,
    /// Problems the harness noted (node errors, exits), the first few.
    pub notes: Vec<String>,
    /// Messages delivered at every client.
    pub delivered_all: usize,
    /// Submit -> acknowledged.
    pub submit_to_ack: Option<Quantiles>,
    /// Submit -> delivered at every client (messages delivered everywhere only).
    pub submit_to_delivered_all: Option<Quantiles>,
    /// Resident memory of the servers, at the end.
    pub server_rss: Option<Spread>,
    /// Resident memory of the clients, at the end.
    pub client_rss: Option<Spread>,
    /// CPU use of the servers during the load (percent of one core: median, max).
    pub server_cpu: Option<Spread>,
    /// CPU use of the clients during the load (percent of one core).
    pub client_cpu: Option<Spread>,
    /// The 1-minute load average at the end.
    pub load_average: f64,
}

/// VmRSS of process `pid` in MiB, from /proc/PID/status.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_rss_kib(&status).map(|kib| kib as f64 / 1024.0)
}

/// The VmRSS line of a /proc/PID/status text, in KiB.
fn parse_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU time (user + system) process `pid` used so far, in seconds, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_cpu_ticks(&stat).map(|t| t as f64 / ticks.max(1) as f64)
}

/// utime + stime of a /proc/PID/stat line (fields 14 and 15; the command name
/// in parentheses may hold spaces, so count from its closing parenthesis).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds of each process in `procs` now (by process index).
fn cpu_now(run: &Run, procs: &[usize]) -> Vec<Option<f64>> {
    procs
        .iter()
        .map(|i| run.procs[*i].pid().and_then(cpu_seconds))
        .collect()
}

/// Percent of a core each process used between `before` and now, over `secs`.
fn cpu_use(run: &Run, procs: &[usize], before: &[Option<f64>], secs: f64) -> Option<Spread> {
    let mut v: Vec<f64> = cpu_now(run, procs)
        .iter()
        .zip(before)
        .filter_map(|(a, b)| Some((a.as_ref()? - b.as_ref()?) / secs.max(1e-9) * 100.0))
        .collect();
    spread(&mut v)
}

fn spread(values: &mut [f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Spread {
        count: values.len(),
        min: values[0],
        median: values[values.len() / 2],
        max: values[values.len() - 1],
    })
}

fn rss_of(run: &Run, procs: &[usize]) -> Option<Spread> {
    let mut v: Vec<f64> = procs
        .iter()
        .filter_map(|i| run.procs[*i].pid())
        .filter_map(rss_mib)
        .collect();
    spread(&mut v)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Runs 5 servers and `clients` clients at `args.scale_rate` msg/s for `args.seconds` × 2.
pub fn scale(base: &std::path::Path, clients: u16, args: &BenchArgs) -> Scale {
    let servers = 5u8;
    let rate = args.scale_rate;
    let mut out = Scale {
        servers,
        clients,
        ran: false,
        error: None,
        setup_s: 0.0,
        rate,
        sent: 0,
        acked: 0,
        deliveries: 0,
        notes: Vec::new(),
        delivered_all: 0,
        submit_to_ack: None,
        submit_to_delivered_all: None,
        server_rss: None,
        client_rss: None,
        server_cpu: None,
        client_cpu: None,
        load_average: 0.0,
    };
    let begin = Instant::now();
    let dir = base.join(format!("scale-{clients}"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        out.error = Some(format!("cannot create {}: {e}", dir.display()));
        return out;
    }
    let mut run = Run::new(dir, 1, true);
    match harness::setup(&mut run, servers, clients) {
        Ok(()) => {
            out.setup_s = begin.elapsed().as_secs_f64();
            out.ran = true;
            if let Err(e) = drive(&mut run, args, &mut out) {
                out.error = Some(format!("{e:#}"));
            }
        }
        Err(e) => {
            // What the processes use while the machine fails to hold them.
            out.error = Some(format!("{e:#}"));
            out.setup_s = begin.elapsed().as_secs_f64();
            idle_figures(&mut run, &mut out);
        }
    }
    run.stop_all();
    out
}

/// Memory and CPU of the processes over a few seconds without load (after a failed setup).
fn idle_figures(run: &mut Run, out: &mut Scale) {
    let servers = run.servers.clone();
    let clients = run.clients.clone();
    let (servers_before, clients_before) = (cpu_now(run, &servers), cpu_now(run, &clients));
    let begin = Instant::now();
    run.pump(begin + Duration::from_secs(5));
    let secs = begin.elapsed().as_secs_f64();
    out.server_cpu = cpu_use(run, &servers, &servers_before, secs);
    out.client_cpu = cpu_use(run, &clients, &clients_before, secs);
    out.server_rss = rss_of(run, &servers);
    out.client_rss = rss_of(run, &clients);
    out.load_average = load_average();
}

fn drive(run: &mut Run, args: &BenchArgs, out: &mut Scale) -> Result<()> {
    let servers = run.servers.clone();
    let clients = run.clients.clone();
    let (servers_before, clients_before) = (cpu_now(run, &servers), cpu_now(run, &clients));
    let begin = Instant::now();
    let mut load = Load::new(out.rate, 100, 0);
    let end = begin + args.seconds * 2;
    while Instant::now() < end {
        load.tick(run, 0)?;
    }
    let secs = begin.elapsed().as_secs_f64();
    out.server_cpu = cpu_use(run, &servers, &servers_before, secs);
    out.client_cpu = cpu_use(run, &clients, &clients_before, secs);
    // Let the last ones arrive.
    run.pump(Instant::now() + Duration::from_secs(5));
    out.load_average = load_average();
    out.server_rss = rss_of(run, &servers);
    out.client_rss = rss_of(run, &clients);
    let ids = tags(run);
    let (deliveries, sends) = delivery_times(run);
    let mut ack = histogram()?;
    for c in &run.history.clients {
        out.acked += c.acks.len();
        for a in &c.acks {
            if let Some(s) = ids.get(&a.id).and_then(|t| sends.get(t)) {
                record_ms(&mut ack, a.at_ms - s);
            }
        }
    }
    out.deliveries = deliveries.values().map(|(k, _)| *k).sum();
    out.notes = run.notes.iter().take(5).cloned().collect();
    let mut all = histogram()?;
    let n = run.clients.len();
    for (tag, at) in &sends {
        if let Some((k, last)) = deliveries.get(tag) {
            if *k == n {
                record_ms(&mut all, last - at);
                out.delivered_all += 1;
            }
        }
    }
    out.sent = sends.len();
    out.submit_to_ack = Some(quantiles(&ack));
    out.submit_to_delivered_all = Some(quantiles(&all));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_proc_status() {
        let status = "Name:\tchorus\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kib(status), Some(12345));
        assert_eq!(parse_rss_kib("Name:\tx\n"), None);
        let own = rss_mib(std::process::id()).unwrap_or(0.0);
        assert!(own > 0.0, "this test process has resident memory");
    }

    #[test]
    fn cpu_ticks_are_read_from_proc_stat() {
        let stat = "4242 (chorus (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn spread_summary() {
        assert!(spread(&mut []).is_none());
        let m = spread(&mut [3.0, 1.0, 2.0]).map(|m| (m.count, m.min, m.median, m.max));
        assert_eq!(m, Some((3, 1.0, 2.0, 3.0)));
    }
}
