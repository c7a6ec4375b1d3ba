//! Property tests of the decoders the event loop itself owns: the chat body a
//! server reads back from every committed log entry.

use proptest::prelude::*;
use serde_json::json;

use super::server::ChatBody;
use crate::wire;
use crate::wire::proptests::{check_decoder, hostile_bytes};

fn chat_body_samples() -> Vec<Vec<u8>> {
    vec![wire::encode(
        &json!({"id": "00aa-1", "from": "12D3KooWpeer", "nick": "alice", "text": "hi"}),
    )]
}

#[test]
fn chat_body_sample_is_valid() {
    // Update the sample above if the chat body changes shape.
    assert!(wire::decode::<ChatBody>(&chat_body_samples()[0]).is_ok());
}

proptest! {

    /// Log entry bodies as `apply` decodes them (a leader's log is peer input).
    #[test]
    fn chat_body_decoder(bytes in hostile_bytes(chat_body_samples())) {
        check_decoder::<ChatBody>(&bytes)?;
    }
}
