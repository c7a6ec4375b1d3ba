//! Property tests of every wire decoder: arbitrary bytes, and valid messages
//! with bytes flipped, inserted, removed or cut, never make a decoder panic;
//! what fails gets a short "malformed message: ..." error, and what decodes
//! encodes again to the same value.
//!
//! The samples are built from JSON (not struct literals) so that a new optional
//! field does not break them; `samples_are_valid` says when one needs updating.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

use super::*;
use crate::order;

/// A strategy of byte strings: each of `seeds`, changed by 1 to 8 random edits
/// (flip, insert, remove, truncate), which reaches far deeper into a decoder
/// than random bytes, which mostly fail at the first byte.
pub(crate) fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        prop::collection::vec((0u8..4, any::<usize>(), any::<u8>()), 1..8),
    )
        .prop_map(move |(i, edits)| {
            let mut b = seeds[i].clone();
            for (kind, pos, byte) in edits {
                match kind {
                    0 if !b.is_empty() => {
                        let p = pos % b.len();
                        b[p] ^= byte | 1;
                    }
                    1 => b.insert(pos % (b.len() + 1), byte),
                    2 if !b.is_empty() => {
                        b.remove(pos % b.len());
                    }
                    _ => b.truncate(pos % (b.len() + 1)),
                }
            }
            b
        })
}

/// Arbitrary bytes, or a mutation of one of `seeds`.
pub(crate) fn hostile_bytes(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        mutated(seeds.clone()),
        mutated(seeds),
    ]
}

/// Decodes `bytes` as a `T` the way the node does: an `Ok` re-encodes to the
/// same value, an error is a short, non-empty "malformed" message.
pub(crate) fn check_decoder<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    match decode::<T>(bytes) {
        Ok(value) => {
            let again = decode::<T>(&encode(&value));
            prop_assert_eq!(again.as_ref().ok(), Some(&value), "re-encoding changed it");
        }
        Err(WireError::Malformed(m)) => {
            prop_assert!(!m.is_empty(), "empty error");
            prop_assert!(m.len() < 500, "error too long: {}", m.len());
        }
        Err(e) => prop_assert!(false, "unexpected error kind: {e}"),
    }
    Ok(())
}

/// CBOR of a JSON sample (JSON `null` would become an empty array: leave
/// absent options out instead).
fn cbor(value: serde_json::Value) -> Vec<u8> {
    encode(&value)
}

fn committed_json() -> serde_json::Value {
    json!({"room": "lobby", "seq": 3, "id": "00aa-1", "from": "12D3KooWpeer",
           "nick": "alice", "text": "hello there"})
}

fn submit_json() -> serde_json::Value {
    json!({"client": (0..32).collect::<Vec<u8>>(), "counter": 2, "lowest_unacked": 1,
           "room": "lobby", "id": "00aa-2", "nick": "alice", "text": "hi"})
}

pub(crate) fn order_message_samples() -> Vec<Vec<u8>> {
    let n = order::NodeId::from_u64;
    let cluster = order::ClusterId { founder: n(9) };
    let membership = order::Membership::new(cluster, [n(1), n(9)].into_iter().collect());
    let last = order::LogId { term: 2, index: 5 };
    let entries = vec![
        order::Entry {
            index: 6,
            term: 2,
            payload: order::Payload::Config(membership.clone()),
        },
        order::Entry {
            index: 7,
            term: 2,
            payload: order::Payload::Command(order::Command {
                client: order::ClientId::from_u64(7),
                counter: 3,
                lowest_unacked: 2,
                room: "lobby".into(),
                body: cbor(json!({"id": "x-1", "from": "p", "nick": "n", "text": "t"})),
            }),
        },
    ];
    let mut state = order::Sequencer::default();
    state.rooms.insert("lobby".into(), 3);
    let bodies = vec![
        order::Body::PreVote { last },
        order::Body::Append {
            prev: last,
            entries,
            commit: 5,
        },
        order::Body::InstallSnapshot {
            snapshot: order::Snapshot {
                last,
                membership,
                state,
            },
        },
        order::Body::AppendResp {
            success: false,
            match_index: 3,
            hint: 2,
        },
    ];
    bodies
        .into_iter()
        .map(|body| {
            encode(&order::Message {
                cluster: Some(cluster),
                term: 2,
                body,
            })
        })
        .collect()
}

fn request_samples() -> Vec<Vec<u8>> {
    let mut v = vec![
        cbor(json!("Status")),
        cbor(json!({"Submit": submit_json()})),
        cbor(json!({"Forward": {"author": "12D3KooWpeer", "submit": submit_json()}})),
        cbor(json!({"History": {"room": "lobby", "range": {"Last": {"limit": 5}}}})),
        cbor(json!({"History": {"room": "lobby", "range": {"Before": {"seq": 9, "limit": 5}}}})),
    ];
    for m in order_message_samples() {
        v.push(encode(&Request::Order(m)));
    }
    v
}

fn status_json() -> serde_json::Value {
    json!({"peer_id": "p", "role": "server", "listen_addrs": ["/ip4/127.0.0.1/tcp/1"],
           "servers": ["p"], "peers": [{"peer_id": "q", "role": "client", "nick": "bob"}],
           "rooms": ["lobby"], "connected": ["q"], "leader": "p", "term": 2,
           "commit_index": 4, "voters": ["p"], "pending": 0, "quorum": true})
}

