//! Server admission: which servers may become learners and voters.
//!
//! An operator holds an ed25519 key (`chorus admin keygen`); its public form is
//! the *operator id* (written like a peer id). Admitting a server means signing
//! its peer id with the operator key (`chorus admin admit PEER_ID`): the result
//! is an *admission*, a short text the server is started with
//! (`--operator ID --admission FILE`). Servers present their admission to every
//! peer they connect to; a node started with `--operator` counts only servers
//! whose admission verifies under that operator id. Anyone else started as
//! `chorus server`, whatever its peer id, is never told to the ordering core:
//! it cannot vote, lead or count in a quorum. Without `--operator` every server
//! is admitted (the zero-configuration local cluster of `chorus up`).
//!
//! Why an operator key rather than an allowlist: adding a server then needs one
//! signature and no change to the running servers' configuration, and the key
//! that grants admission never has to be on a server.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine;
use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;

use crate::authorship::public_key;

/// Domain separation of admission signatures.
pub const DOMAIN: &[u8] = b"chorus/admission/1";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// An operator's signature admitting one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission(Vec<u8>);

impl Admission {
    /// Admits `server`, signing with the operator key.
    pub fn grant(operator: &Keypair, server: &PeerId) -> Result<Admission> {
        let sig = operator
            .sign(&signed_bytes(server))
            .context("the operator key cannot sign")?;
        Ok(Admission(sig))
    }

    /// The admission as text (base64), as `chorus admin admit` prints it.
    pub fn to_text(&self) -> String {
        B64.encode(&self.0)
    }

    /// Reads an admission's text form.
    pub fn from_text(text: &str) -> Result<Admission> {
        let bytes = B64
            .decode(text.trim())
            .context("an admission is base64 text, as `chorus admin admit` writes it")?;
        Ok(Admission(bytes))
    }

    /// Reads an admission file.
    pub fn read(path: &Path) -> Result<Admission> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read admission {}", path.display()))?;
        Admission::from_text(&text)
            .with_context(|| format!("{} is not an admission", path.display()))
    }

    /// The bytes that go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// An admission received from the network.
    pub fn from_bytes(bytes: Vec<u8>) -> Admission {
        Admission(bytes)
    }
}

fn signed_bytes(server: &PeerId) -> Vec<u8> {
    let mut bytes = DOMAIN.to_vec();
    bytes.extend_from_slice(&server.to_bytes());
    bytes
}

/// An operator's public key: the judge of admissions.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    id: PeerId,
    key: PublicKey,
}

impl Operator {
    /// Reads an operator id (the base58 form `chorus admin keygen` prints).
    pub fn parse(id: &str) -> Result<Operator> {
        let peer: PeerId = id
            .trim()
            .parse()
            .with_context(|| format!("{id:?} is not an operator id"))?;
        let Some(key) = public_key(&peer) else {
            bail!("{id:?} is not an ed25519 operator id");
        };
        Ok(Operator { id: peer, key })
    }

    /// The operator of a key pair.
    pub fn of(key: &Keypair) -> Operator {
        Operator {
            id: key.public().to_peer_id(),
            key: key.public(),
        }
    }

    /// The operator id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// Whether `admission` admits `server`.
    pub fn admits(&self, server: &PeerId, admission: &Admission) -> bool {
        self.key.verify(&signed_bytes(server), &admission.0)
    }
}

/// Who this node counts as a server.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// `None`: open cluster, every server is admitted.
    operator: Option<Operator>,
    /// Servers whose admission verified.
    admitted: HashSet<PeerId>,
}

impl Gate {
    /// A gate for `operator` (`None`: open).
    pub fn new(operator: Option<Operator>) -> Gate {
        Gate {
            operator,
            admitted: HashSet::new(),
        }
    }

    /// Whether admission is checked at all.
    pub fn closed(&self) -> bool {
        self.operator.is_some()
    }

    /// Records `peer`'s admission; `true` if it verifies (and was not known).
    pub fn present(&mut self, peer: PeerId, admission: &Admission) -> bool {
        match &self.operator {
            Some(op) if op.admits(&peer, admission) => self.admitted.insert(peer),
            _ => false,
        }
    }

    /// Whether `peer`, a server by its own account, is admitted.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.operator.is_none() || self.admitted.contains(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admission_admits_its_server_only_under_its_operator() {
        let op = Keypair::generate_ed25519();
        let other_op = Keypair::generate_ed25519();
        let server = PeerId::from(Keypair::generate_ed25519().public());
        let stranger = PeerId::from(Keypair::generate_ed25519().public());
        let adm = Admission::grant(&op, &server).unwrap();
        let operator = Operator::parse(&op.public().to_peer_id().to_base58()).unwrap();
        assert!(operator.admits(&server, &adm));
        assert!(!operator.admits(&stranger, &adm));
        assert!(!Operator::of(&other_op).admits(&server, &adm));
        let text = adm.to_text();
        assert_eq!(Admission::from_text(&format!("{text}\n")).unwrap(), adm);
    }

    #[test]
    fn the_gate_is_open_without_an_operator_and_closed_with_one() {
        let op = Keypair::generate_ed25519();
        let server = PeerId::from(Keypair::generate_ed25519().public());
        let stranger = PeerId::from(Keypair::generate_ed25519().public());
        let open = Gate::new(None);
        assert!(open.admits(&stranger));
        let mut gate = Gate::new(Some(Operator::of(&op)));
        assert!(!gate.admits(&server));
        let forged = Admission::grant(&Keypair::generate_ed25519(), &stranger).unwrap();
        assert!(!gate.present(stranger, &forged));
        assert!(!gate.admits(&stranger));
        assert!(gate.present(server, &Admission::grant(&op, &server).unwrap()));
        assert!(gate.admits(&server));
    }

    #[test]
    fn bad_texts_are_clear_errors() {
        assert!(Admission::from_text("***").is_err());
        assert!(Operator::parse("nope").is_err());
        let hashed = PeerId::random().to_base58();
        assert!(Operator::parse(&hashed).is_err());
    }
}
