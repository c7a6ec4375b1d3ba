//! What Chorus nodes say to each other: gossipsub payloads, request-response
//! messages, topic names, message ids and the size limits that guard them.
//!
//! Everything on the wire is CBOR through serde, with `cbor4ii`: the same codec
//! libp2p's request-response `cbor` module uses, so the tree has exactly one CBOR
//! implementation. `docs/protocol.md` describes these shapes for third parties.

use libp2p::gossipsub::{self, TopicHash};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest chat text, in UTF-8 bytes, that a node accepts from a user or a peer.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Largest gossipsub frame any node sends or accepts (the same on every node,
/// see `docs/protocol.md`: a receiver with a smaller limit silently drops a stream).
pub const MAX_GOSSIP_BYTES: usize = 256 * 1024;
/// Largest request or response accepted on the Chorus request-response protocol.
pub const MAX_RPC_BYTES: u64 = 4 * 1024 * 1024;
/// Longest room name, in bytes.
pub const MAX_ROOM_BYTES: usize = 64;
/// Longest nick, in bytes.
pub const MAX_NICK_BYTES: usize = 32;

/// The request-response protocol id (versioned).
pub const RPC_PROTOCOL: &str = "/chorus/rpc/1";
/// The Kademlia protocol id: a DHT of Chorus nodes only.
pub const KAD_PROTOCOL: &str = "/chorus/kad/1";
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/chorus/1";
/// The gossipsub topic carrying presence announcements.
pub const PRESENCE_TOPIC: &str = "chorus/presence/1";
/// The gossipsub topic carrying committed direct messages (sealed: only the
/// two participants can read them; every client filters its own).
pub const DM_TOPIC: &str = "chorus/dm/1";
/// Largest sealed direct-message text: the sealed form of [`MAX_TEXT_BYTES`].
pub const MAX_SEALED_TEXT_BYTES: usize = crate::seal::sealed_len(MAX_TEXT_BYTES);

/// The role a node plays; visible to peers through identify and presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A server: relays, orders and stores room messages.
    Server,
    /// A client: a person or a program chatting.
    Client,
}

impl Role {
    /// The lowercase name used in JSON and in identify's agent string.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }

    /// The identify agent version announcing this role.
    pub fn agent_version(self) -> String {
        format!("chorus/{} ({})", env!("CARGO_PKG_VERSION"), self.as_str())
    }

    /// Reads the role from a peer's identify agent version; `None` for anything
    /// that is not a Chorus server or client (for example `chorus status`).
    pub fn from_agent_version(agent: &str) -> Option<Role> {
        if !agent.starts_with("chorus/") {
            return None;
        }
        if agent.ends_with("(server)") {
            Some(Role::Server)
        } else if agent.ends_with("(client)") {
            Some(Role::Client)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's periodic "I am here" on the presence topic (its heartbeat to the
/// whole network). The sender is the gossipsub message's signed source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announce {
    /// The sender's role.
    pub role: Role,
    /// The sender's nick (clients).
    pub nick: Option<String>,
    /// Addresses the sender listens on (servers; so that others can dial them).
    pub addrs: Vec<String>,
    /// Servers the sender is connected to right now (base58 peer ids).
    pub links: Vec<String>,
    /// Rooms the sender is in.
    pub rooms: Vec<String>,
    /// Counts up with every announcement of this process; makes every
    /// announcement a distinct gossipsub message.
    pub n: u64,
    /// Random per process start, so a restarted node is seen as a new incarnation.
    pub incarnation: u64,
    /// Servers: what they know of the cluster (absent for clients).
    #[serde(default)]
    pub cluster: Option<ClusterView>,
}

/// A server's view of the ordered log, announced with its heartbeat so that
/// clients learn the leader and notice messages they missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The current term.
    pub term: u64,
    /// The leader of that term, if known.
    pub leader: Option<String>,
    /// Index of the last committed log entry.
    pub commit_index: u64,
    /// The voting servers.
    pub voters: Vec<String>,
    /// Whether this server is in touch with a quorum.
    pub quorum: bool,
    /// Each room's last applied seq on this server.
    pub heads: Vec<(String, u64)>,
}

/// Everything published on the presence topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PresenceMsg {
    /// A heartbeat of the sender.
    Announce(Announce),
    /// A server saw its last connection to `peer` close (crash or departure).
    Gone {
        /// The base58 peer id whose connection closed.
        peer: String,
        /// Distinguishes reports, like [`Announce::n`].
        n: u64,
    },
}

