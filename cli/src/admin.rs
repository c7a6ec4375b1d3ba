//! `chorus admin` and `chorus id`: the operator's side of server admission
//! (see `chorus_node::admission` and docs/security.md).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use chorus_node::admission::{Admission, Operator};
use chorus_node::identity::DataDir;
use libp2p::identity::Keypair;
use libp2p::PeerId;

use crate::args::AdminCmd;

/// Runs an `admin` subcommand.
pub fn run(cmd: AdminCmd) -> Result<()> {
    match cmd {
        AdminCmd::Keygen { file } => {
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .context("cannot encode the operator key")?;
            write_new(&file, &bytes)?;
            println!("{}", Operator::of(&key).id());
            eprintln!(
                "wrote a new operator key to {}; the line above is the operator id \
                 (give it to every node with --operator)",
                file.display()
            );
            Ok(())
        }
        AdminCmd::Admit {
            peer_id,
            operator_key,
            out,
        } => {
            let server: PeerId = peer_id
                .trim()
                .parse()
                .with_context(|| format!("{peer_id:?} is not a peer id"))?;
            let bytes = std::fs::read(&operator_key)
                .with_context(|| format!("cannot read {}", operator_key.display()))?;
            let key = Keypair::from_protobuf_encoding(&bytes)
                .with_context(|| format!("{} is not an operator key", operator_key.display()))?;
            let admission = Admission::grant(&key, &server)?;
            let text = format!("{}\n", admission.to_text());
            match out {
                Some(path) => {
                    write_new(&path, text.as_bytes())?;
                    eprintln!("wrote the admission of {server} to {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}

/// `chorus id`: the peer id of the node whose data dir is `dir`.
pub fn print_id(dir: &Path) -> Result<()> {
    let data_dir = DataDir::open(dir)?;
    let key = data_dir.load_or_create_identity()?;
    println!("{}", key.public().to_peer_id());
    Ok(())
}

/// Writes a new file with mode 0600; never overwrites.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
