//! End-to-end test of the terminal UI in tmux (being written).
