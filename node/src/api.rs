//! The `--json` interface: events a node reports and commands it takes, one JSON
//! object per line. `docs/json-api.md` is the contract; later versions extend
//! it and never break it.

use serde::{Deserialize, Serialize};

use crate::wire::Role;

/// Something a node reports to its user or program (one line of `--json` output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The node is listening; every address ends in `/p2p/<peer_id>`.
    Ready {
        /// This node's peer id.
        peer_id: String,
        /// This node's role.
        role: Role,
        /// Addresses others can dial.
        listen_addrs: Vec<String>,
    },
    /// A server or client anywhere in the network arrived (or came back).
    PeerJoined(PeerInfo),
    /// A server or client left or crashed.
    PeerLeft(PeerInfo),
    /// A chat message in a room this node is in.
    Message(ChatMessage),
    /// A command was refused, or something went wrong; the node keeps running.
    Error {
        /// What went wrong, for people.
        message: String,
    },
    /// The answer to `{"cmd":"status"}`.
    Status(Status),
    /// A message this client sent is committed at `seq` of `room`.
    Sent {
        /// The id its `message` event carries.
        id: String,
        /// The room.
        room: String,
        /// Its position in the room.
        seq: u64,
    },
    /// The node learned of a new leader (or a new term).
    Leader {
        /// The term.
        term: u64,
        /// The leader's peer id.
        peer_id: String,
    },
}

/// A peer in presence events and in `status`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's id.
    pub peer_id: String,
    /// Its role.
    pub role: Role,
    /// Its nick, for clients that announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
}

/// A chat message as reported to the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The room.
    pub room: String,
    /// The message's unique id.
    pub id: String,
    /// The author's peer id.
    pub from: String,
    /// The author's nick.
    pub nick: String,
    /// The text.
    pub text: String,
    /// Position in the room, from 1, without gaps (absent only for messages
    /// that were never ordered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// `true` for messages delivered as history (on joining, or on request).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history: bool,
    /// Direct messages only: the recipient's peer id (`room` is then the
    /// conversation, `dm.<32 hex digits>`, the same for both participants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What a node knows: the `status` event, and the answer `chorus status` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This node's peer id.
    pub peer_id: String,
    /// This node's role.
    pub role: Role,
    /// Addresses this node listens on.
    #[serde(default)]
    pub listen_addrs: Vec<String>,
    /// Every live server known, this node included if it is one.
    pub servers: Vec<String>,
    /// Every live peer known (servers and clients), this node excluded.
    pub peers: Vec<PeerInfo>,
    /// Rooms this node is in.
    pub rooms: Vec<String>,
    /// This node's nick (clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// Peers this node has a direct connection to.
    #[serde(default)]
    pub connected: Vec<String>,
    /// The current leader, as far as this node knows.
    #[serde(default)]
    pub leader: Option<String>,
    /// The current term, as far as this node knows.
    #[serde(default)]
    pub term: u64,
    /// Index of the last committed log entry (servers: their own; clients: as announced).
    #[serde(default)]
    pub commit_index: u64,
    /// The voting servers.
    #[serde(default)]
    pub voters: Vec<String>,
    /// Messages of this client waiting for acknowledgement (0 for servers).
    #[serde(default)]
    pub pending: usize,
    /// Whether the cluster has a quorum (as far as this node can tell).
    #[serde(default)]
    pub quorum: bool,
    /// Servers: what their room history holds, by room (absent for clients).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub history: std::collections::BTreeMap<String, HistoryHeld>,
}

/// How much of a room's committed history a server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryHeld {
    /// The highest seq held.
    pub head: u64,
    /// How many messages are held (equal to `head` when nothing is missing).
    pub held: u64,
}

/// A command from the user or program (one line of `--json` input).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send `text` to `room` (the current room when `None`).
    Send {
        /// Target room, or the current one.
        room: Option<String>,
        /// The text.
        text: String,
    },
    /// Send a direct message, end-to-end encrypted, to one peer.
    Dm {
        /// The recipient: a peer id, or the nick of exactly one peer online.
        to: String,
        /// The text.
        text: String,
    },
    /// Join a room (and make it the current one).
    Join {
        /// The room.
        room: String,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: String,
    },
    /// Change nick.
    Nick {
        /// The new nick.
        nick: String,
    },
    /// Report a `status` event.
    Status,
    /// Fetch older messages of `room` (seq below `before`, or the newest).
    History {
        /// The room.
        room: String,
        /// Exclusive upper bound of seq; `None`: the newest messages.
        before: Option<u64>,
        /// How many (default 50).
        limit: Option<u32>,
    },
    /// Stop the node.
    Quit,
}

