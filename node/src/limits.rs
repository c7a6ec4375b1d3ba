//! Limits and flood control, sans-IO: every bound on what peers can make a
//! node hold or do, in one place, with the per-peer token buckets servers use
//! to rate-limit requests. `docs/security.md` ("Limits and flood control")
//! explains each number; the message-size limits themselves live in
//! [`crate::wire`] ([`wire::MAX_TEXT_BYTES`] and friends).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use crate::wire::{self, Announce, Committed, Request, Response};

/// Submissions a server takes from one peer per second, sustained (the
/// default of `chorus server --submit-rate`): far above what a person types,
/// and low enough that a flooding client connected to every server of a
/// small cluster takes a minority of its capacity (`docs/security.md`).
pub const SUBMIT_RATE: f64 = 20.0;
/// A full bucket holds this many seconds of the submission rate (a burst:
/// the backlog a client resends after a leader change).
pub const SUBMIT_BURST_SECONDS: f64 = 5.0;
/// History and status requests a server answers for one peer per second, sustained.
pub const QUERY_RATE: f64 = 20.0;
/// History and status requests in a burst.
pub const QUERY_BURST: f64 = 100.0;
/// Refusals for going over the rate that a peer may draw per second,
/// sustained, before it is banned: an honest client retries each of its at
/// most [`MAX_PENDING_SENDS`] messages at most every 2 s once backed off, i.e.
/// at most 500 a second; a flooder ignores refusals and goes far beyond.
pub const STRIKE_RATE: f64 = 500.0;
/// Refusals a peer may draw in a burst before it is banned (10 s worth).
pub const STRIKE_BURST: f64 = 5000.0;
/// How long a banned peer's connections are refused.
pub const BAN: Duration = Duration::from_secs(60);
/// Peers whose buckets a server tracks at once; beyond it (after forgetting
/// every full bucket) new peers are refused until some bucket refills.
pub const MAX_TRACKED_PEERS: usize = 4096;
/// Submissions a server holds at once (waiting for the core, or forwarded
/// to the leader); beyond it submissions are refused with `retry: true`.
pub const MAX_IN_FLIGHT_SUBMISSIONS: usize = 8192;
/// Messages a client holds unacknowledged; beyond it `send` is refused.
pub const MAX_PENDING_SENDS: usize = 1000;
/// Longest message id (`<16 hex digits>-<counter>` is at most 37 bytes).
pub const MAX_ID_BYTES: usize = 64;
/// Longest peer id string (base58 of an ed25519 peer id is 52 bytes).
pub const MAX_PEER_ID_BYTES: usize = 64;
/// Peers a presence table remembers; beyond it, peers that left are
/// forgotten, and if none did, announcements of new peers are ignored.
pub const MAX_PRESENCE_PEERS: usize = 4096;
/// Most listen addresses in one announcement (a server on 0.0.0.0 announces
/// one per interface and transport; senders keep the first ones).
pub const MAX_ANNOUNCED_ADDRS: usize = 64;
/// Most server links in one announcement.
pub const MAX_ANNOUNCED_LINKS: usize = 64;
/// Most rooms in one announcement.
pub const MAX_ANNOUNCED_ROOMS: usize = 256;
/// Longest address string in an announcement.
pub const MAX_ADDR_BYTES: usize = 256;
/// Most voters in an announced cluster view.
pub const MAX_ANNOUNCED_VOTERS: usize = 64;
/// Connections to one peer (simultaneous dials can briefly make two).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Established connections in total.
pub const MAX_CONNECTIONS: u32 = 1024;
/// Incoming connections still in their handshake.
pub const MAX_PENDING_INCOMING: u32 = 128;
/// Concurrent inbound requests on one connection (each may buffer up to
/// [`wire::MAX_RPC_BYTES`] while it is read).
pub const MAX_CONCURRENT_STREAMS: usize = 32;
/// Submissions a server has forwarded to the leader and not yet had answered.
/// Each holds a stream on the server-to-leader connection until it commits, so
/// this stays well below [`MAX_CONCURRENT_STREAMS`]: ordering messages always
/// find a free stream (when they did not, a slow leader's connection filled up
/// with waiting forwards, its acknowledgements were dropped and commits stalled).
pub const MAX_FORWARDS_IN_FLIGHT: usize = 16;
/// Most bytes of messages in one history response: a page of
/// [`wire::MAX_HISTORY_LIMIT`] messages of the largest size would not fit in
/// [`wire::MAX_RPC_BYTES`], so pages are cut to this budget (the newest kept
/// for "last"/"before", the oldest for "from"; clients ask again for the rest).
pub const MAX_HISTORY_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// A token bucket: holds up to `burst` tokens, refilled at `rate` per second;
/// each request takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(now: Instant, rate: f64, burst: f64) -> Self {
        TokenBucket {
            tokens: burst,
            last: now,
            rate,
            burst,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if there is one; otherwise says how long until there is.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }

    /// Whether the bucket is full again (its peer may be forgotten).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// Why a peer's request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The peer is over its rate; a token is back after this long.
    OverRate(Duration),
    /// Too many peers are being tracked (a flood of identities).
    TooManyPeers,
}

