//! Screenshots for `docs/user-guide.md`: the UI drawn on ratatui's test
//! backend, its buffer painted cell by cell with an 8x8 bitmap font (doubled
//! to 8x16) and written as PNG. `CHORUS_SCREENSHOTS=1 cargo test -p
//! chorus-cli screenshots` rewrites `docs/img/*.png`; without it the images
//! only go to a temporary directory (so the tooling stays tested).

use std::path::Path;

use font8x8::{UnicodeFonts, BASIC_FONTS, LATIN_FONTS};
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use super::bridge::{Msg, NodeEvent, Peer, StatusInfo};
use super::model::Model;
use super::view;

const CELL_W: usize = 8;
const CELL_H: usize = 16;
const BG: [u8; 3] = [0x1d, 0x1f, 0x21];
const FG: [u8; 3] = [0xd0, 0xd0, 0xd0];

fn rgb(color: Color, default: [u8; 3]) -> [u8; 3] {
    match color {
        Color::Reset => default,
        Color::Black => [0x1d, 0x1f, 0x21],
        Color::Red => [0xcc, 0x33, 0x33],
        Color::Green => [0x5f, 0xb3, 0x4f],
        Color::Yellow => [0xe0, 0xb0, 0x40],
        Color::Blue => [0x2f, 0x5f, 0xaf],
        Color::Magenta => [0xb0, 0x5f, 0xc0],
        Color::Cyan => [0x40, 0xb0, 0xb8],
        Color::Gray => [0xb0, 0xb0, 0xb0],
        Color::DarkGray => [0x70, 0x70, 0x70],
        Color::LightRed => [0xff, 0x70, 0x70],
        Color::LightGreen => [0x90, 0xe0, 0x80],
        Color::LightYellow => [0xff, 0xe0, 0x80],
        Color::LightBlue => [0x80, 0xa8, 0xff],
        Color::LightMagenta => [0xf0, 0x90, 0xf0],
        Color::LightCyan => [0x90, 0xf0, 0xf0],
        Color::White => [0xff, 0xff, 0xff],
        Color::Rgb(r, g, b) => [r, g, b],
        Color::Indexed(_) => default,
    }
}

/// Box-drawing characters as arms (left, right, up, down), drawn as lines.
fn box_arms(c: char) -> Option<[bool; 4]> {
    Some(match c {
        '─' => [true, true, false, false],
        '│' => [false, false, true, true],
        '┌' => [false, true, false, true],
        '┐' => [true, false, false, true],
        '└' => [false, true, true, false],
        '┘' => [true, false, true, false],
        '├' => [false, true, true, true],
        '┤' => [true, false, true, true],
        '┬' => [true, true, false, true],
        '┴' => [true, true, true, false],
        '┼' => [true, true, true, true],
        _ => return None,
    })
}

/// Whether pixel (x, y) of a cell showing `c` is lit.
fn lit(c: char, x: usize, y: usize) -> bool {
    if let Some([left, right, up, down]) = box_arms(c) {
        let (cx, cy) = (CELL_W / 2, CELL_H / 2);
        return (y == cy && ((left && x <= cx) || (right && x >= cx)))
            || (x == cx && ((up && y <= cy) || (down && y >= cy)));
    }
    let glyph = BASIC_FONTS
        .get(c)
        .or_else(|| LATIN_FONTS.get(c))
        .or_else(|| BASIC_FONTS.get('?'))
        .unwrap_or([0; 8]);
    glyph[y / 2] & (1 << x) != 0
}

fn paint_cell(pixels: &mut [u8], width: usize, col: usize, row: usize, cell: &Cell) {
    let mut fg = rgb(cell.fg, FG);
    let mut bg = rgb(cell.bg, BG);
    if cell.modifier.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    if cell.modifier.contains(Modifier::DIM) {
        fg = [0, 1, 2].map(|i| ((fg[i] as u16 + bg[i] as u16 * 2) / 3) as u8);
    }
    let bold = cell.modifier.contains(Modifier::BOLD);
    let c = cell.symbol().chars().next().unwrap_or(' ');
    for y in 0..CELL_H {
        for x in 0..CELL_W {
            let on = lit(c, x, y) || (bold && x > 0 && box_arms(c).is_none() && lit(c, x - 1, y));
            let at = ((row * CELL_H + y) * width + col * CELL_W + x) * 3;
            pixels[at..at + 3].copy_from_slice(if on { &fg } else { &bg });
        }
    }
}

