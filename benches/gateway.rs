//! Whole-process benchmark of the runtime: 10 KB interchanges uploaded over HTTP → kept in the
//! journal (synced) → processed → delivered to `dev-erp`, both release processes on loopback.
//!
//! `cargo bench --bench gateway` (environment: EDIGATE_BENCH_DOCS=N documents for the throughput run,
//! default 10000; EDIGATE_BENCH_PARTNERS=P sending partners, default 8; EDIGATE_BENCH_SECONDS=S for
//! the fixed-rate run, default 10; EDIGATE_BENCH_THREADS=T processing threads, default 0 = one per
//! CPU; EDIGATE_BENCH_CLIENTS=C uploads at a time in the throughput run, default 32). See BENCHMARKS.md.
//!
//! Start it after a few quiet minutes: each run deletes its ~30,000 files at the end, and an ext4
//! without a journal (this VM's) skips recently freed inodes at every file creation, which makes a
//! run started soon after another one ~10% slower (outbox and dev-erp files).
//!
//! 1. Floor: the fsync this disk does (what every group commit costs at least).
//! 2. Throughput: N uploads by C concurrent clients (32), spread over P partners (each partner's documents
//!    are delivered in order, one at a time, so partners are the parallelism of delivery); documents
//!    per second until the last upload is answered, and until the last document is at dev-erp; and
//!    the CPU time each process (gateway, dev-erp, this load generator) spent per document meanwhile,
//!    the steadier figure to compare builds by on a noisy machine.
//! 3. Latency: 500 uploads per second for S seconds, open loop: p50 / p99 / max from request to 2xx.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fsync_floor(dir: &Path) -> Duration {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(&[0u8; 512]).unwrap();
        f.sync_data().unwrap();
    }
    let _ = std::fs::remove_file(&path);
    start.elapsed() / n
}

/// CPU time (user, system; all threads) a process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> [f64; 2] {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).map(|x| x.parse().unwrap_or(0)).collect();
    // Clock ticks: 100 per second on Linux (USER_HZ).
    let tick = |i: usize| f.get(i).copied().unwrap_or(0) as f64 / 100.0;
    [tick(0), tick(1)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let docs = env_or("EDIGATE_BENCH_DOCS", 10_000);
    let partners = env_or("EDIGATE_BENCH_PARTNERS", 8).max(1);
    let seconds = env_or("EDIGATE_BENCH_SECONDS", 10);
    let threads = env_or("EDIGATE_BENCH_THREADS", 0);
    let clients = env_or("EDIGATE_BENCH_CLIENTS", 32).max(1);
    let dir: PathBuf = std::env::temp_dir().join(format!("edigate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_profiles(&dir.join("profiles"), partners);
    let (port, erp_port) = (free_port(), free_port());
    std::fs::write(
        dir.join("edigate.toml"),
        format!(
            "data_dir = \"{d}/data\"\nprofiles_dir = \"{d}/profiles\"\nmappings_dir = \"{m}/mappings\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[intake]\nwatch = false\nprocessing_threads = {threads}\n[as2]\nenabled = false\n[sftp]\nenabled = false\n[erp]\nbase_url = \"http://127.0.0.1:{erp_port}\"\nconcurrency = {partners}\n",
            d = dir.display(),
            m = env!("CARGO_MANIFEST_DIR"),
        ),
    )
    .unwrap();
    let floor = fsync_floor(&dir);
    let store = dir.join("erp-store");
    let processes = start_gateway(&dir, erp_port);
    let pids = [("gateway", processes.1 .0.id()), ("dev-erp", processes.0 .0.id()), ("load generator", std::process::id())];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        let url = format!("http://127.0.0.1:{port}/api/v1/inbound");
        let ready = format!("http://127.0.0.1:{port}/readyz");
        while !client.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let body_len = order(0, 1).len();
        println!("gateway: {docs} documents of {body_len} bytes from {partners} partners; fsync floor {:.2} ms", floor.as_secs_f64() * 1e3);

        // Throughput: `clients` uploads at a time.
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let cpu_before = pids.map(|(_, pid)| cpu_seconds(pid));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= docs {
                        break;
                    }
                    let p = i % partners;
                    let r = client.post(&url).bearer_auth(format!("token-bench-{p}")).body(order(p, 1_000_000 + i)).send().await.unwrap();
                    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap_or_default());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let uploaded = start.elapsed();
        while delivered(&store) < docs as usize {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all = start.elapsed();
        let cpu: Vec<String> = pids
            .iter()
            .zip(cpu_before)
            .map(|((name, pid), before)| {
                let after = cpu_seconds(*pid);
                let ms = |i: usize| (after[i] - before[i]) * 1e3 / docs as f64;
                // User time is the steadier figure for A/B: system time moves with the file system's
                // state (ext4 inode allocation after many deletes, BENCHMARKS.md).
                format!("{name} {:.3} ms (user {:.3})", ms(0) + ms(1), ms(0))
            })
            .collect();
        println!(
            "throughput: uploads answered {:.0} docs/s ({:.2} s); delivered {:.0} docs/s ({:.2} s)",
            docs as f64 / uploaded.as_secs_f64(),
            uploaded.as_secs_f64(),
            docs as f64 / all.as_secs_f64(),
            all.as_secs_f64()
        );
        println!("CPU per document (user + system, all threads): {}", cpu.join(", "));

        // Latency at a fixed 500 uploads per second (open loop: a request is sent on time even when
        // earlier ones are still out).
        let n = 500 * seconds;
        let interval = Duration::from_micros(2_000);
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for i in 0..n {
            tokio::time::sleep_until(start + interval * i as u32).await;
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let p = i % partners;
                let t = Instant::now();
                let r = client.post(&url).bearer_auth(format!("token-bench-{p}")).body(order(p, 2_000_000 + i)).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 202);
                let _ = r.bytes().await;
                t.elapsed()
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.push(t.await.unwrap());
        }
        let offered = start.elapsed();
        lat.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "latency at 500 docs/s for {seconds} s ({:.0} docs/s offered): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            n as f64 / offered.as_secs_f64(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(*lat.last().unwrap())
        );
        let total = docs + n;
        while delivered(&store) < total as usize {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let metrics = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
        let value = |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("?").trim().to_string();
        println!("journal syncs {} for {} inputs", value("edigate_journal_syncs_total "), value("edigate_inputs_total "));
    });
    let _ = std::fs::remove_dir_all(&dir);
}