fn response_samples() -> Vec<Vec<u8>> {
    vec![
        cbor(json!("Ack")),
        cbor(json!({"Error": "not a server"})),
        cbor(json!({"Submitted": {"room": "lobby", "seq": 3}})),
        cbor(json!({"Rejected": {"reason": "busy", "leader": "p", "retry": true}})),
        cbor(json!({"History": {"room": "lobby", "head": 3, "messages": [committed_json()]}})),
        cbor(json!({"Status": status_json()})),
    ]
}

fn presence_samples() -> Vec<Vec<u8>> {
    vec![
        cbor(json!({"Announce": {"role": "server",
            "addrs": ["/ip4/127.0.0.1/tcp/1"], "links": ["q"], "rooms": ["lobby"], "n": 7,
            "incarnation": 9, "cluster": {"term": 3, "leader": "p", "commit_index": 5,
            "voters": ["p", "q"], "quorum": true, "heads": [["lobby", 4]]}}})),
        cbor(
            json!({"Announce": {"role": "client", "nick": "alice", "addrs": [],
            "links": [], "rooms": [], "n": 1, "incarnation": 2}}),
        ),
        cbor(json!({"Gone": {"peer": "q", "n": 3}})),
    ]
}

fn room_post_samples() -> Vec<Vec<u8>> {
    vec![cbor(
        json!({"id": "00aa-1", "room": "lobby", "nick": "alice", "text": "hi"}),
    )]
}

fn committed_samples() -> Vec<Vec<u8>> {
    vec![cbor(committed_json())]
}

#[test]
fn samples_are_valid() {
    // If one of these fails after a change of the wire types, update the
    // JSON sample above: the fuzzing below mutates these.
    for (i, s) in request_samples().iter().enumerate() {
        assert!(decode::<Request>(s).is_ok(), "request sample {i}");
    }
    for (i, s) in response_samples().iter().enumerate() {
        assert!(decode::<Response>(s).is_ok(), "response sample {i}");
    }
    for (i, s) in presence_samples().iter().enumerate() {
        if let Err(e) = decode::<PresenceMsg>(s) {
            panic!("presence sample {i}: {e}");
        }
    }
    for s in room_post_samples() {
        assert!(decode::<RoomPost>(&s).is_ok(), "room post sample");
    }
    for s in committed_samples() {
        assert!(decode::<Committed>(&s).is_ok(), "committed sample");
    }
    for (i, s) in order_message_samples().iter().enumerate() {
        assert!(decode::<order::Message>(s).is_ok(), "order sample {i}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // An unknown field holding arrays nested a million deep.
    let mut bytes = vec![0xa1, 0x61, b'z'];
    bytes.extend(std::iter::repeat_n(0x81, 1_000_000));
    bytes.push(0x00);
    assert!(decode::<Committed>(&bytes).is_err());
    assert!(decode::<Request>(&bytes).is_err());
}

#[test]
fn huge_declared_lengths_are_errors_not_allocations() {
    // A byte string and an array claiming 2^62 elements, with nothing after.
    let big_bytes = [0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0];
    let big_array = [0x9b, 0x40, 0, 0, 0, 0, 0, 0, 0];
    assert!(decode::<Request>(&[&[0xa1, 0x65][..], b"Order", &big_bytes].concat()).is_err());
    assert!(decode::<order::Message>(&big_array).is_err());
    assert!(decode::<Response>(&big_array).is_err());
}

proptest! {

    #[test]
    fn request_decoder(bytes in hostile_bytes(request_samples())) {
        check_decoder::<Request>(&bytes)?;
    }

    #[test]
    fn response_decoder(bytes in hostile_bytes(response_samples())) {
        check_decoder::<Response>(&bytes)?;
    }

    #[test]
    fn presence_decoder(bytes in hostile_bytes(presence_samples())) {
        check_decoder::<PresenceMsg>(&bytes)?;
    }

    #[test]
    fn room_post_decoder(bytes in hostile_bytes(room_post_samples())) {
        check_decoder::<RoomPost>(&bytes)?;
    }

    #[test]
    fn committed_decoder(bytes in hostile_bytes(committed_samples())) {
        check_decoder::<Committed>(&bytes)?;
    }

    /// Ordering messages as a server decodes a `Request::Order` payload.
    #[test]
    fn order_message_decoder(bytes in hostile_bytes(order_message_samples())) {
        check_decoder::<order::Message>(&bytes)?;
    }

    /// The request-response codec (what actually reads a peer's stream) on
    /// arbitrary streams: an error or a request, never a panic.
    #[test]
    fn rpc_codec_reads_hostile_streams(bytes in hostile_bytes(request_samples())) {
        use libp2p::request_response::Codec as _;
        let mut codec = libp2p::request_response::cbor::codec::Codec::<Request, Response>::default()
            .set_request_size_maximum(MAX_RPC_BYTES)
            .set_response_size_maximum(MAX_RPC_BYTES);
        let protocol = libp2p::StreamProtocol::new(RPC_PROTOCOL);
        let mut io = futures::io::Cursor::new(bytes.clone());
        let read = futures::executor::block_on(codec.read_request(&protocol, &mut io));
        prop_assert_eq!(read.is_ok(), decode::<Request>(&bytes).is_ok());
        let mut io = futures::io::Cursor::new(bytes.clone());
        let read = futures::executor::block_on(codec.read_response(&protocol, &mut io));
        prop_assert_eq!(read.is_ok(), decode::<Response>(&bytes).is_ok());
    }
}
