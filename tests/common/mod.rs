//! Helpers for the multi-process tests: spawn the real `chorus` binary, read the
//! events it prints, send it commands, kill -9 and restart it.
//!
//! - Every process is started with `PR_SET_PDEATHSIG = SIGKILL`, so it dies with
//!   the test even if the test binary itself is killed.
//! - A [`Node`] kills its process when dropped, so a panicking test leaves no
//!   process behind; while panicking it also prints the tail of the node's
//!   stderr and the events it printed, to help debugging.
//! - Waits are event-driven with generous timeouts: nothing sleeps a fixed time.
//!
//! Shared by all multi-process test files (`mod common;`); not every file uses
//! every helper.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod cluster;
pub mod netns;

/// Default timeout of a wait: generous, tests run on loaded 2-core CI machines.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How often exit and /proc polls look again.
const POLL: Duration = Duration::from_millis(25);

/// The `chorus` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chorus"))
}

/// Makes `cmd` deliver SIGKILL to the child when the spawning thread dies
/// (the test thread, or the whole test binary).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// A test's scratch area: one temporary directory holding every node's data dir
/// and stderr log. Shared by its nodes (it is removed when the last one is gone).
#[derive(Clone)]
pub struct Net {
    tmp: Rc<tempfile::TempDir>,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

/// How to start one node process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// A short name for messages (`A`, `alice`, ...).
    pub name: String,
    /// Program and arguments put in front of the binary (e.g. `ip netns exec NS`).
    pub wrapper: Vec<String>,
    /// Arguments of the binary.
    pub args: Vec<String>,
    /// Whether stdout carries JSON events (otherwise lines are kept as strings).
    pub json: bool,
    /// Where stderr goes (appended to across restarts).
    pub log: PathBuf,
}

impl Net {
    /// A fresh scratch directory; kept after the test when the environment
    /// variable `CHORUS_TEST_KEEP` is set (its path is printed).
    pub fn new() -> Net {
        let keep = std::env::var_os("CHORUS_TEST_KEEP").is_some();
        let tmp = tempfile::Builder::new()
            .prefix("chorus-test-")
            .disable_cleanup(keep)
            .tempdir()
            .expect("cannot create a temporary directory");
        if keep {
            eprintln!("keeping {}", tmp.path().display());
        }
        Net { tmp: Rc::new(tmp) }
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The `XDG_CONFIG_HOME` every process of this test gets, so that the
    /// user's own `~/.config/chorus/config.toml` never reaches a test (a test of
    /// the default file writes `chorus/config.toml` in it).
    pub fn config_home(&self) -> PathBuf {
        self.path().join("xdg-config")
    }

    /// The data dir of node `name` (not created: the node creates it).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The standard arguments of a test node in `role` ("server" or "client"):
    /// JSON, no mDNS, 127.0.0.1 with port 0, its own data dir.
    pub fn node_args(&self, name: &str, role: &str, bootstrap: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            role.into(),
            "--json".into(),
            "--no-mdns".into(),
            "--listen".into(),
            "/ip4/127.0.0.1/tcp/0".into(),
            "--data-dir".into(),
            self.data_dir(name).display().to_string(),
        ];
        for b in bootstrap {
            args.push("--bootstrap".into());
            args.push(b.to_string());
        }
        args
    }

    /// Starts a server and waits for its `ready` event.
    pub fn server(&self, name: &str, bootstrap: &[&str]) -> Node {
        self.start_ready(name, self.node_args(name, "server", bootstrap))
    }

    /// Starts a client with `nick` in `rooms` (the last is the current room; none:
    /// the default `lobby`) and waits for its `ready` event.
    pub fn client(&self, nick: &str, rooms: &[&str], bootstrap: &[&str]) -> Node {
        let mut args = self.node_args(nick, "client", bootstrap);
        args.extend(["--nick".into(), nick.into()]);
        for r in rooms {
            args.extend(["--room".into(), r.to_string()]);
        }
        self.start_ready(nick, args)
    }

    /// Starts the binary with `args` (JSON mode) and waits for `ready`.
    pub fn start_ready(&self, name: &str, args: Vec<String>) -> Node {
        let mut node = self.spawn(Spec {
            name: name.into(),
            wrapper: Vec::new(),
            args,
            json: true,
            log: self.path().join(format!("{name}.stderr")),
        });
        node.wait_ready();
        node
    }

    /// Starts a process without waiting for anything.
    pub fn spawn(&self, spec: Spec) -> Node {
        let mut node = Node {
            spec,
            _net: self.clone(),
            child: None,
            stdin: None,
            rx: mpsc::channel().1,
            pending: VecDeque::new(),
            history: Vec::new(),
            peer_id: String::new(),
            addrs: Vec::new(),
            reported: false,
        };
        node.launch();
        node
    }

    /// Runs the binary with `args` to completion (stdin empty), killing it after
    /// `timeout`. Returns its exit status, stdout and stderr.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Run {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_path = self.path().join(format!("run-{n}.stdout"));
        let err_path = self.path().join(format!("run-{n}.stderr"));
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("XDG_CONFIG_HOME", self.config_home())
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(File::create(&err_path).expect("create stderr file"));
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("cannot start chorus");
        let status = wait_exit(&mut child, timeout).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chorus {args:?} still running after {timeout:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            )
        });
        Run {
            status,
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }
}

