//! Nicks told apart. A nick is only a name a key chose, so two peers (two
//! keys) may pick the same one. Wherever a nick is shown to people, a nick
//! used by more than one peer id (ignoring case) is shown with the end of the
//! author's peer id, `alice#3fZq`; a nick only one peer uses is shown plainly.

use std::collections::{BTreeSet, HashMap};

/// How many characters of the peer id the tag shows.
pub const TAG_LEN: usize = 4;

/// The tag of a peer: the last [`TAG_LEN`] characters of its (base58) id.
pub fn tag(peer_id: &str) -> &str {
    let start = peer_id.len().saturating_sub(TAG_LEN);
    peer_id.get(start..).unwrap_or(peer_id)
}

/// Which peer ids use which nick.
#[derive(Debug, Clone, Default)]
pub struct Nicks {
    /// Lower-cased nick to the peer ids seen using it.
    owners: HashMap<String, BTreeSet<String>>,
}

impl Nicks {
    /// Records that `peer_id` uses `nick` (an empty id, not known yet, is skipped).
    pub fn add(&mut self, nick: &str, peer_id: &str) {
        if peer_id.is_empty() || nick.is_empty() {
            return;
        }
        self.owners
            .entry(nick.to_lowercase())
            .or_default()
            .insert(peer_id.to_string());
    }

    /// Whether more than one peer id uses `nick` (ignoring case).
    pub fn is_shared(&self, nick: &str) -> bool {
        self.owners
            .get(&nick.to_lowercase())
            .is_some_and(|ids| ids.len() > 1)
    }

    /// How `nick`, used by `peer_id`, is shown: `nick#tag` when shared.
    pub fn show(&self, nick: &str, peer_id: &str) -> String {
        if self.is_shared(nick) && !peer_id.is_empty() {
            format!("{nick}#{}", tag(peer_id))
        } else {
            nick.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_nicks_get_a_tag_unique_ones_do_not() {
        let mut n = Nicks::default();
        n.add("alice", "12D3KooWAAAA3fZq");
        n.add("bob", "12D3KooWBBBBxyzw");
        assert_eq!(n.show("alice", "12D3KooWAAAA3fZq"), "alice");
        // The same peer again changes nothing.
        n.add("alice", "12D3KooWAAAA3fZq");
        assert_eq!(n.show("alice", "12D3KooWAAAA3fZq"), "alice");
        // Another key takes the nick (in another case): both are tagged.
        n.add("Alice", "12D3KooWCCCC9xYz");
        assert_eq!(n.show("alice", "12D3KooWAAAA3fZq"), "alice#3fZq");
        assert_eq!(n.show("Alice", "12D3KooWCCCC9xYz"), "Alice#9xYz");
        assert_eq!(n.show("bob", "12D3KooWBBBBxyzw"), "bob");
        // Unknown ids are not recorded; short ids are tagged whole.
        n.add("carol", "");
        assert!(!n.is_shared("carol"));
        assert_eq!(tag("ab"), "ab");
    }
}
