//! Small files replaced atomically: write a temporary file, fsync it, rename it
//! over the old one, fsync the directory. A reader sees the old or the new
//! contents, never a mix. Contents are framed and checksummed like log records.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::frame::{self, Tail};

/// Replaces `path` with `payload`, durably.
pub fn write(path: &Path, payload: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&frame::encode(payload))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(path)
}

/// Reads a file written by [`write`]; `None` if it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let scan = frame::scan(&bytes);
    match (scan.records.as_slice(), &scan.tail) {
        ([(_, payload)], Tail::Clean) => Ok(Some(payload.to_vec())),
        _ => bail!(
            "{} is damaged (checksum or length wrong at offset {}); refusing to start",
            path.display(),
            scan.valid_len
        ),
    }
}

/// Fsyncs the directory holding `path`, so a rename or a new file survives a crash.
pub fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_is_refused() {
        let dir = std::env::temp_dir().join(format!("chorus-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hard_state");
        assert_eq!(read(&p).unwrap(), None);
        write(&p, b"term 1").unwrap();
        write(&p, b"term 2").unwrap();
        assert_eq!(read(&p).unwrap().as_deref(), Some(&b"term 2"[..]));
        let mut bytes = fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        fs::write(&p, bytes).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
