//! Model tests: keys and events in, state and node commands out.

use super::*;
use crate::tui::bridge::{Msg, NodeCommand, NodeEvent, Peer, StatusInfo};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn model() -> Model {
    let mut m = Model::new("alice", &["lobby".to_string()]);
    m.clock = "12:00".into();
    m.on_event(NodeEvent::Ready {
        peer_id: "12D3KooWalice".into(),
        listen_addrs: vec![],
    });
    m
}

fn type_line(m: &mut Model, text: &str) -> Vec<NodeCommand> {
    for c in text.chars() {
        m.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    m.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

fn msg(room: &str, id: &str, from: &str, nick: &str, text: &str, seq: Option<u64>) -> NodeEvent {
    NodeEvent::Message(Msg {
        room: room.into(),
        id: id.into(),
        from: from.into(),
        nick: nick.into(),
        text: text.into(),
        seq,
        history: false,
        to: None,
    })
}

fn chat_lines(room: &Room) -> Vec<(String, Delivery)> {
    room.lines
        .iter()
        .filter_map(|l| match &l.kind {
            LineKind::Chat { text, delivery, .. } => Some((text.clone(), *delivery)),
            _ => None,
        })
        .collect()
}

#[test]
fn own_message_is_pending_until_sent() {
    let mut m = model();
    let cmds = type_line(&mut m, "hello");
    assert_eq!(
        cmds,
        vec![NodeCommand::Send {
            room: "lobby".into(),
            text: "hello".into()
        }]
    );
    assert_eq!(m.pending(), 1);
    // Ordering delivers it back (seq unknown yet on an older node): still pending.
    m.on_event(msg("lobby", "m1", "12D3KooWalice", "alice", "hello", None));
    assert_eq!(
        chat_lines(m.shown()),
        vec![("hello".into(), Delivery::Pending)]
    );
    m.on_event(NodeEvent::Sent {
        id: "m1".into(),
        room: "lobby".into(),
        seq: 1,
    });
    assert_eq!(
        chat_lines(m.shown()),
        vec![("hello".into(), Delivery::Acked)]
    );
    assert_eq!(m.pending(), 0);
    assert_eq!(m.rooms[0].oldest_seq(), Some(1));
}

#[test]
fn ordered_echo_or_early_ack_acknowledges() {
    let mut m = model();
    type_line(&mut m, "a");
    type_line(&mut m, "b");
    m.on_event(msg("lobby", "ma", "12D3KooWalice", "alice", "a", Some(4)));
    m.on_event(NodeEvent::Sent {
        id: "mb".into(),
        room: "lobby".into(),
        seq: 5,
    });
    m.on_event(msg("lobby", "mb", "12D3KooWalice", "alice", "b", None));
    assert_eq!(
        chat_lines(m.shown()),
        vec![("a".into(), Delivery::Acked), ("b".into(), Delivery::Acked)]
    );
    // A duplicate delivery adds nothing.
    m.on_event(msg("lobby", "mb", "12D3KooWalice", "alice", "b", Some(5)));
    assert_eq!(chat_lines(m.shown()).len(), 2);
}

#[test]
fn unread_counts_and_mentions() {
    let mut m = model();
    type_line(&mut m, "/join dev");
    assert_eq!(m.current_room(), Some("dev"));
    m.on_event(msg("lobby", "x1", "bobid", "bob", "hi", Some(1)));
    m.on_event(msg("lobby", "x2", "bobid", "bob", "hey Alice!", Some(2)));
    assert_eq!(m.rooms[0].unread, 2);
    assert!(m.rooms[0].mentioned);
    m.on_event(msg("dev", "x3", "bobid", "bob", "malice", Some(1)));
    assert_eq!(m.rooms[1].unread, 0);
    assert!(matches!(
        m.rooms[1].lines.last().unwrap().kind,
        LineKind::Chat { mention: false, .. }
    ));
    // Ctrl-P goes back to lobby and clears its count.
    m.on_key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL));
    assert_eq!(m.current_room(), Some("lobby"));
    assert_eq!(m.rooms[0].unread, 0);
    assert!(!m.rooms[0].mentioned);
    assert!(mentions("@alice: look", "alice"));
    assert!(!mentions("alicea", "alice"));
}

#[test]
fn history_goes_in_seq_order() {
    let mut m = model();
    m.on_event(msg("lobby", "c", "bobid", "bob", "third", Some(3)));
    let mut old = |id: &str, text: &str, seq| {
        m.on_event(NodeEvent::Message(Msg {
            room: "lobby".into(),
            id: id.into(),
            from: "bobid".into(),
            nick: "bob".into(),
            text: text.into(),
            seq: Some(seq),
            history: true,
            to: None,
        }))
    };
    old("a", "first", 1);
    old("b", "second", 2);
    let texts: Vec<String> = chat_lines(m.shown()).into_iter().map(|(t, _)| t).collect();
    assert_eq!(texts, ["first", "second", "third"]);
    let cmds = type_line(&mut m, "/history 20");
    assert_eq!(
        cmds,
        vec![NodeCommand::History {
            room: "lobby".into(),
            before: Some(1),
            limit: Some(20)
        }]
    );
}

