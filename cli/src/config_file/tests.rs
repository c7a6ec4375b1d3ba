//! Parsing and merging tests of the configuration file.

use super::*;
use clap::Parser;

use crate::args::{Cli, Cmd};

const FULL: &str = r#"
nick = "alice"
rooms = ["lobby", "dev"]
history = 20
bootstrap = ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"]
listen = ["/ip4/127.0.0.1/tcp/0"]
data_dir = "alice-data"
network_key = "~/chorus.key"
no_mdns = true

[server]
data_dir = "/srv/chorus"
listen = ["/ip4/0.0.0.0/tcp/4001"]
bootstrap_expect = 3
"#;

fn path() -> PathBuf {
    PathBuf::from("/home/u/.config/chorus/config.toml")
}

fn err(text: &str) -> ConfigError {
    parse(&path(), text).expect_err("should be refused")
}

fn client(flags: &[&str], file: Option<&Config>) -> anyhow::Result<ClientArgs> {
    let argv = [&["chorus", "client"], flags].concat();
    let Cmd::Client(mut args) = Cli::try_parse_from(argv).expect("flags parse").command else {
        panic!("not a client")
    };
    apply_client(&mut args, file)?;
    Ok(args)
}

fn server(flags: &[&str], file: Option<&Config>) -> ServerArgs {
    let argv = [&["chorus", "server"], flags].concat();
    let Cmd::Server(mut args) = Cli::try_parse_from(argv).expect("flags parse").command else {
        panic!("not a server")
    };
    apply_server(&mut args, file);
    args
}

