//! mDNS discovery on a LAN of its own: network namespaces the test creates (a
//! hub namespace holding a bridge, one namespace per node on a veth pair to the
//! bridge, a private /24, no default route; nothing in the root namespace is
//! touched). Three servers and two clients start with mDNS on and no
//! `--bootstrap`; each client must learn the three servers and the other
//! client, and a message must cross.
//!
//! Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and `ip` (iproute2). Without them
//! the test prints why and passes, except in CI (`CI` set) where it fails.

mod common;

use common::netns::{self, build_lan, Namespaces};
use common::{Net, TIMEOUT};

/// The /24 the nodes live in (only inside the test's namespaces).
const SUBNET: &str = "10.213.7";

#[test]
fn mdns_netns() {
    let mut nss = Namespaces::new();
    let names = ["s1", "s2", "s3", "alice", "bob"];
    let nodes: Vec<(&str, usize)> = names.iter().map(|n| (*n, 0)).collect();
    let lan = match build_lan(&mut nss, SUBNET, 1, &nodes) {
        Ok(lan) => lan,
        Err(why) => return netns::unavailable("mdns_netns", &why),
    };
    let net = Net::new();
    let mut servers = Vec::new();
    let args = |a: &[&str]| -> Vec<String> { a.iter().map(|s| s.to_string()).collect() };
    for (i, name) in names[..3].iter().enumerate() {
        servers.push(netns::start(&net, &lan.hosts[i], name, &args(&["server"])));
    }
    let mut alice = netns::start(
        &net,
        &lan.hosts[3],
        "alice",
        &args(&["client", "--nick", "alice"]),
    );
    let mut bob = netns::start(
        &net,
        &lan.hosts[4],
        "bob",
        &args(&["client", "--nick", "bob"]),
    );

    for (me, other) in [(&mut alice, "bob"), (&mut bob, "alice")] {
        for s in &servers {
            let e = me.wait_joined(&s.peer_id, TIMEOUT);
            assert_eq!(e["role"], "server", "{e}");
        }
        let e = me.wait_for(&format!("peer_joined of {other}"), TIMEOUT, |e| {
            e["event"] == "peer_joined" && e["nick"] == other
        });
        assert_eq!(e["role"], "client", "{e}");
    }

    alice.say("lobby", "hello over mdns");
    let m = bob.wait_message("lobby", "hello over mdns");
    assert_eq!(m["from"], alice.peer_id.as_str(), "{m}");
    bob.say("lobby", "hello back");
    alice.wait_message("lobby", "hello back");
}
