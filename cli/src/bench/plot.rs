//! Minimal SVG plots of the bench results (no dependency): grouped bars of
//! throughput (Chorus with 3 and 5 servers, raw gossipsub, etcd) per message
//! size, failover and latency quantiles, catch-up times and resident memory at scale.

use std::fmt::Write;

use super::Results;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// A bar chart: groups of (label, value) bars, one group per category.
fn bars(title: &str, unit: &str, groups: &[(String, Vec<(String, f64)>)]) -> String {
    let (w, h, left, bottom, top) = (720.0, 360.0, 70.0, 60.0, 40.0);
    let max = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, v)| *v))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"];
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    let plot_h = h - bottom - top;
    let plot_w = w - left - 20.0;
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = top + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(unit)
    );
    let gw = plot_w / groups.len().max(1) as f64;
    for (g, (name, bs)) in groups.iter().enumerate() {
        let bw = (gw * 0.8) / bs.len().max(1) as f64;
        let x0 = left + gw * g as f64 + gw * 0.1;
        for (b, (label, v)) in bs.iter().enumerate() {
            let bh = plot_h * v / max;
            let x = x0 + bw * b as f64;
            let y = top + plot_h - bh;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{}: {v:.0}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{v:.0}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                bw * 0.9,
                colors[b % colors.len()],
                esc(label),
                x + bw * 0.45,
                y - 3.0,
                x + bw * 0.45,
                top + plot_h + 14.0,
                esc(label)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + gw * 0.4,
            top + plot_h + 34.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The plots of `r`: (file name, SVG text).
pub fn plots(r: &Results) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for size in [100usize, 1024] {
        let mut b = Vec::new();
        for t in r.throughput.iter().filter(|t| t.size == size) {
            b.push((format!("chorus {}s", t.servers), t.committed_per_s));
        }
        for g in r.gossip.iter().filter(|g| g.size == size) {
            b.push(("gossipsub".to_string(), g.delivered_all_per_s));
        }
        for e in r.etcd.iter().filter(|e| e.size == size) {
            b.push(("etcd 3".to_string(), e.puts_per_s));
        }
        if !b.is_empty() {
            groups.push((format!("{size} B messages"), b));
        }
    }
    if !groups.is_empty() {
        out.push((
            "bench-throughput.svg".into(),
            bars("Commit throughput (same run)", "messages/s", &groups),
        ));
    }
    let mut groups = Vec::new();
    for f in &r.failover {
        let q = f.recovery;
        groups.push((
            format!("{} leader", f.fault),
            vec![
                ("p50".into(), q.p50),
                ("p90".into(), q.p90),
                ("p99".into(), q.p99),
                ("max".into(), q.max),
            ],
        ));
    }
    for l in &r.latency {
        for (name, q) in [
            ("submit→ack", l.submit_to_ack),
            ("submit→all", l.submit_to_delivered_all),
        ] {
            groups.push((
                format!("latency {name} @{:.0}/s", l.rate),
                vec![
                    ("p50".into(), q.p50),
                    ("p90".into(), q.p90),
                    ("p99".into(), q.p99),
                    ("max".into(), q.max),
                ],
            ));
        }
    }
    if !groups.is_empty() {
        out.push((
            "bench-latency.svg".into(),
            bars("Failover and latency", "ms", &groups),
        ));
    }
    let groups: Vec<_> = r
        .catch_up
        .iter()
        .map(|c| {
            (
                format!("{} messages missed", c.missed),
                vec![
                    ("ready".into(), c.ready_ms / 1000.0),
                    ("log".into(), c.log_ms / 1000.0),
                    ("history".into(), c.caught_up_ms / 1000.0),
                ],
            )
        })
        .collect();
    if !groups.is_empty() {
        out.push((
            "bench-catchup.svg".into(),
            bars(
                "Catch-up of a restarted follower",
                "s after restart",
                &groups,
            ),
        ));
    }
    let mut groups = Vec::new();
    for sc in r.scale.iter().filter(|s| s.ran) {
        let mut b = Vec::new();
        if let Some(m) = sc.client_rss {
            b.push(("client med".to_string(), m.median));
            b.push(("client max".to_string(), m.max));
        }
        if let Some(m) = sc.server_rss {
            b.push(("server med".to_string(), m.median));
            b.push(("server max".to_string(), m.max));
        }
        if !b.is_empty() {
            groups.push((format!("5 servers + {} clients", sc.clients), b));
        }
    }
    if !groups.is_empty() {
        out.push((
            "bench-scale.svg".into(),
            bars("Resident memory at scale (VmRSS)", "MiB", &groups),
        ));
    }
    out
}