#[test]
fn every_key_is_read() {
    let c = parse(&path(), FULL).expect("valid file");
    assert_eq!(c.nick.as_deref(), Some("alice"));
    assert_eq!(c.rooms, Some(vec!["lobby".into(), "dev".into()]));
    assert_eq!(c.history, Some(20));
    assert_eq!(c.client.bootstrap.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        c.client.data_dir,
        Some(PathBuf::from("/home/u/.config/chorus/alice-data")),
        "relative paths are taken from the file's directory"
    );
    let key = c.client.network_key.clone().expect("key");
    assert!(key.is_absolute() && key.ends_with("chorus.key"), "{key:?}");
    assert!(!key.starts_with("~"), "~ is expanded: {key:?}");
    assert_eq!(c.client.no_mdns, Some(true));
    // The server shares bootstrap, network_key and no_mdns; has its own rest.
    assert_eq!(c.server.bootstrap, c.client.bootstrap);
    assert_eq!(c.server.network_key, c.client.network_key);
    assert_eq!(c.server.no_mdns, Some(true));
    assert_eq!(c.server.data_dir, Some(PathBuf::from("/srv/chorus")));
    assert_eq!(
        c.server.listen,
        Some(vec!["/ip4/0.0.0.0/tcp/4001".parse().unwrap()])
    );
    assert_eq!(c.bootstrap_expect, Some(3));
    // An empty file is a valid file with nothing in it.
    let empty = parse(&path(), "").expect("empty file");
    assert_eq!(empty.nick, None);
    assert_eq!(empty.server, NodeFile::default());
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let e = err("nick = \"alice\"\nnickname = \"bob\"\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("nickname"), "{e}");
    let e = err("[server]\nnick = \"bob\"\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("nick"), "{e}");
    let e = err("[clients]\nnick = \"bob\"\n");
    assert!(e.message.contains("clients"), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with("config file /home/u/.config/chorus/config.toml, line 1: "),
        "{shown}"
    );
    assert_eq!(shown.lines().count(), 1, "{shown}");
}

#[test]
fn bad_values_are_refused_with_key_and_line() {
    let cases = [
        ("nick = \"al ice\"", 1, "nick"),
        ("\n\nrooms = [\"ok\", \"no way\"]", 3, "rooms"),
        ("rooms = []", 0, "rooms"),
        ("history = 5000", 1, "history"),
        ("history = -1", 1, ""),
        ("history = \"many\"", 1, ""),
        ("bootstrap = [\"not an address\"]", 1, "bootstrap"),
        ("bootstrap = \"/ip4/1.2.3.4/tcp/1\"", 1, ""),
        ("no_mdns = \"yes\"", 1, ""),
        ("[server]\nbootstrap_expect = 0", 2, "bootstrap_expect"),
        ("[server]\nlisten = [\"x\"]", 2, "server.listen"),
        ("nick = ", 1, ""),
        ("= 3", 1, ""),
    ];
    for (text, line, key) in cases {
        let e = err(text);
        if line > 0 {
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
        }
        assert!(e.message.contains(key), "{text:?}: {e}");
        assert_eq!(e.to_string().lines().count(), 1, "{text:?}: {e}");
    }
}

#[test]
fn missing_explicit_file_is_an_error_default_file_is_optional() {
    let flags = ConfigArgs {
        config: Some(PathBuf::from("/nonexistent/chorus.toml")),
        no_config: false,
    };
    let e = load(&flags).expect_err("missing file");
    assert_eq!(e.path, PathBuf::from("/nonexistent/chorus.toml"));
    assert!(e.to_string().contains("cannot read it"), "{e}");
    let none = ConfigArgs {
        config: Some(PathBuf::from("/nonexistent/chorus.toml")),
        no_config: true,
    };
    assert_eq!(load(&none), Ok(None));
}

#[test]
fn flags_override_the_file() {
    let file = parse(&path(), FULL).expect("valid file");
    // Nothing on the command line: all from the file.
    let a = client(&[], Some(&file)).expect("merged");
    assert_eq!(a.nick.as_deref(), Some("alice"));
    assert_eq!(a.room, ["lobby", "dev"]);
    assert_eq!(a.history, Some(20));
    assert_eq!(a.node.bootstrap.len(), 1);
    assert!(a.node.no_mdns);
    assert_eq!(
        a.node.data_dir,
        Some(PathBuf::from("/home/u/.config/chorus/alice-data"))
    );
    // Flags win, lists replace the file's lists.
    let a = client(
        &[
            "--nick",
            "bob",
            "--room",
            "ops",
            "--history",
            "0",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/9",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/10",
            "--data-dir",
            "/tmp/x",
            "--mdns",
        ],
        Some(&file),
    )
    .expect("merged");
    assert_eq!(a.nick.as_deref(), Some("bob"));
    assert_eq!(a.room, ["ops"]);
    assert_eq!(a.history, Some(0));
    assert_eq!(a.node.bootstrap.len(), 2);
    assert_eq!(a.node.data_dir, Some(PathBuf::from("/tmp/x")));
    assert!(!a.node.no_mdns, "--mdns beats the file's no_mdns");
    // The last of --mdns / --no-mdns wins.
    let a = client(&["--mdns", "--no-mdns"], Some(&file)).expect("merged");
    assert!(a.node.no_mdns);
}

#[test]
fn defaults_without_a_file() {
    let a = client(&["--nick", "carol"], None).expect("merged");
    assert_eq!(a.room, ["lobby"]);
    assert_eq!(a.history, Some(50));
    assert!(!a.node.no_mdns);
    assert!(a.node.bootstrap.is_empty());
    let e = client(&[], None).expect_err("no nick anywhere");
    assert!(e.to_string().contains("--nick"), "{e}");
    let nameless = parse(&path(), "rooms = [\"dev\"]").expect("valid");
    let e = client(&[], Some(&nameless)).expect_err("no nick anywhere");
    assert!(
        e.to_string().contains("/home/u/.config/chorus/config.toml"),
        "{e}"
    );
}

#[test]
fn servers_take_the_shared_keys_and_their_table() {
    let file = parse(&path(), FULL).expect("valid file");
    let s = server(&[], Some(&file));
    assert_eq!(s.node.data_dir, Some(PathBuf::from("/srv/chorus")));
    assert_eq!(s.node.bootstrap.len(), 1);
    assert_eq!(s.bootstrap_expect, Some(3));
    assert!(s.node.no_mdns);
    let s = server(
        &[
            "--bootstrap-expect",
            "5",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
        Some(&file),
    );
    assert_eq!(s.bootstrap_expect, Some(5));
    assert_eq!(s.node.listen, vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]);
    // A file without a [server] table gives the server only the shared keys.
    let plain = parse(
        &path(),
        "data_dir = \"c\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nno_mdns = true",
    )
    .expect("valid");
    let s = server(&[], Some(&plain));
    assert_eq!(s.node.data_dir, None);
    assert!(s.node.listen.is_empty());
    assert!(s.node.no_mdns);
}

#[test]
fn up_takes_nick_and_rooms_only() {
    let file = parse(&path(), FULL).expect("valid file");
    let Cmd::Up(mut up) = Cli::try_parse_from(["chorus", "up"]).unwrap().command else {
        panic!("not up")
    };
    apply_up(&mut up, Some(&file));
    assert_eq!(up.nick.as_deref(), Some("alice"));
    assert_eq!(up.room, ["lobby", "dev"]);
    assert_eq!(up.data_dir, None);
}

#[test]
fn admission_keys_are_read_and_flags_win() {
    let text = "operator = \"OP-A\"\n[server]\nadmission = \"s1.admission\"\n";
    let c = parse(&path(), text).expect("valid file");
    assert_eq!(c.client.operator.as_deref(), Some("OP-A"));
    assert_eq!(
        c.server.operator.as_deref(),
        Some("OP-A"),
        "shared with the server"
    );
    assert_eq!(
        c.admission,
        Some(PathBuf::from("/home/u/.config/chorus/s1.admission"))
    );
    let s = server(&[], Some(&c));
    assert_eq!(s.node.operator.as_deref(), Some("OP-A"));
    assert!(s.admission.is_some());
    let s = server(&["--operator", "OP-B"], Some(&c));
    assert_eq!(s.node.operator.as_deref(), Some("OP-B"));
    let own = parse(
        &path(),
        "operator = \"OP-A\"\n[server]\noperator = \"OP-S\"\n",
    )
    .unwrap();
    assert_eq!(own.server.operator.as_deref(), Some("OP-S"));
    assert_eq!(own.client.operator.as_deref(), Some("OP-A"));
}
