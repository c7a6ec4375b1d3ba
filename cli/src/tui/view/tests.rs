//! Rendering tests on ratatui's test backend.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use crate::tui::model::Model;
use crate::tui::screenshot::{demo_model, demo_status, render};

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
