//! Every server killed with SIGKILL at once and restarted from its data dir
//! (same ports): every acknowledged message is still there (a new client's
//! history holds them all, with the same seqs) and new messages continue the
//! numbering.

mod common;

use std::time::Instant;

use common::cluster::{self, count_messages, count_sent, Delivered};
use common::{Net, TIMEOUT};

const BEFORE: usize = 40;

#[test]
fn restart_all() {
    let started = Instant::now();
    let net = Net::new();
    let mut servers = cluster::servers(&net, 3);
    cluster::wait_stable(&mut servers, 3, TIMEOUT);
    let mut alice = net.client("alice", &[], &[servers[0].addr()]);
    alice.wait_event("leader", TIMEOUT, |_| true);
    for i in 1..=BEFORE {
        alice.say("lobby", &format!("before-{i}"));
    }
    alice.wait_until("all acknowledged", TIMEOUT, |h| count_sent(h) >= BEFORE);
    let acked = cluster::sent(&mut alice);

    // All at once: no server gets to write anything after the first dies.
    for s in servers.iter_mut() {
        cluster::pin_port(s);
    }
    for s in servers.iter_mut() {
        s.kill9();
    }
    let t = Instant::now();
    for i in 0..servers.len() {
        cluster::restart(&mut servers, i);
    }
    cluster::wait_stable(&mut servers, 3, TIMEOUT);
    eprintln!(
        "restart_all: a leader again {:?} after the kill",
        t.elapsed()
    );

    // A new client: its history is exactly what was acknowledged.
    let boot: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let boot: Vec<&str> = boot.iter().map(String::as_str).collect();
    let mut dave = net.client("dave", &[], &boot);
    dave.wait_until("history loaded", TIMEOUT, |h| {
        count_messages(h, "lobby") >= BEFORE
    });
    let history: Vec<Delivered> = cluster::delivered(&mut dave);
    assert!(history.iter().all(|m| m.history), "{history:?}");
    cluster::check_gap_free("dave", &history);
    for (id, seq) in &acked {
        let m = &history[(*seq - 1) as usize];
        assert_eq!(
            &m.id, id,
            "acknowledged {id} at seq {seq}, history has {m:?}"
        );
    }

    // New messages continue the numbering, for both clients.
    alice.forget();
    alice.say("lobby", "after the restart");
    let e = alice.wait_event("sent", TIMEOUT, |_| true);
    assert_eq!(e["seq"], BEFORE as u64 + 1, "{e}");
    let m = dave.wait_message("lobby", "after the restart");
    assert_eq!(m["seq"], BEFORE as u64 + 1, "{m}");
    assert!(m["history"] != true, "{m}");
    let m = alice.wait_message("lobby", "after the restart");
    assert_eq!(m["seq"], BEFORE as u64 + 1, "{m}");
    eprintln!("restart_all: total {:?}", started.elapsed());
}
