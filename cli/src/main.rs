//! The `chorus` command: `server`, `client`, `status` and `up`.

mod args;
mod bench;
mod dirs;
mod flood;
mod frontend;
mod harness;
mod line;
mod tui;
mod up;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use chorus_node::{wire, NodeConfig, Role};
use clap::Parser;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use args::{Cli, Cmd, NodeArgs};
use frontend::Mode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // In the TUI, logs go to <data dir>/chorus.log, never onto the screen.
    let tui_dir = match &cli.command {
        Cmd::Client(a) if !a.node.json && tui::wanted() => Some(
            a.node
                .data_dir
                .clone()
                .unwrap_or_else(|| dirs::client(&a.nick)),
        ),
        Cmd::Up(a) if !a.json && tui::wanted() => Some(a.data_dir.clone().unwrap_or_else(dirs::up)),
        _ => None,
    };
    let ansi = tui_dir.is_none();
    let writer = match tui_dir {
        Some(dir) => match tui::log_file(&dir) {
            Ok(file) => BoxMakeWriter::new(std::sync::Mutex::new(file)),
            Err(_) => BoxMakeWriter::new(std::io::sink),
        },
        None => BoxMakeWriter::new(std::io::stderr),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error")),
        )
        .with_ansi(ansi)
        .with_writer(writer)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn node_config(role: Role, args: &NodeArgs, default_dir: std::path::PathBuf) -> Result<NodeConfig> {
    let mut config = NodeConfig::new(role, args.data_dir.clone().unwrap_or(default_dir));
    config.listen = args.listen.clone();
    config.bootstrap = args.bootstrap.clone();
    config.mdns = !args.no_mdns;
    config.network_key = args
        .network_key
        .as_deref()
        .map(chorus_node::net::read_network_key)
        .transpose()?;
    Ok(config)
}

/// `chorus keygen FILE`: a new random network key, mode 0600, never overwriting.
fn keygen(file: &std::path::Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", file.display()))?;
    f.write_all(chorus_node::net::new_network_key().as_bytes())?;
    f.sync_all()?;
    println!("wrote a new network key to {}", file.display());
    Ok(())
}

fn mode(json: bool) -> Mode {
    if json {
        Mode::Json
    } else {
        Mode::Lines
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Server(args) => {
            let mut config = node_config(Role::Server, &args.node, dirs::server())?;
            config.bootstrap_expect = args.bootstrap_expect.map(usize::from);
            if !(args.submit_rate >= 0.0 && args.submit_rate.is_finite()) {
                bail!("--submit-rate must be 0 (no limit) or a positive number");
            }
            config.submit_rate = args.submit_rate;
            frontend::run(config, mode(args.node.json), args.node.exit_on_eof, None).await
        }
        Cmd::Client(args) => {
            if let Err(e) = wire::validate_nick(&args.nick) {
                bail!("--nick: {e}");
            }
            for room in &args.room {
                if let Err(e) = wire::validate_room(room) {
                    bail!("--room: {e}");
                }
            }
            let mut config = node_config(Role::Client, &args.node, dirs::client(&args.nick))?;
            config.nick = Some(args.nick.clone());
            config.rooms = args.room.clone();
            config.history = args.history;
            frontend::run(config, mode(args.node.json), args.node.exit_on_eof, None).await
        }
        Cmd::Status(args) => {
            let status = chorus_node::query::query_status(
                args.addr,
                Duration::from_secs(args.timeout),
                args.network_key
                    .as_deref()
                    .map(chorus_node::net::read_network_key)
                    .transpose()?,
            )
            .await?;
            if args.json {
                println!("{}", chorus_node::api::Event::Status(status).to_json_line());
            } else {
                println!("{}", line::render_status(&status));
            }
            Ok(())
        }
        Cmd::Up(args) => up::run(args).await,
        Cmd::Keygen(args) => keygen(&args.file),
        Cmd::Harness(args) => {
            // Blocking on purpose: the harness drives child processes from this
            // one thread (their death signal is tied to it).
            if harness::run(args)? {
                Ok(())
            } else {
                bail!("the harness found violations")
            }
        }
        Cmd::Bench(args) => bench::run(args),
        Cmd::BenchGossipNode(args) => bench::gossip::run(args).await,
        Cmd::FloodClient(args) => flood::run(args).await,
    }
}
