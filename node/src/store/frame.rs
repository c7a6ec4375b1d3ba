//! The record format: `len: u32 LE | crc32: u32 LE | payload (len bytes)`, the
//! CRC taken over the payload. A scan of a file finds the valid records, and
//! classifies what follows them: nothing, a torn tail, or corruption.

/// Bytes of a record header.
pub const HEADER: usize = 8;
/// Largest payload accepted when reading (a larger length is damage).
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Frames a payload as one record.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// What follows the valid records of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The file ends right after the last valid record.
    Clean,
    /// The last record was cut short or garbled by a crash mid-write, and nothing
    /// valid follows: safe to truncate at `offset` (it was never synced, so never
    /// acknowledged).
    Torn {
        /// Where the torn record starts.
        offset: u64,
    },
    /// A damaged record with data after it: the file is corrupt at `offset`.
    Corrupt {
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The result of scanning a file's bytes.
#[derive(Debug)]
pub struct Scan<'a> {
    /// Valid payloads in file order, with their offsets.
    pub records: Vec<(u64, &'a [u8])>,
    /// Length of the valid prefix.
    pub valid_len: u64,
    /// What follows it.
    pub tail: Tail,
}

/// Scans `bytes` for records.
pub fn scan(bytes: &[u8]) -> Scan<'_> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let tail = loop {
        if pos == bytes.len() {
            break Tail::Clean;
        }
        let offset = pos as u64;
        let Some(header) = bytes.get(pos..pos + HEADER) else {
            break Tail::Torn { offset };
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_PAYLOAD {
            break damaged(bytes, pos, format!("record length {len} is impossible"));
        }
        let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else {
            break Tail::Torn { offset };
        };
        if crc32fast::hash(payload) != crc {
            break damaged(bytes, pos, "checksum mismatch".into());
        }
        records.push((offset, payload));
        pos += HEADER + len;
    };
    let valid_len = records
        .last()
        .map(|(o, p)| o + (HEADER + p.len()) as u64)
        .unwrap_or(0);
    Scan {
        records,
        valid_len,
        tail,
    }
}

/// A bad record at `pos`: torn if nothing but zeros or a single partial
/// record follows, corrupt if a valid-looking record follows it.
fn damaged(bytes: &[u8], pos: usize, reason: String) -> Tail {
    let offset = pos as u64;
    // Look for any valid record starting after the damage; if there is one, the
    // damage is not a torn tail but corruption of acknowledged data.
    let rest_start = pos + 1;
    for start in rest_start..bytes.len().saturating_sub(HEADER) {
        let h = &bytes[start..start + HEADER];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len == 0 || len > MAX_PAYLOAD {
            continue;
        }
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if let Some(p) = bytes.get(start + HEADER..start + HEADER + len) {
            if crc32fast::hash(p) == crc {
                return Tail::Corrupt { offset, reason };
            }
        }
    }
    Tail::Torn { offset }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        payloads.iter().flat_map(|p| encode(p)).collect()
    }

    #[test]
    fn clean_file_scans_whole() {
        let f = file(&[b"one", b"two", b""]);
        let s = scan(&f);
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.tail, Tail::Clean);
        assert_eq!(s.valid_len as usize, f.len());
    }

    #[test]
    fn every_truncation_is_a_torn_tail_and_keeps_the_prefix() {
        let f = file(&[b"alpha", b"beta", b"gamma"]);
        let whole = scan(&f).records.len();
        for cut in 0..f.len() {
            let s = scan(&f[..cut]);
            assert!(
                matches!(s.tail, Tail::Torn { .. } | Tail::Clean),
                "cut {cut}"
            );
            assert!(s.records.len() <= whole);
            assert!(s.valid_len as usize <= cut);
        }
    }

    #[test]
    fn damage_in_the_middle_is_corruption_at_the_tail_is_torn() {
        let f = file(&[b"alpha-record", b"beta-record", b"gamma-record"]);
        let second = HEADER + 12;
        let mut mid = f.clone();
        mid[second + HEADER + 2] ^= 0x40;
        assert!(matches!(scan(&mid).tail, Tail::Corrupt { offset, .. } if offset == second as u64));
        let mut last = f.clone();
        let n = last.len();
        last[n - 1] ^= 0x01;
        assert!(matches!(scan(&last).tail, Tail::Torn { .. }));
        assert_eq!(scan(&last).records.len(), 2);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let f = file(&[b"alpha-record", b"beta-record", b"gamma-record"]);
        for i in 0..f.len() {
            for bit in 0..8 {
                let mut g = f.clone();
                g[i] ^= 1 << bit;
                let s = scan(&g);
                assert_ne!(
                    s.tail,
                    Tail::Clean,
                    "flip at byte {i} bit {bit} went unnoticed"
                );
            }
        }
    }
}