/// A chat message as published on a room topic. The author is the gossipsub
/// message's signed source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomPost {
    /// Unique id of this message: `<client session>-<counter>` (never reused).
    pub id: String,
    /// The room; must match the topic it arrives on.
    pub room: String,
    /// The author's nick when sending.
    pub nick: String,
    /// The text.
    pub text: String,
}

/// A committed chat message: what servers publish on a room topic once the
/// sequencer gave it its `seq`, and what history requests return. Its gossipsub
/// message id is therefore a function of (room, seq) alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Committed {
    /// The room.
    pub room: String,
    /// Position in the room, from 1, without gaps.
    pub seq: u64,
    /// The message's unique id (`<client session>-<counter>`).
    pub id: String,
    /// The author's peer id (as authenticated by the server that took it).
    pub from: String,
    /// The author's nick.
    pub nick: String,
    /// The text (direct messages: sealed, see `seal`).
    pub text: String,
    /// Direct messages: the recipient's peer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The author's signature over the message (see `authorship`).
    #[serde(default, with = "serde_bytes")]
    pub sig: Vec<u8>,
}

/// Most committed messages one room-topic payload carries (see [`decode_room_payload`]).
pub const MAX_COMMITTED_BATCH: usize = 256;

/// Encodes what a server publishes on a room topic: one [`Committed`] alone
/// (as always), or several of one room in seq order as a CBOR array of them
/// (what the leader committed in one event-loop turn: one gossipsub message,
/// one signature to check, instead of one per chat message).
pub fn encode_room_payload(batch: &[Committed]) -> Vec<u8> {
    match batch {
        [one] => encode(one),
        many => encode(&many),
    }
}

/// Decodes a room-topic payload: one [`Committed`], or an array of 1 to
/// [`MAX_COMMITTED_BATCH`] of them.
pub fn decode_room_payload(bytes: &[u8]) -> Result<Vec<Committed>, WireError> {
    if let Ok(one) = decode::<Committed>(bytes) {
        return Ok(vec![one]);
    }
    let batch: Vec<Committed> = decode(bytes)?;
    if batch.is_empty() || batch.len() > MAX_COMMITTED_BATCH {
        return Err(WireError::Invalid(format!(
            "a batch of {} committed messages (1 to {MAX_COMMITTED_BATCH} allowed)",
            batch.len()
        )));
    }
    Ok(batch)
}

/// A client's message for the sequencer. Retries reuse `client` and `counter`,
/// so the log holds it exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submit {
    /// The client session: SHA-256 of the client's peer id and a per-process random number.
    pub client: [u8; 32],
    /// Counts the session's messages from 1.
    pub counter: u64,
    /// The session's lowest counter not yet acknowledged: servers may forget
    /// the results of lower ones.
    pub lowest_unacked: u64,
    /// The room.
    pub room: String,
    /// The message id shown to users (`<session>-<counter>`).
    pub id: String,
    /// The author's nick.
    pub nick: String,
    /// The text (direct messages: sealed for the recipient).
    pub text: String,
    /// Direct messages: the recipient's peer id; the room is then
    /// `seal::dm_room(author, to)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The author's signature over room, id, nick, text and `to`.
    #[serde(default, with = "serde_bytes")]
    pub sig: Vec<u8>,
}

impl Committed {
    /// The fields its author signed.
    pub fn signed(&self) -> crate::authorship::Signed<'_> {
        crate::authorship::Signed::new(
            &self.room,
            &self.id,
            &self.nick,
            &self.text,
            self.to.as_deref(),
        )
    }

    /// Checks that its author signed it (clients check before delivering).
    pub fn verify(&self) -> Result<(), crate::authorship::AuthError> {
        crate::authorship::verify(&self.from, &self.signed(), &self.sig)
    }
}

impl Submit {
    /// The fields its author signed.
    pub fn signed(&self) -> crate::authorship::Signed<'_> {
        crate::authorship::Signed::new(
            &self.room,
            &self.id,
            &self.nick,
            &self.text,
            self.to.as_deref(),
        )
    }

    /// The message id a submission of `client` numbered `counter` must carry:
    /// the first 8 bytes of the client id in hex, a dash, the counter. Binding
    /// the signed id to (client, counter) makes a replayed signature useless.
    pub fn id_for(client: &[u8; 32], counter: u64) -> String {
        format!("{}-{counter}", hex::encode(&client[..8]))
    }
}

