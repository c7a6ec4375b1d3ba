//! Property tests of the `--json` command parser: any input line, JSON-looking
//! or not, gives a command, nothing, or a short one-line error; never a panic.

use proptest::prelude::*;

use super::*;

/// Lines that look like commands: a known or unknown `cmd` and random fields
/// of random JSON types, sometimes cut short.
fn command_like() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(COMMAND_NAMES.to_vec()).prop_map(str::to_string),
        "[a-z]{0,6}",
    ];
    let value = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "-?[0-9]{1,30}(\\.[0-9]{1,5})?".prop_map(|s| s),
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
    ];
    let field = (
        prop::sample::select(vec!["room", "text", "nick", "before", "limit", "cmd", "x"]),
        value,
    )
        .prop_map(|(k, v)| format!(",\"{k}\":{v}"));
    (name, prop::collection::vec(field, 0..5), any::<usize>()).prop_map(|(cmd, fields, cut)| {
        let line = format!("{{\"cmd\":\"{cmd}\"{}}}", fields.concat());
        // Sometimes cut short (but on a character boundary).
        if cut % 4 == 0 {
            let mut at = cut % (line.len() + 1);
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            line[..at].to_string()
        } else {
            line
        }
    })
}

fn check(line: &str) -> Result<(), TestCaseError> {
    match parse_line(line) {
        Ok(None) => prop_assert!(line.trim().is_empty(), "nothing from a blank line"),
        Ok(Some(Command::Send { room: None, text })) if !line.trim().starts_with('{') => {
            prop_assert_eq!(text, line.trim_end_matches(['\r', '\n']));
        }
        Ok(Some(_)) => prop_assert!(line.trim().starts_with('{'), "a command from JSON"),
        Err(e) => {
            prop_assert!(line.trim().starts_with('{'), "plain text is never an error");
            prop_assert!(!e.is_empty() && e.len() < 1000, "error: {e:?}");
            prop_assert!(!e.contains('\n'), "error spans lines: {e:?}");
        }
    }
    Ok(())
}

proptest! {

    #[test]
    fn any_line_parses_or_gets_a_clear_error(line in any::<String>()) {
        check(&line)?;
    }

    #[test]
    fn command_like_lines_parse_or_get_a_clear_error(line in command_like()) {
        check(&line)?;
    }
}
