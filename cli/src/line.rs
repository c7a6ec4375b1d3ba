//! The human line interface: typed lines are sent to the current room, `/cmd`
//! lines are commands; events are printed as short lines like `[lobby] alice: hi`
//! (`[lobby] alice#3fZq: hi` when two peers use the nick, see [`Nicks`]).

use chorus_node::api::{Command, Event, PeerInfo, Status};

use crate::nicks::Nicks;

/// Renders events for people, remembering who uses which nick (everyone
/// heard from since the start) to tell apart the peers that share one.
#[derive(Debug, Default)]
pub struct Renderer {
    nicks: Nicks,
    own_nick: Option<String>,
    me: Option<String>,
}

impl Renderer {
    /// A renderer for a node whose nick is `own_nick` (clients).
    pub fn new(own_nick: Option<String>) -> Renderer {
        Renderer {
            own_nick,
            ..Renderer::default()
        }
    }

    /// Our nick changed (`/nick`).
    pub fn set_own_nick(&mut self, nick: &str) {
        self.own_nick = Some(nick.to_string());
        self.learn_me();
    }

    fn learn_me(&mut self) {
        if let (Some(nick), Some(me)) = (&self.own_nick, &self.me) {
            self.nicks.add(nick, me);
        }
    }

    /// Learns from `event`, then renders it (see [`render`]).
    pub fn render(&mut self, event: &Event) -> String {
        match event {
            Event::Ready { peer_id, .. } => {
                self.me = Some(peer_id.clone());
                self.learn_me();
            }
            Event::PeerJoined(p) | Event::PeerLeft(p) => {
                if let Some(nick) = &p.nick {
                    self.nicks.add(nick, &p.peer_id);
                }
            }
            Event::Message(m) => self.nicks.add(&m.nick, &m.from),
            Event::Status(s) => {
                for p in &s.peers {
                    if let Some(nick) = &p.nick {
                        self.nicks.add(nick, &p.peer_id);
                    }
                }
            }
            _ => {}
        }
        render(event, &self.nicks)
    }
}

/// Help text for `/help`.
pub const HELP: &str = "commands: /join ROOM, /leave ROOM, /msg NICK|PEER_ID TEXT, /nick NICK, /status, /quit, /help; anything else is sent to the current room";

/// Parses a typed line. `Ok(None)`: nothing to do; `Err`: a message for the user.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Some(Command::Send {
            room: None,
            text: line.to_string(),
        }));
    };
    let mut words = rest.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next();
    let need = |what: &str| match arg {
        Some(a) => Ok(a.to_string()),
        None => Err(format!("/{cmd} needs a {what}")),
    };
    Ok(Some(match cmd {
        "join" => Command::Join {
            room: need("room")?,
        },
        "leave" => Command::Leave {
            room: need("room")?,
        },
        "nick" => Command::Nick {
            nick: need("nick")?,
        },
        "msg" => {
            let to = need("nick or peer id")?;
            let text = rest
                .trim_start()
                .strip_prefix(cmd)
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix(to.as_str()))
                .map(str::trim)
                .unwrap_or("");
            if text.is_empty() {
                return Err("/msg needs a text: /msg NICK TEXT".into());
            }
            Command::Dm {
                to,
                text: text.to_string(),
            }
        }
        "status" => Command::Status,
        "quit" | "exit" => Command::Quit,
        "help" => return Err(HELP.to_string()),
        other => return Err(format!("unknown command /{other}; {HELP}")),
    }))
}

fn who(p: &PeerInfo) -> String {
    match &p.nick {
        Some(nick) => format!("{nick} ({})", short(&p.peer_id)),
        None => format!("{} {}", p.role, short(&p.peer_id)),
    }
}

/// The last characters of a peer id, enough to tell peers apart.
pub fn short(peer_id: &str) -> &str {
    &peer_id[peer_id.len().saturating_sub(8)..]
}

/// Renders an event as lines for people; message authors whose nick another
/// peer in `nicks` uses are tagged with the end of their peer id.
pub fn render(event: &Event, nicks: &Nicks) -> String {
    match event {
        Event::Ready {
            peer_id,
            role,
            listen_addrs,
        } => {
            let mut s = format!("* {role} {peer_id} ready, listening on:");
            for a in listen_addrs {
                s.push_str(&format!("\n*   {a}"));
            }
            s
        }
        Event::PeerJoined(p) => format!("* {} joined", who(p)),
        Event::PeerLeft(p) => format!("* {} left", who(p)),
        Event::Message(m) => match &m.to {
            None => format!("[{}] {}: {}", m.room, nicks.show(&m.nick, &m.from), m.text),
            Some(to) => format!(
                "[dm -> {}] {}: {}",
                short(to),
                nicks.show(&m.nick, &m.from),
                m.text
            ),
        },
        Event::Error { message } => format!("! {message}"),
        Event::Status(s) => render_status(s),
        Event::Sent { .. } => String::new(),
        Event::Leader { term, peer_id } => {
            format!("* leader is now server {} (term {term})", short(peer_id))
        }
    }
}

