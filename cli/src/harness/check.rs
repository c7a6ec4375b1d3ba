//! The harness's checker: a pure function from a run's recorded history to the
//! promises it broke. No processes, no clock, no I/O: the unit tests below feed
//! it planted histories.
//!
//! What it checks (`docs/testing.md`, "Harness"):
//! - **lost**: every acknowledged message (a `sent` event) is delivered at every
//!   client in its room, and is in the room log the servers hold at the end (the
//!   audit); every message a client delivered is in that log too;
//! - **duplicate**: no client delivers the same id twice or the same seq twice in
//!   a room, and no submission (the harness's unique tag) is committed under two
//!   ids or two seqs;
//! - **divergence**: one seq means one message id everywhere (clients, the
//!   audit, the seq an acknowledgement carried);
//! - **gap**: each client's deliveries of a room are seq 1, 2, 3, ... in that
//!   order; the audit's room log is gap-free from 1;
//! - **two-leaders**: at most one leader per term in the servers' `leader` events;
//! - **not-converged**: the cluster did not settle at the end (recorded by the
//!   runner, reported here).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One committed message a client delivered (a `message` event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// Its room.
    pub room: String,
    /// Its position in the room.
    pub seq: u64,
    /// The message id (`<session>-<counter>`).
    pub id: String,
    /// The harness's unique tag parsed from the text (None: not a harness message).
    pub tag: Option<u64>,
    /// When it was seen, in ms since the start of the run.
    pub at_ms: f64,
}

/// An acknowledgement (a `sent` event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    /// The message id.
    pub id: String,
    /// Its room.
    pub room: String,
    /// The seq it was committed at.
    pub seq: u64,
    /// When it was seen, ms since the start.
    pub at_ms: f64,
}

/// One submission by the harness.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Send {
    /// The unique tag embedded in the text.
    pub tag: u64,
    /// The sending client's name.
    pub client: String,
    /// The room.
    pub room: String,
    /// When it was written to the client's stdin, ms since the start.
    pub at_ms: f64,
}

/// What one client saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientHistory {
    /// Its name.
    pub name: String,
    /// The rooms it is in.
    pub rooms: Vec<String>,
    /// Its deliveries, in the order it printed them.
    pub deliveries: Vec<Delivery>,
    /// Its acknowledgements, in order.
    pub acks: Vec<Ack>,
}

/// A `leader` event printed by a server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaderReport {
    /// The reporting server's name.
    pub server: String,
    /// The term.
    pub term: u64,
    /// The leader's peer id.
    pub peer_id: String,
    /// When, ms since the start.
    pub at_ms: f64,
}

/// Everything a run recorded that the checker looks at.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    /// What the harness submitted.
    pub sends: Vec<Send>,
    /// What each client saw.
    pub clients: Vec<ClientHistory>,
    /// The room logs read from the servers at the end by a fresh client
    /// (history requests); None when it could not be read.
    pub audit: Option<ClientHistory>,
    /// The servers' `leader` events.
    pub leaders: Vec<LeaderReport>,
    /// Why the run did not converge at the end (None: it did).
    pub not_converged: Option<String>,
}

/// The kinds of broken promises.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An acknowledged or delivered message is missing somewhere.
    Lost,
    /// Something delivered or committed twice.
    Duplicate,
    /// One seq, two messages.
    Divergence,
    /// Deliveries not 1, 2, 3, ... in order.
    Gap,
    /// Two leaders in one term.
    TwoLeaders,
    /// The cluster did not settle at the end.
    NotConverged,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 6] = [
        Kind::Lost,
        Kind::Duplicate,
        Kind::Divergence,
        Kind::Gap,
        Kind::TwoLeaders,
        Kind::NotConverged,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lost => "lost",
            Kind::Duplicate => "duplicate",
            Kind::Divergence => "divergence",
            Kind::Gap => "gap",
            Kind::TwoLeaders => "two-leaders",
            Kind::NotConverged => "not-converged",
        }
    }
}

