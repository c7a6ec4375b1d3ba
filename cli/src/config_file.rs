//! The configuration file (`~/.config/chorus/config.toml`, or `--config FILE`):
//! defaults for `chorus client`, `chorus server` and `chorus up`, which the
//! command-line flags override. Top-level keys are the client's (and the nick
//! and rooms of `chorus up`); `bootstrap`, `network_key`, `no_mdns` and
//! `operator` are shared with the server; a `[server]` table holds the
//! server's own keys (`admission` among them).
//!
//! Every error names the file, and the line when the file has one to point at,
//! on one line.

use std::fmt;
use std::path::{Path, PathBuf};

use chorus_node::wire;
use libp2p::Multiaddr;
use serde::Deserialize;
use toml::Spanned;

use crate::args::{ClientArgs, ConfigArgs, NodeArgs, ServerArgs, UpArgs};

/// The file's name inside the user's configuration directory.
const FILE_NAME: &str = "config.toml";
/// How many recent messages a client shows on joining a room, unless told.
pub const DEFAULT_HISTORY: u32 = 50;
/// The most recent messages a client may ask for on joining (as `--history`).
const MAX_HISTORY: u32 = 1000;

/// A configuration file that cannot be used: which file, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line the problem is on, when known.
    pub line: Option<usize>,
    /// What is wrong, for people (one line).
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Node keys a file gives, resolved for one role; `None`: not in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFile {
    /// `listen`.
    pub listen: Option<Vec<Multiaddr>>,
    /// `bootstrap`.
    pub bootstrap: Option<Vec<Multiaddr>>,
    /// `data_dir` (made absolute).
    pub data_dir: Option<PathBuf>,
    /// `network_key` (made absolute).
    pub network_key: Option<PathBuf>,
    /// `no_mdns`.
    pub no_mdns: Option<bool>,
    /// `operator`: count only servers this operator admitted.
    pub operator: Option<String>,
}

/// A checked configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// The client's nick (also `chorus up`'s).
    pub nick: Option<String>,
    /// Rooms a client joins at start, the last one shown (also `chorus up`'s).
    pub rooms: Option<Vec<String>>,
    /// How many recent messages a client shows on joining a room.
    pub history: Option<u32>,
    /// The client's node keys.
    pub client: NodeFile,
    /// The server's node keys (shared keys, overridden by `[server]`).
    pub server: NodeFile,
    /// `[server] bootstrap_expect`.
    pub bootstrap_expect: Option<u16>,
    /// `[server] admission` (made absolute).
    pub admission: Option<PathBuf>,
}

/// The file as written: every key optional, no other key allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    nick: Option<Spanned<String>>,
    rooms: Option<Vec<Spanned<String>>>,
    history: Option<Spanned<u32>>,
    listen: Option<Vec<Spanned<String>>>,
    bootstrap: Option<Vec<Spanned<String>>>,
    data_dir: Option<String>,
    network_key: Option<String>,
    no_mdns: Option<bool>,
    operator: Option<String>,
    server: Option<RawServer>,
}

/// The `[server]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Vec<Spanned<String>>>,
    bootstrap: Option<Vec<Spanned<String>>>,
    data_dir: Option<String>,
    network_key: Option<String>,
    no_mdns: Option<bool>,
    operator: Option<String>,
    admission: Option<String>,
    bootstrap_expect: Option<Spanned<u16>>,
}

/// The default file: `$XDG_CONFIG_HOME/chorus/config.toml`, else
/// `~/.config/chorus/config.toml` (on Linux).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "chorus").map(|d| d.config_dir().join(FILE_NAME))
}

