//! History: after 120 messages a late client gets the last 50 (seq 71..=120)
//! in order with `"history":true`, then pages back with
//! `{"cmd":"history","before":N,"limit":N}`.

mod common;

use common::cluster::{self, count_sent, Delivered};
use common::{Net, TIMEOUT};
use serde_json::json;

const N: usize = 120;

fn page(bob: &mut common::Node, before: u64, limit: u64, expect: std::ops::RangeInclusive<u64>) {
    let already = cluster::delivered(bob).len();
    bob.send_cmd(json!({"cmd": "history", "room": "lobby", "before": before, "limit": limit}));
    let want = expect.clone().count();
    bob.wait_until(&format!("page before {before}"), TIMEOUT, |h| {
        h.iter().filter_map(cluster::as_delivered).count() >= already + want
    });
    let got: Vec<Delivered> = cluster::delivered(bob).split_off(already);
    let seqs: Vec<u64> = got.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        expect.collect::<Vec<_>>(),
        "page before {before} limit {limit}"
    );
    for m in &got {
        assert!(m.history, "paged messages are history: {m:?}");
        assert_eq!(m.text, format!("m-{}", m.seq), "{m:?}");
    }
}

#[test]
fn history() {
    let net = Net::new();
    let mut servers = cluster::servers(&net, 3);
    cluster::wait_stable(&mut servers, 3, TIMEOUT);
    let mut alice = net.client("alice", &[], &[servers[0].addr()]);
    alice.wait_event("leader", TIMEOUT, |_| true);
    // One at a time, so that text m-<seq> sits at seq <seq>.
    for i in 1..=N {
        alice.say("lobby", &format!("m-{i}"));
        alice.wait_until("acknowledged", TIMEOUT, |h| count_sent(h) >= i);
    }
    let mut bob = net.client("bob", &[], &[servers[1].addr()]);
    bob.wait_until("the last 50 delivered", TIMEOUT, |h| {
        h.iter().filter_map(cluster::as_delivered).count() >= 50
    });
    let got = cluster::delivered(&mut bob);
    let seqs: Vec<u64> = got.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (71..=120).collect::<Vec<_>>());
    for m in &got {
        assert!(m.history, "{m:?}");
        assert_eq!(m.text, format!("m-{}", m.seq), "{m:?}");
    }
    page(&mut bob, 71, 50, 21..=70);
    page(&mut bob, 21, 50, 1..=20);
    page(&mut bob, 5, 2, 3..=4);
    // Live delivery goes on after paging.
    alice.say("lobby", "m-121");
    let m = bob.wait_message("lobby", "m-121");
    assert_eq!(m["seq"], 121, "{m}");
    assert!(m["history"] != true, "{m}");
    let errors = bob.seen(|e| e["event"] == "error");
    assert!(errors.is_empty(), "{errors:?}");
}
