//! Real processes on loopback: `edigate serve` with its own data directory and config, and
//! `edigate dev-erp` with its own store; a reqwest client talks to them.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A gateway, its dev-erp, their directories. Both processes die with it.
pub struct Harness {
    pub dir: PathBuf,
    pub port: u16,
    pub erp_port: u16,
    pub sftp_port: u16,
    pub as2_port: u16,
    pub gateway: Option<Child>,
    pub erp: Option<Child>,
    pub client: reqwest::Client,
}

pub struct Options {
    pub max_body_bytes: usize,
    pub max_attempts: u32,
    /// More TOML for the gateway's config (whole tables).
    pub extra: String,
    /// SHA-256 of the operator token, when the operator API wants one.
    pub operator_token_sha256: Option<String>,
    pub body_timeout_ms: u64,
    /// Deliver over HTTPS (dev-erp started with --tls-cert).
    pub erp_https: bool,
    /// More keys for the `[sftp]` table.
    pub sftp: String,
    /// Partner profiles other than the repository's.
    pub profiles_dir: Option<PathBuf>,
    /// More keys for the `[as2]` table (our key and certificate are the samples' unless given).
    pub as2: String,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_body_bytes: 64 << 20, max_attempts: 100, extra: String::new(), operator_token_sha256: None, body_timeout_ms: 60_000, erp_https: false, sftp: String::new(), profiles_dir: None, as2: String::new() }
    }
}

