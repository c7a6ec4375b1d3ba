//! The node's identity: an ed25519 key kept in the data dir, so a restarted node
//! keeps its peer id. Created with mode 0600 on first start.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libp2p::identity::Keypair;

/// File name of the identity key inside the data dir.
pub const KEY_FILE: &str = "identity.key";
/// File name of the lock that keeps two processes off one data dir.
pub const LOCK_FILE: &str = "lock";

/// An opened data dir: the directory, locked for this process.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    // Held for the life of the process; the OS releases it on exit or kill -9.
    _lock: File,
}

impl DataDir {
    /// Creates (if needed) and locks the data dir; a clear error if it cannot be
    /// written or another process holds it.
    pub fn open(path: &Path) -> Result<DataDir> {
        fs::create_dir_all(path)
            .with_context(|| format!("cannot create data dir {}", path.display()))?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("data dir {} is not writable", path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => bail!(
                "data dir {} is in use by another chorus process",
                path.display()
            ),
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()))
            }
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the identity key, creating it (mode 0600) on first start.
    pub fn load_or_create_identity(&self) -> Result<Keypair> {
        let key_path = self.path.join(KEY_FILE);
        match fs::read(&key_path) {
            Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
                .with_context(|| format!("{} is not a valid identity key", key_path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Keypair::generate_ed25519();
                let bytes = key
                    .to_protobuf_encoding()
                    .context("cannot encode the new identity key")?;
                let tmp = self.path.join(format!("{KEY_FILE}.tmp"));
                let mut f = OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .write(true)
                    .mode(0o600)
                    .open(&tmp)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                fs::rename(&tmp, &key_path)
                    .with_context(|| format!("cannot write {}", key_path.display()))?;
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", key_path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chorus-id-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn identity_survives_restart_and_is_private() {
        let d = tmp_dir("restart");
        let first = DataDir::open(&d)
            .unwrap()
            .load_or_create_identity()
            .unwrap();
        let again = DataDir::open(&d)
            .unwrap()
            .load_or_create_identity()
            .unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
        let mode = fs::metadata(d.join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn second_process_on_same_dir_is_refused() {
        let d = tmp_dir("lock");
        let _held = DataDir::open(&d).unwrap();
        let err = DataDir::open(&d).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corrupt_key_is_a_clear_error() {
        let d = tmp_dir("corrupt");
        let dir = DataDir::open(&d).unwrap();
        fs::write(d.join(KEY_FILE), b"garbage").unwrap();
        let err = dir.load_or_create_identity().unwrap_err().to_string();
        assert!(err.contains("not a valid identity key"), "{err}");
        fs::remove_dir_all(&d).unwrap();
    }
}
