//! A reference in-memory storage: applies `PersistOp`s exactly as the shell must,
//! and produces the `Recovered` state at restart. Used by the simulator.

use crate::io::{HardState, PersistOp, Recovered};
use crate::message::{Entry, Snapshot};

/// Durable state as the shell keeps it.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    /// Hard state.
    pub hard: HardState,
    /// Latest snapshot.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot.
    pub entries: Vec<Entry>,
}

impl MemStorage {
    /// Performs one write.
    pub fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::HardState(h) => self.hard = *h,
            PersistOp::Append { entries } => {
                if let Some(first) = entries.first() {
                    self.entries.retain(|e| e.index < first.index);
                    self.entries.extend(entries.iter().cloned());
                }
            }
            PersistOp::Snapshot { snapshot, discard_log } => {
                if *discard_log {
                    self.entries.clear();
                } else {
                    self.entries.retain(|e| e.index > snapshot.last.index);
                }
                self.snapshot = Some(snapshot.clone());
            }
        }
    }

    /// What a restart would recover.
    pub fn recover(&self) -> Recovered {
        Recovered {
            hard: self.hard,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
            applied: 0,
        }
    }
}
