//! `chorus up`: the local cluster in one command. It prints how a second
//! terminal joins; a client started that way chats with it both ways; `/quit`
//! ends it and leaves no process behind.

mod common;

use common::{wait_no_process_mentioning, Net, Spec, TIMEOUT};
use serde_json::Value;

/// The text of a line-mode output line.
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

#[test]
fn up() {
    let net = Net::new();
    let dir = net.data_dir("up");
    let dir_s = dir.display().to_string();
    let mut up = net.spawn(Spec {
        name: "up".into(),
        wrapper: Vec::new(),
        args: ["up", "--data-dir", &dir_s, "--nick", "alice"]
            .map(String::from)
            .to_vec(),
        json: false,
        log: net.path().join("up.stderr"),
    });

    // The join command line: `<exe> client --nick bob ... --bootstrap <addr>`.
    let line = up.wait_for("the join command", TIMEOUT, |v| {
        let t = text(v);
        t.contains(" client --nick bob ") && t.contains("--bootstrap ")
    });
    let words: Vec<&str> = text(&line).split_whitespace().collect();
    let i = words.iter().position(|w| *w == "--bootstrap").unwrap();
    let bootstrap = words.get(i + 1).expect("an address after --bootstrap");
    assert!(bootstrap.contains("/p2p/"), "{line}");

    let mut args = net.node_args("bob", "client", &[bootstrap]);
    args.extend(["--nick".into(), "bob".into()]);
    let mut bob = net.start_ready("bob", args);
    bob.wait_for("alice joined", TIMEOUT, |e| {
        e["event"] == "peer_joined" && e["nick"] == "alice"
    });
    up.wait_for("bob joined", TIMEOUT, |v| {
        text(v).starts_with("* bob ") && text(v).ends_with(" joined")
    });

    // bob -> up, shown as `[lobby] bob: <text>`.
    bob.say("lobby", "hello alice from bob");
    up.wait_for("bob's message", TIMEOUT, |v| {
        text(v) == "[lobby] bob: hello alice from bob"
    });

    // A line typed into up reaches bob.
    up.send_line("hello bob from up");
    let m = bob.wait_message("lobby", "hello bob from up");
    assert_eq!(m["nick"], "alice", "{m}");

    // /quit ends up and every process it started.
    up.send_line("/quit");
    let status = up.wait_exit(TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "up did not exit cleanly: {status:?}\n{}",
        up.report()
    );
    let left = wait_no_process_mentioning(&dir_s, TIMEOUT);
    assert!(left.is_empty(), "processes left running: {left:?}");

    // bob sees the cluster go away.
    bob.wait_for("alice left", TIMEOUT, |e| {
        e["event"] == "peer_left" && e["nick"] == "alice"
    });
}
