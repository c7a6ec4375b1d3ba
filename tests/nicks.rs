//! Nicks told apart, through the real binary: two clients (two keys) that
//! both call themselves `bob` are shown to a line-mode client as `bob#<tag>`
//! (the last 4 characters of each peer id); a nick one client alone uses is
//! shown plainly; the JSON events keep their shape (`from` is the peer id).

mod common;

use common::{Net, Spec, TIMEOUT};
use serde_json::Value;

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn tag(peer_id: &str) -> &str {
    &peer_id[peer_id.len() - 4..]
}

#[test]
fn same_nick_two_keys_are_tagged_in_line_mode() {
    let net = Net::new();
    let server = net.server("s1", &[]);
    let addr = server.addr().to_string();
    let mut carol_args = net.node_args("carol", "client", &[&addr]);
    carol_args.retain(|a| a != "--json");
    carol_args.extend(["--nick".into(), "carol".into()]);
    let mut carol = net.spawn(Spec {
        name: "carol".into(),
        wrapper: Vec::new(),
        args: carol_args,
        json: false,
        log: net.path().join("carol.stderr"),
    });
    carol.wait_for("ready line", TIMEOUT, |v| {
        text(v).contains(" ready, listening")
    });

    let bob = |name: &str| {
        let mut args = net.node_args(name, "client", &[&addr]);
        args.extend(["--nick".into(), "bob".into()]);
        net.start_ready(name, args)
    };
    let mut bob1 = bob("bob1");
    let mut bob2 = bob("bob2");
    let mut dave = net.client("dave", &[], &[&addr]);
    for b in [&bob1, &bob2] {
        let joined = format!("* bob ({}) joined", &b.peer_id[b.peer_id.len() - 8..]);
        carol.wait_for(&joined, TIMEOUT, |v| text(v) == joined);
    }

    bob1.say("lobby", "first bob here");
    bob2.say("lobby", "second bob here");
    dave.say("lobby", "just dave");
    let one = format!("[lobby] bob#{}: first bob here", tag(&bob1.peer_id));
    let two = format!("[lobby] bob#{}: second bob here", tag(&bob2.peer_id));
    carol.wait_for(&one, TIMEOUT, |v| text(v) == one);
    carol.wait_for(&two, TIMEOUT, |v| text(v) == two);
    carol.wait_for("dave, plain", TIMEOUT, |v| {
        text(v) == "[lobby] dave: just dave"
    });

    // JSON keeps its shape: the nick as chosen, the author's peer id in `from`.
    let m = dave.wait_message("lobby", "first bob here");
    assert_eq!(m["nick"], "bob", "{m}");
    assert_eq!(m["from"], bob1.peer_id.as_str(), "{m}");
}
