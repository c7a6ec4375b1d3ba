//! The etcd baseline: a 3-member etcd cluster (the Debian `etcd-server`
//! package, `.ci/bench-deps`) on 127.0.0.1, each member with its own data dir,
//! stopped by PID afterwards; writes of the same size through etcd's v3
//! HTTP/JSON gateway (`POST /v3/kv/put`) from many keep-alive connections.
//! The ports are picked free by the OS (bound to port 0, then released), as
//! etcd's `--initial-cluster` needs them up front.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// etcd member processes, killed (by PID) and reaped when dropped.
struct Members(Vec<Child>);

impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One HTTP/1.1 POST on a keep-alive connection; returns the status code.
fn post(conn: &mut BufReader<TcpStream>, port: u16, path: &str, body: &str) -> Result<u16> {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(req.as_bytes())?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad HTTP status line {line:?}"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            bail!("connection closed");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16).context("bad chunk size")?;
            let mut buf = vec![0; n + 2];
            conn.read_exact(&mut buf)?;
            if n == 0 {
                break;
            }
        }
    } else {
        let mut buf = vec![0; length.unwrap_or(0)];
        conn.read_exact(&mut buf)?;
    }
    Ok(status)
}

/// Starts the cluster in `dir`, writes `size`-byte values from `conns`
/// connections for `secs` (after a 1 s warm-up); returns puts per second.
pub fn measure(dir: &Path, size: usize, conns: usize, secs: Duration) -> Result<f64> {
    let etcd = which("etcd").ok_or_else(|| anyhow!("etcd not installed (run .ci/bench-deps)"))?;
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<Result<_>>()?;
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
        .collect();
    let mut members = Members(Vec::new());
    for (i, (client, peer)) in ports.iter().enumerate() {
        let data = dir.join(format!("etcd-m{i}"));
        std::fs::create_dir_all(&data)?;
        let log = std::fs::File::create(dir.join(format!("etcd-m{i}.log")))?;
        let mut cmd = Command::new(&etcd);
        cmd.arg("--name")
            .arg(format!("m{i}"))
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen-client-urls")
            .arg(format!("http://127.0.0.1:{client}"))
            .arg("--advertise-client-urls")
            .arg(format!("http://127.0.0.1:{client}"))
            .arg("--listen-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-cluster")
            .arg(cluster.join(","))
            .arg("--initial-cluster-state")
            .arg("new")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        members.0.push(cmd.spawn().context("cannot start etcd")?);
    }
    // Writes go to the members round-robin (followers forward to the leader).
    let key = base64(b"bench");
    let value = base64(&vec![b'x'; size]);
    let body = format!("{{\"key\":\"{key}\",\"value\":\"{value}\"}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = TcpStream::connect(("127.0.0.1", ports[0].0))
            .map(BufReader::new)
            .ok()
            .and_then(|mut c| post(&mut c, ports[0].0, "/v3/kv/put", &body).ok())
            == Some(200);
        if ok {
            break;
        }
        if Instant::now() >= deadline || crate::harness::interrupted() {
            bail!(
                "the etcd cluster did not come up (logs in {})",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let count = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..conns {
        let port = ports[t % 3].0;
        let (count, counting, stop, body) =
            (count.clone(), counting.clone(), stop.clone(), body.clone());
        threads.push(std::thread::spawn(move || -> Result<()> {
            let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", port))?);
            conn.get_ref().set_nodelay(true)?;
            while !stop.load(Ordering::Relaxed) {
                if post(&mut conn, port, "/v3/kv/put", &body)? == 200
                    && counting.load(Ordering::Relaxed)
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }));
    }
    std::thread::sleep(Duration::from_secs(1));
    counting.store(true, Ordering::Relaxed);
    let begin = Instant::now();
    std::thread::sleep(secs);
    counting.store(false, Ordering::Relaxed);
    let elapsed = begin.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("bench: etcd writer: {e:#}"),
            Err(_) => eprintln!("bench: etcd writer panicked"),
        }
    }
    drop(members);
    Ok(count.load(Ordering::Relaxed) as f64 / elapsed)
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