/// One broken promise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    /// Which promise.
    pub kind: Kind,
    /// What exactly.
    pub detail: String,
}

fn v(out: &mut Vec<Violation>, kind: Kind, detail: String) {
    out.push(Violation { kind, detail });
}

/// Checks a history; returns every violation found (empty: all promises kept).
pub fn check(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    // seq -> id per room, from the first place each seq was seen.
    let mut canon: BTreeMap<(String, u64), (String, String)> = BTreeMap::new();
    let mut observe =
        |out: &mut Vec<Violation>, who: &str, room: &str, seq: u64, id: &str| match canon
            .get(&(room.to_string(), seq))
        {
            Some((first_id, first_who)) if first_id != id => v(
                out,
                Kind::Divergence,
                format!("{room} seq {seq}: {id} at {who}, {first_id} at {first_who}"),
            ),
            Some(_) => {}
            None => {
                canon.insert((room.to_string(), seq), (id.to_string(), who.to_string()));
            }
        };
    // Which (room, id) each client delivered.
    let mut delivered: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    // tag -> set of (room, seq, id) it was committed as.
    let mut tags: BTreeMap<u64, BTreeSet<(String, u64, String)>> = BTreeMap::new();
    for c in &h.clients {
        let mut next: BTreeMap<&str, u64> = BTreeMap::new();
        let mut ids: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut seqs: BTreeSet<(&str, u64)> = BTreeSet::new();
        for d in &c.deliveries {
            observe(&mut out, &c.name, &d.room, d.seq, &d.id);
            if !ids.insert((&d.room, &d.id)) {
                v(
                    &mut out,
                    Kind::Duplicate,
                    format!(
                        "{} delivered {} ({} seq {}) twice",
                        c.name, d.id, d.room, d.seq
                    ),
                );
            }
            if !seqs.insert((&d.room, d.seq)) {
                v(
                    &mut out,
                    Kind::Duplicate,
                    format!("{} delivered {} seq {} twice", c.name, d.room, d.seq),
                );
            }
            let expected = next.entry(&d.room).or_insert(1);
            if d.seq != *expected {
                v(
                    &mut out,
                    Kind::Gap,
                    format!(
                        "{} delivered {} seq {} where seq {} was due",
                        c.name, d.room, d.seq, expected
                    ),
                );
            }
            *expected = (*expected).max(d.seq + 1);
            if let Some(tag) = d.tag {
                tags.entry(tag)
                    .or_default()
                    .insert((d.room.clone(), d.seq, d.id.clone()));
            }
        }
        for a in &c.acks {
            observe(
                &mut out,
                &format!("{} (ack)", c.name),
                &a.room,
                a.seq,
                &a.id,
            );
        }
        delivered.insert(&c.name, ids);
    }
    for (tag, committed) in &tags {
        if committed.len() > 1 {
            v(
                &mut out,
                Kind::Duplicate,
                format!(
                    "submission #{tag} committed {} times: {committed:?}",
                    committed.len()
                ),
            );
        }
    }
    // Lost: every ack delivered at every client of its room.
    let mut acked: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    for c in &h.clients {
        for a in &c.acks {
            acked.insert((&a.room, &a.id, &c.name));
        }
    }
    for (room, id, sender) in &acked {
        for c in &h.clients {
            if !c.rooms.iter().any(|r| r == room) {
                continue;
            }
            let got = delivered
                .get(c.name.as_str())
                .is_some_and(|d| d.contains(&(*room, *id)));
            if !got {
                v(
                    &mut out,
                    Kind::Lost,
                    format!(
                        "{id} in {room}, acknowledged to {sender}, never delivered at {}",
                        c.name
                    ),
                );
            }
        }
    }
    // The servers' room logs at the end.
    if let Some(audit) = &h.audit {
        let mut log: BTreeMap<&str, BTreeMap<u64, &str>> = BTreeMap::new();
        for d in &audit.deliveries {
            let room = log.entry(&d.room).or_default();
            match room.get(&d.seq) {
                Some(id) if *id != d.id => v(
                    &mut out,
                    Kind::Divergence,
                    format!(
                        "the servers' log of {} has {} and {} at seq {}",
                        d.room, id, d.id, d.seq
                    ),
                ),
                _ => {
                    room.insert(d.seq, &d.id);
                }
            }
            observe(&mut out, "the servers' log", &d.room, d.seq, &d.id);
        }
        for room in &audit.rooms {
            let Some(seqs) = log.get(room.as_str()) else {
                continue;
            };
            let mut want = 1;
            for seq in seqs.keys() {
                if *seq != want {
                    v(
                        &mut out,
                        Kind::Gap,
                        format!("the servers' log of {room} lacks seq {want}..{}", seq - 1),
                    );
                }
                want = seq + 1;
            }
        }
        let in_log: BTreeSet<(&str, &str)> = log
            .iter()
            .flat_map(|(room, m)| m.values().map(move |id| (*room, *id)))
            .collect();
        let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (room, id, sender) in &acked {
            if audit.rooms.iter().any(|r| r == room) && !in_log.contains(&(*room, *id)) {
                reported.insert((room, id));
                v(
                    &mut out,
                    Kind::Lost,
                    format!("{id} in {room}, acknowledged to {sender}, is not in the servers' log"),
                );
            }
        }
        for c in &h.clients {
            for d in &c.deliveries {
                let key = (d.room.as_str(), d.id.as_str());
                if audit.rooms.contains(&d.room) && !in_log.contains(&key) && reported.insert(key) {
                    v(
                        &mut out,
                        Kind::Lost,
                        format!(
                            "{} ({} seq {}), delivered at {}, is not in the servers' log",
                            d.id, d.room, d.seq, c.name
                        ),
                    );
                }
            }
        }
    }
    // One leader per term.
    let mut terms: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for l in &h.leaders {
        terms.entry(l.term).or_default().insert(&l.peer_id);
    }
    for (term, leaders) in &terms {
        if leaders.len() > 1 {
            v(
                &mut out,
                Kind::TwoLeaders,
                format!("term {term} had {} leaders: {leaders:?}", leaders.len()),
            );
        }
    }
    if let Some(why) = &h.not_converged {
        v(&mut out, Kind::NotConverged, why.clone());
    }
    out
}

