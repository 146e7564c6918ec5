//! The SFTP server (russh, russh-sftp): each partner with `[transport.sftp]` in its profile is a
//! user, authenticated by its public keys (or, only where the profile turns it on, a password
//! checked against an Argon2 hash). What a logged-in partner can see and do is in [`vfs`].
//!
//! - Host key: ed25519, made on first start and kept (`DATA/sftp/ssh_host_ed25519_key`); its
//!   fingerprint is logged at start and shown by `GET /api/v1/sftp`.
//! - An upload becomes an input when the file is closed: the close is answered OK only once its bytes
//!   and intake record are durable in the journal (the pipeline's group commit). A connection that
//!   drops before the close leaves nothing behind.
//! - Limits: file size, connections in total and per partner, idle time, bytes of unfinished uploads
//!   in memory, and failed logins per address (refused for a while after too many). Refusals are
//!   logged with the user, the address and the key's fingerprint; never a password.
//! - Only the `sftp` subsystem is served: no shell, no commands, no forwarding.

pub mod vfs;

use crate::config::SftpConfig;
use crate::pipeline::Pipeline;
use russh::keys::{HashAlg, PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the server shares between connections.
pub struct Shared {
    pub pipeline: Arc<Pipeline>,
    pub config: SftpConfig,
    /// `DATA/outbox` and `DATA/archive`: each partner's `outbound/` and `archive/` are its directory there.
    pub outbox: PathBuf,
    pub archive: PathBuf,
    /// Bytes of unfinished uploads in memory.
    pub buffered: AtomicUsize,
    accounts: HashMap<String, Account>,
    sessions: Mutex<HashMap<String, usize>>,
    connections: AtomicUsize,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// A partner as an SFTP user.
struct Account {
    partner: String,
    keys: Vec<PublicKey>,
    password_hash: Option<String>,
}

/// What operators and partners need to know about the server.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SftpInfo {
    pub listen: SocketAddr,
    /// `SHA256:...`, as OpenSSH shows it.
    pub host_key_fingerprint: String,
    /// The host key as a `known_hosts` entry needs it (`ssh-ed25519 AAAA...`).
    pub host_key: String,
    pub users: Vec<String>,
}

/// A bound SFTP server, ready to run.
pub struct SftpListener {
    pub shared: Arc<Shared>,
    pub info: SftpInfo,
    config: Arc<russh::server::Config>,
    listener: tokio::net::TcpListener,
}

impl SftpListener {
    /// Loads the accounts from the profiles and the host key (made when missing), and binds.
    pub async fn bind(pipeline: Arc<Pipeline>, config: &SftpConfig, data_dir: &Path) -> anyhow::Result<SftpListener> {
        let mut accounts = HashMap::new();
        for p in &pipeline.profiles.partners {
            let (Some(user), Some(t)) = (p.sftp_user(), p.profile.transport.sftp.as_ref()) else { continue };
            let keys = t
                .public_keys
                .iter()
                .map(|k| PublicKey::from_openssh(k.trim()).map_err(|e| anyhow::anyhow!("{}: transport.sftp.public_keys: {e}", p.file.path)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            accounts.insert(user.to_string(), Account { partner: p.profile.code.clone(), keys, password_hash: t.password_hash.clone() });
        }
        let key_file = config.host_key_file.clone().unwrap_or_else(|| data_dir.join("sftp").join("ssh_host_ed25519_key"));
        let host_key = load_or_make_host_key(&key_file)?;
        let public = host_key.public_key();
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::PublicKey);
        if accounts.values().any(|a| a.password_hash.is_some()) {
            methods.push(MethodKind::Password);
        }
        let ssh = russh::server::Config {
            server_id: russh::SshId::Standard(format!("SSH-2.0-edigate_{}", env!("CARGO_PKG_VERSION")).into()),
            methods,
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::ZERO),
            max_auth_attempts: 6,
            inactivity_timeout: Some(Duration::from_secs(config.idle_timeout_secs.max(1))),
            keys: vec![host_key.clone()],
            nodelay: true,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| anyhow::anyhow!("SFTP: cannot listen on {}: {e}", config.listen))?;
        let listen = listener.local_addr()?;
        let mut users: Vec<String> = accounts.keys().cloned().collect();
        users.sort();
        let info = SftpInfo {
            listen,
            host_key_fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
            host_key: public.to_openssh().map_err(|e| anyhow::anyhow!("host key: {e}"))?,
            users,
        };
        let data = |d: &str| data_dir.join(d);
        let shared = Arc::new(Shared {
            pipeline,
            config: config.clone(),
            outbox: data("outbox"),
            archive: data("archive"),
            buffered: AtomicUsize::new(0),
            accounts,
            sessions: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
            failures: Mutex::new(HashMap::new()),
        });
        Ok(SftpListener { shared, info, config: Arc::new(ssh), listener })
    }

    /// Accepts connections until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(listen = %self.info.listen, host_key = %self.info.host_key_fingerprint, users = self.info.users.len(), "SFTP listening");
        loop {
            let (socket, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("SFTP accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            };
            let shared = self.shared.clone();
            let max = shared.config.max_sessions;
            if shared.connections.fetch_add(1, Ordering::Relaxed) >= max {
                shared.connections.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(%peer, limit = max, "SFTP connection refused: too many connections");
                drop(socket);
                continue;
            }
            let config = self.config.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let _count = Counted(&shared.connections);
                let conn = Conn { shared: shared.clone(), peer, partner: None, slot: None, channels: HashMap::new() };
                // The version exchange must come quickly; after it the idle timeout rules.
                let session = match tokio::time::timeout(Duration::from_secs(30), russh::server::run_stream(config, socket, conn)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "SFTP connection setup failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "SFTP connection sent no SSH version in time");
                        return;
                    }
                };
                let handle = session.handle();
                tokio::select! {
                    r = session => if let Err(e) = r {
                        tracing::debug!(%peer, "SFTP connection ended: {e}");
                    },
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                        let _ = handle.disconnect(russh::Disconnect::ByApplication, "the gateway is stopping".into(), "en".into()).await;
                    }
                }
            });
        }
    }
}

struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A partner's place among its open sessions, given back when the connection ends.
struct Slot {
    shared: Arc<Shared>,
    partner: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.shared.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.get_mut(&self.partner) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Shared {
    /// Whether an address has failed too often lately.
    fn refused(&self, ip: IpAddr) -> bool {
        let window = Duration::from_secs(self.config.auth_window_secs);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(q) = f.get_mut(&ip) else { return false };
        while q.front().is_some_and(|t| t.elapsed() > window) {
            q.pop_front();
        }
        if q.is_empty() {
            f.remove(&ip);
            return false;
        }
        q.len() >= self.config.max_auth_failures
    }

    fn failed(&self, ip: IpAddr, user: &str, why: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() > 100_000 {
            f.clear();
        }
        let q = f.entry(ip).or_default();
        q.push_back(Instant::now());
        if q.len() == self.config.max_auth_failures {
            tracing::warn!(%ip, user, failures = q.len(), window_secs = self.config.auth_window_secs, "SFTP: too many failed logins, address refused for the window");
        } else if q.len() < self.config.max_auth_failures {
            tracing::warn!(%ip, user, "SFTP login refused: {why}");
        }
    }

    fn key_allows(&self, user: &str, key: &PublicKey) -> Result<&Account, String> {
        match self.accounts.get(user) {
            None => Err("unknown user".into()),
            Some(a) if a.keys.iter().any(|k| k.key_data() == key.key_data()) => Ok(a),
            Some(a) => Err(format!("key {} is not in partner {}'s profile", key.fingerprint(HashAlg::Sha256), a.partner)),
        }
    }

    /// Takes one of the partner's session places.
    fn open_session(self: &Arc<Self>, partner: &str) -> Option<Slot> {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.entry(partner.to_string()).or_default();
        if *n >= self.config.max_sessions_per_partner {
            return None;
        }
        *n += 1;
        Some(Slot { shared: self.clone(), partner: partner.to_string() })
    }
}

/// One SSH connection.
struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    partner: Option<String>,
    slot: Option<Slot>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl Conn {
    fn methods(&self) -> Auth {
        Auth::Reject { proceed_with_methods: Some(self.shared_methods()), partial_success: false }
    }

    fn shared_methods(&self) -> MethodSet {
        let mut m = MethodSet::empty();
        m.push(MethodKind::PublicKey);
        if self.shared.accounts.values().any(|a| a.password_hash.is_some()) {
            m.push(MethodKind::Password);
        }
        m
    }

    fn accept(&mut self, partner: String) -> Auth {
        tracing::info!(peer = %self.peer, partner = %partner, "SFTP login");
        self.partner = Some(partner);
        Auth::Accept
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.methods())
    }

    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        if self.shared.refused(self.peer.ip()) {
            return Ok(Auth::reject());
        }
        match self.shared.key_allows(user, offer.public_key) {
            Ok(_) => Ok(Auth::Accept),
            Err(why) => {
                self.shared.failed(self.peer.ip(), user, &why);
                Ok(self.methods())
            }
        }
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        if self.shared.refused(self.peer.ip()) {
            return Ok(Auth::reject());
        }
        match self.shared.key_allows(user, key.public_key).map(|a| a.partner.clone()) {
            Ok(partner) => Ok(self.accept(partner)),
            Err(why) => {
                self.shared.failed(self.peer.ip(), user, &why);
                Ok(self.methods())
            }
        }
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.shared.refused(self.peer.ip()) {
            return Ok(Auth::reject());
        }
        let Some(a) = self.shared.accounts.get(user) else {
            self.shared.failed(self.peer.ip(), user, "unknown user");
            return Ok(self.methods());
        };
        let Some(hash) = a.password_hash.clone() else {
            self.shared.failed(self.peer.ip(), user, "password login is off for this partner");
            return Ok(self.methods());
        };
        let partner = a.partner.clone();
        let password = password.as_bytes().to_vec();
        let good = tokio::task::spawn_blocking(move || {
            use argon2::PasswordVerifier;
            argon2::Argon2::default().verify_password(&password, hash.as_str()).is_ok()
        })
        .await
        .unwrap_or(false);
        if good {
            Ok(self.accept(partner))
        } else {
            self.shared.failed(self.peer.ip(), user, "wrong password");
            Ok(self.methods())
        }
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        let partner = self.partner.clone().unwrap_or_default();
        match self.shared.open_session(&partner) {
            Some(slot) => self.slot = Some(slot),
            None => {
                let limit = self.shared.config.max_sessions_per_partner;
                tracing::warn!(peer = %self.peer, partner = %partner, limit, "SFTP session refused: too many sessions for this partner");
                session.disconnect(russh::Disconnect::TooManyConnections, &format!("too many sessions for {partner} (limit {limit}); try again later"), "en")?;
            }
        }
        Ok(())
    }

    async fn channel_open_session(&mut self, channel: Channel<Msg>, reply: ChannelOpenHandle, _session: &mut Session) -> Result<(), Self::Error> {
        if self.slot.is_some() && self.channels.len() < 4 {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn subsystem_request(&mut self, channel: ChannelId, name: &str, session: &mut Session) -> Result<(), Self::Error> {
        match (name, self.channels.remove(&channel), &self.slot) {
            ("sftp", Some(ch), Some(_)) => {
                session.channel_success(channel)?;
                let files = vfs::Files::new(self.shared.clone(), self.partner.clone().unwrap_or_default());
                russh_sftp::server::run(ch.into_stream(), files).await;
            }
            _ => {
                tracing::debug!(peer = %self.peer, subsystem = name, "SFTP: subsystem refused");
                session.channel_failure(channel)?;
            }
        }
        Ok(())
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn exec_request(&mut self, channel: ChannelId, _data: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn channel_eof(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.close(channel)?;
        Ok(())
    }
}

/// Reads the host key, or makes an ed25519 one (mode 0600) when the file does not exist.
pub fn load_or_make_host_key(path: &Path) -> anyhow::Result<PrivateKey> {
    if path.exists() {
        return PrivateKey::read_openssh_file(path).map_err(|e| anyhow::anyhow!("SFTP host key {}: {e}", path.display()));
    }
    let mut seed = [0u8; 32];
    rustls::crypto::ring::default_provider().secure_random.fill(&mut seed).map_err(|_| anyhow::anyhow!("no secure random numbers for the SFTP host key"))?;
    let key = PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = key.to_openssh(russh::keys::ssh_key::LineEnding::LF).map_err(|e| anyhow::anyhow!("SFTP host key: {e}"))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    tracing::info!(file = %path.display(), fingerprint = %key.public_key().fingerprint(HashAlg::Sha256), "SFTP host key made");
    Ok(key)
}

/// `edigate hash-password`: the Argon2id PHC string of a password, for a profile's
/// `transport.sftp.password_hash`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher;
    let h = argon2::Argon2::default().hash_password(password.as_bytes()).map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
    Ok(h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_is_made_once_then_kept() {
        let dir = std::env::temp_dir().join(format!("edigate-hostkey-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sftp/ssh_host_ed25519_key");
        let a = load_or_make_host_key(&path).unwrap();
        let b = load_or_make_host_key(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn password_hashes_verify_and_never_hold_the_password() {
        use argon2::PasswordVerifier;
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(argon2::Argon2::default().verify_password(b"correct horse", h.as_str()).is_ok());
        assert!(argon2::Argon2::default().verify_password(b"wrong", h.as_str()).is_err());
    }
}
