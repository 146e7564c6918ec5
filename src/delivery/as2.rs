//! Delivery to partners over AS2 (`[transport.as2.send]` in the profile).
//!
//! What the pipeline puts in such a partner's outbox (acknowledgments, outbound documents) is sent,
//! oldest name first, as an AS2 message: compressed, signed and encrypted as the profile says. A
//! synchronous MDN is read from the response; its signature is verified with the partner's
//! certificates and its `Received-Content-MIC` compared with ours. A file counts as delivered only
//! on a `processed` MDN with the right MIC (or, when no MDN is asked for, an HTTP 2xx): it then moves
//! to `archive/`, and the MDN is kept in the journal as evidence (`as2-out:PARTNER:MESSAGE-ID`).
//! Anything else (no answer, HTTP error, negative MDN, bad signature, wrong MIC) is recorded as an
//! event under `outbound:PARTNER/FILE`, alerted by email when notices are on, and tried again with
//! backoff. With `mdn = "async"` the MDN is asked to be posted to our AS2 URL (`as2.public_url`):
//! the file counts as sent once the partner's server took it (HTTP 2xx), an `as2-wait:MESSAGE-ID`
//! entry waits for the MDN, which the listener hands to [`take_async_mdn`]; an MDN that has not come
//! within `mdn_within_minutes` is alerted as overdue.

use super::email::{Notice, NoticeKind};
use super::RetryPolicy;
use crate::as2::message::{self, Protect};
use crate::as2::smime::{self, Cipher, DigestAlg, Identity};
use crate::journal::{self, Event, Journal, State};
use crate::profiles::Profiles;
use cms::cert::x509::Certificate;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Target {
    partner: String,
    as2_id: String,
    url: String,
    certs: Vec<Certificate>,
    protect: Protect,
    mdn: Mdn,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mdn {
    None,
    Sync { signed: bool },
    Async { signed: bool, within: Duration },
}

/// A sent message whose asynchronous MDN has not come yet (`as2-wait:MESSAGE-ID` in the journal).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct AwaitedMdn {
    pub partner: String,
    pub file: String,
    pub message_id: String,
    pub mic: String,
    pub signed: bool,
    pub sent_at: chrono::DateTime<chrono::Utc>,
    pub due: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub overdue_alerted: bool,
}

/// Sends every AS2 partner's outbox.
pub struct As2Sender {
    journal: Arc<dyn Journal>,
    us: Arc<Identity>,
    our_id: String,
    /// Where partners post asynchronous MDNs.
    public_url: String,
    targets: Vec<Target>,
    outbox: PathBuf,
    archive: PathBuf,
    policy: RetryPolicy,
    poll: Duration,
    client: reqwest::Client,
    notices: Option<tokio::sync::mpsc::UnboundedSender<Notice>>,
}

