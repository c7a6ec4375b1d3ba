//! The `/commands` typed in the TUI.

/// Command names, for `/help` and Tab completion.
pub const NAMES: &[&str] = &[
    "join", "leave", "nick", "msg", "who", "servers", "history", "help", "quit",
];

/// Help text, one line per command.
pub const HELP: &[&str] = &[
    "/join ROOM       join a room (or switch to it)",
    "/leave [ROOM]    leave a room (default: this one)",
    "/nick NICK       change your nick",
    "/msg NICK TEXT   direct message",
    "/who             who is online",
    "/servers         the cluster: servers, leader, term, voters",
    "/history [N]     fetch N older messages of this room (default 50)",
    "/quit            leave Chorus (also Ctrl-C)",
    "keys: Tab completes, Up/Down history, PgUp/PgDn scroll, Alt-Left/Right or Ctrl-P/N switch rooms",
];

/// A typed line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// Text for the current room.
    Text(String),
    /// `/join ROOM`.
    Join(String),
    /// `/leave [ROOM]`.
    Leave(Option<String>),
    /// `/nick NICK`.
    Nick(String),
    /// `/msg NICK TEXT`.
    Msg {
        /// To whom.
        nick: String,
        /// The text.
        text: String,
    },
    /// `/who`.
    Who,
    /// `/servers`.
    Servers,
    /// `/history [N]`.
    History(Option<u32>),
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
}

/// Parses a typed line: `Ok(None)` for a blank line, `Err` a message for the
/// user. `//text` sends `/text`.
pub fn parse(line: &str) -> Result<Option<Typed>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Some(Typed::Text(line.to_string())));
    };
    if rest.starts_with('/') {
        return Ok(Some(Typed::Text(rest.to_string())));
    }
    let rest = rest.trim_start();
    let (cmd, args) = match rest.split_once(char::is_whitespace) {
        Some((cmd, args)) => (cmd, args.trim()),
        None => (rest, ""),
    };
    let one = |what: &str| -> Result<String, String> {
        let mut words = args.split_whitespace();
        match (words.next(), words.next()) {
            (Some(w), None) => Ok(w.to_string()),
            (None, _) => Err(format!("/{cmd} needs a {what}")),
            (Some(_), Some(_)) => Err(format!("/{cmd} takes one {what}")),
        }
    };
    let none = |typed: Typed| -> Result<Option<Typed>, String> {
        if args.is_empty() {
            Ok(Some(typed))
        } else {
            Err(format!("/{cmd} takes no arguments"))
        }
    };
    match cmd.to_lowercase().as_str() {
        "join" | "j" => Ok(Some(Typed::Join(
            one("room")?.trim_start_matches('#').to_string(),
        ))),
        "leave" | "part" => Ok(Some(Typed::Leave(if args.is_empty() {
            None
        } else {
            Some(one("room")?.trim_start_matches('#').to_string())
        }))),
        "nick" => Ok(Some(Typed::Nick(one("nick")?))),
        "msg" | "query" => match args.split_once(char::is_whitespace) {
            Some((nick, text)) if !text.trim().is_empty() => Ok(Some(Typed::Msg {
                nick: nick.to_string(),
                text: text.trim().to_string(),
            })),
            _ => Err("usage: /msg NICK TEXT".into()),
        },
        "who" | "names" => none(Typed::Who),
        "servers" | "cluster" => none(Typed::Servers),
        "history" => {
            if args.is_empty() {
                Ok(Some(Typed::History(None)))
            } else {
                match args.parse::<u32>() {
                    Ok(n) if n > 0 => Ok(Some(Typed::History(Some(n)))),
                    _ => Err("usage: /history [N], N a positive number".into()),
                }
            }
        }
        "help" | "?" => Ok(Some(Typed::Help)),
        "quit" | "exit" | "q" => Ok(Some(Typed::Quit)),
        "" => Err("type a command after /, e.g. /help".into()),
        other => Err(format!("unknown command /{other}; /help lists them")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("hi"), Ok(Some(Typed::Text("hi".into()))));
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(parse("//me"), Ok(Some(Typed::Text("/me".into()))));
        assert_eq!(parse("/join dev"), Ok(Some(Typed::Join("dev".into()))));
        assert_eq!(parse("/JOIN #dev"), Ok(Some(Typed::Join("dev".into()))));
        assert_eq!(parse("/leave"), Ok(Some(Typed::Leave(None))));
        assert_eq!(
            parse("/leave dev"),
            Ok(Some(Typed::Leave(Some("dev".into()))))
        );
        assert_eq!(parse("/nick zed"), Ok(Some(Typed::Nick("zed".into()))));
        assert_eq!(
            parse("/msg bob hi there "),
            Ok(Some(Typed::Msg {
                nick: "bob".into(),
                text: "hi there".into()
            }))
        );
        assert_eq!(parse("/who"), Ok(Some(Typed::Who)));
        assert_eq!(parse("/servers"), Ok(Some(Typed::Servers)));
        assert_eq!(parse("/history"), Ok(Some(Typed::History(None))));
        assert_eq!(parse("/history 20"), Ok(Some(Typed::History(Some(20)))));
        assert_eq!(parse("/help"), Ok(Some(Typed::Help)));
        assert_eq!(parse("/quit"), Ok(Some(Typed::Quit)));
    }

    #[test]
    fn bad_commands_say_why() {
        assert!(parse("/join").unwrap_err().contains("needs a room"));
        assert!(parse("/join a b").unwrap_err().contains("one room"));
        assert!(parse("/nick").unwrap_err().contains("needs a nick"));
        assert!(parse("/msg bob").unwrap_err().contains("usage"));
        assert!(parse("/history x").unwrap_err().contains("usage"));
        assert!(parse("/history 0").unwrap_err().contains("usage"));
        assert!(parse("/who me").unwrap_err().contains("no arguments"));
        assert!(parse("/fly").unwrap_err().contains("unknown command /fly"));
        assert!(parse("/").unwrap_err().contains("/help"));
    }
}
