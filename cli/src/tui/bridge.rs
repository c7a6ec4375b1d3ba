//! The TUI's view of the node API, read through the JSON contract
//! (`docs/json-api.md`) rather than the Rust types: the API only ever gains
//! fields and events, so the TUI keeps working while the node grows, and shows
//! what it cannot know yet (leader, quorum) as unknown.

use chorus_node::api::{self, Command, Event};
use serde::Deserialize;

/// A peer in presence events and in the status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Peer {
    /// The peer's id.
    pub peer_id: String,
    /// `server` or `client`.
    #[serde(default)]
    pub role: String,
    /// Its nick (clients).
    #[serde(default)]
    pub nick: Option<String>,
}

impl Peer {
    /// Whether the peer is a server.
    pub fn is_server(&self) -> bool {
        self.role == "server"
    }
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Msg {
    /// The room.
    pub room: String,
    /// Unique id.
    pub id: String,
    /// The author's peer id.
    pub from: String,
    /// The author's nick.
    pub nick: String,
    /// The text.
    pub text: String,
    /// Position in the room, once ordered.
    #[serde(default)]
    pub seq: Option<u64>,
    /// Delivered as history.
    #[serde(default)]
    pub history: bool,
    /// Direct messages: the recipient's peer id (`room` is the conversation).
    #[serde(default)]
    pub to: Option<String>,
}

/// What a node knows (the `status` event); fields a node does not report are
/// `None` / empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StatusInfo {
    /// This node's peer id.
    #[serde(default)]
    pub peer_id: String,
    /// Every live server known.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Every live peer known, this node excluded.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Rooms this node is in.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// This node's nick.
    #[serde(default)]
    pub nick: Option<String>,
    /// Peers this node has a direct connection to.
    #[serde(default)]
    pub connected: Vec<String>,
    /// The current leader.
    #[serde(default)]
    pub leader: Option<String>,
    /// The current term.
    #[serde(default)]
    pub term: Option<u64>,
    /// Last committed log index.
    #[serde(default)]
    pub commit_index: Option<u64>,
    /// The voting servers.
    #[serde(default)]
    pub voters: Vec<String>,
    /// Own messages waiting for acknowledgement.
    #[serde(default)]
    pub pending: Option<usize>,
    /// Whether the cluster has a quorum.
    #[serde(default)]
    pub quorum: Option<bool>,
}

/// An event from the node, as the TUI understands it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// The node is up.
    Ready {
        /// Own peer id.
        peer_id: String,
        /// Addresses others can dial.
        #[serde(default)]
        listen_addrs: Vec<String>,
    },
    /// A peer arrived.
    PeerJoined(Peer),
    /// A peer left or crashed.
    PeerLeft(Peer),
    /// A chat message.
    Message(Msg),
    /// Something went wrong.
    Error {
        /// For people.
        message: String,
    },
    /// The answer to a status request.
    Status(StatusInfo),
    /// An own message was committed.
    Sent {
        /// The message id.
        id: String,
        /// The room.
        room: String,
        /// Its position.
        seq: u64,
    },
    /// A new leader or term.
    Leader {
        /// The term.
        term: u64,
        /// The leader.
        peer_id: String,
    },
    /// An event this version of the TUI does not know.
    #[serde(other)]
    Other,
}

impl NodeEvent {
    /// Converts a node event (through its JSON form).
    pub fn from_api(event: &Event) -> NodeEvent {
        Self::from_json(&event.to_json_line())
    }

    /// Parses one `--json` event line; unknown or malformed lines give `Other`.
    pub fn from_json(line: &str) -> NodeEvent {
        serde_json::from_str(line).unwrap_or(NodeEvent::Other)
    }
}

/// A command for the node, as the TUI issues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeCommand {
    /// Send text to a room.
    Send {
        /// The room.
        room: String,
        /// The text.
        text: String,
    },
    /// Send an end-to-end encrypted direct message to a peer.
    Dm {
        /// The recipient's peer id.
        to: String,
        /// The text.
        text: String,
    },
    /// Join a room.
    Join(String),
    /// Leave a room.
    Leave(String),
    /// Change nick.
    Nick(String),
    /// Ask for a status event.
    Status,
    /// Fetch older messages of a room.
    History {
        /// The room.
        room: String,
        /// Only messages with a smaller seq.
        before: Option<u64>,
        /// How many.
        limit: Option<u32>,
    },
    /// Stop the node.
    Quit,
}

impl NodeCommand {
    /// The node API command, built through the JSON contract; an error (for
    /// people) when this node does not know the command yet.
    pub fn to_api(&self) -> Result<Command, String> {
        use serde_json::json;
        let value = match self {
            NodeCommand::Send { room, text } => json!({"cmd": "send", "room": room, "text": text}),
            NodeCommand::Dm { to, text } => json!({"cmd": "dm", "to": to, "text": text}),
            NodeCommand::Join(room) => json!({"cmd": "join", "room": room}),
            NodeCommand::Leave(room) => json!({"cmd": "leave", "room": room}),
            NodeCommand::Nick(nick) => json!({"cmd": "nick", "nick": nick}),
            NodeCommand::Status => json!({"cmd": "status"}),
            NodeCommand::History {
                room,
                before,
                limit,
            } => json!({"cmd": "history", "room": room, "before": before, "limit": limit}),
            NodeCommand::Quit => json!({"cmd": "quit"}),
        };
        match api::parse_line(&value.to_string()) {
            Ok(Some(cmd)) => Ok(cmd),
            Ok(None) => Err("empty command".into()),
            Err(e) if e.contains("unknown command") => {
                Err("this node does not support that command yet".into())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_with_and_without_new_fields() {
        let old = NodeEvent::from_json(
            r#"{"event":"status","peer_id":"me","role":"client","servers":["a"],"peers":[],"rooms":["lobby"]}"#,
        );
        let NodeEvent::Status(s) = old else {
            panic!("{old:?}")
        };
        assert_eq!(s.quorum, None);
        assert_eq!(s.leader, None);
        let new = NodeEvent::from_json(
            r#"{"event":"status","peer_id":"me","role":"client","servers":["a"],"peers":[],"rooms":[],"leader":"a","term":3,"quorum":false,"pending":2,"voters":["a"],"commit_index":9}"#,
        );
        let NodeEvent::Status(s) = new else {
            panic!("{new:?}")
        };
        assert_eq!(s.quorum, Some(false));
        assert_eq!(s.term, Some(3));
        assert_eq!(
            NodeEvent::from_json(r#"{"event":"sent","id":"x","room":"r","seq":4}"#),
            NodeEvent::Sent {
                id: "x".into(),
                room: "r".into(),
                seq: 4
            }
        );
        assert_eq!(
            NodeEvent::from_json(r#"{"event":"dm_something","x":1}"#),
            NodeEvent::Other
        );
    }

    #[test]
    fn commands_convert() {
        assert_eq!(
            NodeCommand::Join("dev".into()).to_api(),
            Ok(Command::Join { room: "dev".into() })
        );
        assert_eq!(
            NodeCommand::Send {
                room: "r".into(),
                text: "hi \"there\"".into()
            }
            .to_api(),
            Ok(Command::Send {
                room: Some("r".into()),
                text: "hi \"there\"".into()
            })
        );
        assert_eq!(NodeCommand::Quit.to_api(), Ok(Command::Quit));
        assert_eq!(
            NodeCommand::Dm {
                to: "12D3KooWx".into(),
                text: "psst".into()
            }
            .to_api(),
            Ok(Command::Dm {
                to: "12D3KooWx".into(),
                text: "psst".into()
            })
        );
    }
}