impl As2Sender {
    /// The partners with `[transport.as2.send]`; None when there are none.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        journal: Arc<dyn Journal>,
        profiles: &Profiles,
        us: Arc<Identity>,
        our_id: &str,
        public_url: &str,
        data_dir: &Path,
        policy: RetryPolicy,
        poll: Duration,
        notices: Option<tokio::sync::mpsc::UnboundedSender<Notice>>,
    ) -> anyhow::Result<Option<As2Sender>> {
        let mut targets = Vec::new();
        for p in &profiles.partners {
            let Some(t) = &p.profile.transport.as2 else { continue };
            let Some(send) = &t.send else { continue };
            let at = |what: &str| format!("{}: transport.as2.send.{what}", p.file.path);
            let sign = match send.sign.as_str() {
                "none" => None,
                s => Some(DigestAlg::from_name(s).ok_or_else(|| anyhow::anyhow!("{}: {s:?} (sha1, sha256, sha384, sha512 or none)", at("sign")))?),
            };
            let encrypt = match send.encrypt.as_str() {
                "none" => None,
                s => Some(Cipher::from_name(s).ok_or_else(|| anyhow::anyhow!("{}: {s:?} (aes128-cbc, aes192-cbc, aes256-cbc, 3des or none)", at("encrypt")))?),
            };
            let mdn = match send.mdn.as_str() {
                "none" => Mdn::None,
                "sync" => Mdn::Sync { signed: send.signed_mdn },
                "async" => Mdn::Async { signed: send.signed_mdn, within: Duration::from_secs(send.mdn_within_minutes * 60) },
                m => anyhow::bail!("{}: {m:?} (sync, async or none)", at("mdn")),
            };
            let base = Path::new(&*p.file.path).parent().map(Path::to_path_buf).unwrap_or_default();
            let mut certs = Vec::new();
            for f in &t.certificates {
                let f = base.join(f);
                let bytes = std::fs::read(&f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                certs.extend(smime::load_certificates(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?);
            }
            if certs.is_empty() && (encrypt.is_some() || matches!(mdn, Mdn::Sync { signed: true } | Mdn::Async { signed: true, .. })) {
                anyhow::bail!("{}: transport.as2.certificates is empty: nothing to encrypt to or to verify MDNs with", p.file.path);
            }
            targets.push(Target { partner: p.profile.code.clone(), as2_id: t.id.clone(), url: send.url.clone(), certs, protect: Protect { sign, encrypt, compress: send.compress }, mdn });
        }
        if targets.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).connect_timeout(Duration::from_secs(10)).build()?;
        Ok(Some(As2Sender {
            journal,
            us,
            our_id: our_id.to_string(),
            public_url: public_url.to_string(),
            targets,
            outbox: data_dir.join("outbox"),
            archive: data_dir.join("archive"),
            policy,
            poll,
            client,
            notices,
        }))
    }

    /// Sends until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = super::Backoff::default();
        loop {
            for t in &self.targets {
                if !backoff.ready(&t.partner) {
                    continue;
                }
                for name in super::outbox_files(&self.outbox.join(&t.partner)) {
                    match self.send(t, &name).await {
                        Ok(()) => backoff.succeeded(&t.partner),
                        Err(e) => {
                            let (n, wait) = backoff.failed(&t.partner, &self.policy);
                            tracing::warn!(partner = %t.partner, file = %name, attempt = n, retry_in_ms = wait.as_millis() as u64, "AS2 send failed: {e:#}");
                            self.note(t, &name, State::Failed, format!("AS2 send to {} failed (try {n}): {e:#}", t.url));
                            if let Some(tx) = &self.notices {
                                let _ = tx.send(Notice {
                                    at: journal::now(),
                                    partner: t.partner.clone(),
                                    kind: NoticeKind::Transport,
                                    subject: format!("AS2 delivery of {name} failed"),
                                    text: format!("{e:#}"),
                                    link: format!("outbox file {name}; it is tried again"),
                                });
                            }
                            break;
                        }
                    }
                }
            }
            self.overdue();
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
        }
    }

    /// Alerts (once each) the asynchronous MDNs that are overdue.
    fn overdue(&self) {
        let Ok(waits) = self.journal.receipts("as2-wait:") else { return };
        let now = journal::now();
        for (key, bytes) in waits {
            let Ok(mut w) = serde_json::from_slice::<AwaitedMdn>(&bytes) else { continue };
            if w.overdue_alerted || w.due > now {
                continue;
            }
            tracing::warn!(partner = %w.partner, file = %w.file, message_id = %w.message_id, due = %w.due, "asynchronous MDN overdue");
            let e = Event { at: now, subject: format!("outbound:{}/{}", w.partner, w.file), state: State::Failed, cause: format!("the asynchronous MDN for <{}> is overdue (due {})", w.message_id, w.due) };
            let _ = self.journal.record(&e);
            if let Some(tx) = &self.notices {
                let _ = tx.send(Notice {
                    at: now,
                    partner: w.partner.clone(),
                    kind: NoticeKind::Transport,
                    subject: format!("AS2 MDN overdue for {}", w.file),
                    text: format!("sent as <{}> at {}; no MDN by {}", w.message_id, w.sent_at, w.due),
                    link: format!("outbound:{}/{}", w.partner, w.file),
                });
            }
            w.overdue_alerted = true;
            if let Ok(b) = serde_json::to_vec(&w) {
                let _ = self.journal.put_receipt(&key, &b);
            }
        }
    }

    async fn send(&self, t: &Target, name: &str) -> anyhow::Result<()> {
        let local = self.outbox.join(&t.partner).join(name);
        let payload = tokio::fs::read(&local).await?;
        let content_type = match payload.trim_ascii_start() {
            b if b.starts_with(b"ISA") => "application/edi-x12",
            b if b.starts_with(b"UNA") || b.starts_with(b"UNB") => "application/edifact",
            _ => "application/edi-consent",
        };
        // Encrypt to the partner's valid certificate that lasts longest (rollover: the new one wins).
        let to = t.certs.iter().filter(|c| smime::valid_now(c)).max_by_key(|c| smime::not_after(c)).cloned();
        if to.is_none() && t.protect.encrypt.is_some() {
            anyhow::bail!("none of the partner's {} certificate(s) is valid now: nothing to encrypt to", t.certs.len());
        }
        let (us, protect) = (self.us.clone(), t.protect);
        let (payload2, name2) = (payload.clone(), name.to_string());
        let built = tokio::task::spawn_blocking(move || match to {
            Some(cert) => message::build(&payload2, content_type, &name2, &us, &cert, protect),
            // Not encrypted: the certificate is not used.
            None => message::build(&payload2, content_type, &name2, &us, &us.cert, protect),
        })
        .await??;
        let message_id = format!("{}-{:016x}@{}", journal::now().timestamp_millis(), fastrand::u64(..), self.our_id);
        let mut req = self
            .client
            .post(&t.url)
            .header("AS2-Version", "1.2")
            .header("AS2-From", crate::as2::quote_name(&self.our_id))
            .header("AS2-To", crate::as2::quote_name(&t.as2_id))
            .header("Message-ID", format!("<{message_id}>"))
            .header("MIME-Version", "1.0")
            .header("Subject", format!("{name} from {}", self.our_id))
            .body(built.body);
        for (k, v) in &built.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Mdn::Sync { signed } | Mdn::Async { signed, .. } = t.mdn {
            req = req.header("Disposition-Notification-To", format!("edigate@{}", self.our_id));
            if signed {
                let alg = t.protect.sign.unwrap_or(DigestAlg::Sha256);
                req = req.header("Disposition-Notification-Options", format!("signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, {}", alg.name()));
            }
        }
        if let Mdn::Async { .. } = t.mdn {
            req = req.header("Receipt-Delivery-Option", self.public_url.as_str());
        }
        let started = Instant::now();
        let resp = req.send().await?;
        let status = resp.status();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = resp.bytes().await?;
        if !status.is_success() {
            anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
        }
        let evidence = match t.mdn {
            Mdn::None => format!("HTTP {status}, no MDN asked for"),
            Mdn::Async { signed, within } => {
                let now = journal::now();
                let wait = AwaitedMdn {
                    partner: t.partner.clone(),
                    file: name.to_string(),
                    message_id: message_id.clone(),
                    mic: built.mic.base64.clone(),
                    signed,
                    sent_at: now,
                    due: now + chrono::Duration::from_std(within).unwrap_or_default(),
                    overdue_alerted: false,
                };
                self.journal.put_receipt(&format!("as2-wait:{message_id}"), &serde_json::to_vec(&wait)?)?;
                format!("HTTP {status}; the asynchronous MDN is awaited at {} until {}", self.public_url, wait.due)
            }
            Mdn::Sync { signed } => {
                let report = message::read_mdn(&ct, &body, &t.certs, signed).map_err(|f| anyhow::anyhow!("the MDN does not hold: {f}"))?;
                // Kept whatever it says: it is the partner's word.
                let key = format!("as2-out:{}:{message_id}", t.partner);
                self.journal.put_receipt(&key, &[format!("Content-Type: {ct}\r\n\r\n").into_bytes(), body.to_vec()].concat())?;
                if !report.processed {
                    anyhow::bail!("negative MDN: {}", report.disposition);
                }
                match &report.mic {
                    Some((mic, _)) if *mic == built.mic.base64 => {}
                    Some((mic, alg)) => anyhow::bail!("the MDN's MIC {mic} ({alg}) is not ours ({} {}): the partner did not get what we sent", built.mic.base64, built.mic.alg.name()),
                    None if t.protect.sign.is_some() => anyhow::bail!("the MDN has no Received-Content-MIC"),
                    None => {}
                }
                format!("MDN processed{}, MIC {} matches; MDN kept as {key}", if report.signed { " (signature verified)" } else { "" }, built.mic.base64)
            }
        };
        let archive = self.archive.join(&t.partner);
        tokio::fs::create_dir_all(&archive).await?;
        tokio::fs::rename(&local, archive.join(name)).await?;
        // With an asynchronous MDN, delivered is what the MDN will say: until then, sent and waiting.
        let state = if matches!(t.mdn, Mdn::Async { .. }) { State::Queued } else { State::Delivered };
        self.note(t, name, state, format!("sent over AS2 to {} as <{message_id}> in {} ms: {evidence}", t.url, started.elapsed().as_millis()));
        tracing::info!(partner = %t.partner, file = %name, message_id = %message_id, "sent over AS2");
        Ok(())
    }

    fn note(&self, t: &Target, name: &str, state: State, cause: String) {
        super::note_outbound(&*self.journal, &t.partner, name, state, cause);
    }
}