/// The outcome of [`Net::run`].
#[derive(Debug)]
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts a clean refusal: non-zero exit, a short error on stderr, no panic.
    /// Returns stderr.
    pub fn assert_refused(&self, what: &str) -> &str {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "{what}: expected a non-zero exit, got {:?}; stderr:\n{}",
            self.status,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "{what}: panicked:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.to_lowercase().contains("error"),
            "{what}: no error message on stderr:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.trim().lines().count() <= 10,
            "{what}: error message is not short:\n{}",
            self.stderr
        );
        &self.stderr
    }
}

/// One line a node printed: its JSON event, or the line as a JSON string for a
/// line-mode process (or a non-JSON line, which a `--json` node must never print).
type Line = Value;

/// A running node process and the events it printed.
pub struct Node {
    /// How it was started (reused by [`Node::restart`]).
    pub spec: Spec,
    _net: Net,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    rx: Receiver<Line>,
    /// Lines received and not yet returned by a wait.
    pending: VecDeque<Line>,
    /// Every line this node printed, all runs.
    history: Vec<Line>,
    /// Its peer id (from `ready`; empty before).
    pub peer_id: String,
    /// Its listen addresses (from `ready`), each ending in `/p2p/<peer id>`.
    pub addrs: Vec<String>,
    /// Whether a failure message already carried [`Node::report`].
    reported: bool,
}

