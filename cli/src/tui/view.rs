//! Draws the [`Model`]: a room list, the message pane and the presence pane
//! side by side (tabs instead of side panes on narrow terminals), a status bar
//! and the input line at the bottom.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use super::model::{short, Delivery, LineKind, Model, Room};
use crate::nicks::Nicks;

/// Below this width the side panes give way to a line of tabs.
const WIDE: u16 = 70;
const ROOMS_WIDTH: u16 = 18;
const PRESENCE_WIDTH: u16 = 20;
/// Width of the `HH:MM ` column; wrapped lines are indented by it.
const TIME_WIDTH: usize = 6;

const PALETTE: [Color; 12] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
];

/// A nick's colour: the same nick always gets the same colour (FNV-1a hash).
pub fn nick_color(nick: &str) -> Color {
    let mut hash: u32 = 0x811c_9dc5;
    for b in nick.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    PALETTE[hash as usize % PALETTE.len()]
}

/// Rows of the message pane for a terminal of this size (what PgUp scrolls).
pub fn message_rows(area: Rect) -> usize {
    let rows = area.height.saturating_sub(2);
    if area.width >= WIDE {
        rows.saturating_sub(2) as usize
    } else {
        rows.saturating_sub(1) as usize
    }
}

/// Draws the whole UI.
pub fn draw(frame: &mut Frame, model: &Model) {
    let [main, status, input] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let nicks = model.nicks();
    if main.width >= WIDE {
        let [rooms, messages, presence] = Layout::horizontal([
            Constraint::Length(ROOMS_WIDTH),
            Constraint::Fill(1),
            Constraint::Length(PRESENCE_WIDTH),
        ])
        .areas(main);
        draw_rooms(frame, model, &nicks, rooms);
        let block = Block::bordered()
            .title(format!(" {} ", title(model, &nicks)))
            .border_style(Style::new().fg(Color::DarkGray));
        let inner = block.inner(messages);
        frame.render_widget(block, messages);
        draw_messages(frame, model, &nicks, inner);
        draw_presence(frame, model, &nicks, presence);
    } else {
        let [tabs, messages] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(main);
        draw_tabs(frame, model, &nicks, tabs);
        draw_messages(frame, model, &nicks, messages);
    }
    draw_status(frame, model, &nicks, status);
    draw_input(frame, model, &nicks, input);
}

fn title(model: &Model, nicks: &Nicks) -> String {
    match model.rooms.get(model.current) {
        Some(room) => model.room_title(room, nicks),
        None => "no room: /join one".into(),
    }
}

fn room_label(model: &Model, nicks: &Nicks, room: &Room) -> String {
    let name = model.room_title(room, nicks);
    if room.unread > 0 {
        format!("{name} ({})", room.unread)
    } else {
        name
    }
}

fn room_style(model: &Model, index: usize, room: &Room) -> Style {
    if index == model.current {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    } else if room.mentioned {
        Style::new()
            .fg(Color::LightMagenta)
            .add_modifier(Modifier::BOLD)
    } else if room.unread > 0 {
        Style::new().fg(Color::White).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Gray)
    }
}

