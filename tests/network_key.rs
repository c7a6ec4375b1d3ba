//! Closed networks: nodes started with `--network-key` only talk to nodes
//! holding the same key. A node without the key, or with another one, cannot
//! complete a connection; one with the key joins and chats.

mod common;

use std::time::{Duration, Instant};

use common::{Net, TIMEOUT};
use serde_json::json;

fn keygen(net: &Net, name: &str) -> String {
    let path = net.path().join(name);
    let run = net.run(&["keygen", &path.display().to_string()], TIMEOUT);
    assert!(run.status.success(), "keygen failed: {}", run.stderr);
    path.display().to_string()
}

fn with_key(mut args: Vec<String>, key: &str) -> Vec<String> {
    args.extend(["--network-key".into(), key.into()]);
    args
}

/// Asserts that `node` reports no connection at all for a while.
fn stays_unconnected(node: &mut common::Node, for_: Duration) {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        let status = node.status();
        let connected = status["connected"].as_array().map_or(0, Vec::len);
        assert_eq!(
            connected,
            0,
            "{} connected to a closed network: {status}",
            node.name()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn only_nodes_with_the_key_get_in() {
    let net = Net::new();
    let key = keygen(&net, "net.key");
    let other = keygen(&net, "other.key");

    // keygen never overwrites a key.
    let again = net.run(&["keygen", &key], TIMEOUT);
    again.assert_refused("keygen over an existing key");

    let s1 = net.start_ready("s1", with_key(net.node_args("s1", "server", &[]), &key));
    let addr = s1.addr().to_string();
    let s2 = net.start_ready(
        "s2",
        with_key(net.node_args("s2", "server", &[&addr]), &key),
    );

    let mut alice_args = with_key(net.node_args("alice", "client", &[&addr]), &key);
    alice_args.extend(["--nick".into(), "alice".into()]);
    let mut alice = net.start_ready("alice", alice_args);
    let mut bob_args = with_key(net.node_args("bob", "client", &[s2.addr()]), &key);
    bob_args.extend(["--nick".into(), "bob".into()]);
    let mut bob = net.start_ready("bob", bob_args);
    alice.wait_event("peer_joined", TIMEOUT, |e| e["nick"] == "bob");
    alice.send_cmd(json!({"cmd": "send", "room": "lobby", "text": "members only"}));
    bob.wait_message("lobby", "members only");

    // Without the key, and with another key: no connection, nothing heard.
    let mut stranger = net.client("stranger", &[], &[&addr]);
    let mut impostor_args = with_key(net.node_args("impostor", "client", &[&addr]), &other);
    impostor_args.extend(["--nick".into(), "impostor".into()]);
    let mut impostor = net.start_ready("impostor", impostor_args);
    stays_unconnected(&mut stranger, Duration::from_secs(3));
    stays_unconnected(&mut impostor, Duration::from_secs(1));
    assert!(stranger.seen(|e| e["event"] == "peer_joined").is_empty());
    assert!(impostor.seen(|e| e["event"] == "message").is_empty());

    // A closed network is TCP only: asking for QUIC is refused clearly.
    let quic = net.data_dir("quic").display().to_string();
    let run = net.run(
        &[
            "server",
            "--json",
            "--no-mdns",
            "--network-key",
            &key,
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--data-dir",
            &quic,
        ],
        TIMEOUT,
    );
    let err = run.assert_refused("QUIC in a closed network");
    assert!(err.contains("TCP only"), "{err}");

    // `chorus status` needs the key too.
    let run = net.run(&["status", &addr, "--json", "--timeout", "3"], TIMEOUT);
    run.assert_refused("status without the key");
    let run = net.run(&["status", &addr, "--json", "--network-key", &key], TIMEOUT);
    assert!(run.status.success(), "status with the key: {}", run.stderr);
    assert!(
        run.stdout.contains("\"event\":\"status\""),
        "{}",
        run.stdout
    );
}