impl Node {
    fn launch(&mut self) {
        let spec = &self.spec;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .expect("cannot open the stderr log");
        let mut cmd = match spec.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(&spec.args)
            .env("XDG_CONFIG_HOME", self._net.config_home())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start chorus: {e}", spec.name));
        let stdout = child.stdout.take().expect("stdout is piped");
        let json = spec.json;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = if json {
                    serde_json::from_str(&line).unwrap_or(Value::String(line))
                } else {
                    Value::String(line)
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        self.stdin = child.stdin.take();
        self.child = Some(child);
        self.rx = rx;
        self.pending.clear();
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The process id (of the wrapper, if any).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Its first listen address: what others bootstrap with.
    pub fn addr(&self) -> &str {
        self.addrs
            .first()
            .unwrap_or_else(|| panic!("{}: no address yet", self.name()))
    }

    /// Waits for `ready`, and checks its addresses end in `/p2p/<peer id>`.
    pub fn wait_ready(&mut self) -> Value {
        let ready = self.wait_event("ready", TIMEOUT, |_| true);
        self.peer_id = ready["peer_id"].as_str().expect("ready.peer_id").into();
        self.addrs = ready["listen_addrs"]
            .as_array()
            .expect("ready.listen_addrs")
            .iter()
            .map(|a| a.as_str().expect("address is a string").to_string())
            .collect();
        assert!(
            !self.addrs.is_empty(),
            "{}: ready without addresses",
            self.name()
        );
        let suffix = format!("/p2p/{}", self.peer_id);
        for a in &self.addrs {
            assert!(
                a.ends_with(&suffix),
                "{}: address {a} lacks {suffix}",
                self.name()
            );
        }
        ready
    }

    fn take_line(&mut self, line: Line) {
        self.history.push(line.clone());
        self.pending.push_back(line);
    }

    /// Moves every line already printed into `pending` without waiting.
    pub fn poll(&mut self) {
        while let Ok(line) = self.rx.try_recv() {
            self.take_line(line);
        }
    }

    /// Waits up to `timeout` for a line matching `pred` that no earlier wait
    /// returned, and returns it (lines skipped stay available to later waits).
    /// Fails with every line seen so far.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.pending.iter().position(&pred) {
                return self.pending.remove(i).expect("index is valid");
            }
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let stray = self.spec.json && !line.get("event").is_some_and(Value::is_string);
                    self.take_line(line.clone());
                    if stray {
                        let report = self.report();
                        panic!(
                            "{}: stdout line is not a JSON event: {line}\n{report}",
                            self.name()
                        );
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let report = self.report();
                    panic!("{}: no {what} within {timeout:?}\n{report}", self.name())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    let report = self.report();
                    panic!(
                        "{}: stdout closed (exit: {status:?}) while waiting for {what}\n{report}",
                        self.name(),
                    )
                }
            }
        }
    }

    /// Waits up to `timeout` until `pred` holds for everything printed so far
    /// (all runs; waits that returned lines do not hide them from it). Fails
    /// with `what` and the node's report.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, pred: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll();
            if pred(&self.history) {
                return;
            }
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.take_line(line),
                Err(RecvTimeoutError::Timeout) => {
                    let report = self.report();
                    panic!("{}: not {what} within {timeout:?}\n{report}", self.name())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    let report = self.report();
                    panic!(
                        "{}: stdout closed (exit: {status:?}) while waiting until {what}\n{report}",
                        self.name(),
                    )
                }
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for an event of kind `kind` matching `pred`.
    pub fn wait_event(
        &mut self,
        kind: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let what = format!("{kind:?} event");
        self.wait_for(&what, timeout, |e| e["event"] == kind && pred(e))
    }

    /// Waits for `peer_joined` of `peer_id`.
    pub fn wait_joined(&mut self, peer_id: &str, timeout: Duration) -> Value {
        let what = format!("peer_joined of {peer_id}");
        self.wait_for(&what, timeout, |e| {
            e["event"] == "peer_joined" && e["peer_id"] == peer_id
        })
    }

    /// Waits for `peer_left` of `peer_id`.
    pub fn wait_left(&mut self, peer_id: &str, timeout: Duration) -> Value {
        let what = format!("peer_left of {peer_id}");
        self.wait_for(&what, timeout, |e| {
            e["event"] == "peer_left" && e["peer_id"] == peer_id
        })
    }

    /// Waits for a `message` in `room` with `text`.
    pub fn wait_message(&mut self, room: &str, text: &str) -> Value {
        let what = format!("message {text:?} in {room}");
        self.wait_for(&what, TIMEOUT, |e| {
            e["event"] == "message" && e["room"] == room && e["text"] == text
        })
    }

    /// Waits for an `error` event.
    pub fn wait_error(&mut self) -> Value {
        self.wait_event("error", TIMEOUT, |_| true)
    }

    /// Forgets every pending line (already printed ones included): later waits
    /// only see what is printed from now on. The history keeps them.
    pub fn forget(&mut self) {
        self.poll();
        self.pending.clear();
    }

    /// Every line printed so far (all runs), including the ones waits returned.
    pub fn history(&mut self) -> &[Value] {
        self.poll();
        &self.history
    }

    /// Lines printed so far matching `pred`.
    pub fn seen(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.history().iter().filter(|e| pred(e)).cloned().collect()
    }

    /// Writes one line to stdin.
    pub fn send_line(&mut self, line: &str) {
        let name = self.spec.name.clone();
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{name}: stdin closed"));
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{name}: cannot write to stdin: {e}"));
    }

    /// Writes one JSON command to stdin.
    pub fn send_cmd(&mut self, cmd: Value) {
        self.send_line(&cmd.to_string());
    }

    /// `{"cmd":"send"}` of `text` to `room`.
    pub fn say(&mut self, room: &str, text: &str) {
        self.send_cmd(json!({"cmd": "send", "room": room, "text": text}));
    }

    /// Asks for and returns a `status` event.
    pub fn status(&mut self) -> Value {
        self.send_cmd(json!({"cmd": "status"}));
        self.wait_event("status", TIMEOUT, |_| true)
    }

    /// Closes stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        wait_exit(child, timeout)
    }

    /// Sends `{"cmd":"quit"}` and waits for a clean exit.
    pub fn quit(&mut self) {
        self.send_cmd(json!({"cmd": "quit"}));
        let status = self.wait_exit(TIMEOUT);
        if !status.is_some_and(|s| s.success()) {
            let report = self.report();
            panic!("{}: quit ended with {status:?}\n{report}", self.name());
        }
    }

    /// Kills the process with SIGKILL (`Child::kill` on Unix) and reaps it.
    pub fn kill9(&mut self) {
        self.stdin = None;
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again with the same arguments (so the same data dir)
    /// and, in JSON mode, waits for `ready`. Lines of the previous run stay in
    /// the history but no wait returns them.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
        if self.spec.json {
            self.wait_ready();
        }
    }

    /// The tail of its stderr and its output, for failure messages.
    pub fn report(&mut self) -> String {
        self.poll();
        self.reported = true;
        let log = std::fs::read_to_string(&self.spec.log).unwrap_or_default();
        let log_lines: Vec<&str> = log.lines().collect();
        let log_tail = log_lines[log_lines.len().saturating_sub(40)..].join("\n");
        let out: Vec<String> = self.history.iter().map(Value::to_string).collect();
        let out_tail = out[out.len().saturating_sub(60)..].join("\n");
        format!(
            "--- {} (pid {}) stdout, last {} of {} lines:\n{out_tail}\n--- {} stderr ({}):\n{log_tail}\n---",
            self.spec.name,
            self.pid(),
            out.len().min(60),
            out.len(),
            self.spec.name,
            self.spec.log.display()
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() && !self.reported {
            eprintln!("{}", self.report());
        }
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Process ids whose command line contains `needle` (scanning /proc).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Waits until no process's command line contains `needle`; returns the ones
/// left after `timeout`.
pub fn wait_no_process_mentioning(needle: &str, timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(POLL);
    }
}

/// The peer ids of the `peers` of a `status` event with role `role`.
pub fn status_peers(status: &Value, role: &str) -> Vec<String> {
    status["peers"]
        .as_array()
        .expect("status.peers")
        .iter()
        .filter(|p| p["role"] == role)
        .map(|p| p["peer_id"].as_str().expect("peer_id").to_string())
        .collect()
}

/// A JSON array of strings as a sorted vector.
pub fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect();
    out.sort();
    out
}

/// Resident memory of process `pid` in KiB (VmRSS from /proc), if it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
