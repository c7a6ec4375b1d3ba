//! Measures the server's durable storage on this machine's disk: the latency of
//! one log append made durable (write + fsync) with nothing else queued, and the
//! throughput when many appends queue up and are grouped under one fsync.
//! The numbers justify the storage design in `docs/benchmarks.md`.
//!
//! ```sh
//! cargo run --release -p chorus-node --example store_bench
//! ```

use std::time::{Duration, Instant};

use chorus_node::order::{ClientId, Command, Entry, Payload, PersistOp};
use chorus_node::store::disk::{self, Disk, Job};

fn entry(index: u64, size: usize) -> Entry {
    Entry {
        index,
        term: 1,
        payload: Payload::Command(Command {
            client: ClientId::from_u64(7),
            counter: index,
            lowest_unacked: index,
            room: "lobby".into(),
            body: vec![b'x'; size],
        }),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("chorus-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (_, _, disk) = Disk::open(&dir)?;
    let (jobs, mut done) = disk::spawn(disk);
    let mut index = 0u64;
    let mut id = 0u64;

    // 1. Latency: one append of one 100-byte entry at a time.
    let mut lat = Vec::new();
    for _ in 0..500 {
        index += 1;
        id += 1;
        let t = Instant::now();
        let op = PersistOp::Append {
            entries: vec![entry(index, 100)],
        };
        jobs.send(Job::Persist { id, op })?;
        done.recv().await;
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "durable append, 1 in flight: p50 {:?}  p99 {:?}  max {:?}  ({} samples)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1],
        lat.len()
    );

    // 2. Throughput: appends of 64 entries each, 256 queued at once (group commit).
    for size in [100usize, 1024] {
        let t = Instant::now();
        let rounds = 20;
        let mut entries_written = 0u64;
        for _ in 0..rounds {
            for _ in 0..256 {
                let batch: Vec<Entry> = (0..64).map(|k| entry(index + 1 + k, size)).collect();
                index += 64;
                id += 1;
                entries_written += 64;
                jobs.send(Job::Persist {
                    id,
                    op: PersistOp::Append { entries: batch },
                })?;
            }
            for _ in 0..256 {
                done.recv().await;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "grouped appends, {size} B entries: {:.0} entries/s durable ({entries_written} in {secs:.2} s)",
            entries_written as f64 / secs
        );
    }
    drop(jobs);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
