//! The `chorus` command: `server`, `client`, `up`, `status` and the tools
//! (`keygen`, `completions`, `harness`, `bench`).

mod admin;
mod args;
mod bench;
mod config_file;
mod dirs;
mod flood;
mod frontend;
mod harness;
mod line;
mod nicks;
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

/// Fills the flags a command was not given from its configuration file.
fn apply_config(command: &mut Cmd) -> Result<()> {
    match command {
        Cmd::Client(a) => {
            let file = config_file::load(&a.node.config)?;
            config_file::apply_client(a, file.as_ref())
        }
        Cmd::Server(a) => {
            let file = config_file::load(&a.node.config)?;
            config_file::apply_server(a, file.as_ref());
            Ok(())
        }
        Cmd::Up(a) => {
            let file = config_file::load(&a.config)?;
            config_file::apply_up(a, file.as_ref());
            Ok(())
        }
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Err(e) = apply_config(&mut cli.command) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    // In the TUI, logs go to <data dir>/chorus.log, never onto the screen.
    let tui_dir = match &cli.command {
        Cmd::Client(a) if !a.node.json && tui::wanted() => Some(
            a.node
                .data_dir
                .clone()
                .unwrap_or_else(|| dirs::client(a.nick.as_deref().unwrap_or("me"))),
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
    config.operator = args
        .operator
        .as_deref()
        .map(chorus_node::admission::Operator::parse)
        .transpose()?;
    Ok(config)
}

/// A server reachable beyond this machine with neither a network key nor an
/// operator is an open door: say so (on stderr, once) and point to the fix.
fn open_network_warning(config: &NodeConfig) -> Option<String> {
    use libp2p::multiaddr::Protocol;
    let loopback_only = !config.listen.is_empty()
        && config.listen.iter().all(|a| {
            a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_loopback(),
                Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            })
        });
    if loopback_only || (config.network_key.is_some() && config.operator.is_some()) {
        return None;
    }
    let mut missing = Vec::new();
    if config.network_key.is_none() {
        missing.push("anyone who reaches it can join (--network-key)");
    }
    if config.operator.is_none() {
        missing.push("any `chorus server` can become a voter or the leader (--operator)");
    }
    Some(format!(
        "warning: this server is in an open network: {}. Fine on a trusted LAN; beyond it see docs/security.md.",
        missing.join("; ")
    ))
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

/// `chorus completions SHELL`: the completion script of `shell` for every subcommand and flag.
fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "chorus", &mut script);
    script
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
            config.join_only = args.join;
            if let Some(warning) = open_network_warning(&config) {
                eprintln!("{warning}");
            }
            config.admission = args
                .admission
                .as_deref()
                .map(chorus_node::admission::Admission::read)
                .transpose()?;
            if config.admission.is_some() && config.operator.is_none() {
                bail!("--admission needs --operator: the operator whose admission it is");
            }
            if !(args.submit_rate >= 0.0 && args.submit_rate.is_finite()) {
                bail!("--submit-rate must be 0 (no limit) or a positive number");
            }
            config.submit_rate = args.submit_rate;
            frontend::run(config, mode(args.node.json), args.node.exit_on_eof, None).await
        }
        Cmd::Client(args) => {
            let Some(nick) = args.nick.clone() else {
                bail!("no nick: give --nick NICK");
            };
            if let Err(e) = wire::validate_nick(&nick) {
                bail!("--nick: {e}");
            }
            for room in &args.room {
                if let Err(e) = wire::validate_room(room) {
                    bail!("--room: {e}");
                }
            }
            let mut config = node_config(Role::Client, &args.node, dirs::client(&nick))?;
            config.nick = Some(nick);
            config.rooms = args.room.clone();
            config.history = args.history.unwrap_or(config_file::DEFAULT_HISTORY);
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
        Cmd::Admin(cmd) => admin::run(cmd),
        Cmd::Id(args) => admin::print_id(&args.data_dir.unwrap_or_else(dirs::server)),
        Cmd::Completions(args) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&completions(args.shell))
                .and_then(|()| out.flush())
                .map_err(|e| anyhow::anyhow!("cannot write the completion script: {e}"))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_servers_beyond_loopback_are_warned_about() {
        let mut config = NodeConfig::new(Role::Server, "/tmp/x".into());
        let warning = open_network_warning(&config).expect("default listens everywhere");
        assert!(
            warning.contains("--network-key") && warning.contains("--operator"),
            "{warning}"
        );
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        assert_eq!(open_network_warning(&config), None);
        config.listen = vec!["/ip4/0.0.0.0/tcp/4001".parse().unwrap()];
        config.network_key = Some(libp2p::pnet::PreSharedKey::new([7; 32]));
        let warning = open_network_warning(&config).expect("no operator");
        assert!(!warning.contains("--network-key"), "{warning}");
        config.operator = Some(chorus_node::admission::Operator::of(
            &libp2p::identity::Keypair::generate_ed25519(),
        ));
        assert_eq!(open_network_warning(&config), None);
    }

    #[test]
    fn bash_completions_name_the_subcommands() {
        let script =
            String::from_utf8(super::completions(clap_complete::Shell::Bash)).expect("utf-8");
        for word in [
            "client",
            "server",
            "up",
            "status",
            "keygen",
            "completions",
            "--config",
            "--nick",
        ] {
            assert!(script.contains(word), "{word} missing");
        }
    }
}
