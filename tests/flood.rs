//! Flood: 3 servers, 2 honest clients chatting once a second, and a hostile
//! client (`chorus flood-client`) submitting messages of the largest size to
//! every server as fast as they answer, never backing off. Throughout the
//! flood every honest message is delivered to the other honest client within
//! [`DELIVERY_BOUND`], and no server or honest client grows beyond
//! [`RSS_BOUND_KIB`] of resident memory.
//!
//! Negative control: with `CHORUS_TEST_NO_RATE_LIMIT=1` (debug builds) the
//! servers run without per-peer rate limits and this test fails (see
//! `docs/security.md`).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cluster;
use common::{rss_kib, Net, Node, Spec, TIMEOUT};
use serde_json::Value;

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(30);
/// Longest time from an honest `send` to its delivery at the other client
/// (measured: about 0.1 s median and under 1 s at worst with the rate limits,
/// 2 s median and over 10 s at worst without them, on a loaded 2-core machine).
const DELIVERY_BOUND: Duration = Duration::from_secs(5);
/// Most resident memory of any server or honest client during the flood
/// (measured: servers at most ~50 MiB with the rate limits, ~95 MiB without;
/// clients ~20 MiB).
const RSS_BOUND_KIB: u64 = 150 * 1024;

/// New `message` texts `node` printed since the last call (per `seen_lines`).
fn new_texts(node: &mut Node, seen_lines: &mut usize) -> Vec<String> {
    let lines = node.history();
    let out = lines[*seen_lines..]
        .iter()
        .filter(|e| e["event"] == "message" && e["room"] == "lobby")
        .filter_map(|e| e["text"].as_str().map(str::to_string))
        .collect();
    *seen_lines = lines.len();
    out
}

#[test]
fn flood() {
    let net = Net::new();
    let mut servers = cluster::servers(&net, 3);
    cluster::wait_stable(&mut servers, 3, TIMEOUT);
    let mut honest = [
        net.client("alice", &[], &[servers[0].addr()]),
        net.client("bob", &[], &[servers[1].addr()]),
    ];
    for c in honest.iter_mut() {
        c.wait_event("leader", TIMEOUT, |_| true);
    }
    honest[0].say("lobby", "hello before the flood");
    honest[1].wait_message("lobby", "hello before the flood");

    let mut args = vec!["flood-client".to_string()];
    for s in &servers {
        args.extend(["--bootstrap".to_string(), s.addr().to_string()]);
    }
    let mut flood = net.spawn(Spec {
        name: "flood".into(),
        wrapper: Vec::new(),
        args,
        json: true,
        log: net.path().join("flood.stderr"),
    });
    flood.wait_event("flood", TIMEOUT, |e| {
        e["servers"] == 3 && e["sent"].as_u64() > Some(0)
    });

    let t0 = Instant::now();
    let mut sent: Vec<(String, usize, Instant)> = Vec::new();
    let mut delivered: HashMap<String, Duration> = HashMap::new();
    let mut seen_lines = [0usize; 2];
    let mut max_rss: HashMap<String, u64> = HashMap::new();
    let mut next_send = t0;
    let end = t0 + FLOOD;
    loop {
        let now = Instant::now();
        if now < end && now >= next_send {
            let from = sent.len() % 2;
            let text = format!("{}-{}", honest[from].name(), sent.len());
            honest[from].say("lobby", &text);
            sent.push((text, 1 - from, now));
            next_send += Duration::from_secs(1);
        }
        for (i, c) in honest.iter_mut().enumerate() {
            for text in new_texts(c, &mut seen_lines[i]) {
                if let Some((_, to, at)) = sent.iter().find(|(t, _, _)| *t == text) {
                    if *to == i {
                        delivered.entry(text).or_insert_with(|| at.elapsed());
                    }
                }
            }
        }
        for node in servers.iter_mut().chain(honest.iter_mut()) {
            let name = node.name().to_string();
            assert!(node.is_running(), "{name} died during the flood");
            if let Some(kib) = rss_kib(node.pid()) {
                let m = max_rss.entry(name.clone()).or_insert(0);
                *m = (*m).max(kib);
                assert!(
                    kib <= RSS_BOUND_KIB,
                    "{name}: resident memory {kib} KiB above the bound {RSS_BOUND_KIB} KiB after {:?} of flood",
                    t0.elapsed()
                );
            }
        }
        let late: Vec<&String> = sent
            .iter()
            .filter(|(t, _, at)| !delivered.contains_key(t) && at.elapsed() > DELIVERY_BOUND)
            .map(|(t, _, _)| t)
            .collect();
        assert!(
            late.is_empty(),
            "honest messages not delivered within {DELIVERY_BOUND:?} during the flood: {late:?} \
             ({} of {} delivered so far)",
            delivered.len(),
            sent.len()
        );
        if now >= end && delivered.len() == sent.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = flood
        .seen(|e| e["event"] == "flood")
        .last()
        .cloned()
        .unwrap_or(Value::Null);
    let mut latencies: Vec<Duration> = delivered.values().copied().collect();
    latencies.sort();
    eprintln!(
        "flood: {} honest messages, delivery p50 {:?}, max {:?}; flooder {stats}; max RSS (KiB) {max_rss:?}",
        sent.len(),
        latencies[latencies.len() / 2],
        latencies.last().copied().unwrap_or_default(),
    );
    let bans = servers
        .iter()
        .filter(|s| std::fs::read_to_string(&s.spec.log).is_ok_and(|l| l.contains("banned for")))
        .count();
    eprintln!("flood: {bans} of 3 servers banned the flooder");
    assert!(sent.len() >= 25, "the honest clients chatted throughout");
    let flood_sent = stats["sent"].as_u64().unwrap_or(0);
    assert!(
        flood_sent > 10 * sent.len() as u64,
        "the flooder really flooded: {stats}"
    );
    // Its messages are signed like an honest client's: some went through
    // (up to the rate limit), the rest were refused by the limit.
    assert!(
        stats["accepted"].as_u64() > Some(0),
        "none accepted: {stats}"
    );
    assert!(
        stats["rejected"].as_u64() > Some(0),
        "none refused: {stats}"
    );
}
