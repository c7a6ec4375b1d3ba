//! Local wall-clock time for message timestamps.

/// The local time as `HH:MM`.
pub fn now_hhmm() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: `localtime_r` only writes the `tm` we own; both pointers are valid.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return utc_hhmm(now as u64);
        }
        tm
    };
    format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
}

fn utc_hhmm(secs: u64) -> String {
    format!("{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn looks_like_a_time() {
        let t = super::now_hhmm();
        assert_eq!(t.len(), 5, "{t}");
        assert_eq!(&t[2..3], ":");
        assert_eq!(super::utc_hhmm(3600 * 25 + 61), "01:01");
    }
}
