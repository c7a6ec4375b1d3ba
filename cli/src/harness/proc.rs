//! Node processes of a harness run: the current `chorus` executable started
//! with `--json`, its events read by a thread each into one channel, stopped by
//! PID (kill -9 and wait). Every child gets `PR_SET_PDEATHSIG = SIGKILL` (it
//! dies with the harness, however the harness dies) and a process group of its
//! own (a Ctrl-C in the terminal reaches only the harness, which then stops its
//! children itself).
//!
//! Processes must be started from one thread (the harness's main thread): the
//! death signal fires when the *thread* that spawned a child exits.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

/// A line one node printed.
pub struct Line {
    /// Index of the node in the harness's list.
    pub node: usize,
    /// Which start of the node printed it (1: the first).
    pub start: u32,
    /// When it was read.
    pub at: Instant,
    /// The event (None: stdout closed).
    pub event: Option<Value>,
}

/// Whether a node is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Running.
    Up,
    /// Stopped with SIGSTOP.
    Paused,
    /// Killed (or not started).
    Down,
}

/// One node process (all its incarnations).
pub struct Proc {
    /// Its index.
    pub idx: usize,
    /// Its name (`s1`, `c2`, ...).
    pub name: String,
    /// Whether it is a server.
    pub server: bool,
    /// Arguments after the executable.
    pub args: Vec<String>,
    /// Where its stderr goes (appended to).
    pub log: PathBuf,
    /// Its state.
    pub state: State,
    /// Its peer id (from `ready`).
    pub peer_id: String,
    /// Its first listen address (from `ready`).
    pub addr: String,
    /// How many times it was started.
    pub starts: u32,
    /// The network namespace to run in (`--netns`): an open fd of it.
    pub netns: Option<i32>,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    /// A process not started yet.
    pub fn new(idx: usize, name: String, server: bool, args: Vec<String>, log: PathBuf) -> Proc {
        Proc {
            idx,
            name,
            server,
            args,
            log,
            state: State::Down,
            peer_id: String::new(),
            addr: String::new(),
            starts: 0,
            netns: None,
            child: None,
            stdin: None,
        }
    }

    /// Starts it; its lines go to `tx`.
    pub fn start(&mut self, tx: &Sender<Line>) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        // The running executable itself, even when a rebuild replaced the file
        // (in the forked child /proc/self/exe is still this binary).
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("chorus")
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let netns = self.netns;
        // SAFETY: prctl, setpgid and setns are async-signal-safe system calls
        // and touch no memory of the parent.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(fd) = netns {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("{}: cannot start chorus", self.name))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("{}: stdout not captured", self.name))?;
        let tx = tx.clone();
        let node = self.idx;
        let start = self.starts + 1;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = serde_json::from_str(&line).unwrap_or(Value::String(line));
                let sent = tx.send(Line {
                    node,
                    start,
                    at: Instant::now(),
                    event: Some(event),
                });
                if sent.is_err() {
                    return;
                }
            }
            let _ = tx.send(Line {
                node,
                start,
                at: Instant::now(),
                event: None,
            });
        });
        self.stdin = child.stdin.take();
        self.child = Some(child);
        self.state = State::Up;
        self.starts += 1;
        Ok(())
    }

    /// Its PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Writes one line to its stdin (errors are returned, not fatal: the node
    /// may just have died).
    pub fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .with_context(|| format!("cannot write to {}", self.name))
    }

    fn signal(&self, sig: libc::c_int) -> Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
        // SAFETY: kill(2) on the PID of our own, not yet reaped, child.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot signal {}", self.name));
        }
        Ok(())
    }

    /// SIGSTOP.
    pub fn pause(&mut self) -> Result<()> {
        self.signal(libc::SIGSTOP)?;
        self.state = State::Paused;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT)?;
        self.state = State::Up;
        Ok(())
    }

    /// kill -9 and reap.
    pub fn kill(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.state = State::Down;
    }

    /// Asks it to quit (`{"cmd":"quit"}`), then kill -9 whatever is left.
    pub fn stop(&mut self) {
        if self.state == State::Paused {
            let _ = self.resume();
        }
        let _ = self.send(r#"{"cmd":"quit"}"#);
        self.stdin = None;
        if let Some(child) = self.child.as_mut() {
            let deadline = Instant::now() + std::time::Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