/// Renders a status for people.
pub fn render_status(s: &Status) -> String {
    let mut out = format!("peer id: {}\nrole:    {}\n", s.peer_id, s.role);
    if let Some(nick) = &s.nick {
        out.push_str(&format!("nick:    {nick}\n"));
    }
    out.push_str("addresses:\n");
    for a in &s.listen_addrs {
        out.push_str(&format!("  {a}\n"));
    }
    out.push_str(&format!("servers ({}):\n", s.servers.len()));
    for srv in &s.servers {
        out.push_str(&format!("  {srv}\n"));
    }
    out.push_str(&format!("peers ({}):\n", s.peers.len()));
    for p in &s.peers {
        out.push_str(&format!(
            "  {} {}{}\n",
            p.role,
            p.peer_id,
            p.nick.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
        ));
    }
    out.push_str(&format!("rooms:   {}", s.rooms.join(", ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines() {
        assert_eq!(
            parse("hi all"),
            Ok(Some(Command::Send {
                room: None,
                text: "hi all".into()
            }))
        );
        assert_eq!(
            parse("/join dev"),
            Ok(Some(Command::Join { room: "dev".into() }))
        );
        assert_eq!(parse("/quit"), Ok(Some(Command::Quit)));
        assert_eq!(
            parse("/msg bob  see you at  noon "),
            Ok(Some(Command::Dm {
                to: "bob".into(),
                text: "see you at  noon".into()
            }))
        );
        assert!(parse("/msg bob").unwrap_err().contains("needs a text"));
        assert!(parse("/join").unwrap_err().contains("needs a room"));
        assert!(parse("/fly").unwrap_err().contains("unknown command"));
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn messages_render_like_irc() {
        let e = Event::Message(chorus_node::api::ChatMessage {
            room: "lobby".into(),
            id: "x".into(),
            from: "p".into(),
            nick: "alice".into(),
            text: "hi".into(),
            seq: Some(1),
            history: false,
            to: None,
        });
        assert_eq!(render(&e, &Nicks::default()), "[lobby] alice: hi");
    }

    fn message(from: &str, nick: &str, text: &str) -> Event {
        Event::Message(chorus_node::api::ChatMessage {
            room: "lobby".into(),
            id: format!("{from}-{text}"),
            from: from.into(),
            nick: nick.into(),
            text: text.into(),
            seq: Some(1),
            history: false,
            to: None,
        })
    }

    #[test]
    fn a_nick_two_peers_use_is_tagged() {
        let mut r = Renderer::new(Some("alice".into()));
        r.render(&Event::Ready {
            peer_id: "12D3KooWmeee3fZq".into(),
            role: chorus_node::Role::Client,
            listen_addrs: vec![],
        });
        assert_eq!(
            r.render(&message("12D3KooWbobbbXy1", "bob", "hi")),
            "[lobby] bob: hi"
        );
        assert_eq!(
            r.render(&message("12D3KooWmeee3fZq", "alice", "hey")),
            "[lobby] alice: hey"
        );
        // Another key calls itself alice: it cannot pass for us.
        assert_eq!(
            r.render(&message("12D3KooWevil9xYz", "alice", "it's me")),
            "[lobby] alice#9xYz: it's me"
        );
        assert_eq!(
            r.render(&message("12D3KooWmeee3fZq", "alice", "no, me")),
            "[lobby] alice#3fZq: no, me"
        );
        assert_eq!(
            r.render(&message("12D3KooWbobbbXy1", "bob", "hm")),
            "[lobby] bob: hm"
        );
        // Before we say anything: our own nick is known from the start.
        let mut r = Renderer::new(Some("carol".into()));
        r.render(&Event::Ready {
            peer_id: "12D3KooWcarolAAA".into(),
            role: chorus_node::Role::Client,
            listen_addrs: vec![],
        });
        assert_eq!(
            r.render(&message("12D3KooWfakeBBBB", "carol", "hi")),
            "[lobby] carol#BBBB: hi"
        );
        r.set_own_nick("dave");
        assert_eq!(
            r.render(&message("12D3KooWfakeCCCC", "dave", "hi")),
            "[lobby] dave#CCCC: hi"
        );
    }
}
