//! Network namespaces for tests: a hub namespace holding one or more bridges,
//! and one namespace per node on a veth pair to a bridge, in a private /24 with
//! no default route. Nothing in the root namespace is touched. Bridges beyond
//! the first hang off the first through a veth pair whose link can be brought
//! down (a partition) and up again (healing).
//!
//! Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and `ip` (iproute2). Tests call
//! [`unavailable`] when building fails: a printed note and a pass, except in CI
//! (`CI` set) where it fails.
#![allow(dead_code)]

use std::process::Command;

use super::{Net, Node, Spec};

/// Runs `ip ARGS`; the error names the command and what it printed.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// What a test does when namespaces cannot be made: fail in CI, otherwise
/// print why and let the caller return (the test passes, skipped).
pub fn unavailable(test: &str, why: &str) {
    let msg = format!("{test}: cannot create network namespaces: {why}");
    if std::env::var_os("CI").is_some() {
        panic!("{msg} (required in CI)");
    }
    eprintln!("{msg}; skipping (set CI to make this a failure)");
}

/// The namespaces this run created; deleted on drop (also on panic).
pub struct Namespaces {
    prefix: String,
    made: Vec<String>,
}

impl Default for Namespaces {
    fn default() -> Self {
        Self::new()
    }
}

impl Namespaces {
    /// Names start with `chorustest-<pid>`; leftovers of dead runs are removed.
    pub fn new() -> Namespaces {
        let prefix = format!("chorustest-{}", std::process::id());
        remove_stale();
        Namespaces {
            prefix,
            made: Vec::new(),
        }
    }

    /// Creates namespace `<prefix>-<suffix>` with `lo` up; returns its name.
    pub fn add(&mut self, suffix: &str) -> Result<String, String> {
        let name = format!("{}-{suffix}", self.prefix);
        ip(&["netns", "add", &name])?;
        self.made.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Deletes namespaces left by earlier runs whose process is gone (killed tests).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("chorustest-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// One node's place on the LAN.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its namespace.
    pub ns: String,
    /// Its address (in the /24).
    pub addr: String,
}

/// A LAN of bridges in a hub namespace.
#[derive(Debug, Clone)]
pub struct Lan {
    /// The hub namespace.
    pub hub: String,
    /// Per node, in the order given to [`build_lan`].
    pub hosts: Vec<Host>,
}

impl Lan {
    /// Cuts bridge `k` (≥ 1) off bridge 0.
    pub fn cut(&self, k: usize) -> Result<(), String> {
        ip(&["-n", &self.hub, "link", "set", &format!("up{k}"), "down"])
    }

    /// Joins bridge `k` (≥ 1) to bridge 0 again.
    pub fn heal(&self, k: usize) -> Result<(), String> {
        ip(&["-n", &self.hub, "link", "set", &format!("up{k}"), "up"])
    }
}

/// Builds the LAN: `bridges` bridges `br0..` in a hub namespace (each `brK`,
/// K ≥ 1, joined to `br0` by a veth pair `upK`/`dnK`), and per node
/// `(name, bridge)` a namespace with `eth0` on that bridge at `<subnet>.<10+i>`.
pub fn build_lan(
    nss: &mut Namespaces,
    subnet: &str,
    bridges: usize,
    nodes: &[(&str, usize)],
) -> Result<Lan, String> {
    let hub = nss.add("hub")?;
    for k in 0..bridges.max(1) {
        let br = format!("br{k}");
        ip(&["-n", &hub, "link", "add", &br, "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", &br, "up"])?;
        if k > 0 {
            let (up, dn) = (format!("up{k}"), format!("dn{k}"));
            ip(&[
                "-n", &hub, "link", "add", &up, "type", "veth", "peer", "name", &dn,
            ])?;
            ip(&["-n", &hub, "link", "set", &up, "master", "br0"])?;
            ip(&["-n", &hub, "link", "set", &dn, "master", &br])?;
            ip(&["-n", &hub, "link", "set", &up, "up"])?;
            ip(&["-n", &hub, "link", "set", &dn, "up"])?;
        }
    }
    let mut hosts = Vec::new();
    for (i, (node, bridge)) in nodes.iter().enumerate() {
        let ns = nss.add(node)?;
        let port = format!("p{i}");
        let addr = format!("{subnet}.{}", 10 + i);
        // Created inside the hub, its peer moved straight into the node's namespace.
        ip(&[
            "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            &port,
            "master",
            &format!("br{bridge}"),
        ])?;
        ip(&["-n", &hub, "link", "set", &port, "up"])?;
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
        // Multicast (mDNS, 224.0.0.251) goes out on eth0; still no default route.
        ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        hosts.push(Host { ns, addr });
    }
    Ok(Lan { hub, hosts })
}

/// Starts `chorus <args> --json --listen /ip4/<addr>/tcp/0 --data-dir ...`
/// inside the host's namespace and waits for `ready`.
pub fn start(net: &Net, host: &Host, name: &str, args: &[String]) -> Node {
    let mut args = args.to_vec();
    args.extend([
        "--json".into(),
        "--listen".into(),
        format!("/ip4/{}/tcp/0", host.addr),
        "--data-dir".into(),
        net.data_dir(name).display().to_string(),
    ]);
    let mut node = net.spawn(Spec {
        name: name.into(),
        wrapper: vec!["ip".into(), "netns".into(), "exec".into(), host.ns.clone()],
        args,
        json: true,
        log: net.path().join(format!("{name}.stderr")),
    });
    node.wait_ready();
    assert!(
        node.addr().starts_with(&format!("/ip4/{}/tcp/", host.addr)),
        "{name} listens on {}",
        node.addr()
    );
    node
}
