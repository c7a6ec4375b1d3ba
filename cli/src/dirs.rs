//! Default data directories: one per role under the user's data dir
//! (`~/.local/share/chorus` on Linux), so a restarted node keeps its identity.

use std::path::PathBuf;

/// The base directory for Chorus data.
pub fn base() -> PathBuf {
    directories::ProjectDirs::from("", "", "chorus")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".chorus"))
}

/// The default data dir of a server.
pub fn server() -> PathBuf {
    base().join("server")
}

/// The default data dir of a client with this nick.
pub fn client(nick: &str) -> PathBuf {
    base().join(format!("client-{nick}"))
}

/// The default data dir of `chorus up`'s local cluster.
pub fn up() -> PathBuf {
    base().join("up")
}