/// Per-peer token buckets of one kind of request.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<PeerId, TokenBucket>,
}

impl RateLimiter {
    /// Buckets of `burst` tokens refilled at `rate` per second.
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst,
            buckets: HashMap::new(),
        }
    }

    /// Takes a token of `peer`'s bucket (the limiter must have a rate above 0).
    pub fn check(&mut self, now: Instant, peer: PeerId) -> Result<(), Refusal> {
        if !self.buckets.contains_key(&peer) && self.buckets.len() >= MAX_TRACKED_PEERS {
            // A full bucket is the same as no bucket: forget those.
            self.buckets.retain(|_, b| !b.is_full(now));
            if self.buckets.len() >= MAX_TRACKED_PEERS {
                return Err(Refusal::TooManyPeers);
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        self.buckets
            .entry(peer)
            .or_insert_with(|| TokenBucket::new(now, rate, burst))
            .take(now)
            .map_err(Refusal::OverRate)
    }

    /// Peers tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// A server's flood control of inbound requests: rate limits per peer and
/// checks of the fields no later stage bounds.
#[derive(Debug)]
pub struct RequestLimits {
    submits: RateLimiter,
    queries: RateLimiter,
    /// Refusals each peer may still draw before it is banned.
    strikes: RateLimiter,
    /// Banned peers, until when.
    banned: HashMap<PeerId, Instant>,
    /// Bans not yet carried out by the node.
    new_bans: Vec<PeerId>,
    /// Switched off only by the flood test's negative control
    /// (`CHORUS_TEST_NO_RATE_LIMIT=1`, debug builds).
    enabled: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits::new(SUBMIT_RATE)
    }
}

impl RequestLimits {
    /// Limits with `submit_rate` submissions per second and peer (bursts of
    /// [`SUBMIT_BURST_SECONDS`] of it); 0 turns the rate limits off.
    pub fn new(submit_rate: f64) -> Self {
        let submit_rate = submit_rate.max(0.0);
        RequestLimits {
            submits: RateLimiter::new(submit_rate, submit_rate * SUBMIT_BURST_SECONDS),
            queries: RateLimiter::new(QUERY_RATE, QUERY_BURST),
            strikes: RateLimiter::new(STRIKE_RATE, STRIKE_BURST),
            banned: HashMap::new(),
            new_bans: Vec::new(),
            enabled: submit_rate > 0.0 && !rate_limit_disabled(),
        }
    }

    /// A refusal for going over the rate: one strike; out of strikes, `peer`
    /// is banned for [`BAN`].
    fn strike(&mut self, now: Instant, peer: PeerId) {
        if self.strikes.check(now, peer).is_err() && !self.banned.contains_key(&peer) {
            self.banned.insert(peer, now + BAN);
            self.new_bans.push(peer);
        }
    }

    /// Peers banned since the last call: the node closes their connections
    /// and refuses new ones.
    pub fn take_new_bans(&mut self) -> Vec<PeerId> {
        std::mem::take(&mut self.new_bans)
    }

    /// Bans that ran out by `now` (forgotten here; the node lifts them).
    pub fn expired_bans(&mut self, now: Instant) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &expired {
            self.banned.remove(p);
        }
        expired
    }

    /// Checks an inbound request of `peer` that a server is about to handle,
    /// with `in_flight` submissions held already. `Some(response)`: answer
    /// with it and drop the request.
    pub fn admit(
        &mut self,
        now: Instant,
        peer: PeerId,
        request: &Request,
        in_flight: usize,
    ) -> Option<Response> {
        match request {
            Request::Submit(submit) => {
                if let Err(reason) = check_message_id(&submit.id) {
                    return Some(refused(reason));
                }
                if self.enabled {
                    if let Err(r) = self.submits.check(now, peer) {
                        self.strike(now, peer);
                        let (rate, burst) = (self.submits.rate, self.submits.burst);
                        return Some(over_limit("messages", rate, burst, r));
                    }
                }
                (in_flight >= MAX_IN_FLIGHT_SUBMISSIONS).then(|| Response::Rejected {
                    reason: format!(
                        "server busy: {MAX_IN_FLIGHT_SUBMISSIONS} submissions in flight; try again later"
                    ),
                    leader: None,
                    retry: true,
                })
            }
            Request::Forward { author, submit } => {
                if author.len() > MAX_PEER_ID_BYTES {
                    return Some(refused(format!(
                        "author longer than {MAX_PEER_ID_BYTES} bytes"
                    )));
                }
                if let Err(reason) = check_message_id(&submit.id) {
                    return Some(refused(reason));
                }
                (in_flight >= MAX_IN_FLIGHT_SUBMISSIONS).then(|| Response::Rejected {
                    reason: "leader busy: too many submissions in flight".into(),
                    leader: None,
                    retry: true,
                })
            }
            Request::History { .. } | Request::Status if self.enabled => {
                match self.queries.check(now, peer) {
                    Ok(()) => None,
                    Err(r) => Some(Response::Error({
                        self.strike(now, peer);
                        refusal_text("requests", QUERY_RATE, QUERY_BURST, &r)
                    })),
                }
            }
            _ => None,
        }
    }
}

