//! A bot built on the Chorus library: joins a room and answers every message
//! that mentions it. Shows how a program embeds a node without the CLI.
//!
//! ```sh
//! cargo run -p chorus-node --example echo_bot -- /ip4/127.0.0.1/tcp/PORT/p2p/PEER_ID
//! ```
//! (the address is one a server printed in its `ready` line; mDNS stays off).

use std::path::PathBuf;

use chorus_node::api::{Command, Event};
use chorus_node::{NodeConfig, Role};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(bootstrap) = std::env::args().nth(1) else {
        anyhow::bail!("usage: echo_bot SERVER_MULTIADDR");
    };
    let dir = std::env::temp_dir().join(format!("chorus-echo-bot-{}", std::process::id()));
    let mut config = NodeConfig::new(Role::Client, PathBuf::from(&dir));
    config.nick = Some("echo".into());
    config.rooms = vec!["lobby".into()];
    config.mdns = false;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.bootstrap = vec![bootstrap.parse()?];
    let (node, mut events, _task) = chorus_node::start(config).await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::Ready { peer_id, .. } => println!("echo bot {peer_id} is up"),
            Event::Message(m)
                if !m.history
                    && m.from != node.peer_id().to_base58()
                    && m.text.contains("echo") =>
            {
                let text = format!("{} said: {}", m.nick, m.text);
                let room = Some(m.room);
                node.send(Command::Send { room, text }).await;
            }
            Event::Error { message } => eprintln!("error: {message}"),
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
