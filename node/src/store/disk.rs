//! A server's durable state on disk, written by a storage thread: the ordering
//! core's writes (hard state, log entries, snapshots) and the committed room
//! history. Writes are grouped: everything queued is written, then one fsync
//! makes it durable, then every write in the group is reported complete.
//!
//! Files in the data dir:
//! - `log`: records of [`LogRecord`] (hard state and entry batches), replayed in
//!   order at start; rewritten smaller after each snapshot;
//! - `snapshot`: the latest snapshot, replaced atomically;
//! - `history`: the committed room messages, one record each (not needed for
//!   safety: re-applying the log rebuilds them; synced before every snapshot,
//!   because a snapshot drops the log entries they came from).

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{error, info};

use super::{atomic, RecordLog};
use crate::order::{Entry, HardState, MemStorage, PersistOp, Recovered, Snapshot};
use crate::wire::{self, Committed};

/// One record of the `log` file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogRecord {
    /// The hard state from here on.
    Hard(HardState),
    /// Delete every entry at or after the first one's index, then append these.
    Entries(Vec<Entry>),
}

/// Work for the storage thread.
#[derive(Debug)]
pub enum Job {
    /// A write of the ordering core, reported complete by its id.
    Persist {
        /// The core's write id.
        id: u64,
        /// The write.
        op: PersistOp,
    },
    /// A committed message for the room history.
    History(Committed),
}

/// The open files of a server's data dir.
pub struct Disk {
    log: RecordLog<LogRecord>,
    history: RecordLog<Committed>,
    snapshot_path: std::path::PathBuf,
    /// What the files hold, as the core would recover it (kept to rewrite the
    /// log after a snapshot).
    mirror: MemStorage,
}

impl Disk {
    /// Opens the files in `dir` and recovers their contents: the core's state
    /// and the room history.
    pub fn open(dir: &Path) -> Result<(Recovered, Vec<Committed>, Disk)> {
        let snapshot_path = dir.join("snapshot");
        let snapshot: Option<Snapshot> =
            match atomic::read(&snapshot_path)? {
                Some(bytes) => Some(wire::decode(&bytes).map_err(|e| {
                    anyhow::anyhow!("{} is unreadable: {e}", snapshot_path.display())
                })?),
                None => None,
            };
        let (log, records) = RecordLog::<LogRecord>::open(&dir.join("log"))?;
        let (history, messages) = RecordLog::<Committed>::open(&dir.join("history"))?;
        let mut mirror = MemStorage {
            snapshot,
            ..MemStorage::default()
        };
        for record in records {
            match record {
                LogRecord::Hard(h) => mirror.apply(&PersistOp::HardState(h)),
                LogRecord::Entries(entries) => mirror.apply(&PersistOp::Append { entries }),
            }
        }
        if let Some(s) = &mirror.snapshot {
            let last = s.last.index;
            mirror.entries.retain(|e| e.index > last);
        }
        let recovered = mirror.recover();
        info!(
            term = recovered.hard.term,
            entries = recovered.entries.len(),
            snapshot = recovered.snapshot.as_ref().map(|s| s.last.index),
            "recovered the log from {}",
            dir.display()
        );
        Ok((
            recovered,
            messages,
            Disk {
                log,
                history,
                snapshot_path,
                mirror,
            },
        ))
    }

    /// Performs one job (buffered: durable after [`sync`](Self::sync)).
    fn perform(&mut self, job: Job) -> Result<Option<u64>> {
        match job {
            Job::History(msg) => {
                self.history.append(&msg)?;
                Ok(None)
            }
            Job::Persist { id, op } => {
                match &op {
                    PersistOp::HardState(h) => self.log.append(&LogRecord::Hard(*h))?,
                    PersistOp::Append { entries } => {
                        self.log.append(&LogRecord::Entries(entries.clone()))?
                    }
                    PersistOp::Snapshot { snapshot, .. } => {
                        // The history of the entries the snapshot replaces must
                        // be on disk before those entries go.
                        self.history.sync()?;
                        self.log.sync()?;
                        atomic::write(&self.snapshot_path, &wire::encode(snapshot))?;
                    }
                }
                self.mirror.apply(&op);
                if matches!(op, PersistOp::Snapshot { .. }) {
                    self.compact()?;
                }
                Ok(Some(id))
            }
        }
    }

    /// Rewrites the log with only what the snapshot does not cover.
    fn compact(&mut self) -> Result<()> {
        let mut records = vec![LogRecord::Hard(self.mirror.hard)];
        if !self.mirror.entries.is_empty() {
            records.push(LogRecord::Entries(self.mirror.entries.clone()));
        }
        self.log.rewrite(&records)
    }

    /// Makes everything performed so far durable.
    fn sync(&mut self) -> Result<()> {
        self.log.sync()?;
        self.history.sync()
    }
}

/// Starts the storage thread; returns where to send jobs and where completed
/// write ids come back (in order).
pub fn spawn(mut disk: Disk) -> (mpsc::UnboundedSender<Job>, mpsc::UnboundedReceiver<u64>) {
    let skip_writes = planted_skip_writes();
    let (job_tx, mut job_rx) = mpsc::unbounded_channel::<Job>();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("chorus-storage".into())
        .spawn(move || {
            while let Some(first) = job_rx.blocking_recv() {
                let mut done = Vec::new();
                let mut job = Some(first);
                // Group commit: take everything queued, write it, sync once.
                let result: Result<()> = (|| {
                    while let Some(j) = job.take() {
                        if skip_writes {
                            // Planted fault: complete without writing.
                            if let Job::Persist { id, .. } = j {
                                done.push(id);
                            }
                        } else if let Some(id) = disk.perform(j)? {
                            done.push(id);
                        }
                        job = job_rx.try_recv().ok();
                    }
                    if skip_writes {
                        return Ok(());
                    }
                    disk.sync()
                })();
                if let Err(e) = result {
                    // Without durable storage the server must not acknowledge
                    // anything more: stop reporting completions.
                    error!("storage failed, no more writes are acknowledged: {e:#}");
                    return;
                }
                for id in done {
                    if done_tx.send(id).is_err() {
                        return;
                    }
                }
            }
        })
        .context("cannot start the storage thread");
    if let Err(e) = spawned {
        error!("{e:#}");
    }
    (job_tx, done_rx)
}

/// A planted fault for `chorus harness` (debug builds only, read once when a
/// server starts its storage thread): with `CHORUS_PLANTED_FAULT=skip-log-writes`
/// the storage thread reports every write complete without writing it, so
/// acknowledged messages are lost when every server is killed and restarted.
/// The harness's planted-fault test proves its checker catches that. Release
/// builds ignore the variable.
#[cfg(debug_assertions)]
fn planted_skip_writes() -> bool {
    let on = std::env::var("CHORUS_PLANTED_FAULT").is_ok_and(|v| v == "skip-log-writes");
    if on {
        error!("PLANTED FAULT: writes are acknowledged without being written");
    }
    on
}

#[cfg(not(debug_assertions))]
fn planted_skip_writes() -> bool {
    false
}
