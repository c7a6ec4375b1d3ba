//! Rendering tests on ratatui's test backend.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use crate::tui::model::Model;
use crate::tui::screenshot::{demo_model, demo_status, render, same_nick_model};

/// The buffer's rows as text.
fn rows(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

/// Where `needle` first appears: (column, row).
fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    rows(buffer).iter().enumerate().find_map(|(y, row)| {
        row.find(needle)
            .map(|byte| (row[..byte].chars().count() as u16, y as u16))
    })
}

#[test]
fn room_list_shows_unread_counts() {
    let m = demo_model(true);
    let b = render(&m, 100, 24);
    let text = rows(&b).join("\n");
    assert!(text.contains("#dev (2)"), "{text}");
    assert!(text.contains("#random (1)"), "{text}");
    // The current room is highlighted and has no count.
    // First in the room list (inside its border), highlighted.
    assert!(rows(&b)[1].starts_with("│#lobby "), "{text}");
    assert!(b[(1, 1)].modifier.contains(Modifier::REVERSED));
    assert!(!text.contains("#lobby ("));
    // Presence: everyone online, us included.
    assert!(text.contains("Online (3)"), "{text}");
    for nick in ["alice", "bob", "carol"] {
        assert!(find(&b, nick).is_some(), "{nick} missing:\n{text}");
    }
}

#[test]
fn pending_lines_are_dim_acknowledged_are_not() {
    let b = render(&demo_model(true), 100, 24);
    let text = rows(&b).join("\n");
    let (x, y) = find(&b, "on it: watch").expect("pending line shown");
    assert!(b[(x, y)].modifier.contains(Modifier::DIM), "pending is dim");
    assert!(rows(&b)[y as usize].contains("(pending)"), "{text}");
    let (x, y) = find(&b, "yes, elections").expect("acked line shown");
    assert!(
        !b[(x, y)].modifier.contains(Modifier::DIM),
        "acked is not dim"
    );
    assert!(!rows(&b)[y as usize].contains("(pending)"), "{text}");
    // The status bar counts the pending message.
    assert!(rows(&b)[22].contains("pending 1"), "{}", rows(&b)[22]);
    // A mention of our nick is highlighted.
    let (x, y) = find(&b, "alice: can you").expect("mention shown");
    assert_eq!(b[(x, y)].bg, Color::Yellow);
}

#[test]
fn status_bar_shows_degraded_quorum() {
    let b = render(&demo_model(false), 100, 24);
    let bar = &rows(&b)[22];
    assert!(bar.contains("quorum DEGRADED"), "{bar}");
    assert!(bar.contains("servers 1/3"), "{bar}");
    assert!(bar.contains("leader SrvCm9Td t5"), "{bar}");
    assert!(bar.contains(" alice "), "{bar}");
    let (x, y) = find(&b, "DEGRADED").unwrap();
    assert_eq!(y, 22);
    assert_eq!(b[(x, y)].bg, Color::Red);
    let ok = render(&demo_model(true), 100, 24);
    assert!(rows(&ok)[22].contains("quorum OK"), "{}", rows(&ok)[22]);
    // An older node that reports no quorum shows it as unknown.
    let mut m = Model::new("alice", &["lobby".to_string()]);
    let mut status = demo_status(true);
    status.quorum = None;
    status.leader = None;
    status.term = None;
    m.on_event(crate::tui::bridge::NodeEvent::Status(status));
    let b = render(&m, 100, 24);
    assert!(rows(&b)[22].contains("quorum ?"), "{}", rows(&b)[22]);
    assert!(rows(&b)[22].contains("leader ?"), "{}", rows(&b)[22]);
}

#[test]
fn narrow_terminals_keep_the_input_line() {
    let mut m = demo_model(true);
    m.input.set("typing here");
    let b = render(&m, 40, 10);
    let r = rows(&b);
    assert!(r[9].starts_with("[#lobby] typing here"), "{r:#?}");
    assert!(
        r[0].contains("#lobby") && r[0].contains("#dev (2)"),
        "{r:#?}"
    );
    assert!(r[8].contains("alice"), "status bar: {r:#?}");
    // Long lines wrap at spaces, indented past the time.
    assert!(r[6].trim_end().ends_with("watch the status"), "{r:#?}");
    assert!(r[7].starts_with("      bar (pending)"), "{r:#?}");
    // Tiny and odd sizes never panic.
    for (w, h) in [
        (1, 1),
        (2, 3),
        (10, 3),
        (20, 5),
        (69, 12),
        (70, 4),
        (300, 80),
    ] {
        let b = render(&m, w, h);
        assert_eq!(b.area.height, h);
    }
    // A long input scrolls so the cursor stays in view.
    m.input.set(&"x".repeat(200));
    let r = rows(&render(&m, 40, 10));
    assert!(r[9].trim_end().ends_with('x'), "{r:#?}");
    assert!(r[9].starts_with("[#lobby] xxx"), "{r:#?}");
}

