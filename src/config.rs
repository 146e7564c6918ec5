//! `edigate serve` configuration: built-in defaults that run the gateway from a checkout (sled under
//! `./data`, the repository's profiles and mappings, HTTP on 127.0.0.1:8080, delivery to `dev-erp` on
//! 127.0.0.1:8181), any of it overridden by a TOML file (`--config`). `deploy/edigate.toml` shows
//! every key.
//!
//! Secrets are never in this file: it names the environment variable or file that holds each one,
//! and [`Secret`] never prints its value.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The journal (sled database, blobs) and the partners' directories.
    pub data_dir: PathBuf,
    pub profiles_dir: PathBuf,
    pub mappings_dir: PathBuf,
    pub http: HttpConfig,
    pub intake: IntakeConfig,
    pub sftp: SftpConfig,
    pub as2: As2Config,
    pub erp: ErpConfig,
    pub dev_erp: DevErpConfig,
    pub notify: NotifyConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "data".into(),
            profiles_dir: "partner-profiles".into(),
            mappings_dir: "mappings".into(),
            http: HttpConfig::default(),
            intake: IntakeConfig::default(),
            sftp: SftpConfig::default(),
            as2: As2Config::default(),
            erp: ErpConfig::default(),
            dev_erp: DevErpConfig::default(),
            notify: NotifyConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Intake (`POST /api/v1/inbound`) and the operator API.
    pub listen: SocketAddr,
    /// Largest input accepted, in bytes.
    pub max_body_bytes: usize,
    /// Uploads read at once (the others wait): memory stays under this times `max_body_bytes`.
    pub max_concurrent_uploads: usize,
    /// Time for a whole body to arrive (milliseconds).
    pub body_timeout_ms: u64,
    /// When set, the operator API wants `Authorization: Bearer TOKEN` with this SHA-256 (hex).
    pub operator_token_sha256: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: ([127, 0, 0, 1], 8080).into(), max_body_bytes: 64 << 20, max_concurrent_uploads: 16, body_timeout_ms: 60_000, operator_token_sha256: None }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Watch `DATA/inbound/PARTNER/` for files (each partner's directory is made at start).
    pub watch: bool,
    pub poll_ms: u64,
    /// Threads that validate, map and acknowledge inputs; 0 = one per CPU. A partner's inputs
    /// always go to the same thread, in the order they were received.
    pub processing_threads: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig { watch: true, poll_ms: 500, processing_threads: 0 }
    }
}

/// The SFTP server: each partner with `[transport.sftp]` in its profile is a user.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SftpConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// The server's ed25519 host key (OpenSSH format), made on first start when missing;
    /// `DATA/sftp/ssh_host_ed25519_key` when absent.
    pub host_key_file: Option<PathBuf>,
    /// Largest file a partner may upload, in bytes.
    pub max_file_bytes: usize,
    /// Connections at once, in total and per partner.
    pub max_sessions: usize,
    pub max_sessions_per_partner: usize,
    /// A connection with no traffic for this long is closed (seconds).
    pub idle_timeout_secs: u64,
    /// An address with this many failed logins within `auth_window_secs` is refused until the
    /// window has passed.
    pub max_auth_failures: usize,
    pub auth_window_secs: u64,
    /// Bytes of unfinished uploads held in memory across all sessions; writes past it fail (the
    /// client may retry) instead of exhausting memory.
    pub max_buffered_bytes: usize,
}

impl Default for SftpConfig {
    fn default() -> Self {
        SftpConfig {
            enabled: true,
            listen: ([127, 0, 0, 1], 2222).into(),
            host_key_file: None,
            max_file_bytes: 64 << 20,
            max_sessions: 256,
            max_sessions_per_partner: 64,
            idle_timeout_secs: 300,
            max_auth_failures: 10,
            auth_window_secs: 60,
            max_buffered_bytes: 1 << 30,
        }
    }
}

/// The AS2 listener: partners with `[transport.as2]` in their profile post S/MIME messages here.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct As2Config {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// The URL path messages are posted to.
    pub path: String,
    /// Our AS2 id: messages must be addressed to it (`AS2-To`); MDNs come from it.
    pub id: String,
    /// Where partners post asynchronous MDNs for what we send (our AS2 URL as they reach it);
    /// `http://{listen}{path}` when absent.
    pub public_url: Option<String>,
    /// Our certificate and private key (PEM): partners encrypt to it, our MDNs are signed with it.
    /// The defaults are the development pair in `samples/as2/`.
    pub cert_file: PathBuf,
    /// PEM (PKCS#8 or PKCS#1), or PKCS#12 (`.p12`, `.pfx`: then the certificate may come from it).
    pub key_file: PathBuf,
    /// The PKCS#12 file's password.
    pub key_password: Option<SecretSource>,
    /// Certificates (ours and the partners') that expire within this many days are warned about.
    pub expiry_warning_days: u64,
    /// HTTPS with this certificate chain and key (PEM); plain HTTP without them (behind a proxy
    /// that terminates TLS).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Largest message accepted, in bytes (before decryption and decompression; the payload after
    /// them must also fit).
    pub max_body_bytes: usize,
    /// Time for a whole message to arrive (milliseconds).
    pub body_timeout_ms: u64,
}

