//! `--netns`: each node in a network namespace of its own, on one bridge in a
//! hub namespace, in a private /24 (10.77.<n>.0/24) with no route out and mDNS
//! on. A partition takes a server's link to the bridge down. Every namespace
//! is deleted when the [`Lan`] is dropped (and leftovers of dead runs, whose
//! process is gone, at the next start). Needs root and `ip` (iproute2).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use anyhow::{bail, Context, Result};

const PREFIX: &str = "chorusharness-";

/// Runs `ip ARGS`.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One node's place: its namespace (an open handle to enter it) and address.
pub struct Host {
    /// Its IPv4 address.
    pub addr: String,
    /// `/run/netns/<ns>`, open: `setns` target for the node's process.
    pub handle: OwnedFd,
    /// The veth port in the hub (down: the node is cut off).
    pub port: String,
}

/// The namespaces of a run.
pub struct Lan {
    hub: String,
    made: Vec<String>,
    /// One per node, in the order they were added.
    pub hosts: Vec<Host>,
    subnet: String,
}

impl Lan {
    /// Creates the hub namespace with its bridge.
    pub fn new() -> Result<Lan> {
        remove_stale();
        let pid = std::process::id();
        let mut lan = Lan {
            hub: format!("{PREFIX}{pid}-hub"),
            made: Vec::new(),
            hosts: Vec::new(),
            subnet: format!("10.77.{}", pid % 250),
        };
        let hub = lan.hub.clone();
        lan.add_ns(&hub)?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        Ok(lan)
    }

    fn add_ns(&mut self, name: &str) -> Result<()> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"])
    }

    /// Adds a namespace for node `name` on the bridge; returns its index.
    pub fn add_host(&mut self, name: &str) -> Result<usize> {
        let i = self.hosts.len();
        let ns = format!("{PREFIX}{}-{name}", std::process::id());
        self.add_ns(&ns)?;
        let port = format!("p{i}");
        let addr = format!("{}.{}", self.subnet, 10 + i);
        ip(&[
            "-n", &self.hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ])?;
        ip(&["-n", &self.hub, "link", "set", &port, "master", "br0"])?;
        ip(&["-n", &self.hub, "link", "set", &port, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up", "multicast", "on"])?;
        ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        let path = format!("/run/netns/{ns}");
        let handle =
            OwnedFd::from(File::open(&path).with_context(|| format!("cannot open {path}"))?);
        self.hosts.push(Host { addr, handle, port });
        Ok(i)
    }

    /// Cuts host `i` off the bridge.
    pub fn cut(&self, i: usize) -> Result<()> {
        ip(&["-n", &self.hub, "link", "set", &self.hosts[i].port, "down"])
    }

    /// Joins host `i` to the bridge again.
    pub fn join(&self, i: usize) -> Result<()> {
        ip(&["-n", &self.hub, "link", "set", &self.hosts[i].port, "up"])
    }

    /// The raw fd of host `i`'s namespace (for `setns` in the child).
    pub fn fd(&self, i: usize) -> i32 {
        self.hosts[i].handle.as_raw_fd()
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.hosts.clear();
        for ns in self.made.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("harness: cleanup: {e:#}");
            }
        }
    }
}

/// Deletes namespaces of earlier runs whose process is gone.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
