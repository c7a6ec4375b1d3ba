//! The real terminal UI, driven in tmux: two clients of one server each run
//! `chorus client` in a tmux pane (a real terminal, so the TUI opens); what one
//! types appears in the other's screen, own messages turn from pending to
//! acknowledged, `/msg` opens a direct conversation on both sides, and `/quit` (and Ctrl-C) leave the TUI,
//! restore the terminal and end the process.
//!
//! tmux runs on its own socket, killed with every process of the test when the
//! test ends, even by a panic. Without tmux the test is skipped with a note,
//! unless `CI` is set: then it fails (`.ci/run` installs tmux).

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{processes_mentioning, Net, TIMEOUT};

/// A private tmux server; killed, with the test's processes, when dropped.
struct Tmux {
    socket: String,
    /// Processes whose command line contains this are killed too.
    scratch: String,
}

impl Tmux {
    fn new(scratch: &str) -> Tmux {
        Tmux {
            socket: format!("chorus-test-{}-{}", std::process::id(), rand_suffix()),
            scratch: scratch.to_string(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("cannot run tmux")
    }

    /// Starts `command` (run by `sh -c`) in a new detached session `name`;
    /// when it ends the pane says `chorus-exited-<status>` and stays.
    fn session(&self, name: &str, command: &str) {
        let script = format!("{command}; echo chorus-exited-$?; exec sleep 600");
        let out = self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
    }

    /// The visible text of a session's pane.
    fn capture(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", name]).stdout).into()
    }

    /// A tmux format variable of a session's pane, e.g. `alternate_on`.
    fn pane_var(&self, name: &str, var: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", name, &format!("#{{{var}}}")]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Types literal text, then Enter.
    fn type_line(&self, name: &str, text: &str) {
        self.run(&["send-keys", "-t", name, "-l", text]);
        self.run(&["send-keys", "-t", name, "Enter"]);
    }

    /// Waits until the pane shows something `pred` accepts; returns it.
    fn wait(&self, name: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.capture(name);
            if pred(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("{name}: timed out waiting for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        for pid in processes_mentioning(&self.scratch) {
            // SAFETY: kill has no memory effects; the pids are this test's.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Whether tmux can be used; without it, skip (or fail under CI).
fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("tmux is missing: .ci/run must install it (apt-get install -y tmux)");
    }
    eprintln!("note: tmux is not installed; skipping the TUI end-to-end test");
    false
}

#[test]
fn two_clients_chat_in_the_tui() {
    if !have_tmux() {
        return;
    }
    let net = Net::new();
    let server = net.server("server", &[]);
    let scratch = net.path().display().to_string();
    let tmux = Tmux::new(&scratch);
    let client = |nick: &str| {
        format!(
            "'{}' client --no-config --nick {nick} --no-mdns --listen /ip4/127.0.0.1/tcp/0 --bootstrap '{}' --data-dir '{}'",
            common::bin().display(),
            server.addr(),
            net.data_dir(nick).display()
        )
    };
    tmux.session("alice", &client("alice"));
    tmux.session("bob", &client("bob"));

    // Both TUIs are up and each sees the other arrive.
    tmux.wait("alice", "bob to be seen", |s| {
        s.contains("Online (") && s.contains("bob (")
    });
    tmux.wait("bob", "alice to be seen", |s| s.contains("alice ("));
    assert_eq!(tmux.pane_var("alice", "alternate_on"), "1");

    // A message typed in one TUI appears in the other's.
    tmux.type_line("alice", "hello from alice");
    tmux.wait("bob", "alice's message", |s| {
        s.contains("<alice> hello from alice")
    });
    // The sender's own line loses its "(pending)" once acknowledged.
    tmux.wait("alice", "the message to be acknowledged", |s| {
        s.contains("<alice> hello from alice") && !s.contains("(pending)")
    });
    tmux.type_line("bob", "hi alice, got it");
    tmux.wait("alice", "bob's answer", |s| {
        s.contains("<bob> hi alice, got it")
    });

    // A direct message: alice's /msg opens "@bob" on her side; on bob's side
    // a "@alice" tab appears with the message unread; bob answers there.
    tmux.type_line("alice", "/msg bob psst, a secret");
    tmux.wait("alice", "the conversation tab", |s| {
        s.contains("@bob") && s.contains("<alice> psst, a secret") && !s.contains("(pending)")
    });
    tmux.wait("bob", "alice's direct message tab", |s| {
        s.contains("@alice (1)")
    });
    tmux.run(&["send-keys", "-t", "bob", "M-2"]);
    tmux.wait("bob", "the conversation shown", |s| {
        s.contains("<alice> psst, a secret")
    });
    tmux.type_line("bob", "secret received");
    tmux.wait("alice", "bob's direct answer", |s| {
        s.contains("<bob> secret received")
    });

    // /quit leaves the TUI: main screen back, process ended cleanly.
    tmux.type_line("bob", "/quit");
    let screen = tmux.wait("bob", "bob's client to exit", |s| {
        s.contains("chorus-exited-")
    });
    assert!(screen.contains("chorus-exited-0"), "{screen}");
    assert!(
        !screen.contains("Online ("),
        "TUI left on screen:\n{screen}"
    );
    assert_eq!(tmux.pane_var("bob", "alternate_on"), "0");
    tmux.wait("alice", "bob to leave", |s| {
        s.contains("bob (") && s.contains(") left")
    });

    // Ctrl-C quits too.
    tmux.run(&["send-keys", "-t", "alice", "C-c"]);
    let screen = tmux.wait("alice", "alice's client to exit", |s| {
        s.contains("chorus-exited-")
    });
    assert!(screen.contains("chorus-exited-0"), "{screen}");
    assert_eq!(tmux.pane_var("alice", "alternate_on"), "0");
    // A panic restores the terminal too (debug builds panic on request).
    if cfg!(debug_assertions) {
        tmux.session(
            "crash",
            &format!(
                "CHORUS_TUI_TEST_PANIC=1 RUST_BACKTRACE=0 {}",
                client("carol")
            ),
        );
        tmux.wait("crash", "carol's TUI", |s| s.contains("you are carol"));
        tmux.run(&["send-keys", "-t", "crash", "-l", "/panic"]);
        let screen = tmux.wait("crash", "carol's client to exit", |s| {
            s.contains("chorus-exited-")
        });
        assert!(screen.contains("test panic"), "{screen}");
        assert!(screen.contains("chorus-exited-101"), "{screen}");
        assert!(
            !screen.contains("Online ("),
            "TUI left on screen:\n{screen}"
        );
        assert_eq!(tmux.pane_var("crash", "alternate_on"), "0");
    }

    // No `chorus` process of alice's is left (tmux's own command line
    // mentions her data dir too, so look at the program run).
    let needle = net.data_dir("alice").display().to_string();
    let deadline = Instant::now() + TIMEOUT;
    while !chorus_processes(&needle).is_empty() {
        assert!(Instant::now() < deadline, "alice's client still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `chorus` processes whose command line mentions `needle`.
fn chorus_processes(needle: &str) -> Vec<u32> {
    let bin = common::bin().display().to_string();
    processes_mentioning(needle)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).next() == Some(bin.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}