impl Default for As2Config {
    fn default() -> Self {
        As2Config {
            enabled: true,
            listen: ([127, 0, 0, 1], 4080).into(),
            path: "/as2".into(),
            id: "edigate".into(),
            public_url: None,
            cert_file: "samples/as2/edigate.cert.pem".into(),
            key_file: "samples/as2/edigate.key.pem".into(),
            key_password: None,
            expiry_warning_days: 30,
            tls_cert_file: None,
            tls_key_file: None,
            max_body_bytes: 64 << 20,
            body_timeout_ms: 60_000,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErpConfig {
    pub base_url: String,
    /// Path per canonical document type, appended to `base_url`.
    pub paths: BTreeMap<String, String>,
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Deliveries in flight at once (one per partner at most: a partner's documents go in order).
    pub concurrency: usize,
    /// After this many failed tries a document is dead-lettered.
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub auth: ErpAuth,
    pub tls: ErpTls,
}

impl Default for ErpConfig {
    fn default() -> Self {
        let paths = [
            ("purchase_order", "/purchase-orders"),
            ("order_confirmation", "/order-confirmations"),
            ("ship_notice", "/ship-notices"),
            ("invoice", "/invoices"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ErpConfig {
            base_url: "http://127.0.0.1:8181".into(),
            paths,
            timeout_ms: 10_000,
            connect_timeout_ms: 2_000,
            concurrency: 8,
            max_attempts: 12,
            backoff_initial_ms: 500,
            backoff_max_ms: 300_000,
            auth: ErpAuth::None,
            tls: ErpTls::default(),
        }
    }
}

/// How edigate authenticates to the ERP.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ErpAuth {
    #[default]
    None,
    /// `Authorization: Bearer` with the token from an environment variable or a file.
    Bearer { token: SecretSource },
    Basic { username: String, password: SecretSource },
}

/// Where a secret is read from (never the secret itself).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl SecretSource {
    pub fn load(&self) -> anyhow::Result<Secret> {
        if let Some(var) = &self.env {
            return std::env::var(var).map(Secret).map_err(|_| anyhow::anyhow!("environment variable {var} (a secret) is not set"));
        }
        if let Some(f) = &self.file {
            let s = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("secret file {}: {e}", f.display()))?;
            return Ok(Secret(s.trim_end_matches(['\n', '\r']).to_string()));
        }
        anyhow::bail!("a secret needs `env` or `file`")
    }
}

/// A secret value: `Debug` and `Display` show stars.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// TLS to the ERP: a private CA, and a client certificate for mTLS (PEM files).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpTls {
    pub ca_file: Option<PathBuf>,
    /// Certificate chain and private key of our client identity (mTLS), PEM.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevErpConfig {
    /// Where `serve --with-dev-erp` runs the development ERP receiver.
    pub listen: SocketAddr,
    pub store: PathBuf,
}

impl Default for DevErpConfig {
    fn default() -> Self {
        DevErpConfig { listen: ([127, 0, 0, 1], 8181).into(), store: "data/dev-erp".into() }
    }
}

/// Email to people (rejected inputs, dead letters): off until `smtp_host` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on loopback only).
    pub tls: SmtpTls,
    /// A private CA for the SMTP server's certificate (PEM).
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub from: String,
    /// Sees every partner's notices.
    pub b2b_team: Vec<String>,
    /// One digest per recipient at most this often (milliseconds).
    pub digest_ms: u64,
    /// Notices listed in one digest (the rest are counted).
    pub max_items: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            smtp_host: None,
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            ca_file: None,
            username: None,
            password: None,
            from: "edigate@localhost".into(),
            b2b_team: vec![],
            digest_ms: 300_000,
            max_items: 100,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: "text".into() }
    }
}

impl Config {
    /// Reads a TOML file over the defaults; unknown keys are errors (with their place).
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let at = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let col = s.start - text[..s.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{col}")
            });
            anyhow::anyhow!("{}{}: {}", path.display(), at.unwrap_or_default(), e.message())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c: Config = toml::from_str("[erp]\nbase_url = \"https://erp.example\"\nauth = { kind = \"bearer\", token = { env = \"ERP_TOKEN\" } }\n").unwrap();
        assert_eq!(c.erp.base_url, "https://erp.example");
        assert_eq!(c.erp.paths["ship_notice"], "/ship-notices");
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert!(matches!(c.erp.auth, ErpAuth::Bearer { .. }));
        assert!(toml::from_str::<Config>("[erp]\nbase_ur = \"x\"\n").is_err(), "unknown keys are errors");
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "Secret(***)");
    }

    #[test]
    fn the_documented_example_is_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/edigate.toml");
        let c = Config::load(&path).unwrap();
        let d = Config::default();
        assert_eq!(format!("{c:?}"), format!("{d:?}"), "deploy/edigate.toml must show the built-in defaults");
    }
}
