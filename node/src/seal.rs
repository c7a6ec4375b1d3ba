//! End-to-end encryption of direct messages: only the two participants can
//! read them; servers order and store ciphertext.
//!
//! The construction is the well-known one of libsodium's
//! `crypto_sign_ed25519_*_to_curve25519` and age's ssh-ed25519 recipients:
//! - each identity's ed25519 key is mapped to its X25519 form (the secret
//!   scalar with `ed25519-dalek`'s `to_scalar_bytes`, the public key with the
//!   birational map `to_montgomery`);
//! - X25519 Diffie-Hellman (`x25519-dalek`) gives both participants the same
//!   shared secret; a non-contributory result (low-order key) is refused;
//! - HKDF-SHA-256 (`hkdf`) derives the conversation key, salted with
//!   [`KDF_SALT`] and bound to both peer ids;
//! - XChaCha20-Poly1305 (`chacha20poly1305`) seals each message under a fresh
//!   random 24-byte nonce, with the sender and recipient as associated data, so a
//!   sealed text cannot be replayed as coming from the other participant.
//!
//! A sealed text is `base64(nonce || ciphertext)` and travels in a message's
//! `text` field, signed like any other text (see [`crate::authorship`]).

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use libp2p::identity::Keypair;
use libp2p::PeerId;
use sha2::{Digest, Sha256};

use crate::authorship::public_key;

/// Salt of the key derivation (versioned).
pub const KDF_SALT: &[u8] = b"chorus/dm/1";
/// Bytes of the random nonce that starts a sealed text.
pub const NONCE_BYTES: usize = 24;
/// Bytes the authentication tag adds.
pub const TAG_BYTES: usize = 16;
/// Prefix of the names of direct conversations (never a joinable room).
pub const DM_ROOM_PREFIX: &str = "dm.";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Why a direct message could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The other participant's peer id carries no ed25519 key.
    #[error("peer {0} has no ed25519 key: cannot encrypt to it")]
    NoKey(String),
    /// This node's key is not ed25519.
    #[error("this node's key is not ed25519")]
    NotEd25519,
    /// The key exchange gave a non-contributory secret (a low-order key).
    #[error("key exchange with {0} failed (low-order key)")]
    WeakKey(String),
    /// Not base64, too short, or the tag does not verify: not for us, or tampered.
    #[error("cannot decrypt: not sealed for this conversation, or tampered with")]
    Unreadable,
}

/// The name of the direct conversation between `a` and `b`, the same from both
/// sides: `dm.` and 32 hex digits of SHA-256 over the two sorted peer ids.
pub fn dm_room(a: &PeerId, b: &PeerId) -> String {
    let (lo, hi) = sorted(a, b);
    let mut h = Sha256::new();
    h.update(KDF_SALT);
    h.update(lo.to_bytes());
    h.update(hi.to_bytes());
    let digest = h.finalize();
    format!("{DM_ROOM_PREFIX}{}", hex::encode(&digest[..16]))
}

/// Whether `room` names a direct conversation rather than a room.
pub fn is_dm_room(room: &str) -> bool {
    room.starts_with(DM_ROOM_PREFIX)
}

/// Encrypts `text` from `me` to `to`.
pub fn seal(me: &Keypair, to: &PeerId, text: &str) -> Result<String, SealError> {
    let from = me.public().to_peer_id();
    let cipher = conversation_cipher(me, to)?;
    let nonce: [u8; NONCE_BYTES] = rand::random();
    let aad = associated_data(&from, to);
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: text.as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Unreadable)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(B64.encode(out))
}

/// Decrypts a text sealed by `from` for `to`; `me` is one of the two.
pub fn open(me: &Keypair, from: &PeerId, to: &PeerId, sealed: &str) -> Result<String, SealError> {
    let mine = me.public().to_peer_id();
    let other = if mine == *from { to } else { from };
    let cipher = conversation_cipher(me, other)?;
    let bytes = B64.decode(sealed).map_err(|_| SealError::Unreadable)?;
    if bytes.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SealError::Unreadable);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let aad = associated_data(from, to);
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Unreadable)?;
    String::from_utf8(plain).map_err(|_| SealError::Unreadable)
}

/// Length of the sealed form of a text of `plain` bytes (unpadded base64).
pub const fn sealed_len(plain: usize) -> usize {
    ((NONCE_BYTES + plain + TAG_BYTES) * 4).div_ceil(3)
}

