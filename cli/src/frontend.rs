//! Runs a node in the terminal: wires stdin and stdout to the node, in JSON or
//! line mode, until `quit`, Ctrl-C or (optionally) the end of stdin.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use chorus_node::api::{self, Command, Event};
use chorus_node::NodeConfig;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::line;

/// How the front end talks to its user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// One JSON object per line both ways.
    Json,
    /// Lines for people.
    Lines,
}

/// Extra text to print once the node is ready (line mode), e.g. how to join.
pub type Banner = Option<String>;

/// Runs a node until it stops. `exit_on_eof`: quit when stdin closes.
pub async fn run(config: NodeConfig, mode: Mode, exit_on_eof: bool, banner: Banner) -> Result<()> {
    if mode == Mode::Lines && config.role == chorus_node::Role::Client && crate::tui::wanted() {
        return crate::tui::run(config, banner).await;
    }
    let renderer = Arc::new(Mutex::new(line::Renderer::new(config.nick.clone())));
    let (handle, mut events, task) = chorus_node::start(config).await?;
    let input = handle.clone();
    let typed_renderer = renderer.clone();
    let stdin_task = tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            let line = match lines.next_line().await {
                Ok(Some(line)) => line,
                Ok(None) | Err(_) => break,
            };
            let parsed = match mode {
                Mode::Json => api::parse_line(&line),
                Mode::Lines => line::parse(&line),
            };
            match parsed {
                Ok(Some(cmd)) => {
                    if let Command::Nick { nick } = &cmd {
                        lock(&typed_renderer).set_own_nick(nick);
                    }
                    let quit = cmd == Command::Quit;
                    if !input.send(cmd).await || quit {
                        return;
                    }
                }
                Ok(None) => {}
                Err(message) => print_event(mode, &Event::Error { message }, &typed_renderer),
            }
        }
        // End of input: interactive users typed Ctrl-D; pipes closed.
        if exit_on_eof || mode == Mode::Lines {
            let _ = input.send(Command::Quit).await;
        }
    });
    let mut banner = banner;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    print_event(mode, &event, &renderer);
                    if matches!(event, Event::Ready { .. }) && mode == Mode::Lines {
                        if let Some(b) = banner.take() {
                            println!("{b}");
                        }
                    }
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => {
                let _ = handle.send(Command::Quit).await;
            }
            _ = sigterm.recv() => {
                let _ = handle.send(Command::Quit).await;
            }
        }
    }
    stdin_task.abort();
    let _ = task.await;
    Ok(())
}

/// The renderer, even if a thread panicked holding it (it holds no invariant
/// a panic could break).
fn lock(renderer: &Mutex<line::Renderer>) -> std::sync::MutexGuard<'_, line::Renderer> {
    renderer.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints one event on stdout (flushed: programs read it line by line).
fn print_event(mode: Mode, event: &Event, renderer: &Mutex<line::Renderer>) {
    let text = match mode {
        Mode::Json => event.to_json_line(),
        Mode::Lines => lock(renderer).render(event),
    };
    if text.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout (reader gone) is not worth a panic.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
