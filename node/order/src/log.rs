//! The in-memory replicated log: entries after the latest snapshot, plus the
//! configurations found in them (the latest one, committed or not, is in force).

use crate::membership::Membership;
use crate::message::{Entry, Payload};
use crate::types::{Index, LogId, Term};

/// Entries after a snapshot point, and the configurations they carry.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// The last entry covered by the snapshot (index 0 term 0 if none).
    base: LogId,
    /// The configuration at `base`.
    base_config: Option<Membership>,
    /// Entries `base.index + 1 ..`.
    entries: Vec<Entry>,
    /// Config entries among `entries`: (index, configuration).
    configs: Vec<(Index, Membership)>,
}

impl Log {
    /// A log starting after `base` (with the configuration in force there).
    pub fn new(base: LogId, base_config: Option<Membership>) -> Self {
        Log { base, base_config, entries: Vec::new(), configs: Vec::new() }
    }

    /// The snapshot point.
    pub fn base(&self) -> LogId {
        self.base
    }

    /// The last entry's id (the snapshot point if there are no entries).
    pub fn last(&self) -> LogId {
        self.entries.last().map(Entry::id).unwrap_or(self.base)
    }

    /// The last index.
    pub fn last_index(&self) -> Index {
        self.last().index
    }

    /// Term of the entry at `index`, if known (the snapshot point counts).
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        self.get(index).map(|e| e.term)
    }

    /// The entry at `index`, if it is held (not compacted, not beyond the end).
    pub fn get(&self, index: Index) -> Option<&Entry> {
        if index <= self.base.index {
            return None;
        }
        let off = usize::try_from(index - self.base.index - 1).ok()?;
        self.entries.get(off)
    }

    /// Up to `max` entries from `from` on (cloned).
    pub fn slice(&self, from: Index, max: usize) -> Vec<Entry> {
        if from <= self.base.index {
            return Vec::new();
        }
        let Ok(off) = usize::try_from(from - self.base.index - 1) else {
            return Vec::new();
        };
        self.entries.iter().skip(off).take(max).cloned().collect()
    }

    /// All held entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Appends an entry; its index must be `last_index() + 1` (else it is refused).
    pub fn push(&mut self, entry: Entry) -> bool {
        if entry.index != self.last_index() + 1 {
            return false;
        }
        if let Payload::Config(m) = &entry.payload {
            self.configs.push((entry.index, m.clone()));
        }
        self.entries.push(entry);
        true
    }

    /// Drops entries from `index` on (never the snapshot).
    pub fn truncate_from(&mut self, index: Index) {
        let index = index.max(self.base.index + 1);
        let keep = usize::try_from(index - self.base.index - 1).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.configs.retain(|(i, _)| *i < index);
    }

    /// Forgets entries up to `upto` (which must be held), which a snapshot now covers.
    pub fn compact(&mut self, upto: Index) {
        let Some(term) = self.term_at(upto) else { return };
        if upto <= self.base.index {
            return;
        }
        self.base_config = self.config_at(upto).cloned();
        let n = usize::try_from(upto - self.base.index).unwrap_or(usize::MAX);
        self.entries.drain(..n.min(self.entries.len()));
        self.configs.retain(|(i, _)| *i > upto);
        self.base = LogId { term, index: upto };
    }

    /// Resets to a snapshot at `last`: keeps the entries after it if the log has `last`, else drops all.
    /// Returns whether the suffix was kept.
    pub fn install(&mut self, last: LogId, config: Membership) -> bool {
        let keep = last.index > self.base.index && self.term_at(last.index) == Some(last.term);
        if keep {
            self.compact(last.index);
        } else {
            self.entries.clear();
            self.configs.clear();
            self.base = last;
        }
        self.base_config = Some(config);
        keep
    }

    /// The configuration in force: the latest in the log, else the snapshot's.
    pub fn membership(&self) -> Option<&Membership> {
        self.configs.last().map(|(_, m)| m).or(self.base_config.as_ref())
    }

    /// Index of the latest config entry (the snapshot point if it came from there, 0 if none).
    pub fn membership_index(&self) -> Index {
        match self.configs.last() {
            Some((i, _)) => *i,
            None if self.base_config.is_some() => self.base.index,
            None => 0,
        }
    }

    /// The configuration in force at `index` (latest config entry at or before it).
    pub fn config_at(&self, index: Index) -> Option<&Membership> {
        self.configs
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map(|(_, m)| m)
            .or(self.base_config.as_ref())
    }

    /// Number of config entries after `index`.
    pub fn configs_after(&self, index: Index) -> usize {
        self.configs.iter().filter(|(i, _)| *i > index).count()
    }

    /// First index of the run of entries with the same term as `index`, not below `floor`
    /// (conflict hint for back-tracking).
    pub fn first_of_term(&self, index: Index, floor: Index) -> Index {
        let Some(t) = self.term_at(index) else { return index };
        let mut i = index;
        while i > floor.max(self.base.index + 1) && self.term_at(i - 1) == Some(t) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ClusterId, NodeId};

    fn e(index: Index, term: Term) -> Entry {
        Entry { index, term, payload: Payload::Noop }
    }

    fn cfg(n: u64) -> Membership {
        let c = ClusterId { founder: NodeId::from_u64(1), nonce: 0 };
        Membership::new(c, [NodeId::from_u64(n)].into_iter().collect())
    }

    #[test]
    fn push_truncate_compact_install() {
        let mut l = Log::default();
        assert!(!l.push(e(2, 1)));
        for i in 1..=5 {
            assert!(l.push(e(i, i / 3 + 1)));
        }
        assert!(l.push(Entry { index: 6, term: 2, payload: Payload::Config(cfg(9)) }));
        assert_eq!(l.membership_index(), 6);
        assert_eq!(l.first_of_term(5, 0), 3);
        l.truncate_from(6);
        assert!(l.membership().is_none());
        l.compact(3);
        assert_eq!(l.base(), LogId { term: 2, index: 3 });
        assert_eq!(l.get(3), None);
        assert_eq!(l.term_at(3), Some(2));
        assert_eq!(l.slice(4, 10).len(), 2);
        assert!(l.install(LogId { term: 2, index: 4 }, cfg(1)));
        assert_eq!(l.last_index(), 5);
        assert!(!l.install(LogId { term: 7, index: 9 }, cfg(2)));
        assert_eq!(l.last(), LogId { term: 7, index: 9 });
        assert_eq!(l.membership(), Some(&cfg(2)));
    }
}