/// Loads the file the flags ask for: none with `--no-config`; `--config FILE`
/// (which must exist); else the default file when it exists.
pub fn load(flags: &ConfigArgs) -> Result<Option<Config>, ConfigError> {
    if flags.no_config {
        return Ok(None);
    }
    let path = match &flags.config {
        Some(path) => path.clone(),
        None => match default_path() {
            Some(path) if path.exists() => path,
            _ => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
        path: path.clone(),
        line: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(&path, &text).map(Some)
}

/// Parses and checks the text of the file at `path` (relative paths in it are
/// taken from the file's directory, `~/` from the home directory).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let error = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
        path: path.to_path_buf(),
        line: span.map(|s| line_of(text, s.start)),
        message: message.replace('\n', " "),
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| error(e.span(), e.message().into()))?;
    let addrs = |key: &str, list: Option<Vec<Spanned<String>>>| {
        list.map(|list| {
            list.into_iter()
                .map(|a| {
                    a.get_ref().parse::<Multiaddr>().map_err(|e| {
                        error(
                            Some(a.span()),
                            format!("{key}: `{}` is not a multiaddr: {e}", a.get_ref()),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_path = |p: Option<String>| p.map(|p| resolve_path(dir, &p));

    let nick = match raw.nick {
        Some(n) => {
            wire::validate_nick(n.get_ref())
                .map_err(|e| error(Some(n.span()), format!("nick: {e}")))?;
            Some(n.into_inner())
        }
        None => None,
    };
    let rooms = match raw.rooms {
        Some(rooms) => {
            if rooms.is_empty() {
                return Err(error(None, "rooms: give at least one room".into()));
            }
            let mut names = Vec::new();
            for r in rooms {
                wire::validate_room(r.get_ref())
                    .map_err(|e| error(Some(r.span()), format!("rooms: {e}")))?;
                names.push(r.into_inner());
            }
            Some(names)
        }
        None => None,
    };
    let history = match raw.history {
        Some(h) if *h.get_ref() > MAX_HISTORY => {
            return Err(error(
                Some(h.span()),
                format!("history: {} is more than {MAX_HISTORY}", h.get_ref()),
            ))
        }
        Some(h) => Some(h.into_inner()),
        None => None,
    };
    let bootstrap = addrs("bootstrap", raw.bootstrap)?;
    let network_key = file_path(raw.network_key);
    let client = NodeFile {
        listen: addrs("listen", raw.listen)?,
        bootstrap: bootstrap.clone(),
        data_dir: file_path(raw.data_dir),
        network_key: network_key.clone(),
        no_mdns: raw.no_mdns,
        operator: raw.operator.clone(),
    };
    let section = raw.server.unwrap_or_default();
    let bootstrap_expect = match section.bootstrap_expect {
        Some(n) if !(1..=100).contains(n.get_ref()) => {
            return Err(error(
                Some(n.span()),
                "server.bootstrap_expect: give 1 to 100".into(),
            ))
        }
        Some(n) => Some(n.into_inner()),
        None => None,
    };
    let server = NodeFile {
        listen: addrs("server.listen", section.listen)?,
        bootstrap: addrs("server.bootstrap", section.bootstrap)?.or(bootstrap),
        data_dir: file_path(section.data_dir),
        network_key: file_path(section.network_key).or(network_key),
        no_mdns: section.no_mdns.or(raw.no_mdns),
        operator: section.operator.or(raw.operator),
    };
    let admission = file_path(section.admission);
    Ok(Config {
        path: path.to_path_buf(),
        nick,
        rooms,
        history,
        client,
        server,
        bootstrap_expect,
        admission,
    })
}

/// The 1-based line of byte `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A path from the file: `~/...` under the home directory, a relative path
/// under the file's directory.
fn resolve_path(dir: &Path, p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(base) = directories::BaseDirs::new() {
            return base.home_dir().join(rest);
        }
    }
    dir.join(p)
}

/// Fills the node flags not given on the command line from the file.
fn merge_node(args: &mut NodeArgs, file: &NodeFile) {
    if args.listen.is_empty() {
        args.listen = file.listen.clone().unwrap_or_default();
    }
    if args.bootstrap.is_empty() {
        args.bootstrap = file.bootstrap.clone().unwrap_or_default();
    }
    if args.data_dir.is_none() {
        args.data_dir = file.data_dir.clone();
    }
    if args.network_key.is_none() {
        args.network_key = file.network_key.clone();
    }
    if args.operator.is_none() {
        args.operator = file.operator.clone();
    }
    // `--no-mdns` and `--mdns` (the last one given wins) beat the file.
    if !args.no_mdns && !args.mdns {
        args.no_mdns = file.no_mdns.unwrap_or(false);
    }
}

/// `chorus client`: flags first, then the file, then the defaults (room
/// `lobby`, 50 messages of history). A nick must come from one of the two.
pub fn apply_client(args: &mut ClientArgs, file: Option<&Config>) -> anyhow::Result<()> {
    if let Some(file) = file {
        merge_node(&mut args.node, &file.client);
        if args.nick.is_none() {
            args.nick = file.nick.clone();
        }
        if args.room.is_empty() {
            args.room = file.rooms.clone().unwrap_or_default();
        }
        if args.history.is_none() {
            args.history = file.history;
        }
    }
    if args.room.is_empty() {
        args.room.push("lobby".into());
    }
    if args.history.is_none() {
        args.history = Some(DEFAULT_HISTORY);
    }
    if args.nick.is_none() {
        let place = match (file, default_path()) {
            (Some(f), _) => f.path.display().to_string(),
            (None, Some(p)) => p.display().to_string(),
            (None, None) => "a config file".into(),
        };
        anyhow::bail!("no nick: give --nick NICK, or set `nick = \"...\"` in {place}");
    }
    Ok(())
}

/// `chorus server`: flags first, then the file's shared keys and `[server]`.
pub fn apply_server(args: &mut ServerArgs, file: Option<&Config>) {
    if let Some(file) = file {
        merge_node(&mut args.node, &file.server);
        if args.bootstrap_expect.is_none() {
            args.bootstrap_expect = file.bootstrap_expect;
        }
        if args.admission.is_none() {
            args.admission = file.admission.clone();
        }
    }
}

/// `chorus up`: the nick and rooms from the file (the cluster is local, so
/// the file's addresses and keys do not apply).
pub fn apply_up(args: &mut UpArgs, file: Option<&Config>) {
    if let Some(file) = file {
        if args.nick.is_none() {
            args.nick = file.nick.clone();
        }
        if args.room.is_empty() {
            args.room = file.rooms.clone().unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests;