impl Harness {
    pub fn new(name: &str, o: Options) -> Harness {
        let dir = std::env::temp_dir().join(format!("edigate-it-{name}-{}-{}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let (port, erp_port, sftp_port, as2_port) = (free_port(), free_port(), free_port(), free_port());
        let config = format!(
            r#"data_dir = "{data}"
profiles_dir = "{profiles}"
mappings_dir = "{root}/mappings"
[http]
listen = "127.0.0.1:{port}"
max_body_bytes = {max}
body_timeout_ms = {body_timeout}
{operator}
[intake]
poll_ms = 50
[sftp]
listen = "127.0.0.1:{sftp_port}"
{sftp}
[as2]
listen = "127.0.0.1:{as2_port}"
{as2}
[erp]
base_url = "{scheme}://127.0.0.1:{erp_port}"
timeout_ms = 5000
connect_timeout_ms = 500
max_attempts = {attempts}
backoff_initial_ms = 20
backoff_max_ms = 400
{extra}
"#,
            data = dir.join("data").display(),
            root = root().display(),
            max = o.max_body_bytes,
            attempts = o.max_attempts,
            extra = o.extra,
            body_timeout = o.body_timeout_ms,
            scheme = if o.erp_https { "https" } else { "http" },
            sftp = o.sftp,
            as2 = if o.as2.contains("key_file") {
                o.as2.clone()
            } else {
                format!("cert_file = \"{r}/samples/as2/edigate.cert.pem\"\nkey_file = \"{r}/samples/as2/edigate.key.pem\"\n{}", o.as2, r = root().display())
            },
            profiles = o.profiles_dir.clone().unwrap_or_else(|| root().join("partner-profiles")).display(),
            operator = o.operator_token_sha256.map(|h| format!("operator_token_sha256 = \"{h}\"")).unwrap_or_default(),
        );
        std::fs::write(dir.join("edigate.toml"), config).unwrap();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Harness { dir, port, erp_port, sftp_port, as2_port, gateway: None, erp: None, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn store(&self) -> PathBuf {
        self.dir.join("erp-store")
    }

    pub fn outbox(&self, partner: &str) -> PathBuf {
        self.dir.join("data/outbox").join(partner)
    }

    /// Starts the gateway (not waiting for it).
    pub fn spawn_gateway(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("gateway.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_edigate"))
            .args(["serve", "--config"])
            .arg(self.dir.join("edigate.toml"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start edigate serve");
        self.gateway = Some(child);
    }

    /// Starts the gateway and waits until it is ready. A listening port that something else took
    /// between [`free_port`] and the gateway's bind (another test's connection, on a busy machine)
    /// is the harness's race, not the gateway's fault: the gateway is started again on other ports.
    pub async fn start_gateway(&mut self) {
        for attempt in 1.. {
            let logged = self.log().len();
            self.spawn_gateway();
            match self.ready_or_exited().await {
                Ok(()) => return,
                Err(_) if attempt < 3 && self.log().get(logged..).is_some_and(|l| l.contains("Address already in use")) => self.move_listeners(),
                Err(log) => panic!("edigate serve exited:\n{log}"),
            }
        }
    }

    pub async fn wait_ready(&mut self) {
        if let Err(log) = self.ready_or_exited().await {
            panic!("edigate serve exited:\n{log}");
        }
    }

    /// Waits until the gateway answers /readyz; its log when it exits first.
    async fn ready_or_exited(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(Ok(Some(status))) = self.gateway.as_mut().map(|c| c.try_wait()) {
                self.gateway = None;
                return Err(format!("{status}:\n{}", self.log()));
            }
            assert!(Instant::now() < deadline, "gateway not ready after 60 s:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// New ports for the gateway's own listeners (HTTP, SFTP, AS2), in its config and here.
    fn move_listeners(&mut self) {
        let path = self.dir.join("edigate.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        for port in [&mut self.port, &mut self.sftp_port, &mut self.as2_port] {
            let moved = free_port();
            config = config.replace(&format!("listen = \"127.0.0.1:{port}\""), &format!("listen = \"127.0.0.1:{moved}\""));
            *port = moved;
        }
        std::fs::write(&path, config).unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_gateway(&mut self) {
        if let Some(mut c) = self.gateway.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn start_erp(&mut self, extra: &[&str]) {
        let child = Command::new(env!("CARGO_BIN_EXE_edigate"))
            .args(["dev-erp", "--listen", &format!("127.0.0.1:{}", self.erp_port), "--store"])
            .arg(self.store())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dev-erp");
        self.erp = Some(child);
        // Listening once it answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.erp_port)).is_err() {
            assert!(Instant::now() < deadline, "dev-erp did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop_erp(&mut self) {
        if let Some(mut c) = self.erp.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// POST /api/v1/inbound as a partner (by its development token).
    pub async fn upload(&self, partner: &str, body: Vec<u8>) -> reqwest::Result<(u16, Value)> {
        self.upload_with(Some(&format!("dev-token-{partner}")), body).await
    }

    pub async fn upload_with(&self, token: Option<&str>, body: Vec<u8>) -> reqwest::Result<(u16, Value)> {
        let mut req = self.client.post(self.url("/api/v1/inbound")).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        let status = r.status();
        let b = r.bytes().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status}: {}", String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).expect("JSON")
    }

    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
    }

    pub async fn post_json(&self, path: &str) -> (u16, Value) {
        let r = self.client.post(self.url(path)).send().await.expect("POST");
        let status = r.status().as_u16();
        (status, serde_json::from_slice(&r.bytes().await.expect("body")).unwrap_or(Value::Null))
    }

    /// What dev-erp stored: one record per document.
    pub fn delivered(&self) -> Vec<Value> {
        let Ok(rd) = std::fs::read_dir(self.store()) else { return vec![] };
        let mut out: Vec<Value> = rd
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect();
        out.sort_by_key(|v| v["sequence"].as_u64());
        out
    }

    /// Waits until dev-erp holds `n` documents (and no more arrive for a moment).
    pub async fn wait_delivered(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.delivered();
            if got.len() >= n {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.delivered();
            }
            assert!(Instant::now() < deadline, "{} of {n} documents delivered after {within:?}\n{}", got.len(), self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The state of a document in the journal.
    pub async fn document(&self, id: &str) -> Value {
        self.get_json(&format!("/api/v1/documents/{id}")).await
    }

    /// Waits until a document is in `state`; returns its detail.
    pub async fn wait_state(&self, id: &str, state: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let d = self.document(id).await;
            if d["document"]["state"] == state {
                return d;
            }
            assert!(Instant::now() < deadline, "document {id} not {state} after {within:?}: {d:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.kill_gateway();
        self.stop_erp();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {} for a look", self.dir.display());
        }
    }
}

/// The repository's partner profiles copied into `dir/profiles` (paths relative to the profiles,
/// such as AS2 certificates, made absolute), to be edited by a test.
pub fn copy_profiles(dir: &Path) -> PathBuf {
    let p = dir.join("profiles");
    std::fs::create_dir_all(&p).unwrap();
    for e in std::fs::read_dir(root().join("partner-profiles")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(e.path()).unwrap().replace("\"../samples/", &format!("\"{}/samples/", root().display()));
            std::fs::write(p.join(e.file_name()), text).unwrap();
        }
    }
    p
}

pub fn sample(path: &str) -> Vec<u8> {
    std::fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Wayne Retail 850 sample as a new interchange: its own ISA13/GS06 and order number.
pub fn wayne_order(n: u32) -> Vec<u8> {
    let s = String::from_utf8(sample("samples/x12/004010/850-wayne-retail-store-order.edi")).unwrap();
    s.replace("*000007001*", &format!("*{:09}*", 100_000_000 + n))
        .replace("IEA*1*000007001", &format!("IEA*1*{:09}", 100_000_000 + n))
        .replace("*7001*X*", &format!("*{n}*X*"))
        .replace("GE*1*7001", &format!("GE*1*{n}"))
        .replace("WR-778812", &format!("WR-{n:06}"))
        .into_bytes()
}

/// The order number a delivered record carries.
pub fn order_number(record: &Value) -> String {
    let d = &record["document"];
    d["order_number"].as_str().or_else(|| d["shipment_number"].as_str()).or_else(|| d["invoice_number"].as_str()).unwrap_or_default().to_string()
}

pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect()).unwrap_or_default();
    v.sort();
    v
}

/// An acknowledgment as text, X12 delimiters shown as `*` and `~` whatever they were.
pub fn ack_text(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes).into_owned();
    if s.starts_with("ISA") && s.len() > 106 {
        let (el, term) = (s.as_bytes()[3] as char, s.as_bytes()[105] as char);
        return s.replace(el, "*").replace(term, "~");
    }
    s
}

/// Whether an acknowledgment accepts: X12 TA1/AK9/IK5 `A`, EDIFACT UCI action 7.
pub fn ack_accepts(ack: &str) -> bool {
    if ack.starts_with("ISA") {
        return !ack.contains("*R*") && !ack.contains("*R~") && !ack.contains("*E~") && (ack.contains("AK9*A") || ack.contains("TA1*"));
    }
    ack.split('\'').map(str::trim).filter(|s| s.starts_with("UCI+")).all(|uci| uci.split('+').nth(4).is_some_and(|a| a == "7"))
}
