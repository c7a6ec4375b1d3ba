//! The configuration file and shell completions, through the real binary: a
//! client started with only `--config FILE` takes its nick, rooms, addresses
//! and data dir from the file; flags override the file; the default file
//! (`$XDG_CONFIG_HOME/chorus/config.toml`) is read when present and skipped
//! with `--no-config`; a missing or broken file is a one-line error naming it.

mod common;

use std::path::Path;

use common::{strings, Net, Spec, TIMEOUT};
use serde_json::Value;

/// Writes `text` to `path` (creating its directory).
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write the config file");
}

/// A client from `args` (JSON mode), waited for until ready.
fn start(net: &Net, name: &str, args: &[&str]) -> common::Node {
    net.start_ready(name, args.iter().map(|a| a.to_string()).collect())
}

/// The nick and rooms (sorted) a node's status reports.
fn nick_and_rooms(status: &Value) -> (String, Vec<String>) {
    let mut rooms = strings(&status["rooms"]);
    rooms.sort();
    (
        status["nick"].as_str().unwrap_or_default().to_string(),
        rooms,
    )
}

#[test]
fn client_takes_nick_rooms_and_addresses_from_the_file() {
    let net = Net::new();
    let server = net.server("s1", &[]);
    let file = net.path().join("carol.toml");
    write(
        &file,
        &format!(
            "# carol's settings\n\
             nick = \"carol\"\n\
             rooms = [\"lobby\", \"dev\"]\n\
             bootstrap = [\"{}\"]\n\
             listen = [\"/ip4/127.0.0.1/tcp/0\"]\n\
             no_mdns = true\n\
             data_dir = \"carol-data\"\n",
            server.addr()
        ),
    );
    let file_s = file.display().to_string();
    let mut bob = net.client("bob", &["dev"], &[server.addr()]);

    // Only --json and --config: everything else comes from the file.
    let mut carol = start(&net, "carol", &["client", "--json", "--config", &file_s]);
    let (nick, rooms) = nick_and_rooms(&carol.status());
    assert_eq!(nick, "carol");
    assert_eq!(rooms, ["dev", "lobby"]);
    assert!(
        net.path().join("carol-data").is_dir(),
        "data_dir is taken relative to the file"
    );
    // It reached the cluster through the file's bootstrap address.
    bob.wait_event("peer_joined", TIMEOUT, |e| e["nick"] == "carol");
    carol.say("dev", "configured");
    let m = bob.wait_message("dev", "configured");
    assert_eq!(m["nick"], "carol", "{m}");

    // Flags override the file: nick, rooms and data dir.
    let dave_dir = net.data_dir("dave").display().to_string();
    let mut dave = start(
        &net,
        "dave",
        &[
            "client",
            "--json",
            "--config",
            &file_s,
            "--nick",
            "dave",
            "--room",
            "ops",
            "--data-dir",
            &dave_dir,
        ],
    );
    let (nick, rooms) = nick_and_rooms(&dave.status());
    assert_eq!(nick, "dave");
    assert_eq!(rooms, ["ops"]);
    bob.wait_event("peer_joined", TIMEOUT, |e| e["nick"] == "dave");
    assert_ne!(dave.peer_id, carol.peer_id, "dave has his own data dir");
}

#[test]
fn default_file_is_read_unless_no_config() {
    let net = Net::new();
    let server = net.server("s1", &[]);
    let erin_dir = net.data_dir("erin").display().to_string();
    write(
        &net.config_home().join("chorus/config.toml"),
        &format!(
            "nick = \"erin\"\nrooms = [\"ops\"]\nbootstrap = [\"{}\"]\nno_mdns = true\n\
             listen = [\"/ip4/127.0.0.1/tcp/0\"]\ndata_dir = \"{erin_dir}\"\n",
            server.addr()
        ),
    );
    let mut erin = start(&net, "erin", &["client", "--json"]);
    assert_eq!(
        nick_and_rooms(&erin.status()),
        ("erin".to_string(), vec!["ops".to_string()])
    );
    // --no-config: the file is not read, so there is no nick.
    let run = net.run(&["client", "--json", "--no-config", "--no-mdns"], TIMEOUT);
    let err = run.assert_refused("no nick without the file");
    assert!(err.contains("--nick"), "{err}");
}

#[test]
fn bad_files_are_one_line_errors_naming_the_file() {
    let net = Net::new();
    let check = |name: &str, text: Option<&str>, wanted: &[&str]| {
        let file = net.path().join(name);
        if let Some(text) = text {
            write(&file, text);
        }
        let file_s = file.display().to_string();
        for role in ["client", "server"] {
            let run = net.run(&[role, "--json", "--no-mdns", "--config", &file_s], TIMEOUT);
            let err = run.assert_refused(name).trim().to_string();
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(err.contains(&file_s), "{name}: file not named: {err}");
            for w in wanted {
                assert!(err.contains(w), "{name}: `{w}` missing: {err}");
            }
        }
    };
    check("missing.toml", None, &["cannot read"]);
    check(
        "unknown.toml",
        Some("nick = \"x\"\n\ncolour = \"red\"\n"),
        &["line 3", "colour"],
    );
    check(
        "addr.toml",
        Some("bootstrap = [\"nowhere\"]\n"),
        &["line 1", "bootstrap"],
    );
    check("syntax.toml", Some("nick = \"x\"\nrooms = [\n"), &["line"]);
    // A broken file is refused before anything starts, even a TUI.
    let mut up = net.spawn(Spec {
        name: "up".into(),
        wrapper: Vec::new(),
        args: ["up", "--config", "/nonexistent/chorus.toml"]
            .map(String::from)
            .to_vec(),
        json: false,
        log: net.path().join("up.stderr"),
    });
    let status = up.wait_exit(TIMEOUT).expect("up exits");
    assert!(!status.success());
    let err = std::fs::read_to_string(net.path().join("up.stderr")).unwrap_or_default();
    assert!(err.contains("/nonexistent/chorus.toml"), "{err}");
}

#[test]
fn completions_name_the_subcommands() {
    let net = Net::new();
    let run = net.run(&["completions", "bash"], TIMEOUT);
    assert!(run.status.success(), "{}", run.stderr);
    for word in [
        "client",
        "server",
        "up",
        "status",
        "keygen",
        "--config",
        "--bootstrap",
    ] {
        assert!(
            run.stdout.contains(word),
            "{word} missing from:\n{}",
            run.stdout
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = net.run(&["completions", shell], TIMEOUT);
        assert!(run.status.success(), "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("chorus"), "{shell}: {}", run.stdout);
    }
    net.run(&["completions", "tcsh"], TIMEOUT)
        .assert_refused("an unknown shell");
}