/// How many violations of each kind.
pub fn counts(violations: &[Violation]) -> BTreeMap<Kind, usize> {
    let mut out: BTreeMap<Kind, usize> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
    for x in violations {
        *out.entry(x.kind).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(room: &str, seq: u64, id: &str) -> Delivery {
        Delivery {
            room: room.into(),
            seq,
            id: id.into(),
            tag: id.strip_prefix('m').and_then(|t| t.parse().ok()),
            at_ms: seq as f64,
        }
    }

    fn ack(room: &str, seq: u64, id: &str) -> Ack {
        Ack {
            id: id.into(),
            room: room.into(),
            seq,
            at_ms: seq as f64,
        }
    }

    fn client(name: &str, deliveries: Vec<Delivery>, acks: Vec<Ack>) -> ClientHistory {
        ClientHistory {
            name: name.into(),
            rooms: vec!["r".into()],
            deliveries,
            acks,
        }
    }

    fn leader(server: &str, term: u64, peer: &str) -> LeaderReport {
        LeaderReport {
            server: server.into(),
            term,
            peer_id: peer.into(),
            at_ms: 0.0,
        }
    }

    /// Two clients, three messages in room `r`, all acknowledged and delivered.
    fn clean() -> History {
        let all = vec![d("r", 1, "m1"), d("r", 2, "m2"), d("r", 3, "m3")];
        History {
            sends: Vec::new(),
            clients: vec![
                client("a", all.clone(), vec![ack("r", 1, "m1"), ack("r", 3, "m3")]),
                client("b", all.clone(), vec![ack("r", 2, "m2")]),
            ],
            audit: Some(client("audit", all, Vec::new())),
            leaders: vec![
                leader("s1", 1, "P1"),
                leader("s2", 1, "P1"),
                leader("s1", 2, "P2"),
            ],
            not_converged: None,
        }
    }

    fn kinds(h: &History) -> BTreeSet<Kind> {
        check(h).iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_clean_history_passes() {
        assert_eq!(check(&clean()), Vec::new());
    }

    #[test]
    fn a_lost_ack_is_flagged() {
        let mut h = clean();
        // b never delivered m3, which a had acknowledged (b's log stops at 2).
        h.clients[1].deliveries.pop();
        let found = check(&h);
        assert_eq!(kinds(&h), BTreeSet::from([Kind::Lost]), "{found:?}");
        assert!(found[0].detail.contains("m3"), "{found:?}");
    }

    #[test]
    fn an_ack_missing_from_the_servers_log_is_flagged() {
        let mut h = clean();
        // The servers forgot seq 3 (and nothing else is wrong).
        if let Some(a) = h.audit.as_mut() {
            a.deliveries.pop();
        }
        assert_eq!(kinds(&h), BTreeSet::from([Kind::Lost]));
    }

    #[test]
    fn a_log_rewritten_after_a_crash_is_flagged() {
        let mut h = clean();
        // Every server lost its log and the cluster started again from seq 1.
        h.audit = Some(client("audit", vec![d("r", 1, "m9")], Vec::new()));
        let k = kinds(&h);
        assert!(
            k.contains(&Kind::Lost) && k.contains(&Kind::Divergence),
            "{k:?}"
        );
    }

    #[test]
    fn a_duplicate_is_flagged() {
        let mut h = clean();
        h.clients[0].deliveries.push(d("r", 3, "m3"));
        assert!(kinds(&h).contains(&Kind::Duplicate));
        // The same submission committed twice, under two ids.
        let mut h = clean();
        for c in &mut h.clients {
            c.deliveries.push(Delivery {
                tag: Some(1),
                ..d("r", 4, "m1-again")
            });
        }
        if let Some(a) = h.audit.as_mut() {
            a.deliveries.push(d("r", 4, "m1-again"));
        }
        assert_eq!(kinds(&h), BTreeSet::from([Kind::Duplicate]));
    }

    #[test]
    fn a_divergence_is_flagged() {
        let mut h = clean();
        h.clients[1].deliveries[1] = d("r", 2, "m7");
        assert!(kinds(&h).contains(&Kind::Divergence));
        // An ack whose seq disagrees with the delivery.
        let mut h = clean();
        h.clients[0].acks[0].seq = 2;
        assert_eq!(kinds(&h), BTreeSet::from([Kind::Divergence]));
    }

    #[test]
    fn a_gap_is_flagged() {
        let mut h = clean();
        h.clients[0].deliveries.remove(1);
        let k = kinds(&h);
        assert!(k.contains(&Kind::Gap), "{k:?}");
        // Out of order is a gap too.
        let mut h = clean();
        h.clients[1].deliveries.swap(0, 1);
        assert_eq!(kinds(&h), BTreeSet::from([Kind::Gap]));
        // And a hole in the servers' log.
        let mut h = clean();
        if let Some(a) = h.audit.as_mut() {
            a.deliveries.remove(0);
        }
        assert!(kinds(&h).contains(&Kind::Gap));
    }

    #[test]
    fn two_leaders_in_a_term_are_flagged() {
        let mut h = clean();
        h.leaders.push(leader("s3", 2, "P3"));
        assert_eq!(kinds(&h), BTreeSet::from([Kind::TwoLeaders]));
    }

    #[test]
    fn not_converging_is_flagged() {
        let mut h = clean();
        h.not_converged = Some("b is stuck at seq 2".into());
        assert_eq!(kinds(&h), BTreeSet::from([Kind::NotConverged]));
        assert_eq!(counts(&check(&h))[&Kind::NotConverged], 1);
    }
}
