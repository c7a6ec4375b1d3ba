//! The TUI's state as a pure model: node events, keys and mouse events go in,
//! commands for the node come out, and the view draws the state. No terminal,
//! no clock (the loop sets [`Model::clock`]), so every behaviour is testable.

use std::collections::{BTreeMap, HashSet};

use chorus_node::wire;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};

use super::bridge::{Msg, NodeCommand, NodeEvent, Peer, StatusInfo};
use super::commands::{self, Typed};
use super::input::InputLine;
use crate::nicks::Nicks;

/// How far an own message has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Typed, not yet acknowledged by the cluster.
    Pending,
    /// Committed (the node reported `sent`, or the message came back ordered).
    Acked,
}

/// What a line of a room shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// A chat message.
    Chat {
        /// The author's nick.
        nick: String,
        /// The author's peer id (ours: empty until the node is ready).
        from: String,
        /// The text.
        text: String,
        /// Whether it is ours.
        own: bool,
        /// Ours: pending or acknowledged; others': always acknowledged.
        delivery: Delivery,
        /// Whether it mentions our nick (and is not ours).
        mention: bool,
        /// Message id, once known.
        id: Option<String>,
        /// Position in the room, once known.
        seq: Option<u64>,
    },
    /// Something for the user: joins and leaves, command output.
    Notice(String),
    /// Something went wrong.
    Error(String),
}

/// One line of a room's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `HH:MM` when it arrived.
    pub time: String,
    /// What it shows.
    pub kind: LineKind,
}

/// A room (or the status buffer shown when in no room).
#[derive(Debug, Clone, Default)]
pub struct Room {
    /// The room's name.
    pub name: String,
    /// Its lines, oldest first.
    pub lines: Vec<Line>,
    /// Messages arrived while another room was shown.
    pub unread: usize,
    /// Whether one of them mentions us.
    pub mentioned: bool,
    /// Lines scrolled back from the newest (0: following).
    pub scroll: usize,
    /// A direct conversation: the other participant's peer id.
    pub peer: Option<String>,
    ids: HashSet<String>,
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: name.to_string(),
            ..Room::default()
        }
    }

    /// The lowest known seq, for paging history back.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.lines
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Chat { seq, .. } => *seq,
                _ => None,
            })
            .min()
    }

    fn push(&mut self, line: Line) {
        self.lines.push(line);
        if self.scroll > 0 {
            self.scroll += 1;
        }
    }
}

/// Lines kept per room.
const MAX_LINES: usize = 5000;
/// Lines the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

/// The whole UI state.
#[derive(Debug, Clone)]
pub struct Model {
    /// Our nick.
    pub nick: String,
    /// Our peer id, once the node is ready.
    pub me: Option<String>,
    /// Rooms we are in, in the order joined.
    pub rooms: Vec<Room>,
    /// Index of the shown room in `rooms`.
    pub current: usize,
    /// Shown when we are in no room.
    pub status_buffer: Room,
    /// Peers online (servers and clients), by peer id.
    pub peers: BTreeMap<String, Peer>,
    /// The latest status the node reported.
    pub status: Option<StatusInfo>,
    /// The leader as last heard.
    pub leader: Option<String>,
    /// The term as last heard.
    pub term: Option<u64>,
    /// The input line.
    pub input: InputLine,
    /// The time shown on new lines (`HH:MM`), set by the loop.
    pub clock: String,
    /// Lines one PgUp scrolls, set by the loop from the terminal size.
    pub page: usize,
    /// Set by `/quit`: the loop waits for the node to stop.
    pub quitting: bool,
    /// Acks (`sent`) that arrived before their message.
    early_acks: HashSet<String>,
}

impl Model {
    /// A model for `nick`, in `rooms` (the last one shown, as the node does).
    pub fn new(nick: &str, rooms: &[String]) -> Model {
        let mut model = Model {
            nick: nick.to_string(),
            me: None,
            rooms: Vec::new(),
            current: 0,
            status_buffer: Room::new("chorus"),
            peers: BTreeMap::new(),
            status: None,
            leader: None,
            term: None,
            input: InputLine::default(),
            clock: "--:--".into(),
            page: 10,
            quitting: false,
            early_acks: HashSet::new(),
        };
        for room in rooms {
            if model.room_index(room).is_none() {
                model.rooms.push(Room::new(room));
            }
        }
        model.current = model.rooms.len().saturating_sub(1);
        model
    }

