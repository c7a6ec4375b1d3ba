//! A 5-server cluster shrinks to 1 through successive kills: first the
//! leader, then always the lowest id (with two voters the higher one is the
//! one that can go on alone). Each kill waits until the previous one's
//! removal shows in `status.voters` (the leader removes a server silent for
//! its removal timeout, 5 s by default); a message sent after each kill is
//! committed (`sent`), and at the end the client has every message in order.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, key_bytes};
use common::{Net, TIMEOUT};

#[test]
fn shrink() {
    let started = Instant::now();
    let net = Net::new();
    let mut servers = cluster::servers(&net, 5);
    cluster::wait_stable(&mut servers, 5, TIMEOUT);
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let boot: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let mut alice = net.client("alice", &[], &boot);
    alice.wait_event("leader", TIMEOUT, |_| true);
    alice.say("lobby", "before any kill");
    alice.wait_event("sent", TIMEOUT, |_| true);

    let mut voters = 5;
    let mut sent = 1;
    while voters > 1 {
        let (leader, _) = cluster::wait_stable_with(&mut servers, voters, TIMEOUT, |_| true);
        let victim = if voters == 5 {
            leader
        } else {
            let live: Vec<usize> = (0..servers.len())
                .filter(|i| servers[*i].is_running())
                .collect();
            live.into_iter()
                .min_by_key(|i| key_bytes(&servers[*i].peer_id))
                .expect("a live server")
        };
        let name = servers[victim].name().to_string();
        servers[victim].kill9();
        let at = Instant::now();
        let text = format!("after killing {name}");
        alice.say("lobby", &text);
        let e = alice.wait_event("sent", TIMEOUT, |_| true);
        sent += 1;
        eprintln!(
            "shrink: killed {name} ({}), {voters} voters: message committed after {:?} at seq {}",
            if voters == 5 { "leader" } else { "lowest id" },
            at.elapsed(),
            e["seq"]
        );
        voters -= 1;
        // The removal: every live server lists `voters` voters, the victim not
        // among them (removal timeout 5 s, plus detection and commit).
        let victim_id = servers[victim].peer_id.clone();
        cluster::wait_stable_with(&mut servers, voters, Duration::from_secs(30), |st| {
            st.iter().all(|s| {
                !s["voters"]
                    .as_array()
                    .expect("voters")
                    .iter()
                    .any(|v| *v == victim_id.as_str())
            })
        });
        eprintln!("shrink: {name} removed after {:?}", at.elapsed());
    }
    // One server left, alone a quorum: still commits.
    alice.say("lobby", "on the last server");
    alice.wait_event("sent", TIMEOUT, |_| true);
    sent += 1;
    alice.wait_until("all messages delivered", TIMEOUT, |h| {
        cluster::count_messages(h, "lobby") >= sent
    });
    let order = cluster::check_converged(std::slice::from_mut(&mut alice), "lobby");
    assert_eq!(order.len(), sent);
    eprintln!("shrink: total {:?}", started.elapsed());
}
