//! Failover under load: 5 servers, 3 clients sending continuously; the leader
//! is killed with SIGKILL three times, each time restarted from its data dir
//! once another server leads. Afterwards every message (all are acknowledged
//! in the end: clients retry until they are) is delivered exactly once, in the
//! same order, at every client, and every `sent` matches. Prints the longest
//! pause in deliveries around each failover.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, Traffic};
use common::{Net, TIMEOUT};

const KILLS: usize = 3;

#[test]
fn failover() {
    let started = Instant::now();
    let net = Net::new();
    let mut servers = cluster::servers(&net, 5);
    cluster::wait_stable(&mut servers, 5, TIMEOUT);
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let mut clients: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, nick)| {
            // Two servers each: a client must survive its first server dying.
            let boot = [addrs[i].as_str(), addrs[i + 2].as_str()];
            net.client(nick, &[], &boot)
        })
        .collect();
    for c in clients.iter_mut() {
        c.wait_event("leader", TIMEOUT, |_| true);
    }
    let mut traffic = Traffic::new(clients.len(), "lobby", Duration::from_millis(25));
    traffic.run_for(&mut clients, Duration::from_millis(500));

    let mut kills = Vec::new();
    for k in 1..=KILLS {
        // Whom to kill: the leader every server agrees on (traffic goes on
        // while the servers are asked).
        let leader = loop {
            traffic.round(&mut clients);
            if let (Some(l), _) = cluster::stable_once(&mut servers, 5, |_| true) {
                break l;
            }
        };
        traffic.run_for(&mut clients, Duration::from_millis(300));
        let victim = servers[leader].peer_id.clone();
        let at = Instant::now();
        servers[leader].kill9();
        eprintln!(
            "failover: kill {k}: killed leader {}",
            servers[leader].name()
        );
        // Another server leads: every live server names it.
        let deadline = at + TIMEOUT;
        let new_leader = loop {
            traffic.round(&mut clients);
            let (l, statuses) = cluster::stable_once(&mut servers, 5, |_| true);
            if let Some(l) = l.filter(|l| servers[*l].peer_id != victim) {
                break l;
            }
            assert!(
                Instant::now() < deadline,
                "no new leader {TIMEOUT:?} after killing {victim}: {statuses:?}"
            );
        };
        let elected = at.elapsed();
        eprintln!(
            "failover: kill {k}: {} leads after {elected:?}",
            servers[new_leader].name()
        );
        // Deliveries go on for a while under the new leader before the
        // restart (which blocks this thread) and are part of the pause measure.
        traffic.run_for(&mut clients, Duration::from_millis(1000));
        let restart_at = Instant::now();
        cluster::restart(&mut servers, leader);
        // Back to 5 live servers agreeing on a leader, with traffic flowing.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            traffic.round(&mut clients);
            let (l, statuses) = cluster::stable_once(&mut servers, 5, |_| true);
            if l.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cluster not stable after restarting {victim}: {statuses:?}"
            );
        }
        traffic.run_for(&mut clients, Duration::from_millis(500));
        kills.push((k, at, elected, restart_at));
    }
    traffic.wait_all_delivered(&mut clients, Duration::from_secs(60));
    let order = cluster::check_converged(&mut clients, "lobby");
    assert_eq!(order.len(), traffic.total(), "every message exactly once");
    for c in clients.iter_mut() {
        let name = c.name().to_string();
        assert_eq!(
            cluster::sent(c).len(),
            traffic.sent[clients_index(&name)],
            "{name}: one `sent` per message"
        );
    }
    for (k, at, elected, restart_at) in kills {
        let pause = traffic
            .pause_around(at, restart_at)
            .expect("deliveries on both sides of a kill");
        eprintln!(
            "failover: kill {k}: new leader after {elected:?}, longest pause in deliveries {pause:?}"
        );
    }
    eprintln!(
        "failover: {} messages, {KILLS} leader kills, total {:?}",
        traffic.total(),
        started.elapsed()
    );
}

fn clients_index(name: &str) -> usize {
    ["alice", "bob", "carol"]
        .iter()
        .position(|n| *n == name)
        .expect("a client name")
}