    /// The shown buffer: the current room, or the status buffer.
    pub fn shown(&self) -> &Room {
        self.rooms.get(self.current).unwrap_or(&self.status_buffer)
    }

    fn shown_mut(&mut self) -> &mut Room {
        match self.rooms.get_mut(self.current) {
            Some(room) => room,
            None => &mut self.status_buffer,
        }
    }

    /// The current room's name, if in one.
    pub fn current_room(&self) -> Option<&str> {
        self.rooms.get(self.current).map(|r| r.name.as_str())
    }

    fn room_index(&self, name: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == name)
    }

    /// Adds a notice to the shown buffer.
    pub fn notice(&mut self, text: impl Into<String>) {
        let time = self.clock.clone();
        self.shown_mut().push(Line {
            time,
            kind: LineKind::Notice(text.into()),
        });
    }

    /// Adds an error to the shown buffer.
    pub fn error(&mut self, text: impl Into<String>) {
        let time = self.clock.clone();
        self.shown_mut().push(Line {
            time,
            kind: LineKind::Error(text.into()),
        });
    }

    /// Own messages not yet acknowledged, in all rooms.
    pub fn pending(&self) -> usize {
        self.rooms
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|l| {
                matches!(
                    l.kind,
                    LineKind::Chat {
                        delivery: Delivery::Pending,
                        ..
                    }
                )
            })
            .count()
    }

    /// Servers known, and how many of them we have a connection to.
    pub fn servers(&self) -> (usize, usize) {
        match &self.status {
            Some(s) => {
                let connected = s.servers.iter().filter(|x| s.connected.contains(x)).count();
                (s.servers.len(), connected)
            }
            None => {
                let n = self.peers.values().filter(|p| p.is_server()).count();
                (n, n)
            }
        }
    }

    /// Whether the cluster has a quorum, if the node reports it.
    pub fn quorum(&self) -> Option<bool> {
        self.status.as_ref().and_then(|s| s.quorum)
    }

    /// Our peer id, empty before the node is ready.
    fn my_id(&self) -> &str {
        self.me.as_deref().unwrap_or("")
    }

    /// Who uses which nick: us, the clients online, and the authors of the
    /// messages held in the rooms (so that a line keeps telling its author
    /// apart after the other one left).
    pub fn nicks(&self) -> Nicks {
        let mut nicks = Nicks::default();
        nicks.add(&self.nick, self.my_id());
        for p in self.peers.values() {
            if let Some(nick) = &p.nick {
                nicks.add(nick, &p.peer_id);
            }
        }
        // Each author once: scrollback holds thousands of lines by few people.
        let authors: HashSet<(&str, &str)> = self.authors().collect();
        for (nick, from) in authors {
            nicks.add(nick, from);
        }
        nicks
    }

    /// Every (nick, peer id) of the chat lines held; ours with our id.
    fn authors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rooms
            .iter()
            .flat_map(|r| &r.lines)
            .filter_map(|l| match &l.kind {
                LineKind::Chat {
                    nick, from, own, ..
                } => {
                    let from = if *own && from.is_empty() {
                        self.my_id()
                    } else {
                        from.as_str()
                    };
                    Some((nick.as_str(), from))
                }
                _ => None,
            })
    }

    /// How we are shown (tagged when someone else uses our nick).
    pub fn my_name(&self, nicks: &Nicks) -> String {
        nicks.show(&self.nick, self.my_id())
    }

    /// Names of the clients online (us included), sorted; a nick two peers
    /// use gets a short peer-id tag (`bob#x7Qe`, see [`Nicks`]).
    pub fn online(&self) -> Vec<String> {
        self.online_with(&self.nicks())
    }

    /// [`Model::online`] with the nicks already gathered.
    pub fn online_with(&self, nicks: &Nicks) -> Vec<String> {
        let me = self.my_id();
        let mut names: Vec<String> = self
            .peers
            .values()
            .filter(|p| !p.is_server() && p.peer_id != me)
            .map(|p| match &p.nick {
                Some(nick) => nicks.show(nick, &p.peer_id),
                None => short(&p.peer_id).to_string(),
            })
            .collect();
        names.push(self.my_name(nicks));
        names.sort_by_key(|n| n.to_lowercase());
        names
    }

    /// Nicks for completion, as shown (tagged when shared): people online and
    /// authors seen.
    fn known_nicks(&self) -> Vec<String> {
        let shown = self.nicks();
        let mut nicks: Vec<String> = self
            .peers
            .values()
            .filter_map(|p| p.nick.as_ref().map(|n| shown.show(n, &p.peer_id)))
            .collect();
        let authors: HashSet<(&str, &str)> = self.authors().collect();
        for (nick, from) in authors {
            nicks.push(shown.show(nick, from));
        }
        nicks.sort();
        nicks.dedup();
        nicks
    }

    fn peer_name(p: &Peer) -> String {
        match &p.nick {
            Some(nick) => format!("{nick} ({})", short(&p.peer_id)),
            None => format!("{} {}", p.role, short(&p.peer_id)),
        }
    }

    /// Takes an event from the node.
    pub fn on_event(&mut self, event: NodeEvent) {
        match event {
            NodeEvent::Ready { peer_id, .. } => {
                self.notice(format!(
                    "you are {} ({}); /help lists the commands",
                    self.nick,
                    short(&peer_id)
                ));
                // Lines typed before now learn whose they are.
                for line in self.rooms.iter_mut().flat_map(|r| &mut r.lines) {
                    if let LineKind::Chat {
                        own: true, from, ..
                    } = &mut line.kind
                    {
                        if from.is_empty() {
                            *from = peer_id.clone();
                        }
                    }
                }
                self.me = Some(peer_id);
            }
            NodeEvent::PeerJoined(p) => {
                if Some(&p.peer_id) == self.me.as_ref() {
                    return;
                }
                match self.peers.insert(p.peer_id.clone(), p.clone()) {
                    Some(old) if old.nick != p.nick => self.notice(format!(
                        "{} is now known as {}",
                        Self::peer_name(&old),
                        p.nick.as_deref().unwrap_or("?")
                    )),
                    Some(_) => {}
                    None => self.notice(format!("{} joined", Self::peer_name(&p))),
                }
            }
            NodeEvent::PeerLeft(p) => {
                self.peers.remove(&p.peer_id);
                self.notice(format!("{} left", Self::peer_name(&p)));
            }
            NodeEvent::Message(m) => self.on_message(m),
            NodeEvent::Error { message } => self.error(message),
            NodeEvent::Status(s) => self.on_status(s),
            NodeEvent::Sent { id, room, seq } => {
                let acked = self.room_index(&room).is_some_and(|i| {
                    self.rooms[i].lines.iter_mut().any(|l| match &mut l.kind {
                        LineKind::Chat {
                            id: Some(x),
                            delivery,
                            seq: s,
                            ..
                        } if *x == id => {
                            *delivery = Delivery::Acked;
                            *s = Some(seq);
                            true
                        }
                        _ => false,
                    })
                });
                if !acked {
                    self.early_acks.insert(id);
                }
            }
            NodeEvent::Leader { term, peer_id } => {
                let changed = self.leader.as_ref() != Some(&peer_id);
                self.term = Some(term);
                self.leader = Some(peer_id.clone());
                if changed {
                    self.notice(format!("leader is now {} (term {term})", short(&peer_id)));
                }
            }
            NodeEvent::Other => {}
        }
    }

    fn on_status(&mut self, s: StatusInfo) {
        if self.me.is_none() && !s.peer_id.is_empty() {
            self.me = Some(s.peer_id.clone());
        }
        self.peers = s
            .peers
            .iter()
            .map(|p| (p.peer_id.clone(), p.clone()))
            .collect();
        if let Some(nick) = &s.nick {
            self.nick = nick.clone();
        }
        for room in &s.rooms {
            if self.room_index(room).is_none() {
                self.rooms.push(Room::new(room));
            }
        }
        if s.leader.is_some() {
            self.leader = s.leader.clone();
        }
        if s.term.is_some() {
            self.term = s.term;
        }
        self.status = Some(s);
    }

    fn on_message(&mut self, m: Msg) {
        let own = self.me.as_deref() == Some(m.from.as_str());
        let index = match self.room_index(&m.room) {
            Some(i) => i,
            None => {
                let mut room = Room::new(&m.room);
                // A direct conversation opens a tab named after the other one.
                room.peer =
                    m.to.as_ref()
                        .map(|to| if own { to.clone() } else { m.from.clone() });
                self.rooms.push(room);
                self.rooms.len() - 1
            }
        };
        // A node whose status has no `pending` field never acknowledges: its
        // echo of our message is all the acknowledgement there is.
        let no_acks = self.status.as_ref().is_some_and(|s| s.pending.is_none());
        let acked = m.seq.is_some() || self.early_acks.remove(&m.id) || no_acks;
        let is_current = index == self.current;
        let room = &mut self.rooms[index];
        if room.ids.contains(&m.id) {
            // Seen already (history overlap, redelivery): only learn the ack.
            for line in &mut room.lines {
                if let LineKind::Chat {
                    id: Some(id),
                    delivery,
                    seq,
                    ..
                } = &mut line.kind
                {
                    if *id == m.id && acked {
                        *delivery = Delivery::Acked;
                        *seq = seq.or(m.seq);
                    }
                }
            }
            return;
        }
        room.ids.insert(m.id.clone());
        if own {
            // Our own pending line: the first one with this text and no id yet.
            let pending = room.lines.iter_mut().find_map(|l| match &mut l.kind {
                LineKind::Chat {
                    own: true,
                    id: id @ None,
                    text,
                    delivery,
                    seq,
                    ..
                } if *text == m.text => Some((id, delivery, seq)),
                _ => None,
            });
            if let Some((id, delivery, seq)) = pending {
                *id = Some(m.id);
                *seq = m.seq;
                if acked {
                    *delivery = Delivery::Acked;
                }
                return;
            }
        }
        let mention = !own && mentions(&m.text, &self.nick);
        let line = Line {
            time: self.clock.clone(),
            kind: LineKind::Chat {
                nick: m.nick,
                from: m.from,
                text: m.text,
                own,
                delivery: if own && !acked && !m.history {
                    Delivery::Pending
                } else {
                    Delivery::Acked
                },
                mention,
                id: Some(m.id),
                seq: m.seq,
            },
        };
        let at = match m.seq {
            // History (and late arrivals) go before the first later message.
            Some(seq) => room
                .lines
                .iter()
                .position(|l| matches!(l.kind, LineKind::Chat { seq: Some(s), .. } if s > seq)),
            None => None,
        };
        match at {
            Some(at) => {
                room.lines.insert(at, line);
                if room.scroll > 0 {
                    room.scroll += 1;
                }
            }
            None => room.push(line),
        }
        if room.lines.len() > MAX_LINES {
            room.lines.remove(0);
        }
        if !is_current && !m.history {
            room.unread += 1;
            room.mentioned |= mention;
        }
    }

    /// Shows room `index` (clamped), clearing its unread count.
    pub fn switch_to(&mut self, index: usize) {
        if self.rooms.is_empty() {
            return;
        }
        self.current = index.min(self.rooms.len() - 1);
        let room = &mut self.rooms[self.current];
        room.unread = 0;
        room.mentioned = false;
    }

    fn cycle(&mut self, forward: bool) {
        let n = self.rooms.len();
        if n > 0 {
            let next = if forward {
                (self.current + 1) % n
            } else {
                (self.current + n - 1) % n
            };
            self.switch_to(next);
        }
    }

    /// Takes a mouse event (the wheel scrolls).
    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        match mouse.kind {
            MouseEventKind::ScrollUp => self.scroll_by(WHEEL_LINES as isize),
            MouseEventKind::ScrollDown => self.scroll_by(-(WHEEL_LINES as isize)),
            _ => {}
        }
    }

    fn scroll_by(&mut self, lines: isize) {
        let room = self.shown_mut();
        let max = room.lines.len().saturating_sub(1);
        room.scroll = room.scroll.saturating_add_signed(lines).min(max);
    }

    /// Takes a key; returns the commands for the node.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<NodeCommand> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter => {
                let line = self.input.submit();
                return self.typed(&line);
            }
            KeyCode::Char('c') if ctrl => return self.typed("/quit"),
            KeyCode::Char('d') if ctrl && self.input.is_empty() => return self.typed("/quit"),
            KeyCode::Char('a') if ctrl => self.input.home(),
            KeyCode::Char('e') if ctrl => self.input.end(),
            KeyCode::Char('u') if ctrl => self.input.kill_to_start(),
            KeyCode::Char('w') if ctrl => self.input.kill_word(),
            KeyCode::Char('n') if ctrl => self.cycle(true),
            KeyCode::Char('p') if ctrl => self.cycle(false),
            KeyCode::Char(c @ '1'..='9') if alt => self.switch_to(c as usize - '1' as usize),
            KeyCode::Char(c) if !ctrl && !alt => self.input.insert(c),
            KeyCode::Left if alt => self.cycle(false),
            KeyCode::Right if alt => self.cycle(true),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            KeyCode::End => self.input.end(),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Up => self.input.history_prev(),
            KeyCode::Down => self.input.history_next(),
            KeyCode::PageUp => self.scroll_by(self.page.max(1) as isize),
            KeyCode::PageDown => self.scroll_by(-(self.page.max(1) as isize)),
            KeyCode::Tab => {
                let nicks = self.known_nicks();
                self.input.complete(commands::NAMES, &nicks);
            }
            _ => {}
        }
        Vec::new()
    }

    /// Acts on a typed line.
    pub fn typed(&mut self, line: &str) -> Vec<NodeCommand> {
        let typed = match commands::parse(line) {
            Ok(Some(typed)) => typed,
            Ok(None) => return Vec::new(),
            Err(e) => {
                self.error(e);
                return Vec::new();
            }
        };
        match typed {
            Typed::Text(text) => self.send_text(text),
            Typed::Join(room) => {
                if let Some(i) = self.room_index(&room) {
                    self.switch_to(i);
                    return Vec::new();
                }
                if let Err(e) = wire::validate_room(&room) {
                    self.error(format!("/join: {e}"));
                    return Vec::new();
                }
                self.rooms.push(Room::new(&room));
                self.switch_to(self.rooms.len() - 1);
                self.notice(format!("you joined #{room}"));
                vec![NodeCommand::Join(room)]
            }
            Typed::Leave(room) => {
                let Some(room) = room.or_else(|| self.current_room().map(str::to_string)) else {
                    self.error("you are in no room");
                    return Vec::new();
                };
                let Some(i) = self.room_index(&room) else {
                    self.error(format!("you are not in #{room}"));
                    return Vec::new();
                };
                let closed = self.rooms.remove(i);
                if self.current > i || self.current >= self.rooms.len() {
                    self.current = self.current.saturating_sub(1);
                }
                self.switch_to(self.current);
                if closed.peer.is_some() {
                    // A conversation is not joined: closing its tab is all.
                    self.notice("conversation closed (it reopens with the next message)");
                    return Vec::new();
                }
                self.notice(format!("you left #{room}"));
                vec![NodeCommand::Leave(room)]
            }
            Typed::Nick(nick) => {
                if let Err(e) = wire::validate_nick(&nick) {
                    self.error(format!("/nick: {e}"));
                    return Vec::new();
                }
                self.notice(format!("you are now {nick}"));
                self.nick = nick.clone();
                vec![NodeCommand::Nick(nick)]
            }
            Typed::Msg { nick, text } => self.direct_message(&nick, text),
            Typed::Who => {
                let online = self.online();
                self.notice(format!("online ({}): {}", online.len(), online.join(", ")));
                vec![NodeCommand::Status]
            }
            Typed::Servers => {
                for line in self.cluster_lines() {
                    self.notice(line);
                }
                vec![NodeCommand::Status]
            }
            Typed::History(n) => {
                let Some(room) = self.rooms.get(self.current) else {
                    self.error("you are in no room");
                    return Vec::new();
                };
                let cmd = NodeCommand::History {
                    room: room.name.clone(),
                    before: room.oldest_seq(),
                    limit: Some(n.unwrap_or(50)),
                };
                self.notice("fetching older messages...");
                vec![cmd]
            }
            Typed::Help => {
                for line in commands::HELP {
                    self.notice(*line);
                }
                Vec::new()
            }
            Typed::Quit => {
                self.quitting = true;
                self.notice("quitting...");
                vec![NodeCommand::Quit]
            }
        }
    }

    /// Sends typed text to the shown room (or conversation), shown pending
    /// until the cluster acknowledges it.
    fn send_text(&mut self, text: String) -> Vec<NodeCommand> {
        let Some(room) = self.current_room().map(str::to_string) else {
            self.error("you are in no room: /join one first");
            return Vec::new();
        };
        let peer = self.rooms.get(self.current).and_then(|r| r.peer.clone());
        let line = Line {
            time: self.clock.clone(),
            kind: LineKind::Chat {
                nick: self.nick.clone(),
                from: self.my_id().to_string(),
                text: text.clone(),
                own: true,
                delivery: Delivery::Pending,
                mention: false,
                id: None,
                seq: None,
            },
        };
        let shown = self.shown_mut();
        shown.scroll = 0;
        shown.push(line);
        match peer {
            Some(to) => vec![NodeCommand::Dm { to, text }],
            None => vec![NodeCommand::Send { room, text }],
        }
    }

    /// `/msg NICK TEXT`: opens (or shows) the conversation with the peer
    /// called NICK (`nick#tag` or a peer id when the nick is shared) and
    /// sends TEXT there, shown pending until the cluster acknowledges it.
    fn direct_message(&mut self, who: &str, text: String) -> Vec<NodeCommand> {
        let peer = match self.resolve(who) {
            Ok(p) => p,
            Err(e) => {
                self.error(format!("/msg: {e}"));
                return Vec::new();
            }
        };
        let Some(me) = self.me.clone() else {
            self.error("/msg: not connected yet, try again in a moment");
            return Vec::new();
        };
        if peer == me {
            self.error("/msg: that is you");
            return Vec::new();
        }
        let (Ok(a), Ok(b)) = (me.parse(), peer.parse()) else {
            self.error(format!("/msg: {who} has no usable peer id"));
            return Vec::new();
        };
        let name = chorus_node::seal::dm_room(&a, &b);
        let index = match self.room_index(&name) {
            Some(i) => i,
            None => {
                let mut room = Room::new(&name);
                room.peer = Some(peer.clone());
                self.rooms.push(room);
                self.rooms.len() - 1
            }
        };
        self.switch_to(index);
        self.send_text(text)
    }

    /// The peer id of a client named `who`: a peer id, a nick only one peer
    /// online uses, or `nick#tag` (the end of the peer id) for a shared nick.
    fn resolve(&self, who: &str) -> Result<String, String> {
        let who = who.trim_start_matches('@');
        if self.peers.contains_key(who) || who.parse::<libp2p::PeerId>().is_ok() {
            return Ok(who.to_string());
        }
        let (nick, tag) = match who.split_once('#') {
            Some((n, t)) => (n, Some(t)),
            None => (who, None),
        };
        let found: Vec<&Peer> = self
            .peers
            .values()
            .filter(|p| !p.is_server())
            .filter(|p| {
                p.nick
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(nick))
            })
            .filter(|p| tag.is_none_or(|t| p.peer_id.ends_with(t)))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.peer_id.clone()),
            [] => Err(format!("no one called {who} is online")),
            many => Err(format!(
                "{} peers are called {nick}: say which, e.g. {nick}#{}",
                many.len(),
                crate::nicks::tag(&many[0].peer_id)
            )),
        }
    }

    /// How a room is named in tabs and titles: `#room`, or `@nick` for a
    /// direct conversation.
    pub fn room_title(&self, room: &Room, nicks: &Nicks) -> String {
        let Some(peer) = &room.peer else {
            return format!("#{}", room.name);
        };
        let nick = self
            .peers
            .get(peer)
            .and_then(|p| p.nick.clone())
            .or_else(|| {
                room.lines.iter().find_map(|l| match &l.kind {
                    LineKind::Chat { nick, from, .. } if from == peer => Some(nick.clone()),
                    _ => None,
                })
            });
        match nick {
            Some(n) => format!("@{}", nicks.show(&n, peer)),
            None => format!("@{}", short(peer)),
        }
    }

    /// The `/servers` report: each server, its role and connection, leader and term.
    pub fn cluster_lines(&self) -> Vec<String> {
        let Some(s) = &self.status else {
            return vec!["no status from the node yet; try again in a moment".into()];
        };
        let term = self
            .term
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into());
        let quorum = match s.quorum {
            Some(true) => "quorum OK",
            Some(false) => "quorum DEGRADED",
            None => "quorum unknown",
        };
        let commit = s
            .commit_index
            .map(|c| format!(", commit index {c}"))
            .unwrap_or_default();
        let mut lines = vec![format!(
            "cluster: {} servers, term {term}, {quorum}{commit}",
            s.servers.len()
        )];
        for server in &s.servers {
            let mut tags = Vec::new();
            if self.leader.as_ref() == Some(server) {
                tags.push("leader");
            } else if !s.voters.is_empty() && s.voters.contains(server) {
                tags.push("voter");
            } else if !s.voters.is_empty() {
                tags.push("learner");
            }
            if s.connected.contains(server) {
                tags.push("connected");
            }
            lines.push(format!("  {:<20} {server}", tags.join(", ")));
        }
        lines
    }
}

/// The last characters of a peer id, enough to tell peers apart.
pub fn short(peer_id: &str) -> &str {
    let start = peer_id.len().saturating_sub(8);
    peer_id.get(start..).unwrap_or(peer_id)
}

/// Whether `text` mentions `nick` as a whole word (case-insensitive).
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let nick = nick.to_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    text.match_indices(&nick).any(|(at, _)| {
        !word(text[..at].chars().next_back()) && !word(text[at + nick.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests;
