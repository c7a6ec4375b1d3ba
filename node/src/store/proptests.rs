//! Property tests of everything that reads a server's data dir: the record
//! scan, the record log, atomically replaced files and a whole data dir opened
//! as a server does at start. Arbitrary bytes and damaged valid files never
//! make them panic; they either recover a consistent state or refuse with an
//! error naming the file.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::disk::{Disk, LogRecord};
use super::frame::{self, Tail};
use super::{atomic, RecordLog};
use crate::order::{self, Entry, HardState, Payload};
use crate::wire::proptests::{hostile_bytes, mutated, order_message_samples};
use crate::wire::{self, Committed};

/// A fresh directory for one case (removed when dropped).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chorus-store-prop-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn committed(seq: u64) -> Committed {
    wire::decode(&wire::encode(&serde_json::json!({
        "room": "lobby", "seq": seq, "id": format!("00aa-{seq}"), "from": "p",
        "nick": "alice", "text": format!("message {seq}")
    })))
    .expect("a valid Committed sample")
}

/// A valid `log` file: a hard state and two batches of entries.
fn log_file() -> Vec<u8> {
    let entry = |index, payload| Entry {
        index,
        term: 1,
        payload,
    };
    let records = [
        LogRecord::Hard(HardState {
            term: 1,
            vote: Some(order::NodeId::from_u64(1)),
            commit: 1,
        }),
        LogRecord::Entries(vec![entry(1, Payload::Noop)]),
        LogRecord::Entries(vec![
            entry(2, Payload::Noop),
            entry(
                3,
                Payload::Command(order::Command {
                    client: order::ClientId::from_u64(3),
                    counter: 1,
                    lowest_unacked: 1,
                    room: "lobby".into(),
                    body: b"body".to_vec(),
                }),
            ),
        ]),
    ];
    records
        .iter()
        .flat_map(|r| frame::encode(&wire::encode(r)))
        .collect()
}

/// A valid `history` file of three messages.
fn history_file() -> Vec<u8> {
    (1..=3)
        .flat_map(|s| frame::encode(&wire::encode(&committed(s))))
        .collect()
}

/// A valid `snapshot` file (the snapshot of an ordering message sample).
fn snapshot_file() -> Vec<u8> {
    let snapshot = order_message_samples()
        .into_iter()
        .find_map(|m| match wire::decode::<order::Message>(&m).ok()?.body {
            order::Body::InstallSnapshot { snapshot } => Some(snapshot),
            _ => None,
        })
        .expect("a snapshot sample");
    frame::encode(&wire::encode(&snapshot))
}

/// Checks what the scan says about `bytes` is consistent with the bytes.
fn check_scan(bytes: &[u8]) -> Result<(), TestCaseError> {
    let scan = frame::scan(bytes);
    prop_assert!(scan.valid_len as usize <= bytes.len());
    let reframed: Vec<u8> = scan
        .records
        .iter()
        .flat_map(|(_, p)| frame::encode(p))
        .collect();
    prop_assert_eq!(&reframed[..], &bytes[..scan.valid_len as usize]);
    match &scan.tail {
        Tail::Clean => prop_assert_eq!(scan.valid_len as usize, bytes.len()),
        Tail::Torn { offset } | Tail::Corrupt { offset, .. } => {
            prop_assert_eq!(*offset, scan.valid_len);
            prop_assert!((*offset as usize) < bytes.len());
        }
    }
    Ok(())
}

/// An error opening a file must name it.
fn check_error_names(err: &anyhow::Error, file: &Path) -> Result<(), TestCaseError> {
    let text = format!("{err:#}");
    prop_assert!(
        text.contains(&file.display().to_string()),
        "error does not name {}: {text}",
        file.display()
    );
    Ok(())
}

