//! The input line: editing keys, a history of sent lines (Up/Down) and Tab
//! completion. Pure state; the model feeds it keys.

/// An editable line with a cursor, a history and completion state.
#[derive(Debug, Default, Clone)]
pub struct InputLine {
    chars: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing the history (`None`: editing the draft).
    browsing: Option<usize>,
    draft: String,
    completion: Option<Completion>,
}

/// An ongoing Tab completion: repeated Tabs cycle through the candidates.
#[derive(Debug, Clone)]
struct Completion {
    /// Where the completed word starts.
    start: usize,
    candidates: Vec<String>,
    index: usize,
    /// Text appended after the word (`" "` or `": "`).
    suffix: &'static str,
}

/// Most lines kept in the history.
const HISTORY_MAX: usize = 500;

impl InputLine {
    /// The text.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The cursor position, in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Whether the line is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Replaces the text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        self.chars = text.chars().collect();
        self.cursor = self.chars.len();
        self.completion = None;
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
        self.completion = None;
    }

    /// Deletes the character before the cursor (Backspace).
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
        self.completion = None;
    }

    /// Deletes the character under the cursor (Delete).
    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
        self.completion = None;
    }

    /// Moves the cursor one character left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
        self.completion = None;
    }

    /// Moves the cursor one character right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
        self.completion = None;
    }

    /// Moves the cursor to the start (Home, Ctrl-A).
    pub fn home(&mut self) {
        self.cursor = 0;
        self.completion = None;
    }

    /// Moves the cursor to the end (End, Ctrl-E).
    pub fn end(&mut self) {
        self.cursor = self.chars.len();
        self.completion = None;
    }

    /// Deletes everything before the cursor (Ctrl-U).
    pub fn kill_to_start(&mut self) {
        self.chars.drain(..self.cursor);
        self.cursor = 0;
        self.completion = None;
    }

    /// Deletes the word before the cursor, and the spaces after it (Ctrl-W).
    pub fn kill_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
        self.completion = None;
    }

    /// Takes the line (Enter): returns its text, records it in the history,
    /// and clears the line.
    pub fn submit(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY_MAX {
                self.history.remove(0);
            }
        }
        self.browsing = None;
        self.draft.clear();
        self.set("");
        text
    }

    /// Shows the previous history entry (Up); the draft is kept.
    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let index = match self.browsing {
            None => {
                self.draft = self.text();
                self.history.len() - 1
            }
            Some(i) => i.saturating_sub(1),
        };
        self.browsing = Some(index);
        let text = self.history[index].clone();
        self.set(&text);
    }

    /// Shows the next history entry, or the draft after the last one (Down).
    pub fn history_next(&mut self) {
        let Some(i) = self.browsing else { return };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            let text = self.history[i + 1].clone();
            self.set(&text);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set(&draft);
        }
    }

    /// Tab: completes the word before the cursor, a `/command` when it is the
    /// first word and starts with `/`, otherwise a nick; repeated Tabs cycle.
    pub fn complete(&mut self, commands: &[&str], nicks: &[String]) {
        if let Some(c) = &mut self.completion {
            if c.candidates.len() > 1 {
                c.index = (c.index + 1) % c.candidates.len();
                let (start, word, suffix) = (c.start, c.candidates[c.index].clone(), c.suffix);
                self.replace_word(start, &word, suffix);
            }
            return;
        }
        let mut start = self.cursor;
        while start > 0 && !self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        let word: String = self.chars[start..self.cursor].iter().collect();
        let first_word = self.chars[..start].iter().all(|c| c.is_whitespace());
        let (mut candidates, suffix): (Vec<String>, &'static str) =
            if first_word && word.starts_with('/') {
                let candidates = commands
                    .iter()
                    .filter(|c| c.starts_with(&word[1..]))
                    .map(|c| format!("/{c}"))
                    .collect();
                (candidates, " ")
            } else {
                if word.is_empty() {
                    return;
                }
                let lower = word.to_lowercase();
                let candidates = nicks
                    .iter()
                    .filter(|n| n.to_lowercase().starts_with(&lower))
                    .cloned()
                    .collect();
                (candidates, if first_word { ": " } else { " " })
            };
        candidates.sort();
        candidates.dedup();
        let Some(first) = candidates.first().cloned() else {
            return;
        };
        self.replace_word(start, &first, suffix);
        self.completion = Some(Completion {
            start,
            candidates,
            index: 0,
            suffix,
        });
    }

    /// Replaces the text from `start` to the cursor (plus a suffix a previous
    /// completion put there) with `word` and `suffix`.
    fn replace_word(&mut self, start: usize, word: &str, suffix: &str) {
        let completion = self.completion.take();
        let tail: String = self.chars[self.cursor..].iter().collect();
        let mut head: String = self.chars[..start].iter().collect();
        head.push_str(word);
        head.push_str(suffix);
        let cursor = head.chars().count();
        head.push_str(&tail);
        self.chars = head.chars().collect();
        self.cursor = cursor;
        self.completion = completion;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> InputLine {
        let mut input = InputLine::default();
        for c in s.chars() {
            input.insert(c);
        }
        input
    }

    #[test]
    fn editing_keys() {
        let mut i = typed("hello world");
        i.left();
        i.left();
        i.backspace();
        assert_eq!(i.text(), "hello wold");
        i.delete();
        assert_eq!(i.text(), "hello wod");
        i.home();
        i.insert('>');
        assert_eq!(i.text(), ">hello wod");
        assert_eq!(i.cursor(), 1);
        i.end();
        i.kill_word();
        assert_eq!(i.text(), ">hello ");
        i.kill_word();
        assert_eq!(i.text(), "");
        let mut i = typed("abc def");
        i.left();
        i.left();
        i.left();
        i.kill_to_start();
        assert_eq!(i.text(), "def");
        assert_eq!(i.cursor(), 0);
        i.left();
        i.backspace();
        assert_eq!(i.text(), "def");
        i.end();
        i.right();
        i.delete();
        assert_eq!(i.cursor(), 3);
        let mut u = typed("héllo");
        u.left();
        u.backspace();
        assert_eq!(u.text(), "hélo");
    }

    #[test]
    fn history_keeps_the_draft() {
        let mut i = typed("one");
        assert_eq!(i.submit(), "one");
        for c in "two".chars() {
            i.insert(c);
        }
        i.submit();
        for c in "dra".chars() {
            i.insert(c);
        }
        i.history_prev();
        assert_eq!(i.text(), "two");
        i.history_prev();
        assert_eq!(i.text(), "one");
        i.history_prev();
        assert_eq!(i.text(), "one");
        i.history_next();
        assert_eq!(i.text(), "two");
        i.history_next();
        assert_eq!(i.text(), "dra");
        i.history_next();
        assert_eq!(i.text(), "dra");
        // Blank lines and repeats are not recorded.
        i.set("two");
        i.submit();
        i.submit();
        i.history_prev();
        i.history_prev();
        assert_eq!(i.text(), "one");
    }

    #[test]
    fn tab_completes_commands_and_nicks() {
        let cmds = ["join", "leave", "help", "history"];
        let nicks = vec!["alice".to_string(), "albert".to_string(), "bob".to_string()];
        let mut i = typed("/jo");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "/join ");
        let mut i = typed("/h");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "/help ");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "/history ");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "/help ");
        // A nick at the start of the line gets ": ".
        let mut i = typed("b");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "bob: ");
        // Elsewhere a space; case-insensitive; cycles.
        let mut i = typed("hi AL");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "hi albert ");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "hi alice ");
        i.insert('!');
        assert_eq!(i.text(), "hi alice !");
        // No candidate: nothing changes; commands are not completed mid-line.
        let mut i = typed("say /jo");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "say /jo");
        let mut i = typed("zed");
        i.complete(&cmds, &nicks);
        assert_eq!(i.text(), "zed");
    }
}