fn draw_rooms(frame: &mut Frame, model: &Model, nicks: &Nicks, area: Rect) {
    let lines: Vec<Line> = model
        .rooms
        .iter()
        .enumerate()
        .map(|(i, room)| Line::styled(room_label(model, nicks, room), room_style(model, i, room)))
        .collect();
    let block = Block::bordered()
        .title(" Rooms ")
        .border_style(Style::new().fg(Color::DarkGray));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_tabs(frame: &mut Frame, model: &Model, nicks: &Nicks, area: Rect) {
    let mut spans = Vec::new();
    for (i, room) in model.rooms.iter().enumerate() {
        spans.push(Span::styled(
            format!(" {} ", room_label(model, nicks, room)),
            room_style(model, i, room),
        ));
    }
    if spans.is_empty() {
        spans.push(Span::styled(
            title(model, nicks),
            Style::new().fg(Color::Gray),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_presence(frame: &mut Frame, model: &Model, nicks: &Nicks, area: Rect) {
    let online = model.online_with(nicks);
    let me = model.my_name(nicks);
    let mut lines: Vec<Line> = online
        .iter()
        .map(|name| {
            let mut style = Style::new().fg(nick_color(name));
            if *name == me {
                style = style.add_modifier(Modifier::BOLD);
            }
            Line::styled(name.clone(), style)
        })
        .collect();
    let (servers, connected) = model.servers();
    lines.push(Line::default());
    lines.push(Line::styled(
        format!("servers: {servers}"),
        Style::new().fg(Color::DarkGray),
    ));
    lines.push(Line::styled(
        format!("linked:  {connected}"),
        Style::new().fg(Color::DarkGray),
    ));
    let block = Block::bordered()
        .title(format!(" Online ({}) ", online.len()))
        .border_style(Style::new().fg(Color::DarkGray));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// One buffer line as styled spans (before wrapping). `me`: our peer id, for
/// our own lines typed before the node was ready.
fn spans_of(line: &super::model::Line, nicks: &Nicks, me: &str) -> Vec<Span<'static>> {
    let time = Span::styled(format!("{} ", line.time), Style::new().fg(Color::DarkGray));
    match &line.kind {
        LineKind::Chat {
            nick,
            from,
            text,
            own,
            delivery,
            mention,
            ..
        } => {
            let pending = *delivery == Delivery::Pending;
            let from = if *own && from.is_empty() { me } else { from };
            // A nick two keys use is shown with the author's tag, in a colour
            // of its own.
            let nick = nicks.show(nick, from);
            let mut nick_style = Style::new()
                .fg(nick_color(&nick))
                .add_modifier(Modifier::BOLD);
            let mut text_style = Style::new();
            if pending {
                nick_style = nick_style.add_modifier(Modifier::DIM);
                text_style = text_style.add_modifier(Modifier::DIM);
            }
            if *mention {
                text_style = text_style.fg(Color::Black).bg(Color::Yellow);
            }
            let mut spans = vec![
                time,
                Span::styled(format!("<{nick}>"), nick_style),
                Span::raw(" "),
            ];
            spans.push(Span::styled(text.clone(), text_style));
            if pending && *own {
                spans.push(Span::styled(
                    " (pending)",
                    Style::new()
                        .fg(Color::DarkGray)
                        .add_modifier(Modifier::ITALIC),
                ));
            }
            spans
        }
        LineKind::Notice(text) => vec![
            time,
            Span::styled("-!- ", Style::new().fg(Color::Blue)),
            Span::styled(text.clone(), Style::new().fg(Color::Cyan)),
        ],
        LineKind::Error(text) => vec![
            time,
            Span::styled(
                "-!- ",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Span::styled(text.clone(), Style::new().fg(Color::LightRed)),
        ],
    }
}

/// Wraps spans to `width` columns at spaces (inside long words if need be);
/// continuation rows are indented past the time.
fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let indent = if width > TIME_WIDTH * 3 {
        TIME_WIDTH
    } else {
        0
    };
    let cells: Vec<(char, Style)> = spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .collect();
    let mut rows: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    let mut used = 0;
    for (c, style) in cells {
        let w = c.width().unwrap_or(0);
        if used + w > width && used > indent {
            let row = rows.last_mut().expect("a row");
            // Carry the word being cut over to the next row when it fits there.
            let carry = match row.iter().rposition(|(c, _)| *c == ' ') {
                Some(space) if space >= indent && c != ' ' => row.split_off(space + 1),
                _ => Vec::new(),
            };
            let mut next = vec![(' ', Style::new()); indent];
            next.extend(carry);
            used = next.iter().map(|(c, _)| c.width().unwrap_or(0)).sum();
            rows.push(next);
            if c == ' ' {
                continue;
            }
        }
        rows.last_mut().expect("a row").push((c, style));
        used += w;
    }
    rows.into_iter()
        .map(|row| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            for (c, style) in row {
                match spans.last_mut() {
                    Some(last) if last.style == style => last.content.to_mut().push(c),
                    _ => spans.push(Span::styled(c.to_string(), style)),
                }
            }
            Line::from(spans)
        })
        .collect()
}

fn draw_messages(frame: &mut Frame, model: &Model, nicks: &Nicks, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let room = model.shown();
    let height = area.height as usize;
    let end = room.lines.len().saturating_sub(room.scroll);
    let me = model.me.as_deref().unwrap_or("");
    let mut rows: Vec<Line<'static>> = Vec::new();
    for line in room.lines[..end].iter().rev() {
        let mut wrapped = wrap(spans_of(line, nicks, me), area.width as usize);
        wrapped.append(&mut rows);
        rows = wrapped;
        if rows.len() >= height {
            break;
        }
    }
    let skip = rows.len().saturating_sub(height);
    let mut rows: Vec<Line<'static>> = rows.into_iter().skip(skip).collect();
    if room.scroll > 0 {
        let more = Line::styled(
            format!("-- {} more below (PgDn) --", room.scroll),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        );
        if rows.len() >= height {
            rows.remove(0);
        }
        rows.push(more);
    }
    frame.render_widget(Paragraph::new(rows), area);
}

fn draw_status(frame: &mut Frame, model: &Model, nicks: &Nicks, area: Rect) {
    let bar = Style::new().fg(Color::White).bg(Color::Blue);
    let sep = Span::styled(" | ", bar.fg(Color::Gray));
    let quorum = match model.quorum() {
        Some(true) => Span::styled(" quorum OK ", bar.fg(Color::LightGreen)),
        Some(false) => Span::styled(
            " quorum DEGRADED ",
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        ),
        None => Span::styled(" quorum ? ", bar.fg(Color::Gray)),
    };
    let (servers, connected) = model.servers();
    let leader = match (&model.leader, model.term) {
        (Some(l), Some(t)) => format!("leader {} t{t}", short(l)),
        (Some(l), None) => format!("leader {}", short(l)),
        (None, Some(t)) => format!("no leader t{t}"),
        (None, None) => "leader ?".into(),
    };
    let pending = model.pending();
    let pending_style = if pending > 0 {
        bar.fg(Color::LightYellow).add_modifier(Modifier::BOLD)
    } else {
        bar
    };
    let mut spans = vec![
        Span::styled(
            format!(" {} ", model.my_name(nicks)),
            bar.add_modifier(Modifier::BOLD),
        ),
        quorum,
        Span::styled(format!(" pending {pending}"), pending_style),
        sep.clone(),
        Span::styled(format!("servers {connected}/{servers}"), bar),
        sep.clone(),
        Span::styled(leader, bar),
    ];
    if model.shown().scroll > 0 {
        spans.push(sep);
        spans.push(Span::styled(
            format!("scrolled {}", model.shown().scroll),
            bar.fg(Color::LightYellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

fn draw_input(frame: &mut Frame, model: &Model, nicks: &Nicks, area: Rect) {
    let prompt = match model.rooms.get(model.current) {
        Some(room) => format!("[{}] ", model.room_title(room, nicks)),
        None => "[chorus] ".into(),
    };
    let text: Vec<char> = model.input.text().chars().collect();
    let cursor = model.input.cursor();
    let prompt_width = prompt.chars().count().min(area.width as usize / 2);
    let room_for_text = (area.width as usize)
        .saturating_sub(prompt_width + 1)
        .max(1);
    // Scroll the text horizontally so that the cursor stays visible.
    let start = cursor.saturating_sub(room_for_text);
    let before: usize = text[start..cursor]
        .iter()
        .map(|c| c.width().unwrap_or(0))
        .sum();
    let shown: String = text[start..].iter().collect();
    let prompt: String = prompt.chars().take(prompt_width).collect();
    let line = Line::from(vec![
        Span::styled(prompt, Style::new().fg(Color::Cyan)),
        Span::raw(shown),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    let x = area.x + (prompt_width + before).min(area.width.saturating_sub(1) as usize) as u16;
    frame.set_cursor_position(Position::new(x, area.y));
}

#[cfg(test)]
mod tests;
