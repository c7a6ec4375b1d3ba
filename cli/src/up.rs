//! `chorus up`: a working local chat in one command. Starts a few servers on
//! 127.0.0.1 as child processes (mDNS off: a local cluster), attaches a client
//! in this terminal, prints how another terminal joins, and stops every child
//! process when it exits, however it exits (the children also quit when their
//! stdin, a pipe from this process, closes).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use chorus_node::{api::Event, NodeConfig, Role};

use crate::args::UpArgs;
use crate::frontend::{self, Mode};

/// Child processes, killed (by PID, through their handles) when dropped.
#[derive(Default)]
pub struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts one server and waits for its `ready` event; returns its first address.
fn start_server(children: &mut Children, dir: &Path, bootstrap: Option<&str>) -> Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = File::create(dir.join("server.log"))
        .with_context(|| format!("cannot write {}", dir.join("server.log").display()))?;
    let exe = std::env::current_exe().context("cannot find the chorus executable")?;
    let mut cmd = Command::new(exe);
    // The user's config file is for their own nodes, not this local cluster.
    cmd.args([
        "server",
        "--json",
        "--no-mdns",
        "--exit-on-eof",
        "--no-config",
    ])
    .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
    .arg("--data-dir")
    .arg(dir);
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("cannot start a server process")?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("server stdout not captured"))?;
    children.0.push(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Ok(Event::Ready { listen_addrs, .. }) = serde_json::from_str(&line) {
                    let _ = tx.send(listen_addrs);
                    sent = true;
                }
            }
            // Keep draining so the server never blocks on a full pipe.
        }
    });
    let addrs = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| {
        anyhow!(
            "a server did not start; see {}",
            dir.join("server.log").display()
        )
    })?;
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("server reported no address"))
}

/// Runs `chorus up`.
pub async fn run(args: UpArgs) -> Result<()> {
    let base = args.data_dir.clone().unwrap_or_else(crate::dirs::up);
    let nick = args
        .nick
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| chorus_node::wire::validate_nick(n).is_ok())
        .unwrap_or_else(|| "me".into());
    let rooms = if args.room.is_empty() {
        vec!["lobby".to_string()]
    } else {
        args.room.clone()
    };
    for room in &rooms {
        if let Err(e) = chorus_node::wire::validate_room(room) {
            bail!("--room: {e}");
        }
    }
    let shown = rooms.last().cloned().unwrap_or_default();
    let mut children = Children::default();
    let mut addrs: Vec<String> = Vec::new();
    for i in 1..=args.servers {
        let dir = base.join(format!("server-{i}"));
        let addr = start_server(&mut children, &dir, addrs.first().map(String::as_str))?;
        addrs.push(addr);
    }
    let Some(first) = addrs.first().cloned() else {
        bail!("no server started");
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "chorus".into());
    let banner = format!(
        "* local cluster of {} servers is up; you are {nick} in #{shown}. Type to chat, /help for commands.\n\
         * another terminal joins with:\n    {exe} client --nick bob --no-mdns --listen /ip4/127.0.0.1/tcp/0 --bootstrap {first}",
        args.servers
    );
    let mut config = NodeConfig::new(Role::Client, base.join(format!("client-{nick}")));
    config.nick = Some(nick);
    config.rooms = rooms;
    config.mdns = false;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.bootstrap = addrs
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .context("server reported a bad address")?;
    let mode = if args.json { Mode::Json } else { Mode::Lines };
    let result = frontend::run(config, mode, false, Some(banner)).await;
    drop(children);
    result
}