/// An asynchronous MDN posted to our listener by `partner`: checked against the message that awaits
/// it (signature when it was asked signed, MIC), kept, and recorded (delivered, or failed with the
/// reason). Returns what was recorded; an error when it answers nothing we sent (then nothing is kept).
pub fn take_async_mdn(journal: &dyn Journal, partner: &str, certs: &[Certificate], content_type: &str, body: &[u8]) -> Result<String, String> {
    let report = message::read_mdn(content_type, body, certs, false).map_err(|f| format!("not a valid MDN: {f}"))?;
    let original = report.original_message_id.clone().ok_or("the MDN names no Original-Message-ID")?;
    let key = format!("as2-wait:{original}");
    let wait: AwaitedMdn = match journal.receipt(&key).map_err(|e| e.to_string())? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| e.to_string())?,
        None => return Err(format!("no message of ours awaits an MDN for <{original}>")),
    };
    if wait.partner != partner {
        return Err(format!("the MDN for <{original}> comes from {partner}, not {}", wait.partner));
    }
    journal.put_receipt(&format!("as2-out:{partner}:{original}"), &[format!("Content-Type: {content_type}\r\n\r\n").into_bytes(), body.to_vec()].concat()).map_err(|e| e.to_string())?;
    let subject = format!("outbound:{partner}/{}", wait.file);
    let verdict = if wait.signed && !report.signed {
        Err("a signed MDN was asked for; this one is not signed".to_string())
    } else if !report.processed {
        Err(format!("negative MDN: {}", report.disposition))
    } else if report.mic.as_ref().is_some_and(|(m, _)| *m != wait.mic) {
        Err(format!("the MDN's MIC {} is not ours ({})", report.mic.as_ref().map(|m| m.0.as_str()).unwrap_or_default(), wait.mic))
    } else {
        Ok(format!("asynchronous MDN processed{}, MIC {} matches; MDN kept as as2-out:{partner}:{original}", if report.signed { " (signature verified)" } else { "" }, wait.mic))
    };
    let (state, cause) = match &verdict {
        Ok(c) => (State::Delivered, c.clone()),
        Err(c) => (State::Failed, c.clone()),
    };
    if verdict.is_err() {
        tracing::warn!(partner, file = %wait.file, message_id = %original, "asynchronous MDN does not confirm delivery: {cause}");
    }
    journal.record(&Event { at: journal::now(), subject, state, cause: cause.clone() }).map_err(|e| e.to_string())?;
    journal.remove_receipt(&key).map_err(|e| e.to_string())?;
    Ok(cause)
}
