//! The seed's scenario end to end, with real processes on 127.0.0.1: seven
//! servers A..G chained by `--bootstrap`; a client knowing only A learns all
//! seven; a second client joining through E is announced to the first; kill -9
//! of D is announced to both within the failure-detection window; D restarted
//! from its data dir comes back with the same peer id and is announced.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{status_peers, strings, Net, TIMEOUT};

/// The failure-detection window a crash must be announced within.
const DETECTION: Duration = Duration::from_secs(10);

#[test]
fn seed_scenario() {
    let net = Net::new();
    let names = ["A", "B", "C", "D", "E", "F", "G"];
    let mut servers = Vec::new();
    for name in names {
        let prev: Option<String> = servers.last().map(|s: &common::Node| s.addr().to_string());
        let bootstrap: Vec<&str> = prev.iter().map(String::as_str).collect();
        servers.push(net.server(name, &bootstrap));
    }
    let ids: Vec<String> = servers.iter().map(|s| s.peer_id.clone()).collect();
    let all: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(all.len(), 7, "seven distinct peer ids");

    // Alice knows only A, and learns all seven servers.
    let mut alice = net.client("alice", &[], &[servers[0].addr()]);
    for id in &ids {
        let e = alice.wait_joined(id, TIMEOUT);
        assert_eq!(e["role"], "server", "{e}");
    }
    let status = alice.status();
    assert_eq!(status["role"], "client");
    assert_eq!(status["nick"], "alice");
    let known: BTreeSet<String> = strings(&status["servers"]).into_iter().collect();
    assert_eq!(
        known, all,
        "alice's status lists the seven servers: {status}"
    );
    let peer_servers: BTreeSet<String> = status_peers(&status, "server").into_iter().collect();
    assert_eq!(peer_servers, all, "{status}");

    // Bob joins through E and is announced to Alice (and learns everyone too).
    let mut bob = net.client("bob", &[], &[servers[4].addr()]);
    let e = alice.wait_joined(&bob.peer_id, TIMEOUT);
    assert_eq!(e["role"], "client", "{e}");
    assert_eq!(e["nick"], "bob", "{e}");
    for id in &ids {
        bob.wait_joined(id, TIMEOUT);
    }
    let e = bob.wait_joined(&alice.peer_id, TIMEOUT);
    assert_eq!(e["nick"], "alice", "{e}");

    // kill -9 of D is announced to both clients within the detection window.
    let d_id = ids[3].clone();
    alice.forget();
    bob.forget();
    let killed = Instant::now();
    servers[3].kill9();
    for client in [&mut alice, &mut bob] {
        let left = DETECTION.saturating_sub(killed.elapsed());
        let e = client.wait_left(&d_id, left);
        assert_eq!(e["role"], "server", "{e}");
        eprintln!("{}: D left after {:?}", client.name(), killed.elapsed());
    }
    let detected = killed.elapsed();
    assert!(detected < DETECTION, "crash detected after {detected:?}");
    eprintln!("kill -9 of D announced to both clients after {detected:?}");

    // D restarted from its data dir: same peer id, announced to both.
    alice.forget();
    bob.forget();
    servers[3].restart();
    assert_eq!(servers[3].peer_id, d_id, "D keeps its peer id");
    for client in [&mut alice, &mut bob] {
        let e = client.wait_joined(&d_id, TIMEOUT);
        assert_eq!(e["role"], "server", "{e}");
    }
    let status = alice.status();
    let known: BTreeSet<String> = strings(&status["servers"]).into_iter().collect();
    assert_eq!(known, all, "D is listed again: {status}");

    // Only D ever left: no spurious departures while the network was stable.
    for client in [&mut alice, &mut bob] {
        let spurious = client.seen(|e| e["event"] == "peer_left" && e["peer_id"] != d_id.as_str());
        assert!(
            spurious.is_empty(),
            "{}: spurious departures {spurious:?}",
            client.name()
        );
    }
}
