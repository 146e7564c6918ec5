//! Whole-process benchmark of the SFTP listener: concurrent OpenSSH `sftp` sessions each upload
//! 10 KB interchanges into `inbound/`; every file must be accepted (its close answered after it is
//! durable in the journal) and delivered to `dev-erp`.
//!
//! `cargo bench --bench sftp` (environment: EDIGATE_BENCH_SESSIONS, default 100; EDIGATE_BENCH_FILES
//! per session, default 10; EDIGATE_BENCH_PARTNERS, default 8). See BENCHMARKS.md.
//!
//! The time of one `put` (open, writes, close answered) is taken by the client itself: the batch
//! runs `!date +%s%N` before and after each `put`, so a figure includes starting one `date` process
//! (about a millisecond on an idle machine, more under this load): it overstates, never flatters.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sessions = env_or("EDIGATE_BENCH_SESSIONS", 100);
    let files = env_or("EDIGATE_BENCH_FILES", 10);
    let partners = env_or("EDIGATE_BENCH_PARTNERS", 8).max(1);
    let dir: PathBuf = std::env::temp_dir().join(format!("edigate-bench-sftp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_profiles(&dir.join("profiles"), partners);
    let (port, erp_port, sftp_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("edigate.toml"),
        format!(
            "data_dir = \"{d}/data\"\nprofiles_dir = \"{d}/profiles\"\nmappings_dir = \"{m}/mappings\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[intake]\nwatch = false\n[as2]\nenabled = false\n[sftp]\nlisten = \"127.0.0.1:{sftp_port}\"\nmax_sessions_per_partner = {sessions}\n[erp]\nbase_url = \"http://127.0.0.1:{erp_port}\"\nconcurrency = {partners}\n",
            d = dir.display(),
            m = env!("CARGO_MANIFEST_DIR"),
        ),
    )
    .unwrap();
    let key = dir.join("dev_ed25519");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/sftp/dev_ed25519"), &key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let store = dir.join("erp-store");
    let _processes = start_gateway(&dir, erp_port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", sftp_port)).is_err() {
        assert!(Instant::now() < deadline, "gateway did not start: {}", std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The files and each session's batch, made before the clock starts.
    let src = dir.join("files");
    std::fs::create_dir_all(&src).unwrap();
    let mut batches = Vec::new();
    for s in 0..sessions {
        let p = s % partners;
        let mut batch = String::from("cd inbound\n!date +%s%N\n");
        for f in 0..files {
            let path = src.join(format!("s{s:03}-f{f:03}.edi"));
            std::fs::write(&path, order(p, 1_000_000 + s * files + f)).unwrap();
            batch.push_str(&format!("put {}\n!date +%s%N\n", path.display()));
        }
        batches.push((format!("bench-{p}"), batch));
    }
    let total = (sessions * files) as usize;
    println!("sftp: {sessions} concurrent OpenSSH sessions x {files} files of {} bytes, {partners} partners", order(0, 1).len());
    let start = Instant::now();
    let children: Vec<_> = batches
        .into_iter()
        .map(|(user, batch)| {
            let mut c = Command::new("sftp")
                .args(["-b", "-", "-P", &sftp_port.to_string(), "-i"])
                .arg(&key)
                .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
                .arg(format!("{user}@127.0.0.1"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("OpenSSH sftp");
            use std::io::Write;
            c.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
            c
        })
        .collect();
    let mut puts = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "sftp failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let stamps: Vec<u64> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
        assert_eq!(stamps.len() as u64, files + 1);
        puts.extend(stamps.windows(2).map(|w| Duration::from_nanos(w[1] - w[0])));
    }
    let accepted = start.elapsed();
    while delivered(&store) < total {
        assert!(start.elapsed() < Duration::from_secs(600), "not all delivered: {} of {total}", delivered(&store));
        std::thread::sleep(Duration::from_millis(5));
    }
    let all = start.elapsed();
    puts.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "accepted {:.0} files/s ({:.2} s, every close answered); delivered {:.0} files/s ({:.2} s)",
        total as f64 / accepted.as_secs_f64(),
        accepted.as_secs_f64(),
        total as f64 / all.as_secs_f64(),
        all.as_secs_f64()
    );
    println!(
        "put to close acknowledged ({} puts): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        puts.len(),
        ms(percentile(&puts, 0.5)),
        ms(percentile(&puts, 0.99)),
        ms(*puts.last().unwrap())
    );
    assert_eq!(delivered(&store), total, "each file delivered exactly once");
    // The gateway's own view: time from a file's close to its bytes durable (group commit), syncs.
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        use std::io::{Read, Write};
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
        let mut m = String::new();
        let _ = s.read_to_string(&mut m);
        let value = |name: &str| m.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("?").trim().to_string();
        let (sum, count) = (value("edigate_intake_seconds_sum "), value("edigate_intake_seconds_count "));
        let mean = sum.parse::<f64>().unwrap_or(0.0) / count.parse::<f64>().unwrap_or(1.0);
        println!("gateway: close to durable mean {:.2} ms over {count} inputs; journal syncs {}", mean * 1e3, value("edigate_journal_syncs_total "));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