#[test]
fn scrolled_back_view_says_so() {
    let mut m = demo_model(true);
    m.page = 2;
    m.on_key(ratatui::crossterm::event::KeyEvent::new(
        ratatui::crossterm::event::KeyCode::PageUp,
        ratatui::crossterm::event::KeyModifiers::NONE,
    ));
    let text = rows(&render(&m, 100, 24)).join("\n");
    assert!(text.contains("2 more below"), "{text}");
    assert!(text.contains("scrolled 2"), "{text}");
}

#[test]
fn nick_colours_are_stable_and_varied() {
    use super::nick_color;
    assert_eq!(nick_color("alice"), nick_color("alice"));
    let colours: std::collections::HashSet<_> = ["alice", "bob", "carol", "dave", "eve", "mallory"]
        .iter()
        .map(|n| format!("{:?}", nick_color(n)))
        .collect();
    assert!(colours.len() >= 3, "{colours:?}");
}

#[test]
fn same_nick_different_keys_are_told_apart() {
    let m = same_nick_model();
    let b = render(&m, 100, 24);
    let r = rows(&b);
    let text = r.join("\n");
    // Message pane: each bob, and each alice, carries its key's tag.
    let line_of = |needle: &str| {
        r.iter()
            .find(|row| row.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not shown:\n{text}"))
            .clone()
    };
    assert!(
        line_of("on my other laptop").contains("<bob#9xYz> hi"),
        "{text}"
    );
    assert!(
        line_of("that is not me!").contains("<bob#Beef> that"),
        "{text}"
    );
    assert!(
        line_of("I am alice").contains("<alice#7Qw2> I am"),
        "{text}"
    );
    // Our own lines are tagged too, so the other alice cannot pass for us;
    // even those from before the other one came.
    assert!(
        line_of("yes, elections are fast").contains("<alice#F00d> yes"),
        "{text}"
    );
    // carol's nick is hers alone: shown plainly.
    assert!(
        line_of("can you kill -9").contains("<carol> alice"),
        "{text}"
    );
    // The two bobs have different colours.
    let (x1, y1) = find(&b, "<bob#9xYz>").expect("tagged bob");
    let (x2, y2) = find(&b, "<bob#Beef>").expect("tagged bob");
    assert_ne!(b[(x1 + 1, y1)].fg, b[(x2 + 1, y2)].fg);
    // Presence pane: all four tagged names, carol plain, us in bold.
    assert!(text.contains("Online (5)"), "{text}");
    for name in ["alice#F00d", "alice#7Qw2", "bob#Beef", "bob#9xYz"] {
        let (x, y) = find(&b, &format!("│{name}")).unwrap_or_else(|| panic!("{name}:\n{text}"));
        let bold = b[(x + 1, y)].modifier.contains(Modifier::BOLD);
        assert_eq!(bold, name == "alice#F00d", "{name} bold: {bold}");
    }
    assert!(find(&b, "│carol ").is_some(), "{text}");
    // /who lists them the same way.
    let who = m
        .shown()
        .lines
        .iter()
        .find_map(|l| match &l.kind {
            crate::tui::model::LineKind::Notice(t) if t.starts_with("online") => Some(t.clone()),
            _ => None,
        })
        .expect("the /who answer");
    assert_eq!(
        who,
        "online (5): alice#7Qw2, alice#F00d, bob#9xYz, bob#Beef, carol"
    );
    assert!(text.contains("online (5): alice#7Qw2"), "{text}");
    // The status bar shows how we are shown.
    assert!(r[22].starts_with(" alice#F00d "), "{}", r[22]);
}

#[test]
fn tags_go_when_the_nick_is_unique_again() {
    use crate::tui::bridge::{NodeEvent, Peer};
    let mut m = demo_model(true);
    let evil = Peer {
        peer_id: "12D3KooWMal1ory9xYz".into(),
        role: "client".into(),
        nick: Some("bob".into()),
    };
    m.on_event(NodeEvent::PeerJoined(evil.clone()));
    assert!(rows(&render(&m, 100, 24))
        .join("\n")
        .contains("<bob#Beef> hi all"));
    // The second bob left without saying anything: bob is unique again.
    m.on_event(NodeEvent::PeerLeft(evil));
    let text = rows(&render(&m, 100, 24)).join("\n");
    assert!(text.contains("<bob> hi all"), "{text}");
    assert!(find(&render(&m, 100, 24), "│bob ").is_some(), "{text}");
}

#[test]
fn tab_completes_tagged_nicks() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut m = same_nick_model();
    m.input.set("bo");
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    m.on_key(tab);
    let first = m.input.text().to_string();
    m.on_key(tab);
    let second = m.input.text().to_string();
    let mut both = [first.clone(), second.clone()];
    both.sort();
    assert_eq!(both, ["bob#9xYz: ", "bob#Beef: "], "{first:?} {second:?}");
    // A unique nick completes plainly.
    let mut m = same_nick_model();
    m.input.set("ca");
    m.on_key(tab);
    assert_eq!(m.input.text(), "carol: ");
}