#[test]
fn commands_act() {
    let mut m = model();
    assert_eq!(
        type_line(&mut m, "/join dev"),
        vec![NodeCommand::Join("dev".into())]
    );
    // Joining a joined room only switches.
    assert_eq!(type_line(&mut m, "/join lobby"), vec![]);
    assert_eq!(m.current_room(), Some("lobby"));
    assert_eq!(
        type_line(&mut m, "/leave dev"),
        vec![NodeCommand::Leave("dev".into())]
    );
    assert_eq!(m.rooms.len(), 1);
    assert_eq!(
        type_line(&mut m, "/nick zed"),
        vec![NodeCommand::Nick("zed".into())]
    );
    assert_eq!(m.nick, "zed");
    assert_eq!(type_line(&mut m, "/nick"), vec![]);
    assert!(
        matches!(&m.shown().lines.last().unwrap().kind, LineKind::Error(e) if e.contains("needs a nick"))
    );
    assert_eq!(type_line(&mut m, "/msg bob hi"), vec![]);
    assert!(
        matches!(&m.shown().lines.last().unwrap().kind, LineKind::Error(e) if e.contains("no one called bob"))
    );
    assert_eq!(type_line(&mut m, "/who"), vec![NodeCommand::Status]);
    assert_eq!(
        type_line(&mut m, "/leave"),
        vec![NodeCommand::Leave("lobby".into())]
    );
    assert_eq!(m.current_room(), None);
    assert_eq!(type_line(&mut m, "hi"), vec![]);
    assert!(
        matches!(&m.shown().lines.last().unwrap().kind, LineKind::Error(e) if e.contains("no room"))
    );
    assert!(!m.quitting);
    assert_eq!(type_line(&mut m, "/quit"), vec![NodeCommand::Quit]);
    assert!(m.quitting);
    let mut m = model();
    assert_eq!(
        m.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        vec![NodeCommand::Quit]
    );
}

#[test]
fn presence_and_status() {
    let mut m = model();
    let peer = |id: &str, role: &str, nick: Option<&str>| Peer {
        peer_id: id.into(),
        role: role.into(),
        nick: nick.map(str::to_string),
    };
    m.on_event(NodeEvent::PeerJoined(peer("bob1", "client", Some("bob"))));
    m.on_event(NodeEvent::PeerJoined(peer("bob2", "client", Some("bob"))));
    m.on_event(NodeEvent::PeerJoined(peer("srv1", "server", None)));
    assert_eq!(m.online(), ["alice", "bob#bob1", "bob#bob2"]);
    m.on_event(NodeEvent::PeerLeft(peer("bob2", "client", Some("bob"))));
    assert_eq!(m.online(), ["alice", "bob"]);
    let notices: Vec<&LineKind> = m.shown().lines.iter().map(|l| &l.kind).collect();
    assert!(notices
        .iter()
        .any(|k| matches!(k, LineKind::Notice(t) if t.contains("bob (bob2) left"))));
    assert_eq!(m.quorum(), None);
    m.on_event(NodeEvent::Status(StatusInfo {
        peer_id: "12D3KooWalice".into(),
        servers: vec!["srv1".into(), "srv2".into()],
        connected: vec!["srv1".into()],
        peers: vec![
            peer("srv1", "server", None),
            peer("carol1", "client", Some("carol")),
        ],
        rooms: vec!["lobby".into(), "ops".into()],
        leader: Some("srv2".into()),
        term: Some(7),
        voters: vec!["srv1".into(), "srv2".into()],
        quorum: Some(false),
        ..StatusInfo::default()
    }));
    assert_eq!(m.online(), ["alice", "carol"]);
    assert_eq!(m.servers(), (2, 1));
    assert_eq!(m.quorum(), Some(false));
    assert_eq!(m.rooms.len(), 2);
    let cluster = m.cluster_lines();
    assert!(
        cluster[0].contains("term 7") && cluster[0].contains("DEGRADED"),
        "{cluster:?}"
    );
    assert!(cluster[1].contains("srv1") && cluster[1].contains("voter, connected"));
    assert!(cluster[2].contains("srv2") && cluster[2].contains("leader"));
    m.on_event(NodeEvent::Leader {
        term: 8,
        peer_id: "srv1".into(),
    });
    assert_eq!((m.leader.as_deref(), m.term), (Some("srv1"), Some(8)));
}