fn refused(reason: String) -> Response {
    Response::Rejected {
        reason,
        leader: None,
        retry: false,
    }
}

fn refusal_text(what: &str, rate: f64, burst: f64, r: &Refusal) -> String {
    match r {
        Refusal::OverRate(wait) => format!(
            "rate limit: too many {what} from you (at most {rate}/s, bursts of {burst}); retry in {} ms",
            wait.as_millis().max(1)
        ),
        Refusal::TooManyPeers => {
            format!("rate limit: too many peers sending {what} right now; retry later")
        }
    }
}

fn over_limit(what: &str, rate: f64, burst: f64, r: Refusal) -> Response {
    Response::Rejected {
        reason: refusal_text(what, rate, burst, &r),
        leader: None,
        retry: true,
    }
}

/// Checks a message id's length (the wire format leaves it free).
pub fn check_message_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(format!("message id must be 1 to {MAX_ID_BYTES} bytes"));
    }
    Ok(())
}

/// Checks an announcement's sizes: what a presence table keeps per peer is
/// bounded by these, whatever a peer sends.
pub fn check_announce(a: &Announce) -> Result<(), String> {
    let too_many = |what: &str, n: usize, max: usize| {
        (n > max).then(|| format!("announcement with {n} {what} (at most {max})"))
    };
    let long = |v: &[String], max: usize| v.iter().any(|s| s.len() > max);
    if let Some(e) = too_many("addresses", a.addrs.len(), MAX_ANNOUNCED_ADDRS)
        .or_else(|| too_many("links", a.links.len(), MAX_ANNOUNCED_LINKS))
        .or_else(|| too_many("rooms", a.rooms.len(), MAX_ANNOUNCED_ROOMS))
    {
        return Err(e);
    }
    if long(&a.addrs, MAX_ADDR_BYTES) || long(&a.links, MAX_PEER_ID_BYTES) {
        return Err("announcement with an over-long address or link".into());
    }
    for room in &a.rooms {
        wire::validate_room(room)?;
    }
    if let Some(nick) = &a.nick {
        wire::validate_nick(nick)?;
    }
    if let Some(view) = &a.cluster {
        if let Some(e) = too_many("voters", view.voters.len(), MAX_ANNOUNCED_VOTERS) {
            return Err(e);
        }
        if long(&view.voters, MAX_PEER_ID_BYTES)
            || view
                .leader
                .as_ref()
                .is_some_and(|l| l.len() > MAX_PEER_ID_BYTES)
        {
            return Err("cluster view with an over-long peer id".into());
        }
        for (room, _) in &view.heads {
            wire::validate_room(room)?;
        }
    }
    Ok(())
}

/// Checks a committed message's fields: a server never publishes or returns
/// one that fails this.
pub fn check_committed(msg: &Committed) -> Result<(), String> {
    wire::validate_text(&msg.text)?;
    wire::validate_room(&msg.room)?;
    wire::validate_nick(&msg.nick)?;
    check_message_id(&msg.id)?;
    if msg.from.len() > MAX_PEER_ID_BYTES {
        return Err(format!("author longer than {MAX_PEER_ID_BYTES} bytes"));
    }
    Ok(())
}

