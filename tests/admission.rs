//! Server admission: with `--operator`, only servers admitted by the operator
//! key vote, lead or count in a quorum. A `chorus server` without an admission
//! cannot start in such a network, and one started without `--operator` (a
//! stranger), even with the highest peer id of all, never becomes a voter or
//! the leader of the admitted servers: its messages are ignored.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{key_bytes, wait_stable_with};
use common::{strings, Net, TIMEOUT};

fn run_ok(net: &Net, args: &[&str]) -> String {
    let run = net.run(args, TIMEOUT);
    assert!(
        run.status.success(),
        "chorus {args:?} failed: {}",
        run.stderr
    );
    run.stdout.trim().to_string()
}

#[test]
fn only_admitted_servers_vote_and_lead() {
    let net = Net::new();
    let op_key = net.path().join("operator.key").display().to_string();
    let operator = run_ok(&net, &["admin", "keygen", &op_key]);

    // Four server identities; the stranger gets the highest id (the one the
    // election prefers), the other three are admitted.
    let mut names: Vec<(Vec<u8>, String, String)> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| {
            let dir = net.data_dir(n).display().to_string();
            let id = run_ok(&net, &["id", "--data-dir", &dir]);
            (key_bytes(&id), n.to_string(), id)
        })
        .collect();
    names.sort();
    let (_, stranger, stranger_id) = names.pop().expect("four ids");
    let admit = |name: &str, id: &str| {
        let file = net
            .path()
            .join(format!("{name}.admission"))
            .display()
            .to_string();
        run_ok(
            &net,
            &[
                "admin",
                "admit",
                id,
                "--operator-key",
                &op_key,
                "--out",
                &file,
            ],
        );
        file
    };
    let closed = |name: &str, admission: Option<&str>, bootstrap: &[&str]| {
        let mut args = net.node_args(name, "server", bootstrap);
        args.extend(["--operator".into(), operator.clone()]);
        if let Some(a) = admission {
            args.extend(["--admission".into(), a.into()]);
        }
        args
    };

    // A server without an admission, or with another server's, cannot start.
    let (_, first, first_id) = &names[0];
    let first_adm = admit(first, first_id);
    net.run(
        &closed(&stranger, None, &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        TIMEOUT,
    )
    .assert_refused("server without admission");
    let borrowed = net.run(
        &closed(&stranger, Some(&first_adm), &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        TIMEOUT,
    );
    let err = borrowed.assert_refused("server with another server's admission");
    assert!(err.contains("does not admit"), "{err}");

    // Three admitted servers form the cluster.
    let mut servers = vec![net.start_ready(first, closed(first, Some(&first_adm), &[]))];
    let seed = servers[0].addr().to_string();
    for (_, name, id) in &names[1..] {
        let adm = admit(name, id);
        servers.push(net.start_ready(name, closed(name, Some(&adm), &[&seed])));
    }
    let admitted: Vec<String> = servers.iter().map(|s| s.peer_id.clone()).collect();
    wait_stable_with(&mut servers, 3, TIMEOUT, |_| true);

    // The stranger, highest id of all, joins the network without admission.
    let mut intruder = net.server(&stranger, &[&seed]);
    assert_eq!(intruder.peer_id, stranger_id);
    servers[0].wait_joined(&stranger_id, TIMEOUT);

    // For several election periods: the admitted servers' voters and leader
    // stay among the admitted; the stranger is never counted.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        for s in servers.iter_mut() {
            let st = s.status();
            let voters = strings(&st["voters"]);
            assert!(
                voters.iter().all(|v| admitted.contains(v)),
                "{}: a non-admitted voter: {st}",
                s.name()
            );
            if let Some(leader) = st["leader"].as_str() {
                assert!(
                    admitted.iter().any(|a| a == leader),
                    "{}: leader {leader} not admitted",
                    s.name()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, statuses) = wait_stable_with(&mut servers, 3, TIMEOUT, |_| true);
    assert!(statuses.iter().all(|st| strings(&st["voters"]).len() == 3));

    // A client of the closed network chats through the admitted servers.
    let mut args = net.node_args("alice", "client", &[&seed]);
    args.extend([
        "--nick".into(),
        "alice".into(),
        "--operator".into(),
        operator.clone(),
    ]);
    let mut alice = net.start_ready("alice", args);
    let mut bob = net.client("bob", &[], &[servers[2].addr()]);
    bob.wait_joined(&alice.peer_id, TIMEOUT);
    alice.say("lobby", "closed but open for business");
    bob.wait_message("lobby", "closed but open for business");
    alice.wait_message("lobby", "closed but open for business");
    assert!(
        intruder.is_running(),
        "the intruder is a running node all along"
    );
}