fn sorted<'a>(a: &'a PeerId, b: &'a PeerId) -> (&'a PeerId, &'a PeerId) {
    if a.to_bytes() <= b.to_bytes() {
        (a, b)
    } else {
        (b, a)
    }
}

fn associated_data(from: &PeerId, to: &PeerId) -> Vec<u8> {
    let mut aad = KDF_SALT.to_vec();
    aad.extend_from_slice(&from.to_bytes());
    aad.extend_from_slice(&to.to_bytes());
    aad
}

/// The XChaCha20-Poly1305 cipher of the conversation between `me` and `other`.
fn conversation_cipher(me: &Keypair, other: &PeerId) -> Result<XChaCha20Poly1305, SealError> {
    let mine = me
        .clone()
        .try_into_ed25519()
        .map_err(|_| SealError::NotEd25519)?;
    let secret_bytes: [u8; 32] = mine
        .secret()
        .as_ref()
        .try_into()
        .map_err(|_| SealError::NotEd25519)?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&secret_bytes);
    let secret = x25519_dalek::StaticSecret::from(signing.to_scalar_bytes());

    let theirs = public_key(other)
        .and_then(|k| k.try_into_ed25519().ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k.to_bytes()).ok())
        .ok_or_else(|| SealError::NoKey(other.to_base58()))?;
    let their_x = x25519_dalek::PublicKey::from(theirs.to_montgomery().to_bytes());
    let shared = secret.diffie_hellman(&their_x);
    if !shared.was_contributory() {
        return Err(SealError::WeakKey(other.to_base58()));
    }

    let me_id = me.public().to_peer_id();
    let (lo, hi) = sorted(&me_id, other);
    let mut info = lo.to_bytes();
    info.extend_from_slice(&hi.to_bytes());
    let kdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(KDF_SALT), shared.as_bytes());
    let mut key = [0u8; 32];
    kdf.expand(&info, &mut key)
        .map_err(|_| SealError::Unreadable)?;
    XChaCha20Poly1305::new_from_slice(&key).map_err(|_| SealError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_participants_read_a_third_cannot() {
        let alice = Keypair::generate_ed25519();
        let bob = Keypair::generate_ed25519();
        let eve = Keypair::generate_ed25519();
        let (a, b) = (alice.public().to_peer_id(), bob.public().to_peer_id());
        let sealed = seal(&alice, &b, "meet at noon").unwrap();
        assert!(!sealed.contains("noon"));
        assert_eq!(open(&bob, &a, &b, &sealed).unwrap(), "meet at noon");
        assert_eq!(open(&alice, &a, &b, &sealed).unwrap(), "meet at noon");
        assert_eq!(open(&eve, &a, &b, &sealed), Err(SealError::Unreadable));
        // Reflected as if Bob had sent it: the associated data differs.
        assert_eq!(open(&alice, &b, &a, &sealed), Err(SealError::Unreadable));
        assert_eq!(sealed.len(), sealed_len("meet at noon".len()));
    }

    #[test]
    fn every_message_gets_a_fresh_nonce() {
        let alice = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519().public().to_peer_id();
        assert_ne!(
            seal(&alice, &b, "x").unwrap(),
            seal(&alice, &b, "x").unwrap()
        );
    }

    #[test]
    fn tampered_or_garbage_texts_are_errors() {
        let alice = Keypair::generate_ed25519();
        let bob = Keypair::generate_ed25519();
        let (a, b) = (alice.public().to_peer_id(), bob.public().to_peer_id());
        let sealed = seal(&alice, &b, "hello").unwrap();
        let mut raw = B64.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = B64.encode(raw);
        for bad in [tampered.as_str(), "", "!!!", "AAAA"] {
            assert_eq!(open(&bob, &a, &b, bad), Err(SealError::Unreadable));
        }
        assert!(matches!(
            seal(&alice, &PeerId::random(), "x"),
            Err(SealError::NoKey(_))
        ));
    }

    #[test]
    fn conversation_names_are_symmetric_and_distinct() {
        let [a, b, c] = [(); 3].map(|_| Keypair::generate_ed25519().public().to_peer_id());
        assert_eq!(dm_room(&a, &b), dm_room(&b, &a));
        assert_ne!(dm_room(&a, &b), dm_room(&a, &c));
        let room = dm_room(&a, &b);
        assert!(is_dm_room(&room));
        assert!(crate::wire::validate_room(&room).is_ok());
    }
}