/// The JSON shape of commands (`{"cmd": ...}`), kept apart from [`Command`]:
/// serde's internally tagged unit variants accept unknown fields, so `status`
/// and `quit` are empty struct variants here to refuse `{"cmd":"status","x":1}`
/// (tried and measured: deriving on `Command` directly loses that check).
#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
enum JsonCommand {
    Send {
        room: Option<String>,
        text: String,
    },
    Dm {
        to: String,
        text: String,
    },
    Join {
        room: String,
    },
    Leave {
        room: String,
    },
    Nick {
        nick: String,
    },
    Status {},
    Quit {},
    History {
        room: String,
        before: Option<u64>,
        limit: Option<u32>,
    },
}

/// Names of the commands, for error messages and completion.
pub const COMMAND_NAMES: &[&str] = &[
    "send", "dm", "join", "leave", "nick", "status", "history", "quit",
];

/// Parses one input line. `Ok(None)` for a blank line; a line not starting with
/// `{` is text for the current room; a JSON line must be a known command.
pub fn parse_line(line: &str) -> Result<Option<Command>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !trimmed.starts_with('{') {
        return Ok(Some(Command::Send {
            room: None,
            text: line.trim_end_matches(['\r', '\n']).to_string(),
        }));
    }
    let value: serde_json::Value =
        serde_json::from_str(trimmed).map_err(|e| format!("malformed JSON: {e}"))?;
    let cmd = match value.get("cmd") {
        Some(serde_json::Value::String(cmd)) => cmd.clone(),
        Some(_) => return Err("\"cmd\" must be a string".into()),
        None => return Err("missing \"cmd\" field".into()),
    };
    if !COMMAND_NAMES.contains(&cmd.as_str()) {
        return Err(format!(
            "unknown command {cmd:?} (known: {})",
            COMMAND_NAMES.join(", ")
        ));
    }
    let parsed: JsonCommand =
        serde_json::from_value(value).map_err(|e| format!("bad {cmd:?} command: {e}"))?;
    Ok(Some(match parsed {
        JsonCommand::Send { room, text } => Command::Send { room, text },
        JsonCommand::Dm { to, text } => Command::Dm { to, text },
        JsonCommand::Join { room } => Command::Join { room },
        JsonCommand::Leave { room } => Command::Leave { room },
        JsonCommand::Nick { nick } => Command::Nick { nick },
        JsonCommand::Status {} => Command::Status,
        JsonCommand::Quit {} => Command::Quit,
        JsonCommand::History {
            room,
            before,
            limit,
        } => Command::History {
            room,
            before,
            limit,
        },
    }))
}

impl Event {
    /// The event as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!("{{\"event\":\"error\",\"message\":\"cannot encode event: {e}\"}}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse_line(r#"{"cmd":"send","room":"r","text":"hi"}"#),
            Ok(Some(Command::Send {
                room: Some("r".into()),
                text: "hi".into()
            }))
        );
        assert_eq!(
            parse_line("hello there"),
            Ok(Some(Command::Send {
                room: None,
                text: "hello there".into()
            }))
        );
        assert_eq!(parse_line(r#"{"cmd":"status"}"#), Ok(Some(Command::Status)));
        assert_eq!(parse_line(r#" {"cmd":"quit"} "#), Ok(Some(Command::Quit)));
        assert_eq!(
            parse_line(r#"{"cmd":"dm","to":"bob","text":"psst"}"#),
            Ok(Some(Command::Dm {
                to: "bob".into(),
                text: "psst".into()
            }))
        );
        assert!(parse_line(r#"{"cmd":"dm","text":"psst"}"#).is_err());
        assert_eq!(parse_line("   "), Ok(None));
    }

    #[test]
    fn bad_commands_get_clear_errors() {
        let err = parse_line(r#"{"cmd":"fly"}"#).unwrap_err();
        assert!(err.contains("unknown command"), "{err}");
        let err = parse_line(r#"{"cmd": "send""#).unwrap_err();
        assert!(err.contains("malformed JSON"), "{err}");
        let err = parse_line(r#"{"cmd":"join"}"#).unwrap_err();
        assert!(err.contains("room"), "{err}");
        let err = parse_line(r#"{"text":"x"}"#).unwrap_err();
        assert!(err.contains("cmd"), "{err}");
        let err = parse_line(r#"{"cmd":"status","extra":1}"#).unwrap_err();
        assert!(err.contains("extra"), "{err}");
        let err = parse_line(r#"{"cmd":7}"#).unwrap_err();
        assert!(err.contains("string"), "{err}");
    }

    #[test]
    fn events_serialise_as_documented() {
        let e = Event::PeerJoined(PeerInfo {
            peer_id: "p".into(),
            role: Role::Server,
            nick: None,
        });
        assert_eq!(
            e.to_json_line(),
            r#"{"event":"peer_joined","peer_id":"p","role":"server"}"#
        );
        let e = Event::Error {
            message: "x".into(),
        };
        assert_eq!(e.to_json_line(), r#"{"event":"error","message":"x"}"#);
    }
}

#[cfg(test)]
mod proptests;
