//! The terminal UI of `chorus client` and `chorus up` (when stdout is a
//! terminal and `--json` is not given). The state is a pure [`model::Model`],
//! drawn by [`view`]; this module runs the terminal: raw mode and the
//! alternate screen (restored on exit and on panic), keys from a reader
//! thread, node events, and a status poll every two seconds.

pub mod bridge;
pub mod clock;
pub mod commands;
pub mod input;
pub mod model;
#[cfg(test)]
mod screenshot;
pub mod view;

use std::io::{IsTerminal, Stdout};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chorus_node::api::Command;
use chorus_node::NodeConfig;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event as TermEvent,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;
use tokio::sync::mpsc;

use bridge::{NodeCommand, NodeEvent};
use model::Model;

/// How often the UI asks the node for its status.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// How long `/quit` waits for the node to stop.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// Whether the TUI should be used: stdout is a terminal and `CHORUS_NO_TUI`
/// is not set. (`--json` and servers never use it; callers check those.)
pub fn wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("CHORUS_NO_TUI").is_none()
}

/// Opens (appending) the log file the TUI's tracing output goes to:
/// `<data_dir>/chorus.log`. Logs must never be drawn into the screen.
pub fn log_file(data_dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = data_dir.join("chorus.log");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Puts the terminal back: cooked mode, main screen, no mouse capture, cursor shown.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// The terminal in TUI mode; restored when dropped (and by the panic hook).
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    fn enter() -> Result<Screen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode().context("cannot put the terminal in raw mode")?;
        let mut stdout = std::io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
            restore_terminal();
            return Err(e).context("cannot set up the terminal");
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e).context("cannot set up the terminal")
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
        let _ = std::panic::take_hook();
    }
}

/// Reads terminal events on a thread (crossterm's reads block) until stopped.
fn spawn_reader(stop: Arc<AtomicBool>) -> mpsc::UnboundedReceiver<TermEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

/// Runs a client node with the TUI until `/quit`, Ctrl-C or SIGTERM.
/// `banner`: lines shown at the start (e.g. how another terminal joins).
pub async fn run(config: NodeConfig, banner: Option<String>) -> Result<()> {
    let nick = config.nick.clone().unwrap_or_else(|| "me".into());
    let mut model = Model::new(&nick, &config.rooms);
    model.clock = clock::now_hhmm();
    for line in banner.iter().flat_map(|b| b.lines()) {
        let line = line.trim_start_matches('*').trim();
        if !line.is_empty() {
            model.notice(line);
        }
    }
    let (handle, mut events, task) = chorus_node::start(config).await?;
    let mut screen = Screen::enter()?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut keys = spawn_reader(stop.clone());
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut poll = tokio::time::interval(STATUS_EVERY);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut quit_deadline: Option<tokio::time::Instant> = None;
    let mut result = Ok(());
    loop {
        let size = screen.terminal.size().unwrap_or_default();
        model.page = view::message_rows(size.into()).max(1);
        if let Err(e) = screen.terminal.draw(|f| view::draw(f, &model)) {
            result = Err(e).context("cannot draw");
            break;
        }
        let mut commands: Vec<NodeCommand> = Vec::new();
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => model.on_event(NodeEvent::from_api(&event)),
                None => break,
            },
            key = keys.recv() => match key {
                Some(TermEvent::Key(key)) => commands = model.on_key(key),
                Some(TermEvent::Mouse(mouse)) => model.on_mouse(mouse),
                Some(_) => {} // Resize and focus: the next draw adapts.
                None => commands.push(NodeCommand::Quit),
            },
            _ = poll.tick() => commands.push(NodeCommand::Status),
            _ = tick.tick() => model.clock = clock::now_hhmm(),
            _ = tokio::signal::ctrl_c() => commands = model.typed("/quit"),
            _ = sigterm.recv() => commands = model.typed("/quit"),
            _ = async { tokio::time::sleep_until(quit_deadline.expect("set")).await },
                if quit_deadline.is_some() => break,
        }
        for cmd in commands {
            if cmd == NodeCommand::Quit {
                quit_deadline.get_or_insert(tokio::time::Instant::now() + QUIT_GRACE);
            }
            match cmd.to_api() {
                Ok(cmd) => {
                    if !handle.send(cmd).await {
                        quit_deadline.get_or_insert(tokio::time::Instant::now());
                    }
                }
                Err(e) => model.error(e),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(screen);
    let _ = handle.send(Command::Quit).await;
    let _ = tokio::time::timeout(QUIT_GRACE, task).await;
    result
}
