//! The catch-up benchmark: a follower is killed, the cluster commits many
//! messages without it, then it is restarted from its data dir; how long until
//! its log (commit index) and its room history equal the leader's.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;

use super::cluster;
use crate::args::BenchArgs;
use crate::harness::{self, Run};

/// One catch-up measurement.
#[derive(Debug, Clone, Serialize)]
pub struct CatchUp {
    /// Servers in the cluster.
    pub servers: u8,
    /// Messages committed while the restarted server was down.
    pub missed: u64,
    /// Bytes per message.
    pub size: usize,
    /// Commits per second while it was down (how the backlog was made).
    pub load_per_s: f64,
    /// Process start -> its `ready` event, ms.
    pub ready_ms: f64,
    /// Process start -> its commit index equals the leader's, ms.
    pub log_ms: f64,
    /// Process start -> its room history equals the leader's with no gap, ms
    /// (the catch-up time).
    pub caught_up_ms: f64,
}

/// The commit index and the room history (room -> (head, held)) of a status event.
fn progress(status: &Value) -> (u64, Vec<(String, u64, u64)>) {
    let commit = status["commit_index"].as_u64().unwrap_or(0);
    let history = status["history"]
        .as_object()
        .map(|rooms| {
            rooms
                .iter()
                .map(|(room, h)| {
                    (
                        room.clone(),
                        h["head"].as_u64().unwrap_or(0),
                        h["held"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (commit, history)
}

/// Runs the catch-up benchmark with `missed` messages of `size` bytes.
pub fn catch_up(
    base: &std::path::Path,
    missed: u64,
    size: usize,
    args: &BenchArgs,
) -> Result<CatchUp> {
    let servers = 3u8;
    let mut run = cluster(base, "catchup", servers, args.clients)?;
    let result = measure(&mut run, servers, missed, size, args);
    run.stop_all();
    result
}

fn measure(
    run: &mut Run,
    servers: u8,
    missed: u64,
    size: usize,
    args: &BenchArgs,
) -> Result<CatchUp> {
    let Some(leader) = run.leader_idx() else {
        bail!("no leader");
    };
    let Some(victim) = run.servers.iter().copied().find(|i| *i != leader) else {
        bail!("no follower to restart");
    };
    run.procs[victim].kill();
    eprintln!(
        "bench: catch-up: {} killed; committing {missed} messages without it ...",
        run.procs[victim].name
    );
    // Closed loop until `missed` messages are acknowledged.
    let room = run.rooms[0].clone();
    let begin = Instant::now();
    let mut tag = 0u64;
    let mut sent = vec![0usize; run.clients.len()];
    let mut next_report = Instant::now() + Duration::from_secs(10);
    loop {
        if harness::interrupted() {
            bail!("interrupted");
        }
        let acked: usize = run.history.clients.iter().map(|c| c.acks.len()).sum();
        if acked as u64 >= missed {
            break;
        }
        if begin.elapsed() > Duration::from_secs(1800) {
            bail!("only {acked} of {missed} messages committed in 30 minutes");
        }
        for (c, s) in sent.iter_mut().enumerate() {
            let acked = run.history.clients[c].acks.len();
            while *s < acked + args.window && tag < missed {
                tag += 1;
                run.submit(c, &room, tag, size);
                *s += 1;
            }
        }
        if Instant::now() >= next_report {
            eprintln!("bench: catch-up: {acked}/{missed} committed");
            next_report += Duration::from_secs(10);
        }
        run.pump(Instant::now() + Duration::from_millis(2));
    }
    let load_per_s = missed as f64 / begin.elapsed().as_secs_f64();
    // Let deliveries settle, then restart the follower.
    run.pump(Instant::now() + Duration::from_secs(1));
    let start = Instant::now();
    run.start(victim)?;
    let ms = |t: Instant| t.duration_since(start).as_secs_f64() * 1000.0;
    let deadline = start + Duration::from_secs(600);
    let (mut ready_ms, mut log_ms) = (None, None);
    loop {
        if harness::interrupted() {
            bail!("interrupted");
        }
        if Instant::now() >= deadline {
            bail!("the restarted server did not catch up within 10 minutes");
        }
        if ready_ms.is_none() && !run.procs[victim].peer_id.is_empty() {
            ready_ms = Some(ms(Instant::now()));
        }
        let Some(leader) = run.leader_idx() else {
            run.pump(Instant::now() + Duration::from_millis(50));
            continue;
        };
        let asked = Instant::now();
        run.poll_status(&[leader, victim], Duration::from_secs(5));
        let fresh = |i: usize| {
            run.statuses
                .get(&i)
                .filter(|(at, _)| *at >= asked)
                .map(|(_, s)| progress(s))
        };
        if let (Some((lc, lh)), Some((vc, vh))) = (fresh(leader), fresh(victim)) {
            if log_ms.is_none() && vc >= lc && lc > 0 {
                log_ms = Some(ms(Instant::now()));
            }
            let complete = vh.iter().all(|(_, head, held)| head == held);
            if vc >= lc && lc > 0 && !lh.is_empty() && vh == lh && complete {
                let caught_up_ms = ms(Instant::now());
                return Ok(CatchUp {
                    servers,
                    missed,
                    size,
                    load_per_s,
                    ready_ms: ready_ms.unwrap_or(caught_up_ms),
                    log_ms: log_ms.unwrap_or(caught_up_ms),
                    caught_up_ms,
                });
            }
        }
        run.pump(Instant::now() + Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_commit_and_history_of_a_status() {
        let s: Value = serde_json::from_str(
            r#"{"event":"status","commit_index":42,"history":{"room1":{"head":40,"held":38}}}"#,
        )
        .unwrap_or_default();
        assert_eq!(progress(&s), (42, vec![("room1".to_string(), 40, 38)]));
        let client: Value = serde_json::from_str(r#"{"event":"status"}"#).unwrap_or_default();
        assert_eq!(progress(&client), (0, vec![]));
    }
}