/// Which committed messages of a room a history request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryRange {
    /// The last `limit` messages.
    Last {
        /// How many.
        limit: u32,
    },
    /// Up to `limit` messages with seq below `seq`, the newest of them.
    Before {
        /// Exclusive upper bound.
        seq: u64,
        /// How many.
        limit: u32,
    },
    /// Up to `limit` messages from `seq` on.
    From {
        /// First seq.
        seq: u64,
        /// How many.
        limit: u32,
    },
}

/// Most messages one history request returns.
pub const MAX_HISTORY_LIMIT: u32 = 1000;

/// Requests of the Chorus request-response protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// "Tell me what you know" (used by `chorus status`).
    Status,
    /// A client submits a message (to any server).
    Submit(Submit),
    /// A server passes a client's submission on to the leader; `author` is the
    /// client's peer id as authenticated by the forwarding server.
    Forward {
        /// The client's peer id.
        author: String,
        /// The submission.
        submit: Submit,
    },
    /// Committed messages of a room.
    History {
        /// The room.
        room: String,
        /// Which ones.
        range: HistoryRange,
    },
    /// A message of the ordering protocol between servers (CBOR of `chorus_order::Message`).
    Order(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A server presents its admission (an operator's signature over its peer
    /// id, see `admission`) to a peer it connected to.
    Admission(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Several ordering messages for the same server, in the order sent (each
    /// the CBOR of a `chorus_order::Message`): what one event-loop turn of the
    /// sender produced for that server, in one request.
    Orders(Vec<serde_bytes::ByteBuf>),
}

/// Responses of the Chorus request-response protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The node's status, as its `status` JSON event would print it.
    Status(Box<crate::api::Status>),
    /// The submission is committed at `seq` of `room`.
    Submitted {
        /// The room.
        room: String,
        /// Its position.
        seq: u64,
    },
    /// The submission was not taken now; `retry` says whether trying again
    /// (after a backoff, perhaps at `leader`) can succeed.
    Rejected {
        /// Why, for people.
        reason: String,
        /// The leader, if known.
        leader: Option<String>,
        /// Whether a retry can succeed.
        retry: bool,
    },
    /// Committed messages of a room, in seq order.
    History {
        /// The room.
        room: String,
        /// The room's last seq on the answering server.
        head: u64,
        /// The messages.
        messages: Vec<Committed>,
    },
    /// Received (ordering protocol messages need no other answer).
    Ack,
    /// The request was refused.
    Error(String),
}

/// The gossipsub topic of a room.
pub fn room_topic(room: &str) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("chorus/room/1/{room}"))
}

/// The room a topic belongs to, if it is a room topic.
pub fn topic_room(topic: &TopicHash) -> Option<&str> {
    topic.as_str().strip_prefix("chorus/room/1/")
}

/// The gossipsub message id: SHA-256 of topic, payload and (on the presence
/// topic) sender. Payloads are unique by construction (ids, counters), so two
/// different messages with the same text never merge, while the same room
/// payload re-published by another node does.
pub fn message_id(msg: &gossipsub::Message) -> gossipsub::MessageId {
    let mut h = Sha256::new();
    h.update(msg.topic.as_str().as_bytes());
    h.update([0u8]);
    // Presence payloads are unique per sender only (counters), so the sender is
    // part of their id; room payloads are unique network-wide (room, seq).
    if msg.topic.as_str() == PRESENCE_TOPIC {
        if let Some(source) = &msg.source {
            h.update(source.to_bytes());
        }
    }
    h.update(&msg.data);
    gossipsub::MessageId::from(h.finalize()[..20].to_vec())
}

/// Encodes a value as CBOR.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain data structs into a Vec cannot fail.
    cbor4ii::serde::to_vec(Vec::new(), value).unwrap_or_default()
}

/// Decodes CBOR from a peer; a clear error on anything malformed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    cbor4ii::serde::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Why something from the network was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    /// Not valid CBOR of the expected shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Valid shape, invalid content.
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// Checks a room name: 1 to 64 bytes of letters, digits, `-`, `_` or `.`.
pub fn validate_room(room: &str) -> Result<(), String> {
    if room.is_empty() || room.len() > MAX_ROOM_BYTES {
        return Err(format!("room name must be 1 to {MAX_ROOM_BYTES} bytes"));
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "room name {room:?} may only contain letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// Checks a nick: 1 to 32 bytes, no whitespace or control characters.
pub fn validate_nick(nick: &str) -> Result<(), String> {
    if nick.is_empty() || nick.len() > MAX_NICK_BYTES {
        return Err(format!("nick must be 1 to {MAX_NICK_BYTES} bytes"));
    }
    if nick.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "nick {nick:?} may not contain spaces or control characters"
        ));
    }
    Ok(())
}

