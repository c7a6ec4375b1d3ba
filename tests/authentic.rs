//! Authentic messages: a client cannot send under another key (its signature
//! is checked before sequencing), and a server that alters a message it
//! publishes is caught by every client (signatures are checked on delivery).
//! Both misbehaviours are planted with `CHORUS_PLANTED_FAULT` (debug builds).

mod common;

use common::{Net, Node, Spec, TIMEOUT};

/// Starts a node with `CHORUS_PLANTED_FAULT=fault` and waits for `ready`.
fn start_faulty(net: &Net, name: &str, fault: &str, args: Vec<String>) -> Node {
    let mut node = net.spawn(Spec {
        name: name.into(),
        wrapper: vec!["env".into(), format!("CHORUS_PLANTED_FAULT={fault}")],
        args,
        json: true,
        log: net.path().join(format!("{name}.stderr")),
    });
    node.wait_ready();
    node
}

fn client_args(net: &Net, name: &str, nick: &str, bootstrap: &str) -> Vec<String> {
    let mut args = net.node_args(name, "client", &[bootstrap]);
    args.extend(["--nick".into(), nick.into()]);
    args
}

#[test]
fn forged_submissions_are_refused() {
    let net = Net::new();
    let s1 = net.server("S1", &[]);
    let s2 = net.server("S2", &[s1.addr()]);
    let mut alice = net.client("alice", &[], &[s1.addr()]);
    let mut forger = start_faulty(
        &net,
        "forger",
        "forge-signature",
        client_args(&net, "forger", "alice", s2.addr()),
    );
    let mut alterer = start_faulty(
        &net,
        "alterer",
        "alter-text=pay mallory",
        client_args(&net, "alterer", "carol", s2.addr()),
    );
    alice.wait_joined(&forger.peer_id, TIMEOUT);
    alice.wait_joined(&alterer.peer_id, TIMEOUT);

    // Signed by a key that is not the sender's, or text changed after signing:
    // refused, with a clear error.
    for (node, text) in [
        (&mut forger, "i am alice, send money"),
        (&mut alterer, "pay carol"),
    ] {
        node.say("lobby", text);
        let e = node.wait_error();
        let message = e["message"].as_str().unwrap_or("");
        assert!(message.contains("bad signature"), "{}: {e}", node.name());
    }

    // An honest message after them arrives; the forged ones never do.
    alice.say("lobby", "honest");
    alice.wait_message("lobby", "honest");
    let forged = alice.seen(|e| e["event"] == "message" && e["text"] != "honest");
    assert!(forged.is_empty(), "forged messages delivered: {forged:?}");
    let acked = forger.seen(|e| e["event"] == "sent");
    assert!(
        acked.is_empty(),
        "a forged message was acknowledged: {acked:?}"
    );
}

#[test]
fn a_server_altering_messages_is_caught_by_clients() {
    let net = Net::new();
    let tamper = |name: &str, bootstrap: &[&str]| {
        start_faulty(
            &net,
            name,
            "tamper-published",
            net.node_args(name, "server", bootstrap),
        )
    };
    let s1 = tamper("S1", &[]);
    let s2 = tamper("S2", &[s1.addr()]);
    let mut alice = net.client("alice", &[], &[s1.addr()]);
    let mut bob = net.client("bob", &[], &[s2.addr()]);
    bob.wait_joined(&alice.peer_id, TIMEOUT);

    // Every published copy is altered; clients refuse them and fetch the
    // signed original by seq from a server's log.
    for i in 1..=3 {
        alice.say("lobby", &format!("original {i}"));
    }
    for i in 1..=3 {
        let m = bob.wait_message("lobby", &format!("original {i}"));
        assert_eq!(m["from"], alice.peer_id.as_str(), "{m}");
        alice.wait_message("lobby", &format!("original {i}"));
    }
    for node in [&mut alice, &mut bob] {
        let tampered = node.seen(|e| {
            e["event"] == "message"
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("tampered"))
        });
        assert!(
            tampered.is_empty(),
            "tampered messages delivered: {tampered:?}"
        );
    }
    let log = std::fs::read_to_string(net.path().join("bob.stderr")).unwrap_or_default();
    assert!(
        log.contains("forged message refused"),
        "bob's log does not show the refusal:\n{log}"
    );
    drop((s1, s2));
}