/// Whether a client may queue another message with `pending` unacknowledged.
pub fn check_pending(pending: usize) -> Result<(), String> {
    if pending >= MAX_PENDING_SENDS {
        return Err(format!(
            "{pending} messages are still waiting for the servers to acknowledge them \
             (at most {MAX_PENDING_SENDS}); try again once they are sent"
        ));
    }
    Ok(())
}

/// The bytes a committed message takes in a history response, roughly
/// (fields and CBOR framing).
pub fn committed_size(msg: &Committed) -> usize {
    msg.room.len() + msg.id.len() + msg.from.len() + msg.nick.len() + msg.text.len() + 64
}

/// The flood test's negative control: `CHORUS_TEST_NO_RATE_LIMIT=1` turns the
/// per-peer rate limits off, in debug builds only, so the test can show it
/// catches a server without them. Release builds ignore it.
#[cfg(debug_assertions)]
fn rate_limit_disabled() -> bool {
    let off = std::env::var("CHORUS_TEST_NO_RATE_LIMIT").is_ok_and(|v| v == "1");
    if off {
        tracing::error!("TEST SWITCH: per-peer rate limits are off");
    }
    off
}

#[cfg(not(debug_assertions))]
fn rate_limit_disabled() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t = Instant::now();
        let mut b = TokenBucket::new(t, 10.0, 5.0);
        for _ in 0..5 {
            assert!(b.take(t).is_ok());
        }
        let wait = b.take(t).unwrap_err();
        assert!(wait > ms(90) && wait <= ms(100), "{wait:?}");
        assert!(b.take(t + ms(100)).is_ok(), "one token per 100 ms");
        assert!(b.take(t + ms(150)).is_err());
        assert!(!b.is_full(t + ms(200)));
        assert!(b.is_full(t + ms(1000)), "refilled to the burst, no more");
        for _ in 0..5 {
            assert!(b.take(t + ms(10_000)).is_ok());
        }
        assert!(b.take(t + ms(10_000)).is_err());
    }

    #[test]
    fn peers_have_their_own_buckets_and_the_table_is_bounded() {
        let t = Instant::now();
        let mut l = RateLimiter::new(1.0, 1.0);
        let (a, b) = (PeerId::random(), PeerId::random());
        assert!(l.check(t, a).is_ok());
        assert!(matches!(l.check(t, a), Err(Refusal::OverRate(_))));
        assert!(l.check(t, b).is_ok(), "b is not limited by a");
        for _ in 2..MAX_TRACKED_PEERS {
            l.check(t, PeerId::random()).unwrap();
        }
        assert_eq!(l.tracked(), MAX_TRACKED_PEERS);
        assert_eq!(
            l.check(t, PeerId::random()),
            Err(Refusal::TooManyPeers),
            "all buckets in use: refused"
        );
        // Once buckets refill, their peers are forgotten and room is made.
        assert!(l
            .check(t + Duration::from_secs(2), PeerId::random())
            .is_ok());
        assert_eq!(l.tracked(), 1);
    }

    /// A submission built from JSON (so new optional wire fields do not break it).
    fn submit(id: &str) -> Request {
        let json = serde_json::json!({"client": vec![0u8; 32], "counter": 1, "lowest_unacked": 1,
            "room": "lobby", "id": id, "nick": "n", "text": "t"});
        Request::Submit(wire::decode(&wire::encode(&json)).expect("update the Submit sample"))
    }

    #[test]
    fn over_the_rate_a_submission_is_rejected_with_retry() {
        let t = Instant::now();
        let mut limits = RequestLimits {
            enabled: true,
            ..RequestLimits::default()
        };
        let peer = PeerId::random();
        for _ in 0..(SUBMIT_RATE * SUBMIT_BURST_SECONDS) as usize {
            assert_eq!(limits.admit(t, peer, &submit("a-1"), 0), None);
        }
        match limits.admit(t, peer, &submit("a-1"), 0) {
            Some(Response::Rejected { reason, retry, .. }) => {
                assert!(retry);
                assert!(reason.contains("rate limit"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            RequestLimits::new(0.0)
                .admit(t, peer, &submit("a-1"), 0)
                .is_none(),
            "rate 0: no limit"
        );
        let later = t + Duration::from_secs(1);
        assert_eq!(limits.admit(later, peer, &submit("a-1"), 0), None);
        // A full server refuses with retry, a bad id without.
        let other = PeerId::random();
        let busy = limits.admit(t, other, &submit("b-1"), MAX_IN_FLIGHT_SUBMISSIONS);
        assert!(matches!(busy, Some(Response::Rejected { retry: true, .. })));
        let long = "x".repeat(MAX_ID_BYTES + 1);
        let bad = limits.admit(t, other, &submit(&long), 0);
        assert!(matches!(bad, Some(Response::Rejected { retry: false, .. })));
        let status = (0..=QUERY_BURST as usize)
            .map(|_| limits.admit(t, other, &Request::Status, 0))
            .last()
            .flatten();
        assert!(matches!(status, Some(Response::Error(e)) if e.contains("rate limit")));
    }

    #[test]
    fn a_peer_that_ignores_refusals_is_banned_for_a_while() {
        let t = Instant::now();
        let mut limits = RequestLimits {
            enabled: true,
            ..RequestLimits::default()
        };
        let (flooder, honest) = (PeerId::random(), PeerId::random());
        // The flooder takes its burst, then is refused STRIKE_BURST times.
        let burst = (SUBMIT_RATE * SUBMIT_BURST_SECONDS) as usize;
        for _ in 0..burst + STRIKE_BURST as usize {
            limits.admit(t, flooder, &submit("f-1"), 0);
        }
        assert_eq!(limits.admit(t, honest, &submit("h-1"), 0), None);
        assert!(
            limits.take_new_bans().is_empty(),
            "not before the strikes run out"
        );
        limits.admit(t, flooder, &submit("f-1"), 0);
        assert_eq!(limits.take_new_bans(), vec![flooder]);
        limits.admit(t, flooder, &submit("f-1"), 0);
        assert!(limits.take_new_bans().is_empty(), "banned once");
        assert!(limits.expired_bans(t + BAN / 2).is_empty());
        assert_eq!(limits.expired_bans(t + BAN), vec![flooder]);
        // An honest client retrying a full queue every 2 s is never banned.
        let mut limits = RequestLimits::default();
        let client = PeerId::random();
        for round in 0..30u64 {
            let at = t + Duration::from_secs(2 * round);
            for _ in 0..MAX_PENDING_SENDS {
                limits.admit(at, client, &submit("c-1"), 0);
            }
        }
        assert!(limits.take_new_bans().is_empty());
    }

    #[test]
    fn announcements_are_bounded() {
        let json = serde_json::json!({"role": "client", "nick": "alice", "addrs": [],
            "links": [], "rooms": ["lobby"], "n": 1, "incarnation": 1});
        let mut a: Announce = wire::decode(&wire::encode(&json)).expect("update the sample");
        assert!(check_announce(&a).is_ok());
        a.rooms = vec!["r".into(); MAX_ANNOUNCED_ROOMS + 1];
        assert!(check_announce(&a).unwrap_err().contains("rooms"));
        a.rooms = vec!["bad room".into()];
        assert!(check_announce(&a).is_err());
        a.rooms = vec![];
        a.addrs = vec!["x".repeat(MAX_ADDR_BYTES + 1)];
        assert!(check_announce(&a).is_err());
        a.addrs = vec![];
        a.nick = Some("x".repeat(100));
        assert!(check_announce(&a).is_err());
    }

    #[test]
    fn committed_messages_are_checked_field_by_field() {
        let json = serde_json::json!({"room": "lobby", "seq": 1, "id": "a-1", "from": "p",
            "nick": "alice", "text": "hi"});
        let good: Committed = wire::decode(&wire::encode(&json)).expect("update the sample");
        assert!(check_committed(&good).is_ok());
        let mut bad = good.clone();
        bad.id = "i".repeat(MAX_ID_BYTES + 1);
        assert!(check_committed(&bad).is_err());
        let mut bad = good.clone();
        bad.text = "x".repeat(wire::MAX_TEXT_BYTES + 1);
        assert!(check_committed(&bad).is_err());
        let mut bad = good.clone();
        bad.nick = "two words".into();
        assert!(check_committed(&bad).is_err());
        let mut bad = good;
        bad.from = "p".repeat(MAX_PEER_ID_BYTES + 1);
        assert!(check_committed(&bad).is_err());
    }

    #[test]
    fn a_client_queue_is_bounded() {
        assert!(check_pending(MAX_PENDING_SENDS - 1).is_ok());
        let e = check_pending(MAX_PENDING_SENDS).unwrap_err();
        assert!(e.contains("waiting"), "{e}");
    }
}