#[test]
fn scrollback_keys_and_wheel() {
    let mut m = model();
    m.page = 5;
    for i in 0..30 {
        m.on_event(msg(
            "lobby",
            &format!("i{i}"),
            "bobid",
            "bob",
            "x",
            Some(i + 1),
        ));
    }
    m.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
    assert_eq!(m.shown().scroll, 5);
    // New lines keep the view where it is.
    m.on_event(msg("lobby", "new", "bobid", "bob", "y", Some(100)));
    assert_eq!(m.shown().scroll, 6);
    m.on_mouse(ratatui::crossterm::event::MouseEvent {
        kind: ratatui::crossterm::event::MouseEventKind::ScrollDown,
        column: 0,
        row: 0,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(m.shown().scroll, 3);
    m.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    assert_eq!(m.shown().scroll, 0);
    // Sending jumps back to the newest line.
    m.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
    type_line(&mut m, "me");
    assert_eq!(m.shown().scroll, 0);
}

#[test]
fn keys_edit_and_complete() {
    let mut m = model();
    m.on_event(NodeEvent::PeerJoined(Peer {
        peer_id: "bobid".into(),
        role: "client".into(),
        nick: Some("bob".into()),
    }));
    for c in "/jo".chars() {
        m.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    m.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    assert_eq!(m.input.text(), "/join ");
    m.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    m.on_key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::NONE));
    m.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    assert_eq!(m.input.text(), "bob: ");
    type_line(&mut m, "hi");
    m.on_key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
    assert_eq!(m.input.text(), "bob: hi");
    m.on_key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    m.on_key(KeyEvent::new(KeyCode::Delete, KeyModifiers::NONE));
    m.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    m.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
    assert_eq!(m.input.text(), "ob: h");
    m.on_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
    assert_eq!(m.input.text(), "ob: ");
    m.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    assert_eq!(m.input.text(), "");
}

#[test]
fn a_node_without_acks_acknowledges_by_echo() {
    let mut m = model();
    m.on_event(NodeEvent::Status(StatusInfo {
        peer_id: "12D3KooWalice".into(),
        rooms: vec!["lobby".into()],
        ..StatusInfo::default()
    }));
    type_line(&mut m, "hello");
    assert_eq!(m.pending(), 1);
    m.on_event(msg("lobby", "m1", "12D3KooWalice", "alice", "hello", None));
    assert_eq!(m.pending(), 0);
}

/// A real peer id (direct conversations are named from real ids).
fn peer_id() -> String {
    libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_base58()
}

#[test]
fn direct_messages_open_a_conversation_tab() {
    let (me, bob, carol) = (peer_id(), peer_id(), peer_id());
    let mut m = Model::new("alice", &["lobby".to_string()]);
    m.on_event(NodeEvent::Ready {
        peer_id: me.clone(),
        listen_addrs: vec![],
    });
    m.on_event(NodeEvent::Status(StatusInfo {
        peer_id: me.clone(),
        peers: vec![
            Peer {
                peer_id: bob.clone(),
                role: "client".into(),
                nick: Some("bob".into()),
            },
            Peer {
                peer_id: carol.clone(),
                role: "client".into(),
                nick: Some("carol".into()),
            },
        ],
        rooms: vec!["lobby".into()],
        ..StatusInfo::default()
    }));

    // /msg opens "@bob", shows the line pending and sends a dm to bob's id.
    let cmds = type_line(&mut m, "/msg bob see you at noon");
    assert_eq!(
        cmds,
        vec![NodeCommand::Dm {
            to: bob.clone(),
            text: "see you at noon".into()
        }]
    );
    let nicks = m.nicks();
    assert_eq!(m.room_title(m.shown(), &nicks), "@bob");
    assert_eq!(
        chat_lines(m.shown()),
        [("see you at noon".to_string(), Delivery::Pending)]
    );
    let conversation = m.current_room().expect("a tab").to_string();
    assert!(conversation.starts_with("dm."), "{conversation}");

    // Bob's answer lands in the same tab; plain text typed there goes to bob.
    m.on_event(NodeEvent::Message(Msg {
        room: conversation.clone(),
        id: "b-1".into(),
        from: bob.clone(),
        nick: "bob".into(),
        text: "ok".into(),
        seq: Some(2),
        history: false,
        to: Some(me.clone()),
    }));
    assert_eq!(m.shown().lines.len(), 2);
    assert_eq!(
        type_line(&mut m, "/me waves"),
        Vec::<NodeCommand>::new(),
        "commands stay commands"
    );
    assert_eq!(
        type_line(&mut m, "bring snacks"),
        vec![NodeCommand::Dm {
            to: bob.clone(),
            text: "bring snacks".into()
        }]
    );

    // A message from carol opens her tab in the background, counted unread.
    m.on_event(NodeEvent::Message(Msg {
        room: "dm.0123".into(),
        id: "c-1".into(),
        from: carol.clone(),
        nick: "carol".into(),
        text: "psst".into(),
        seq: Some(1),
        history: false,
        to: Some(me.clone()),
    }));
    let tab = m
        .rooms
        .iter()
        .find(|r| r.name == "dm.0123")
        .expect("carol's tab");
    assert_eq!(tab.unread, 1);
    assert_eq!(m.room_title(tab, &m.nicks()), "@carol");

    // Unknown nicks are refused here; /leave closes a conversation locally.
    assert!(type_line(&mut m, "/msg dave hi").is_empty());
    assert_eq!(type_line(&mut m, "/leave"), Vec::<NodeCommand>::new());
    assert!(m.rooms.iter().all(|r| r.name != conversation));
}
