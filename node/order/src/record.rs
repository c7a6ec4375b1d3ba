//! Checksummed record codec for the durable log: `len (u32 LE) | crc32 (u32 LE) | payload`.
//! Decoding stops at the first torn or corrupt record, so a crash in the middle of a
//! write loses only that (never acknowledged) tail.

/// Frames one payload as a record.
pub fn encode_record(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes consecutive records; returns the payloads and the length of the valid
/// prefix (the caller truncates the file there).
pub fn decode_records(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        let Some(header) = buf.get(pos..pos + 8) else { break };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Some(end) = (pos + 8).checked_add(len) else { break };
        let Some(payload) = buf.get(pos + 8..end) else { break };
        if crc32fast::hash(payload) != crc {
            break;
        }
        out.push(payload.to_vec());
        pos = end;
    }
    (out, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_torn_tail() {
        let mut buf = Vec::new();
        for p in [&b"one"[..], b"", b"three"] {
            buf.extend(encode_record(p));
        }
        let full = buf.len();
        let (recs, valid) = decode_records(&buf);
        assert_eq!(recs, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
        assert_eq!(valid, full);
        // Every torn prefix decodes to the whole records before the tear.
        for cut in 0..full {
            let (recs, valid) = decode_records(&buf[..cut]);
            assert!(valid <= cut);
            assert!(recs.len() <= 3);
            let (again, _) = decode_records(&buf[..valid]);
            assert_eq!(again, recs);
        }
    }

    #[test]
    fn corruption_stops_decoding() {
        let mut buf = encode_record(b"good");
        let second = buf.len();
        buf.extend(encode_record(b"bad!"));
        buf.extend(encode_record(b"after"));
        buf[second + 9] ^= 1;
        let (recs, valid) = decode_records(&buf);
        assert_eq!(recs, vec![b"good".to_vec()]);
        assert_eq!(valid, second);
        // A huge length does not panic.
        let mut evil = vec![0xff; 8];
        evil.extend_from_slice(b"x");
        assert_eq!(decode_records(&evil).1, 0);
    }
}