/// Checks the text of a message for `room`: a room's text as [`validate_text`],
/// a direct conversation's sealed text up to [`MAX_SEALED_TEXT_BYTES`].
pub fn validate_body(room: &str, text: &str) -> Result<(), String> {
    if !crate::seal::is_dm_room(room) {
        return validate_text(text);
    }
    if text.is_empty() || text.len() > MAX_SEALED_TEXT_BYTES {
        return Err(format!(
            "sealed direct message must be 1 to {MAX_SEALED_TEXT_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Checks a chat text: not empty, at most [`MAX_TEXT_BYTES`].
pub fn validate_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("empty message".into());
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "message too long: {} bytes, the limit is {MAX_TEXT_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_agent_version() {
        for role in [Role::Server, Role::Client] {
            assert_eq!(Role::from_agent_version(&role.agent_version()), Some(role));
        }
        assert_eq!(Role::from_agent_version("rust-libp2p/0.1"), None);
        assert_eq!(Role::from_agent_version("chorus/0.1.0 (tool)"), None);
    }

    #[test]
    fn presence_round_trips_and_garbage_is_an_error() {
        let msg = PresenceMsg::Announce(Announce {
            role: Role::Client,
            nick: Some("alice".into()),
            addrs: vec![],
            links: vec!["x".into()],
            rooms: vec!["lobby".into()],
            n: 7,
            incarnation: 9,
            cluster: None,
        });
        let bytes = encode(&msg);
        assert_eq!(decode::<PresenceMsg>(&bytes), Ok(msg));
        assert!(decode::<PresenceMsg>(&[0xff, 0x00, 0x13]).is_err());
        assert!(decode::<RoomPost>(&bytes).is_err());
    }

    #[test]
    fn same_text_twice_gets_two_message_ids() {
        let topic = room_topic("lobby").hash();
        let post = |id: &str| gossipsub::Message {
            source: None,
            data: encode(&RoomPost {
                id: id.into(),
                room: "lobby".into(),
                nick: "a".into(),
                text: "hi".into(),
            }),
            sequence_number: None,
            topic: topic.clone(),
        };
        assert_ne!(message_id(&post("s-1")), message_id(&post("s-2")));
        assert_eq!(message_id(&post("s-1")), message_id(&post("s-1")));
    }

    #[test]
    fn room_payloads_are_one_message_or_a_batch() {
        let c = |seq: u64| Committed {
            room: "lobby".into(),
            seq,
            id: format!("s-{seq}"),
            from: "p".into(),
            nick: "n".into(),
            text: "hi".into(),
            to: None,
            sig: Vec::new(),
        };
        let one = encode_room_payload(&[c(1)]);
        assert_eq!(one, encode(&c(1)), "a lone message keeps its old encoding");
        assert_eq!(decode_room_payload(&one), Ok(vec![c(1)]));
        let batch = vec![c(2), c(3), c(4)];
        assert_eq!(decode_room_payload(&encode_room_payload(&batch)), Ok(batch));
        assert!(decode_room_payload(&encode(&Vec::<Committed>::new())).is_err());
        let huge: Vec<Committed> = (1..=MAX_COMMITTED_BATCH as u64 + 1).map(c).collect();
        assert!(decode_room_payload(&encode(&huge)).is_err());
        assert!(decode_room_payload(&[0xff, 0x00]).is_err());
    }

    #[test]
    fn names_and_texts_are_checked() {
        assert!(validate_room("lobby").is_ok());
        assert!(validate_room("").is_err());
        assert!(validate_room("a b").is_err());
        assert!(validate_room(&"x".repeat(65)).is_err());
        assert!(validate_nick("bob").is_ok());
        assert!(validate_nick("b ob").is_err());
        assert!(validate_text("hi").is_ok());
        assert!(validate_text("  ").is_err());
        assert!(validate_text(&"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
        assert_eq!(topic_room(&room_topic("lobby").hash()), Some("lobby"));
    }
}

#[cfg(test)]
pub(crate) mod proptests;
