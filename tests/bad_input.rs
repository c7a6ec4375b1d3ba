//! Bad arguments end with a short error and a non-zero exit, never a panic;
//! bad stdin commands get an `error` event and the node keeps running;
//! `chorus status` prints a running server's status.

mod common;

use std::time::Duration;

use common::{strings, Net, TIMEOUT};
use serde_json::{json, Value};

/// How long a refused start may take.
const EXIT: Duration = Duration::from_secs(20);

fn args_with(net: &Net, name: &str, extra: &[&str]) -> Vec<String> {
    let mut args = net.node_args(name, "server", &[]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run(net: &Net, args: &[String]) -> common::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    net.run(&args, EXIT)
}

#[test]
fn bad_arguments() {
    let net = Net::new();

    // Invalid multiaddrs.
    for flag in ["--listen", "--bootstrap"] {
        for bad in [
            "not-a-multiaddr",
            "/ip4/999.1.1.1/tcp/1",
            "/ip4/127.0.0.1/tcp/notaport",
        ] {
            let out = run(&net, &args_with(&net, "m", &[flag, bad]));
            let err = out.assert_refused(&format!("{flag} {bad}"));
            assert!(
                err.contains(flag),
                "{flag} {bad}: error does not name the flag:\n{err}"
            );
        }
    }
    let out = net.run(&["client", "--nick", "x", "--bootstrap", "garbage"], EXIT);
    out.assert_refused("client --bootstrap garbage");

    // A data dir that cannot be created: a path under a regular file.
    let file = net.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let under = file.join("data");
    let mut args = net.node_args("x", "server", &[]);
    let i = args.iter().position(|a| a == "--data-dir").unwrap();
    args[i + 1] = under.display().to_string();
    let err = run(&net, &args)
        .assert_refused("data dir under a file")
        .to_string();
    assert!(err.contains("data dir"), "unclear error:\n{err}");

    // An address that cannot be bound: a port another socket holds.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut args = net.node_args("busy", "server", &[]);
    let i = args.iter().position(|a| a == "--listen").unwrap();
    args[i + 1] = format!("/ip4/127.0.0.1/tcp/{port}");
    let err = run(&net, &args).assert_refused("port in use").to_string();
    assert!(
        err.contains(&port.to_string()),
        "error does not name the address:\n{err}"
    );
    drop(holder);

    // Bad client arguments.
    net.run(&["client", "--nick", "has space", "--no-mdns"], EXIT)
        .assert_refused("nick with a space");
    net.run(&["client", "--nick", "x", "--room", "bad room!"], EXIT)
        .assert_refused("invalid room");

    // A second process on the same data dir is refused; the first keeps running.
    let mut first = net.server("shared", &[]);
    let out = run(&net, &net.node_args("shared", "server", &[]));
    let err = out.assert_refused("second process on one data dir");
    assert!(err.contains("in use"), "unclear error:\n{err}");
    assert_eq!(first.status()["peer_id"], first.peer_id.as_str());
}

#[test]
fn bad_commands_and_status() {
    let net = Net::new();
    let mut server = net.server("S", &[]);
    let mut alice = net.client("alice", &[], &[server.addr()]);
    alice.wait_joined(&server.peer_id, TIMEOUT);

    let long = "x".repeat(4097);
    let bad: Vec<(String, &str)> = vec![
        ("{\"cmd\": \"send\"".into(), "malformed JSON"),
        ("{not json at all}".into(), "malformed JSON"),
        (json!({"cmd": "fly"}).to_string(), "unknown command"),
        (json!({"text": "no cmd"}).to_string(), "missing cmd"),
        (json!({"cmd": 7}).to_string(), "non-string cmd"),
        (
            json!({"cmd": "send", "room": "lobby"}).to_string(),
            "send without text",
        ),
        (json!({"cmd": "join"}).to_string(), "join without room"),
        (json!({"cmd": "nick"}).to_string(), "nick without nick"),
        (
            json!({"cmd": "send", "room": "lobby", "text": long}).to_string(),
            "text over 4096 bytes",
        ),
        (
            json!({"cmd": "send", "room": "elsewhere", "text": "hi"}).to_string(),
            "room not joined",
        ),
        (
            json!({"cmd": "send", "room": "lobby", "text": "   "}).to_string(),
            "blank text",
        ),
        (
            json!({"cmd": "join", "room": "bad room!"}).to_string(),
            "invalid room name",
        ),
        (
            json!({"cmd": "join", "room": "r".repeat(65)}).to_string(),
            "over-long room name",
        ),
        (
            json!({"cmd": "leave", "room": "never-joined"}).to_string(),
            "leave a room not joined",
        ),
        (
            json!({"cmd": "nick", "nick": "two words"}).to_string(),
            "invalid nick",
        ),
        (
            json!({"cmd": "status", "extra": 1}).to_string(),
            "unknown field",
        ),
    ];
    for (line, what) in &bad {
        alice.send_line(line);
        let e = alice.wait_error();
        let msg = e["message"].as_str().unwrap_or_default();
        assert!(!msg.is_empty(), "{what}: empty error {e}");
        eprintln!("{what}: {msg}");
        // Still running and answering.
        assert_eq!(alice.status()["nick"], "alice", "{what}");
    }
    // The long text (exactly at the limit) is fine; one byte more was refused.
    let max = "y".repeat(4096);
    alice.say("lobby", &max);
    alice.wait_message("lobby", &max);
    let refused = alice.seen(|e| e["event"] == "message" && e["text"] == long.as_str());
    assert!(refused.is_empty(), "the over-long text was sent");

    // Servers refuse chat commands and bad lines alike, and keep running.
    for line in [
        json!({"cmd": "send", "room": "lobby", "text": "hi"}).to_string(),
        "{oops".to_string(),
        "plain text".to_string(),
    ] {
        server.send_line(&line);
        server.wait_error();
    }
    assert_eq!(server.status()["role"], "server");

    // `chorus status <addr> --json` against the running server.
    let out = net.run(&["status", server.addr(), "--json"], EXIT);
    assert!(out.status.success(), "chorus status failed: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {:?}", out.stdout);
    let status: Value = serde_json::from_str(lines[0]).expect("status is JSON");
    assert_eq!(status["event"], "status", "{status}");
    assert_eq!(status["peer_id"], server.peer_id.as_str(), "{status}");
    assert_eq!(status["role"], "server", "{status}");
    assert_eq!(
        strings(&status["servers"]),
        [server.peer_id.clone()],
        "{status}"
    );
    assert!(
        common::status_peers(&status, "client").contains(&alice.peer_id),
        "the server knows alice: {status}"
    );
    assert!(!strings(&status["listen_addrs"]).is_empty(), "{status}");

    // The human form names the peer id too; an unreachable node is an error.
    let out = net.run(&["status", server.addr()], EXIT);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(&server.peer_id), "{}", out.stdout);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    drop(holder); // nothing listens there now
    let nobody = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", server.peer_id);
    net.run(&["status", &nobody, "--timeout", "5"], EXIT)
        .assert_refused("status of an unreachable node");

    alice.quit();
    server.quit();
}
