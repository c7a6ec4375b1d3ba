//! Ordered chat: 3 servers, 3 clients each attached to a different server,
//! 100 messages per client fired without waiting. Every client delivers all
//! 300 in the identical order, seq 1..=300 without gaps, each exactly once,
//! and each sender gets one `sent` per message carrying the seq of its
//! `message` event.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, count_messages, count_sent};
use common::{Net, TIMEOUT};

const PER_CLIENT: usize = 100;

#[test]
fn ordered_chat() {
    let started = Instant::now();
    let net = Net::new();
    let mut servers = cluster::servers(&net, 3);
    cluster::wait_stable(&mut servers, 3, TIMEOUT);
    let mut clients: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .zip(&servers)
        .map(|(nick, s)| net.client(nick, &[], &[s.addr()]))
        .collect();
    // Each client has heard of the leader before the burst (not required for
    // correctness: submissions wait and retry, but it keeps the test quick).
    for c in clients.iter_mut() {
        c.wait_event("leader", TIMEOUT, |_| true);
    }
    let t0 = Instant::now();
    for i in 1..=PER_CLIENT {
        for c in clients.iter_mut() {
            let text = format!("{}-{i}", c.name());
            c.say("lobby", &text);
        }
    }
    let total = PER_CLIENT * clients.len();
    for c in clients.iter_mut() {
        c.wait_until(
            &format!("all {total} messages delivered and {PER_CLIENT} acknowledged"),
            Duration::from_secs(60),
            |h| count_messages(h, "lobby") >= total && count_sent(h) >= PER_CLIENT,
        );
    }
    eprintln!(
        "ordered_chat: {total} messages committed and delivered at 3 clients in {:?}",
        t0.elapsed()
    );
    let order = cluster::check_converged(&mut clients, "lobby");
    assert_eq!(order.len(), total);
    for c in clients.iter_mut() {
        let name = c.name().to_string();
        let mine = cluster::delivered(c)
            .into_iter()
            .filter(|m| m.text.starts_with(&format!("{name}-")))
            .count();
        assert_eq!(mine, PER_CLIENT, "{name}: own messages delivered");
        assert_eq!(
            cluster::sent(c).len(),
            PER_CLIENT,
            "{name}: one `sent` each"
        );
        let errors = c.seen(|e| e["event"] == "error");
        assert!(errors.is_empty(), "{name}: errors {errors:?}");
    }
    eprintln!("ordered_chat: total {:?}", started.elapsed());
}
