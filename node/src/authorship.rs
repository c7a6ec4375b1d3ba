//! Authentic messages: every chat message is signed by its author's identity
//! key, servers verify the signature before sequencing and clients verify it
//! again on delivery, so no node can send in another's name or nick.
//!
//! What is signed is the CBOR of [`Signed`]: a domain string and every field a
//! reader sees (room, id, nick, text, recipient). The author's public key is
//! not carried: an ed25519 peer id *is* the public key (identity multihash),
//! so the `from` field of a message is all a verifier needs.

use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::Serialize;

use crate::wire;

/// Domain separation: a message signature can never be mistaken for any other
/// signature made with the same identity key (noise handshakes, admissions).
pub const DOMAIN: &str = "chorus/message/1";

/// Length of an ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

/// The fields of a chat message that its author signs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Signed<'a> {
    /// Always [`DOMAIN`].
    pub domain: &'a str,
    /// The room (or direct conversation).
    pub room: &'a str,
    /// The message id (`<client>-<counter>`).
    pub id: &'a str,
    /// The author's nick at sending time.
    pub nick: &'a str,
    /// The text (for direct messages: the sealed ciphertext).
    pub text: &'a str,
    /// The recipient of a direct message.
    pub to: Option<&'a str>,
}

impl<'a> Signed<'a> {
    /// The signed fields of a message.
    pub fn new(
        room: &'a str,
        id: &'a str,
        nick: &'a str,
        text: &'a str,
        to: Option<&'a str>,
    ) -> Self {
        Signed {
            domain: DOMAIN,
            room,
            id,
            nick,
            text,
            to,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        wire::encode(self)
    }
}

/// Why a message's authorship was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The author field is not an ed25519 peer id.
    #[error("author {0:?} is not an ed25519 peer id")]
    BadAuthor(String),
    /// The signature does not verify under the author's key.
    #[error("bad signature: the message was not signed by its author {0}")]
    BadSignature(String),
    /// This node's key cannot sign (not ed25519).
    #[error("cannot sign: {0}")]
    CannotSign(String),
}

/// Signs a message's fields with the author's identity key.
pub fn sign(key: &Keypair, fields: &Signed<'_>) -> Result<Vec<u8>, AuthError> {
    key.sign(&fields.bytes())
        .map_err(|e| AuthError::CannotSign(e.to_string()))
}

/// Checks that `sig` over `fields` was made by `author` (a base58 peer id).
pub fn verify(author: &str, fields: &Signed<'_>, sig: &[u8]) -> Result<(), AuthError> {
    let key = author
        .parse::<PeerId>()
        .ok()
        .and_then(|p| public_key(&p))
        .ok_or_else(|| AuthError::BadAuthor(author.to_string()))?;
    if sig.len() == SIGNATURE_BYTES && key.verify(&fields.bytes(), sig) {
        Ok(())
    } else {
        Err(AuthError::BadSignature(author.to_string()))
    }
}

/// The public key inside a peer id (ed25519 peer ids embed their key); `None`
/// for peer ids that only hash their key.
pub fn public_key(peer: &PeerId) -> Option<PublicKey> {
    let hash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    // 0x00: the identity multihash, whose digest is the protobuf-encoded key.
    if hash.code() != 0x00 {
        return None;
    }
    PublicKey::try_decode_protobuf(hash.digest()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(text: &'a str) -> Signed<'a> {
        Signed::new("lobby", "00ab-1", "alice", text, None)
    }

    #[test]
    fn a_signature_verifies_only_for_its_author_and_fields() {
        let alice = Keypair::generate_ed25519();
        let mallory = Keypair::generate_ed25519();
        let a = alice.public().to_peer_id().to_base58();
        let m = mallory.public().to_peer_id().to_base58();
        let sig = sign(&alice, &fields("hi")).unwrap();
        assert_eq!(verify(&a, &fields("hi"), &sig), Ok(()));
        // Someone else's name on it.
        assert!(matches!(
            verify(&m, &fields("hi"), &sig),
            Err(AuthError::BadSignature(_))
        ));
        // Any field changed.
        assert!(verify(&a, &fields("hi!"), &sig).is_err());
        let other_room = Signed::new("other", "00ab-1", "alice", "hi", None);
        assert!(verify(&a, &other_room, &sig).is_err());
        let other_nick = Signed::new("lobby", "00ab-1", "bob", "hi", None);
        assert!(verify(&a, &other_nick, &sig).is_err());
        let as_dm = Signed::new("lobby", "00ab-1", "alice", "hi", Some(m.as_str()));
        assert!(verify(&a, &as_dm, &sig).is_err());
    }

    #[test]
    fn garbage_authors_and_signatures_are_errors_not_panics() {
        let alice = Keypair::generate_ed25519();
        let a = alice.public().to_peer_id().to_base58();
        assert!(matches!(
            verify("not a peer id", &fields("hi"), &[0; 64]),
            Err(AuthError::BadAuthor(_))
        ));
        for sig in [&[][..], &[0u8; 63][..], &[0xff; 64][..], &[1u8; 200][..]] {
            assert!(verify(&a, &fields("hi"), sig).is_err());
        }
        // A peer id that only hashes its key (RSA-style) cannot be verified.
        let hashed = PeerId::random();
        assert!(verify(&hashed.to_base58(), &fields("hi"), &[0; 64]).is_err());
    }
}
