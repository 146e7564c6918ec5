//! Whole-process benchmark of the runtime: 10 KB interchanges uploaded over HTTP → kept in the
//! journal (synced) → processed → delivered to `dev-erp`, both release processes on loopback.
//!
//! `cargo bench --bench gateway` (environment: EDIGATE_BENCH_DOCS=N documents for the throughput run,
//! default 10000; EDIGATE_BENCH_PARTNERS=P sending partners, default 8; EDIGATE_BENCH_SECONDS=S for
//! the fixed-rate run, default 10). See BENCHMARKS.md.
//!
//! 1. Floor: the fsync this disk does (what every group commit costs at least).
//! 2. Throughput: N uploads by 32 concurrent clients, spread over P partners (each partner's documents
//!    are delivered in order, one at a time, so partners are the parallelism of delivery); documents
//!    per second until the last upload is answered, and until the last document is at dev-erp.
//! 3. Latency: 500 uploads per second for S seconds, open loop: p50 / p99 / max from request to 2xx.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The binary under test (EDIGATE_BENCH_EXE=path compares another build in the same session).
fn exe() -> String {
    std::env::var("EDIGATE_BENCH_EXE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_edigate").to_string())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Partner `bench-N`: Wayne Retail's profile under another code and ISA id.
fn write_profiles(dir: &Path, partners: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let wayne = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/partner-profiles/wayne-retail.toml")).unwrap();
    for n in 0..partners {
        let code = format!("bench-{n}");
        let token = sha256_hex(format!("token-{code}").as_bytes());
        let body = wayne
            .replace("code = \"wayne-retail\"", &format!("code = \"{code}\""))
            .replace("id = \"WAYNERETAIL\"", &format!("id = \"BENCH{n:02}\""));
        let body = body.split("[transport.http]").next().unwrap().to_string() + &format!("[transport.http]\ntoken_sha256 = [\"{token}\"]\n");
        std::fs::write(dir.join(format!("{code}.toml")), body).unwrap();
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// A 10 KB 850 from partner `p`, interchange `n`: ~120 lines.
fn order(p: u64, n: u64) -> Vec<u8> {
    let isa_id = format!("{:<15}", format!("BENCH{p:02}"));
    let ctl = format!("{:09}", n);
    let mut s = format!(
        "ISA*00*          *00*          *ZZ*{isa_id}*ZZ*ACMEMFG        *240610*0800*U*00401*{ctl}*0*P*>~\nGS*PO*BENCH{p:02}*ACMEMFG*20240610*0800*{n}*X*004010~\nST*850*0001~\nBEG*00*SA*B{p:02}-{n:08}**20240610~\nREF*IA*ACM-CUST-4410~\nDTM*010*20240617~\nN1*BY*WAYNE RETAIL GROUP*92*WR-HQ~\nN1*ST*WAYNE RETAIL STORE 0042*92*0042~\nN3*88 HARBOR BLVD~\nN4*GOTHAM*NJ*07030*US~\n"
    );
    let mut segs = 8; // ST to N4
    let mut lines = 0;
    while s.len() < 10_000 - 60 {
        lines += 1;
        s.push_str(&format!("PO1*{lines}*24*PC*3.95**IN*WR-SKU-{lines:06}*VN*ACM-{lines:05}~\nPID*F****HEX BOLT M8 X 40MM ZINC PLATED~\n"));
        segs += 2;
    }
    s.push_str(&format!("CTT*{lines}~\nSE*{}*0001~\nGE*1*{n}~\nIEA*1*{ctl}~\n", segs + 2));
    s.into_bytes()
}

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

fn delivered(store: &Path) -> usize {
    std::fs::read_dir(store).map(|rd| rd.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count()).unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let docs = env_or("EDIGATE_BENCH_DOCS", 10_000);
    let partners = env_or("EDIGATE_BENCH_PARTNERS", 8).max(1);
    let seconds = env_or("EDIGATE_BENCH_SECONDS", 10);
    let dir: PathBuf = std::env::temp_dir().join(format!("edigate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_profiles(&dir.join("profiles"), partners);
    let (port, erp_port) = (free_port(), free_port());
    std::fs::write(
        dir.join("edigate.toml"),
        format!(
            "data_dir = \"{d}/data\"\nprofiles_dir = \"{d}/profiles\"\nmappings_dir = \"{m}/mappings\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[intake]\nwatch = false\n[erp]\nbase_url = \"http://127.0.0.1:{erp_port}\"\nconcurrency = {partners}\n",
            d = dir.display(),
            m = env!("CARGO_MANIFEST_DIR"),
        ),
    )
    .unwrap();
    let floor = fsync_floor(&dir);
    let store = dir.join("erp-store");
    let _erp = Kill(
        Command::new(exe())
            .args(["dev-erp", "--listen", &format!("127.0.0.1:{erp_port}"), "--store"])
            .arg(&store)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _gw = Kill(
        Command::new(exe())
            .args(["serve", "--config"])
            .arg(dir.join("edigate.toml"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("gateway.log")).unwrap())
            .spawn()
            .unwrap(),
    );
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

        // Throughput: 32 clients.
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..32 {
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
        println!(
            "throughput: uploads answered {:.0} docs/s ({:.2} s); delivered {:.0} docs/s ({:.2} s)",
            docs as f64 / uploaded.as_secs_f64(),
            uploaded.as_secs_f64(),
            docs as f64 / all.as_secs_f64(),
            all.as_secs_f64()
        );

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