/// Paints a buffer as RGB pixels: (width, height, data).
pub fn paint(buffer: &Buffer) -> (usize, usize, Vec<u8>) {
    let area = buffer.area;
    let (w, h) = (area.width as usize * CELL_W, area.height as usize * CELL_H);
    let mut pixels = vec![0u8; w * h * 3];
    for row in 0..area.height {
        for col in 0..area.width {
            let cell = &buffer[(area.x + col, area.y + row)];
            paint_cell(&mut pixels, w, col as usize, row as usize, cell);
        }
    }
    (w, h, pixels)
}

/// Writes a buffer as a PNG file.
pub fn write_png(buffer: &Buffer, path: &Path) -> std::io::Result<()> {
    let (w, h, pixels) = paint(buffer);
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(&pixels)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}

/// Draws a model on a test backend of this size.
pub fn render(model: &Model, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|f| view::draw(f, model))
        .expect("draw on the test backend");
    terminal.backend().buffer().clone()
}

fn peer(id: &str, role: &str, nick: Option<&str>) -> Peer {
    Peer {
        peer_id: id.into(),
        role: role.into(),
        nick: nick.map(str::to_string),
    }
}

fn message(room: &str, seq: u64, from: &str, nick: &str, text: &str) -> NodeEvent {
    NodeEvent::Message(Msg {
        room: room.into(),
        id: format!("{room}-{seq}"),
        from: from.into(),
        nick: nick.into(),
        text: text.into(),
        seq: Some(seq),
        history: false,
        to: None,
    })
}

/// A cluster status for the demos.
pub fn demo_status(quorum: bool) -> StatusInfo {
    let servers: Vec<String> = ["12D3KooWSrvAq7Lk", "12D3KooWSrvBx2Pe", "12D3KooWSrvCm9Td"]
        .map(String::from)
        .to_vec();
    StatusInfo {
        peer_id: "12D3KooWAliceF00d".into(),
        servers: servers.clone(),
        connected: if quorum {
            servers.clone()
        } else {
            servers[..1].to_vec()
        },
        peers: vec![
            peer(&servers[0], "server", None),
            peer(&servers[1], "server", None),
            peer(&servers[2], "server", None),
            peer("12D3KooWBobBeef", "client", Some("bob")),
            peer("12D3KooWCarolCafe", "client", Some("carol")),
        ],
        rooms: vec!["lobby".into(), "dev".into(), "random".into()],
        nick: Some("alice".into()),
        leader: Some(servers[2].clone()),
        term: Some(if quorum { 4 } else { 5 }),
        commit_index: Some(42),
        voters: servers,
        pending: Some(1),
        quorum: Some(quorum),
    }
}

/// A chat in progress: three rooms with unread messages, a mention, an own
/// message still pending.
pub fn demo_model(quorum: bool) -> Model {
    let mut m = Model::new("alice", &["lobby".to_string()]);
    m.clock = "14:02".into();
    m.notice("local cluster of 3 servers is up; you are alice in #lobby.");
    m.notice("another terminal joins with:");
    m.notice("  chorus client --nick bob --no-mdns --bootstrap /ip4/127.0.0.1/tcp/41873/p2p/12D3KooWSrvAq7Lk");
    m.on_event(NodeEvent::Ready {
        peer_id: "12D3KooWAliceF00d".into(),
        listen_addrs: vec![],
    });
    m.on_event(NodeEvent::Status(demo_status(quorum)));
    m.switch_to(0);
    m.clock = "14:03".into();
    m.on_event(NodeEvent::PeerJoined(peer(
        "12D3KooWBobBeef",
        "client",
        Some("bob"),
    )));
    m.on_event(message(
        "lobby",
        1,
        "12D3KooWBobBeef",
        "bob",
        "hi all! anyone tried the new build?",
    ));
    m.clock = "14:04".into();
    m.typed("yes, elections are fast now");
    m.on_event(message(
        "lobby",
        2,
        "12D3KooWAliceF00d",
        "alice",
        "yes, elections are fast now",
    ));
    m.on_event(message(
        "lobby",
        3,
        "12D3KooWCarolCafe",
        "carol",
        "alice: can you kill -9 the leader and see what happens?",
    ));
    m.on_event(message("dev", 1, "12D3KooWCarolCafe", "carol", "PR is up"));
    m.on_event(message("dev", 2, "12D3KooWBobBeef", "bob", "looking"));
    m.on_event(message("random", 1, "12D3KooWBobBeef", "bob", "lunch?"));
    m.clock = "14:05".into();
    m.typed("on it: watch the status bar");
    for c in "/jo".chars() {
        m.input.insert(c);
    }
    m
}

