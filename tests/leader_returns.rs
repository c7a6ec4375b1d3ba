//! A stable cluster is led by its highest id. Killed with SIGKILL, another
//! server leads; restarted from its data dir, it catches up (same commit
//! index as the others) and becomes leader again: a `leader` event names it
//! with a higher term than the interim leader's.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, count_sent};
use common::{Net, TIMEOUT};

#[test]
fn leader_returns() {
    let started = Instant::now();
    let net = Net::new();
    let mut servers = cluster::servers(&net, 3);
    let top = cluster::highest(&servers);
    let top_id = servers[top].peer_id.clone();
    let (leader, statuses) = cluster::wait_stable_with(&mut servers, 3, TIMEOUT, |_| true);
    assert_eq!(leader, top, "the highest id leads: {statuses:?}");
    let boot: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let boot: Vec<&str> = boot.iter().map(String::as_str).collect();
    let mut alice = net.client("alice", &[], &boot);
    alice.wait_event("leader", TIMEOUT, |e| e["peer_id"] == top_id.as_str());
    for i in 1..=10 {
        alice.say("lobby", &format!("first-{i}"));
    }
    alice.wait_until("acknowledged", TIMEOUT, |h| count_sent(h) >= 10);

    servers[top].kill9();
    let at = Instant::now();
    let (interim, statuses) = cluster::wait_stable_with(&mut servers, 3, TIMEOUT, |st| {
        st.iter().all(|s| s["leader"] != top_id.as_str())
    });
    let interim_term = statuses[0]["term"].as_u64().expect("term");
    eprintln!(
        "leader_returns: {} leads (term {interim_term}) {:?} after the kill",
        servers[interim].name(),
        at.elapsed()
    );
    // Messages committed while it is away: it must catch up on them.
    for i in 1..=20 {
        alice.say("lobby", &format!("second-{i}"));
    }
    alice.wait_until("acknowledged", TIMEOUT, |h| count_sent(h) >= 30);

    cluster::restart(&mut servers, top);
    let back = Instant::now();
    let e = servers[top].wait_event("leader", TIMEOUT, |e| {
        e["peer_id"] == top_id.as_str() && e["term"].as_u64().unwrap_or(0) > interim_term
    });
    eprintln!(
        "leader_returns: {} leads again (term {}) {:?} after its restart",
        servers[top].name(),
        e["term"],
        back.elapsed()
    );
    let (leader, statuses) = cluster::wait_stable_with(&mut servers, 3, TIMEOUT, |st| {
        let commits: Vec<_> = st.iter().map(|s| s["commit_index"].clone()).collect();
        commits.windows(2).all(|w| w[0] == w[1])
    });
    assert_eq!(leader, top, "{statuses:?}");
    for (_, s) in servers.iter_mut().enumerate().filter(|(i, _)| *i != top) {
        s.wait_event("leader", TIMEOUT, |e| {
            e["peer_id"] == top_id.as_str() && e["term"].as_u64().unwrap_or(0) > interim_term
        });
    }
    alice.wait_event("leader", TIMEOUT, |e| {
        e["peer_id"] == top_id.as_str() && e["term"].as_u64().unwrap_or(0) > interim_term
    });
    alice.say("lobby", "under the returned leader");
    alice.wait_until("acknowledged", Duration::from_secs(30), |h| {
        count_sent(h) >= 31
    });
    alice.wait_until("delivered", TIMEOUT, |h| {
        cluster::count_messages(h, "lobby") >= 31
    });
    cluster::check_converged(std::slice::from_mut(&mut alice), "lobby");
    eprintln!("leader_returns: total {:?}", started.elapsed());
}
