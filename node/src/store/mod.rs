//! Durable storage in the data dir: checksummed record files (the log) and
//! small atomically replaced files (hard state, snapshot).
//!
//! - [`frame`]: the record format (length, CRC-32C, CBOR payload) and the scan
//!   that tells a torn tail (a write cut short by a crash, never acknowledged)
//!   from corruption in the middle (refused, naming file and offset);
//! - [`record_log`]: an append-only file of records with group commit (`sync`);
//! - [`atomic`]: write-to-temp, fsync, rename, fsync-dir replacement of a file.

pub mod atomic;
pub mod disk;
pub mod frame;
pub mod record_log;

pub use record_log::RecordLog;

#[cfg(test)]
mod proptests;