/// The demo chat after a second key joined calling itself `bob` and another
/// one `alice` (our nick): both pairs are told apart by peer-id tags.
pub fn same_nick_model() -> Model {
    let mut m = demo_model(true);
    m.clock = "14:06".into();
    m.on_event(NodeEvent::PeerJoined(peer(
        "12D3KooWMal1ory9xYz",
        "client",
        Some("bob"),
    )));
    m.on_event(message(
        "lobby",
        4,
        "12D3KooWMal1ory9xYz",
        "bob",
        "hi, it's bob on my other laptop",
    ));
    m.on_event(message(
        "lobby",
        5,
        "12D3KooWBobBeef",
        "bob",
        "that is not me!",
    ));
    m.on_event(NodeEvent::PeerJoined(peer(
        "12D3KooWEve7Qw2",
        "client",
        Some("alice"),
    )));
    m.on_event(message(
        "lobby",
        6,
        "12D3KooWEve7Qw2",
        "alice",
        "I am alice",
    ));
    m.input.set("");
    m.typed("/who");
    m
}

/// The demo chat with a direct conversation: bob wrote to alice, who answers
/// in the `@bob` tab.
pub fn direct_model() -> Model {
    let mut m = demo_model(true);
    m.clock = "14:06".into();
    let dm = |seq: u64, from: &str, nick: &str, to: &str, text: &str| {
        NodeEvent::Message(Msg {
            room: "dm.5f0c2d9a7b1e4c3d".into(),
            id: format!("dm-{seq}"),
            from: from.into(),
            nick: nick.into(),
            text: text.into(),
            seq: Some(seq),
            history: false,
            to: Some(to.into()),
        })
    };
    let (alice, bob) = ("12D3KooWAliceF00d", "12D3KooWBobBeef");
    m.on_event(dm(
        1,
        bob,
        "bob",
        alice,
        "psst: carol's test kills S2 at 14:10",
    ));
    m.on_event(dm(2, bob, "bob", alice, "only you and me can read this"));
    if let Some(i) = m.rooms.iter().position(|r| r.peer.is_some()) {
        m.switch_to(i);
    }
    m.input.set("");
    m.typed("thanks, I will watch the leader change");
    m
}

#[test]
fn screenshots() {
    let mut shots: Vec<(&str, Buffer)> = vec![("tui-chat.png", render(&demo_model(true), 100, 24))];
    let mut degraded = demo_model(false);
    degraded.typed("/servers");
    degraded.input.set("");
    shots.push(("tui-degraded.png", render(&degraded, 100, 24)));
    shots.push(("tui-narrow.png", render(&demo_model(true), 48, 14)));
    shots.push(("tui-same-nick.png", render(&same_nick_model(), 100, 24)));
    shots.push(("tui-dm.png", render(&direct_model(), 100, 24)));
    let tmp = tempfile::tempdir().expect("tempdir");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img");
    let write_docs = std::env::var_os("CHORUS_SCREENSHOTS").is_some();
    for (name, buffer) in &shots {
        let path = tmp.path().join(name);
        write_png(buffer, &path).expect("write png");
        let bytes = std::fs::read(&path).expect("read png");
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() < 200_000, "{name} is {} bytes", bytes.len());
        if write_docs {
            std::fs::create_dir_all(&docs).expect("docs/img");
            std::fs::copy(&path, docs.join(name)).expect("copy to docs/img");
        }
    }
}
