//! An append-only file of checksummed CBOR records. Appends are buffered and
//! made durable together by [`RecordLog::sync`] (group commit). Opening a file
//! truncates a torn tail and refuses a corrupt one, naming file and offset.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use tracing::warn;

use super::frame::{self, Tail};
use crate::wire;

/// An open record file.
pub struct RecordLog<T> {
    path: PathBuf,
    file: BufWriter<File>,
    len: u64,
    _records: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> RecordLog<T> {
    /// Opens (or creates) the file and returns it with the records it holds.
    pub fn open(path: &Path) -> Result<(RecordLog<T>, Vec<T>)> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let scan = frame::scan(&bytes);
        match &scan.tail {
            Tail::Clean => {}
            Tail::Torn { offset } => warn!(
                "{}: truncating a torn tail at offset {offset} ({} bytes never synced)",
                path.display(),
                bytes.len() as u64 - offset
            ),
            Tail::Corrupt { offset, reason } => bail!(
                "{} is corrupt at offset {offset}: {reason}; refusing to start (restore the file or remove the data dir to rejoin as a new member)",
                path.display()
            ),
        }
        let mut records = Vec::with_capacity(scan.records.len());
        for (offset, payload) in &scan.records {
            let record = wire::decode(payload).map_err(|e| {
                anyhow::anyhow!(
                    "{} has an unreadable record at offset {offset}: {e}",
                    path.display()
                )
            })?;
            records.push(record);
        }
        let valid_len = scan.valid_len;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if valid_len < bytes.len() as u64 {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let mut file = BufWriter::with_capacity(1 << 20, file);
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(valid_len))?;
        super::atomic::sync_dir(path)?;
        Ok((
            RecordLog {
                path: path.to_path_buf(),
                file,
                len: valid_len,
                _records: PhantomData,
            },
            records,
        ))
    }

    /// Appends a record (buffered; durable after [`sync`](Self::sync)).
    pub fn append(&mut self, record: &T) -> Result<()> {
        let bytes = frame::encode(&wire::encode(record));
        self.file
            .write_all(&bytes)
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable (one fsync for all of them).
    pub fn sync(&mut self) -> Result<()> {
        self.file.flush()?;
        self.file
            .get_ref()
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.path.display()))
    }

    /// Replaces the whole file with `records`, atomically and durably (compaction).
    pub fn rewrite<'a>(&mut self, records: impl IntoIterator<Item = &'a T>) -> Result<()>
    where
        T: 'a,
    {
        let tmp = self.path.with_extension("compact");
        let mut out = BufWriter::new(
            File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?,
        );
        let mut len = 0u64;
        for r in records {
            let bytes = frame::encode(&wire::encode(r));
            out.write_all(&bytes)?;
            len += bytes.len() as u64;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        drop(out);
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        super::atomic::sync_dir(&self.path)?;
        let file = OpenOptions::new().append(true).open(&self.path)?;
        self.file = BufWriter::with_capacity(1 << 20, file);
        self.len = len;
        Ok(())
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chorus-rl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("log")
    }

    #[test]
    fn records_survive_reopen_and_torn_tail_is_cut() {
        let p = tmp("reopen");
        {
            let (mut log, recs) = RecordLog::<(u64, String)>::open(&p).unwrap();
            assert!(recs.is_empty());
            log.append(&(1, "a".into())).unwrap();
            log.append(&(2, "b".into())).unwrap();
            log.sync().unwrap();
        }
        // A crash mid-write leaves half a record.
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(&frame::encode(b"half a record")[..7]);
        std::fs::write(&p, &bytes).unwrap();
        let (mut log, recs) = RecordLog::<(u64, String)>::open(&p).unwrap();
        assert_eq!(recs, vec![(1, "a".into()), (2, "b".into())]);
        log.append(&(3, "c".into())).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, recs) = RecordLog::<(u64, String)>::open(&p).unwrap();
        assert_eq!(recs.len(), 3);
    }

    #[test]
    fn corruption_is_refused_with_file_and_offset() {
        let p = tmp("corrupt");
        {
            let (mut log, _) = RecordLog::<String>::open(&p).unwrap();
            for i in 0..5 {
                log.append(&format!("record number {i}")).unwrap();
            }
            log.sync().unwrap();
        }
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[30] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let err = RecordLog::<String>::open(&p).err().unwrap().to_string();
        assert!(err.contains("corrupt at offset"), "{err}");
        assert!(err.contains(&p.display().to_string()), "{err}");
    }

    #[test]
    fn rewrite_compacts() {
        let p = tmp("rewrite");
        let (mut log, _) = RecordLog::<u64>::open(&p).unwrap();
        for i in 0..100 {
            log.append(&i).unwrap();
        }
        log.sync().unwrap();
        let keep: Vec<u64> = (90..100).collect();
        log.rewrite(&keep).unwrap();
        log.append(&100).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, recs) = RecordLog::<u64>::open(&p).unwrap();
        assert_eq!(recs, (90..=100).collect::<Vec<_>>());
    }
}
