//! Direct messages: `{"cmd":"dm"}` reaches exactly the recipient (and the
//! author's own view), in order, end-to-end encrypted: a third client cannot
//! read it even when it fetches the conversation, and no server stores the
//! plaintext.

mod common;

use std::path::Path;

use common::{Net, TIMEOUT};
use serde_json::json;

/// Every file under `dir` (recursively) as bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn direct_messages_are_private_and_ordered() {
    let net = Net::new();
    let s1 = net.server("S1", &[]);
    let s2 = net.server("S2", &[s1.addr()]);
    let mut alice = net.client("alice", &[], &[s1.addr()]);
    let mut bob = net.client("bob", &[], &[s2.addr()]);
    let mut eve = net.client("eve", &[], &[s2.addr()]);
    for id in [&bob.peer_id, &eve.peer_id] {
        alice.wait_joined(id, TIMEOUT);
    }
    bob.wait_joined(&alice.peer_id, TIMEOUT);
    eve.wait_joined(&alice.peer_id, TIMEOUT);

    // Alice writes to Bob by nick; Bob reads it, Alice sees her own copy.
    let secret = "the vault code is 7-3-1-9";
    alice.send_cmd(json!({"cmd": "dm", "to": "bob", "text": secret}));
    let got = bob.wait_for("alice's direct message", TIMEOUT, |e| {
        e["event"] == "message" && e["text"] == secret
    });
    assert_eq!(got["from"], alice.peer_id.as_str(), "{got}");
    assert_eq!(got["to"], bob.peer_id.as_str(), "{got}");
    assert_eq!(got["nick"], "alice", "{got}");
    assert_eq!(got["seq"], 1, "{got}");
    let conversation = got["room"].as_str().expect("room").to_string();
    assert!(conversation.starts_with("dm."), "{got}");
    let own = alice.wait_for("own copy", TIMEOUT, |e| {
        e["event"] == "message" && e["text"] == secret
    });
    assert_eq!(own["room"], conversation.as_str());
    alice.wait_event("sent", TIMEOUT, |e| e["room"] == conversation.as_str());

    // Bob answers by peer id, five times: both see the same five seqs, 2 to 6,
    // with the same texts (one order for both participants).
    for i in 1..=5 {
        bob.send_cmd(json!({"cmd": "dm", "to": alice.peer_id, "text": format!("reply {i}")}));
    }
    let bob_id = bob.peer_id.clone();
    let order = |node: &mut common::Node| {
        let mut seen = std::collections::BTreeMap::new();
        for i in 1..=5 {
            let text = format!("reply {i}");
            let m = node.wait_for("bob's reply", TIMEOUT, |e| {
                e["event"] == "message"
                    && e["room"] == conversation.as_str()
                    && e["text"] == text.as_str()
            });
            assert_eq!(m["from"], bob_id.as_str(), "{m}");
            seen.insert(m["seq"].as_u64().expect("seq"), text);
        }
        seen
    };
    let at_alice = order(&mut alice);
    assert_eq!(
        at_alice.keys().copied().collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6]
    );
    assert_eq!(order(&mut bob), at_alice);

    // Eve asks the servers for the conversation: she gets sealed texts she
    // cannot open (an error each), never the plaintext.
    eve.send_cmd(json!({"cmd": "history", "room": conversation, "limit": 10}));
    let refused = eve.wait_event("error", TIMEOUT, |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot decrypt"))
    });
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("not shown"),
        "{refused}"
    );
    // A marker in the lobby, seen by Eve, shows she has had time to see everything.
    alice.say("lobby", "marker");
    eve.wait_message("lobby", "marker");
    let leaked = eve.seen(|e| {
        e["event"] == "message" && (e["text"] == secret || e["room"] == conversation.as_str())
    });
    assert!(leaked.is_empty(), "eve saw the conversation: {leaked:?}");

    // No server keeps the plaintext, while the conversation is stored.
    for server in ["S1", "S2"] {
        let stored = files(&net.data_dir(server));
        assert!(
            stored
                .iter()
                .any(|(_, b)| contains(b, conversation.as_bytes())),
            "{server} stores the conversation"
        );
        for (path, bytes) in &stored {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{path} holds the plaintext"
            );
            assert!(!contains(bytes, b"reply 3"), "{path} holds the plaintext");
        }
    }

    // Bad input: an unknown nick, a message to oneself, joining a conversation.
    alice.send_cmd(json!({"cmd": "dm", "to": "nobody", "text": "hi"}));
    let e = alice.wait_error();
    assert!(
        e["message"].as_str().unwrap_or("").contains("nobody"),
        "{e}"
    );
    alice.send_cmd(json!({"cmd": "dm", "to": alice.peer_id, "text": "hi"}));
    alice.wait_error();
    alice.send_cmd(json!({"cmd": "join", "room": conversation}));
    let e = alice.wait_error();
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("direct conversation"),
        "{e}"
    );

    // Alice restarts (a new session knows no conversation): Bob's next message
    // brings the conversation back, the earlier part as history, each once.
    alice.restart();
    bob.wait_joined(&alice.peer_id, TIMEOUT);
    alice.wait_joined(&bob.peer_id, TIMEOUT);
    bob.send_cmd(json!({"cmd": "dm", "to": alice.peer_id, "text": "welcome back"}));
    let live = alice.wait_for("the live message", TIMEOUT, |e| {
        e["event"] == "message" && e["text"] == "welcome back"
    });
    assert_eq!(live["seq"], 7, "{live}");
    assert!(live.get("history").is_none(), "{live}");
    let earlier = alice.seen(|e| {
        e["event"] == "message" && e["room"] == conversation.as_str() && e["history"] == true
    });
    let mut seqs: Vec<u64> = earlier.iter().filter_map(|e| e["seq"].as_u64()).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5, 6],
        "history after restart: {earlier:?}"
    );
    drop((s1, s2));
}
