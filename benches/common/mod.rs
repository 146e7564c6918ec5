//! Helpers shared by the whole-process benchmarks (`gateway`, `sftp`): the binary, generated
//! partners and documents, and what dev-erp received.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary under test (EDIGATE_BENCH_EXE=path compares another build in the same session).
pub fn exe() -> String {
    std::env::var("EDIGATE_BENCH_EXE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_edigate").to_string())
}

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Partner `bench-N`: Wayne Retail's profile under another code and ISA id.
pub fn write_profiles(dir: &Path, partners: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let wayne = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/partner-profiles/wayne-retail.toml")).unwrap();
    for n in 0..partners {
        let code = format!("bench-{n}");
        let token = sha256_hex(format!("token-{code}").as_bytes());
        let body = wayne
            .replace("code = \"wayne-retail\"", &format!("code = \"{code}\""))
            .replace("id = \"WAYNERETAIL\"", &format!("id = \"BENCH{n:02}\""));
        // HTTP by token `token-bench-N`, SFTP as user `bench-N` with the sample partners' development key.
        let dev_key = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/sftp/dev_ed25519.pub")).unwrap();
        let body = body.split("[transport.http]").next().unwrap().to_string()
            + &format!("[transport.http]\ntoken_sha256 = [\"{token}\"]\n\n[transport.sftp]\npublic_keys = [\"{}\"]\n", dev_key.trim());
        std::fs::write(dir.join(format!("{code}.toml")), body).unwrap();
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// A 10 KB 850 from partner `p`, interchange `n`: ~120 lines.
pub fn order(p: u64, n: u64) -> Vec<u8> {
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

pub fn delivered(store: &Path) -> usize {
    std::fs::read_dir(store).map(|rd| rd.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count()).unwrap_or(0)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}


/// Starts `edigate dev-erp` on `erp_port` (storing in `dir/erp-store`) and `edigate serve` with
/// `dir/edigate.toml` (logging to `dir/gateway.log`); both die with the returned guards.
pub fn start_gateway(dir: &Path, erp_port: u16) -> (Kill, Kill) {
    let erp = Kill(Command::new(exe()).args(["dev-erp", "--listen", &format!("127.0.0.1:{erp_port}"), "--store"]).arg(dir.join("erp-store")).env("RUST_LOG", "warn").stdout(Stdio::null()).spawn().unwrap());
    let gw = Kill(
        Command::new(exe())
            .args(["serve", "--config"])
            .arg(dir.join("edigate.toml"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("gateway.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    (erp, gw)
}
