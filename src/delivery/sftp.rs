//! Delivery to partners that host their own SFTP server (`[transport.sftp.push]` in the profile).
//!
//! Whatever the pipeline puts in a partner's outbox (`DATA/outbox/PARTNER/`: acknowledgments, and
//! outbound documents) is pushed, oldest name first: written as `NAME.part`, renamed to `NAME` (the
//! partner's system never sees half a file), then moved to `DATA/archive/PARTNER/`. The server's host
//! key must be one the profile pins; we log in with the profile's key file. A failed try is retried
//! with exponential backoff and jitter; every try, good or bad, is an event in the journal under
//! `outbound:PARTNER/NAME`. Partners without `push` pick their files up from our SFTP server instead.

use super::RetryPolicy;
use crate::journal::{Journal, State};
use crate::profiles::Profiles;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// One partner's server.
pub struct Target {
    pub partner: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub host_keys: Vec<PublicKey>,
    pub key: Arc<PrivateKey>,
    pub dir: String,
}

impl Target {
    fn url(&self, name: &str) -> String {
        format!("sftp://{}@{}:{}{}", self.user, self.host, self.port, remote_path(&self.dir, name))
    }
}

fn remote_path(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// Pushes every push partner's outbox.
pub struct Pusher {
    journal: Arc<dyn Journal>,
    targets: Vec<Target>,
    outbox: PathBuf,
    archive: PathBuf,
    policy: RetryPolicy,
    poll: Duration,
}

impl Pusher {
    /// The push partners of the profiles, with their keys read; None when there are none.
    pub fn new(journal: Arc<dyn Journal>, profiles: &Profiles, data_dir: &Path, policy: RetryPolicy, poll: Duration) -> anyhow::Result<Option<Pusher>> {
        let mut targets = Vec::new();
        for p in &profiles.partners {
            let Some(push) = p.profile.transport.sftp.as_ref().and_then(|s| s.push.as_ref()) else { continue };
            let host_keys = push
                .host_keys
                .iter()
                .map(|k| PublicKey::from_openssh(k.trim()).map_err(|e| anyhow::anyhow!("{}: push.host_keys: {e}", p.file.path)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let key = PrivateKey::read_openssh_file(&push.key_file).map_err(|e| anyhow::anyhow!("{}: push.key_file {}: {e}", p.file.path, push.key_file.display()))?;
            targets.push(Target {
                partner: p.profile.code.clone(),
                host: push.host.clone(),
                port: push.port,
                user: push.user.clone(),
                host_keys,
                key: Arc::new(key),
                dir: push.dir.clone(),
            });
        }
        if targets.is_empty() {
            return Ok(None);
        }
        Ok(Some(Pusher { journal, targets, outbox: data_dir.join("outbox"), archive: data_dir.join("archive"), policy, poll }))
    }

    /// Pushes until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = super::Backoff::default();
        loop {
            for t in &self.targets {
                if !backoff.ready(&t.partner) {
                    continue;
                }
                let files = super::outbox_files(&self.outbox.join(&t.partner));
                if files.is_empty() {
                    continue;
                }
                match self.push(t, &files).await {
                    Ok(()) => backoff.succeeded(&t.partner),
                    Err(e) => {
                        let (n, wait) = backoff.failed(&t.partner, &self.policy);
                        tracing::warn!(partner = %t.partner, attempt = n, retry_in_ms = wait.as_millis() as u64, "SFTP push to {}:{} failed: {e:#}", t.host, t.port);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One connection: every file pushed, or the first failure (recorded for every file not pushed).
    async fn push(&self, t: &Target, files: &[String]) -> anyhow::Result<()> {
        let started = Instant::now();
        let result = async {
            let sftp = connect(t).await?;
            for name in files {
                let local = self.outbox.join(&t.partner).join(name);
                let bytes = tokio::fs::read(&local).await?;
                let (part, fin) = (remote_path(&t.dir, &format!("{name}.part")), remote_path(&t.dir, name));
                let mut f = sftp.create(part.clone()).await.map_err(|e| anyhow::anyhow!("create {part}: {e}"))?;
                f.write_all(&bytes).await.map_err(|e| anyhow::anyhow!("write {part}: {e}"))?;
                f.shutdown().await.map_err(|e| anyhow::anyhow!("close {part}: {e}"))?;
                // SFTP v3 rename does not replace: a file of the same name (sent before, its answer lost) goes first.
                let _ = sftp.remove_file(fin.clone()).await;
                sftp.rename(part.clone(), fin.clone()).await.map_err(|e| anyhow::anyhow!("rename {part} to {fin}: {e}"))?;
                let archive = self.archive.join(&t.partner);
                tokio::fs::create_dir_all(&archive).await?;
                tokio::fs::rename(&local, archive.join(name)).await?;
                self.note(t, name, State::Delivered, format!("pushed to {} ({} bytes, {} ms)", t.url(name), bytes.len(), started.elapsed().as_millis()));
                tracing::info!(partner = %t.partner, file = %name, to = %t.url(name), "pushed over SFTP");
            }
            let _ = sftp.close().await;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = &result {
            for name in files.iter().filter(|n| self.outbox.join(&t.partner).join(n).exists()) {
                self.note(t, name, State::Failed, format!("push to {} failed: {e:#}", t.url(name)));
            }
        }
        result
    }

    fn note(&self, t: &Target, name: &str, state: State, cause: String) {
        super::note_outbound(&*self.journal, &t.partner, name, state, cause);
    }
}

/// Checks the server's key against the pinned ones, and says which key it was when it is none of them.
struct Pinned {
    keys: Vec<PublicKey>,
    seen: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else { return Ok(false) };
        let ok = self.keys.iter().any(|k| k.key_data() == key.key_data());
        if !ok {
            *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.fingerprint(HashAlg::Sha256).to_string());
        }
        Ok(ok)
    }
}

async fn connect(t: &Target) -> anyhow::Result<russh_sftp::client::SftpSession> {
    let config = Arc::new(russh::client::Config { inactivity_timeout: Some(Duration::from_secs(60)), ..Default::default() });
    let seen = Arc::new(Mutex::new(None));
    let handler = Pinned { keys: t.host_keys.clone(), seen: seen.clone() };
    let connecting = russh::client::connect(config, (t.host.as_str(), t.port), handler);
    let mut session = match tokio::time::timeout(Duration::from_secs(20), connecting).await {
        Err(_) => anyhow::bail!("no SSH connection within 20 s"),
        Ok(Err(e)) => match seen.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(fp) => anyhow::bail!("the server's host key {fp} is not one the profile pins (push.host_keys): refusing to send"),
            None => anyhow::bail!("SSH connection: {e}"),
        },
        Ok(Ok(s)) => s,
    };
    let hash = if t.key.algorithm().is_rsa() { session.best_supported_rsa_hash().await?.flatten() } else { None };
    let auth = session.authenticate_publickey(t.user.clone(), PrivateKeyWithHashAlg::new(t.key.clone(), hash)).await?;
    if !auth.success() {
        anyhow::bail!("the server refused our key {} for user {}", t.key.public_key().fingerprint(HashAlg::Sha256), t.user);
    }
    let channel = session.channel_open_session().await?;
    channel.request_subsystem(true, "sftp").await?;
    Ok(russh_sftp::client::SftpSession::new(channel.into_stream()).await?)
}
