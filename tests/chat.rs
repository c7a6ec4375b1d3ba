//! Chat between clients attached to different servers: messages cross both
//! ways, the same text sent twice arrives twice with two ids, rooms keep their
//! messages apart, and `join`/`leave` work.

mod common;

use common::{strings, Net, TIMEOUT};
use serde_json::json;

#[test]
fn chat() {
    let net = Net::new();
    let s1 = net.server("S1", &[]);
    let s2 = net.server("S2", &[s1.addr()]);
    let mut alice = net.client("alice", &[], &[s1.addr()]);
    let mut bob = net.client("bob", &[], &[s2.addr()]);
    let mut carol = net.client("carol", &["other"], &[s2.addr()]);

    // Everyone knows everyone before the chat starts.
    for id in [&bob.peer_id, &carol.peer_id, &s1.peer_id, &s2.peer_id] {
        alice.wait_joined(id, TIMEOUT);
    }
    for id in [&alice.peer_id, &carol.peer_id] {
        bob.wait_joined(id, TIMEOUT);
    }
    carol.wait_joined(&alice.peer_id, TIMEOUT);
    assert_eq!(strings(&alice.status()["rooms"]), ["lobby"]);
    assert_eq!(strings(&carol.status()["rooms"]), ["other"]);

    // Alice -> Bob, and the author sees her own message.
    alice.say("lobby", "hello bob");
    let m = bob.wait_message("lobby", "hello bob");
    assert_eq!(m["from"], alice.peer_id.as_str(), "{m}");
    assert_eq!(m["nick"], "alice", "{m}");
    let own = alice.wait_message("lobby", "hello bob");
    assert_eq!(own["id"], m["id"], "same message, same id");

    // Bob -> Alice, as a plain line (text for the current room).
    bob.send_line("hello alice");
    let m = alice.wait_message("lobby", "hello alice");
    assert_eq!(m["from"], bob.peer_id.as_str(), "{m}");
    assert_eq!(m["nick"], "bob", "{m}");

    // The same text twice is two messages with two ids.
    alice.say("lobby", "same text");
    alice.say("lobby", "same text");
    let first = bob.wait_message("lobby", "same text");
    let second = bob.wait_message("lobby", "same text");
    assert_ne!(first["id"], second["id"], "{first} {second}");

    // join: Bob and Alice meet in "dev"; a plain line goes to the current room.
    bob.send_cmd(json!({"cmd": "join", "room": "dev"}));
    alice.send_cmd(json!({"cmd": "join", "room": "dev"}));
    assert_eq!(strings(&bob.status()["rooms"]), ["dev", "lobby"]);
    assert_eq!(strings(&alice.status()["rooms"]), ["dev", "lobby"]);
    alice.send_line("in dev");
    let m = bob.wait_message("dev", "in dev");
    assert_eq!(m["from"], alice.peer_id.as_str(), "{m}");

    // leave: Bob no longer gets "dev", still gets "lobby".
    bob.send_cmd(json!({"cmd": "leave", "room": "dev"}));
    assert_eq!(strings(&bob.status()["rooms"]), ["lobby"]);
    alice.say("dev", "after leave");
    alice.wait_message("dev", "after leave");
    alice.say("lobby", "lobby marker");
    bob.wait_message("lobby", "lobby marker");

    // Alice joins Carol's room: Carol gets that, and nothing from lobby or dev.
    alice.send_cmd(json!({"cmd": "join", "room": "other"}));
    alice.say("other", "hi carol");
    let m = carol.wait_message("other", "hi carol");
    assert_eq!(m["nick"], "alice", "{m}");
    carol.say("other", "hi alice");
    alice.wait_message("other", "hi alice");

    // Bob, after one more lobby message, has seen nothing of "dev" after leaving
    // and nothing of "other"; Carol nothing of "lobby" or "dev". (Checked after
    // later messages arrived, so anything misrouted would have arrived too.)
    bob.send_line("bob marker");
    alice.wait_message("lobby", "bob marker");
    bob.wait_message("lobby", "bob marker");
    let leaked = bob
        .seen(|e| e["event"] == "message" && (e["text"] == "after leave" || e["room"] == "other"));
    assert!(
        leaked.is_empty(),
        "bob got messages of rooms he is not in: {leaked:?}"
    );
    let leaked = carol.seen(|e| e["event"] == "message" && e["room"] != "other");
    assert!(
        leaked.is_empty(),
        "carol got messages of rooms she is not in: {leaked:?}"
    );
    let dups =
        bob.seen(|e| e["event"] == "message" && e["text"] == "hello bob" && e["history"] != true);
    assert_eq!(dups.len(), 1, "one message arrives once: {dups:?}");

    for client in [&mut alice, &mut bob, &mut carol] {
        let errors = client.seen(|e| e["event"] == "error");
        assert!(
            errors.is_empty(),
            "{}: unexpected errors {errors:?}",
            client.name()
        );
        client.quit();
    }
}
