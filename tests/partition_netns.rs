//! A partition in network namespaces the test creates: 5 servers and 2
//! clients on a LAN of two bridges (s1, s2 and client `minnie` on bridge 1;
//! s3, s4, s5 and client `major` on bridge 0). Bringing down the link between
//! the bridges cuts 2 servers from 3: the minority client gets no `sent`
//! while cut off, the majority side keeps committing; after healing
//! everything converges (same order at both clients, nothing lost, the
//! minority client's pending messages committed, all 5 servers voters again).
//!
//! Needs root and `ip` (iproute2); see `common::netns`.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{self, count_messages, count_sent};
use common::netns::{self, build_lan, Namespaces};
use common::{Net, Node, TIMEOUT};

const SUBNET: &str = "10.213.8";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn partition_netns() {
    let started = Instant::now();
    let mut nss = Namespaces::new();
    let layout = [
        ("s1", 1),
        ("s2", 1),
        ("s3", 0),
        ("s4", 0),
        ("s5", 0),
        ("minnie", 1),
        ("major", 0),
    ];
    let lan = match build_lan(&mut nss, SUBNET, 2, &layout) {
        Ok(lan) => lan,
        Err(why) => return netns::unavailable("partition_netns", &why),
    };
    let net = Net::new();
    let mut servers: Vec<Node> = Vec::new();
    for (i, (name, _)) in layout[..5].iter().enumerate() {
        let mut args = strings(&["server", "--no-mdns", "--bootstrap-expect", "5"]);
        for s in &servers {
            args.extend(["--bootstrap".into(), s.addr().to_string()]);
        }
        servers.push(netns::start(&net, &lan.hosts[i], name, &args));
    }
    cluster::wait_stable(&mut servers, 5, TIMEOUT);
    let client = |name: &str, host: usize, boot: &[&Node]| {
        let mut args = strings(&["client", "--no-mdns", "--nick", name]);
        for s in boot {
            args.extend(["--bootstrap".into(), s.addr().to_string()]);
        }
        netns::start(&net, &lan.hosts[host], name, &args)
    };
    let mut minnie = client("minnie", 5, &[&servers[0], &servers[1]]);
    let mut major = client("major", 6, &[&servers[2], &servers[3], &servers[4]]);
    for c in [&mut minnie, &mut major] {
        c.wait_event("leader", TIMEOUT, |_| true);
    }
    // Traffic from both sides before the cut, all acknowledged.
    let mut sent_minnie = 0;
    let mut sent_major = 0;
    for _ in 0..10 {
        sent_minnie += 1;
        minnie.say("lobby", &format!("minnie-{sent_minnie}"));
        sent_major += 1;
        major.say("lobby", &format!("major-{sent_major}"));
    }
    for (c, n) in [(&mut minnie, sent_minnie), (&mut major, sent_major)] {
        c.wait_until("acknowledged before the cut", TIMEOUT, |h| {
            count_sent(h) >= n
        });
    }

    lan.cut(1).expect("cut the link between the bridges");
    let cut_at = Instant::now();
    let minnie_acked = count_sent(minnie.history());
    // The majority side keeps committing (after electing a leader if the old
    // one is on the minority side); the minority client's messages wait.
    let minnie_before = sent_minnie;
    let mut major_acked_during = 0;
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end || major_acked_during < 5 {
        assert!(
            cut_at.elapsed() < Duration::from_secs(40),
            "the majority side commits nothing while cut off"
        );
        sent_minnie += 1;
        minnie.say("lobby", &format!("minnie-{sent_minnie}"));
        sent_major += 1;
        major.say("lobby", &format!("major-{sent_major}"));
        std::thread::sleep(Duration::from_millis(200));
        major_acked_during = count_sent(major.history()) - 10;
    }
    let minnie_acked_cut = count_sent(minnie.history());
    assert_eq!(
        minnie_acked_cut, minnie_acked,
        "the minority client got `sent` while cut off"
    );
    let st = minnie.status();
    assert!(
        st["pending"].as_u64().unwrap_or(0) >= (sent_minnie - minnie_before) as u64,
        "minority client: {st}"
    );
    eprintln!(
        "partition_netns: cut {:?}: majority acknowledged {major_acked_during}, minority 0 of {}",
        cut_at.elapsed(),
        sent_minnie - minnie_before
    );

    lan.heal(1).expect("heal the link");
    let healed = Instant::now();
    let total = sent_minnie + sent_major;
    for (c, mine) in [(&mut minnie, sent_minnie), (&mut major, sent_major)] {
        c.wait_until(
            "everything delivered and acknowledged after healing",
            Duration::from_secs(60),
            |h| count_messages(h, "lobby") >= total && count_sent(h) >= mine,
        );
    }
    eprintln!(
        "partition_netns: converged {:?} after healing",
        healed.elapsed()
    );
    let mut clients = [minnie, major];
    let order = cluster::check_converged(&mut clients, "lobby");
    assert_eq!(order.len(), total);
    // All five servers are voters again under one leader.
    cluster::wait_stable(&mut servers, 5, Duration::from_secs(60));
    eprintln!("partition_netns: total {:?}", started.elapsed());
}