proptest! {

    #[test]
    fn scan_of_any_bytes_is_consistent(
        bytes in hostile_bytes(vec![log_file(), history_file(), snapshot_file()])
    ) {
        check_scan(&bytes)?;
    }

    #[test]
    fn record_logs_open_or_refuse_naming_the_file(
        log in hostile_bytes(vec![log_file()]),
        history in hostile_bytes(vec![history_file()]),
    ) {
        let dir = Scratch::new();
        let path = dir.path().join("log");
        std::fs::write(&path, &log).expect("write");
        match RecordLog::<LogRecord>::open(&path) {
            Ok((_, records)) => {
                // Whatever was kept is the valid prefix; the file was cut to it.
                let kept = std::fs::metadata(&path).expect("stat").len();
                prop_assert_eq!(kept, frame::scan(&log).valid_len);
                prop_assert!(records.len() <= frame::scan(&log).records.len());
            }
            Err(e) => check_error_names(&e, &path)?,
        }
        let path = dir.path().join("history");
        std::fs::write(&path, &history).expect("write");
        if let Err(e) = RecordLog::<Committed>::open(&path) {
            check_error_names(&e, &path)?;
        }
    }

    #[test]
    fn atomic_files_read_or_refuse_naming_the_file(bytes in hostile_bytes(vec![snapshot_file()])) {
        let dir = Scratch::new();
        let path = dir.path().join("snapshot");
        std::fs::write(&path, &bytes).expect("write");
        match atomic::read(&path) {
            Ok(Some(payload)) => prop_assert_eq!(frame::encode(&payload), bytes),
            Ok(None) => prop_assert!(false, "the file exists"),
            Err(e) => check_error_names(&e, &path)?,
        }
    }

    /// A whole data dir with damaged files, opened as a server does at start
    /// (and the ordering core recovered from it).
    #[test]
    fn a_damaged_data_dir_opens_or_is_refused(
        log in mutated(vec![log_file()]),
        history in mutated(vec![history_file()]),
        snapshot in mutated(vec![snapshot_file()]),
        which in 0u8..7,
    ) {
        let dir = Scratch::new();
        let good = [log_file(), history_file(), snapshot_file()];
        let bad = [log, history, snapshot];
        let names = ["log", "history", "snapshot"];
        for i in 0..3 {
            let bytes = if which & (1 << i) != 0 { &bad[i] } else { &good[i] };
            std::fs::write(dir.path().join(names[i]), bytes).expect("write");
        }
        match Disk::open(dir.path()) {
            Ok((recovered, _, _)) => {
                let id = order::NodeId::from_u64(1);
                let _ = order::Server::new(id, order::Config::default(), recovered, 1);
            }
            Err(e) => {
                let text = format!("{e:#}");
                prop_assert!(
                    names.iter().any(|n| text.contains(&dir.path().join(n).display().to_string())),
                    "error names no file: {text}"
                );
            }
        }
    }

    /// Records with valid checksums around garbled payloads (a crafted file, or
    /// damage the CRC misses): still no panic, and the core starts from what
    /// decodes.
    #[test]
    fn crafted_records_with_valid_checksums(
        payloads in prop::collection::vec(mutated(log_payloads()), 1..4),
        history in prop::collection::vec(mutated(vec![wire::encode(&committed(1))]), 1..4),
        snapshot in mutated(vec![frame::scan(&snapshot_file()).records[0].1.to_vec()]),
        with_snapshot in any::<bool>(),
    ) {
        let dir = Scratch::new();
        let framed = |ps: &[Vec<u8>]| -> Vec<u8> { ps.iter().flat_map(|p| frame::encode(p)).collect() };
        std::fs::write(dir.path().join("log"), framed(&payloads)).expect("write");
        std::fs::write(dir.path().join("history"), framed(&history)).expect("write");
        if with_snapshot {
            std::fs::write(dir.path().join("snapshot"), frame::encode(&snapshot)).expect("write");
        }
        match Disk::open(dir.path()) {
            Ok((recovered, _, _)) => {
                let id = order::NodeId::from_u64(1);
                let _ = order::Server::new(id, order::Config::default(), recovered, 1);
            }
            Err(e) => {
                let text = format!("{e:#}");
                prop_assert!(text.contains(&dir.path().display().to_string()), "{}", text);
            }
        }
    }
}

/// The payloads of the records of [`log_file`].
fn log_payloads() -> Vec<Vec<u8>> {
    frame::scan(&log_file())
        .records
        .iter()
        .map(|(_, p)| p.to_vec())
        .collect()
}
