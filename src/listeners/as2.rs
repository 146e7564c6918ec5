//! The AS2 listener (RFC 4130): `POST {as2.path}` over HTTP or HTTPS.
//!
//! The partner is the profile whose `[transport.as2] id` is the message's `AS2-From`, and it is who
//! it says only if the signature verifies with one of that profile's certificates. `AS2-To` must be
//! our id. The message is unwrapped ([`crate::as2::message::unwrap`]), its payload handed to the
//! pipeline, and the MDN says `processed` only once the payload is durable in the journal; otherwise
//! `processed/error: decryption-failed | authentication-failed | integrity-check-failed |
//! insufficient-message-security | unexpected-processing-error`. Every message within the size and
//! time limits is kept as received (the raw bytes with their headers) and so is every MDN we give; the
//! same `Message-ID` again gets the same MDN and is not taken twice. Unknown `AS2-From` or `AS2-To`
//! get HTTP 403 with the reason (there is no one to sign an MDN for, or it is not for us); their raw
//! bytes are kept too, with an event `as2:refused:FROM:MESSAGE-ID`.

use crate::as2::message::{self, Expect, FailureKind, MdnFields};
use crate::as2::smime::{self, DigestAlg, Identity};
use crate::config::As2Config;
use crate::journal::{self, Event, State};
use crate::pipeline::{IntakeError, Pipeline, Upload};
use axum::body::Body;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use cms::cert::x509::Certificate;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A partner as an AS2 peer.
struct Peer {
    partner: String,
    certs: Vec<Certificate>,
    require_signed: bool,
    require_encrypted: bool,
}

pub struct As2 {
    pipeline: Arc<Pipeline>,
    us: Arc<Identity>,
    id: String,
    peers: HashMap<String, Peer>,
    max_body: usize,
    body_timeout: Duration,
    client: reqwest::Client,
}

impl As2 {
    /// Our identity and the partners' certificates, read now: a file that does not load stops the start.
    pub fn new(pipeline: Arc<Pipeline>, config: &As2Config) -> anyhow::Result<As2> {
        let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()));
        let key_bytes = read(&config.key_file)?;
        let key_err = |e: smime::SmimeError| anyhow::anyhow!("as2.key_file {}: {e}", config.key_file.display());
        let (key, from_p12) = if key_bytes.starts_with(b"-----") {
            (smime::load_private_key(&key_bytes).map_err(key_err)?, vec![])
        } else {
            let password = config.key_password.as_ref().map(|s| s.load()).transpose()?;
            let (key, certs) = smime::load_pkcs12(&key_bytes, password.as_ref().map_or("", |p| p.expose())).map_err(key_err)?;
            (key.ok_or_else(|| anyhow::anyhow!("as2.key_file {}: no private key in it", config.key_file.display()))?, certs)
        };
        // The certificate of that key: from the PKCS#12 file, else cert_file.
        let public = rsa::RsaPublicKey::from(&key);
        let candidates = if from_p12.is_empty() { smime::load_certificates(&read(&config.cert_file)?).map_err(|e| anyhow::anyhow!("as2.cert_file {}: {e}", config.cert_file.display()))? } else { from_p12 };
        let cert = candidates
            .into_iter()
            .find(|c| smime::public_key(c).is_ok_and(|k| k == public))
            .ok_or_else(|| anyhow::anyhow!("as2: no certificate for the private key of {} (cert_file {})", config.key_file.display(), config.cert_file.display()))?;
        if !smime::valid_now(&cert) {
            tracing::error!(certificate = %smime::describe(&cert), "our AS2 certificate is not valid now: partners will refuse our MDNs and messages");
        }
        let mut peers = HashMap::new();
        for p in &pipeline.profiles.partners {
            let Some(t) = &p.profile.transport.as2 else { continue };
            let mut certs = Vec::new();
            // Relative certificate paths are relative to the profile's directory.
            let base = std::path::Path::new(&*p.file.path).parent().map(|d| d.to_path_buf()).unwrap_or_default();
            for f in &t.certificates {
                let f = &base.join(f);
                certs.extend(smime::load_certificates(&read(f)?).map_err(|e| anyhow::anyhow!("{}: transport.as2.certificates {}: {e}", p.file.path, f.display()))?);
            }
            peers.insert(t.id.clone(), Peer { partner: p.profile.code.clone(), certs, require_signed: t.require_signed, require_encrypted: t.require_encrypted });
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(As2 {
            pipeline,
            us: Arc::new(Identity::new(key, cert)),
            id: config.id.clone(),
            peers,
            max_body: config.max_body_bytes,
            body_timeout: Duration::from_millis(config.body_timeout_ms),
            client,
        })
    }

    pub fn routes(self: Arc<Self>, path: &str) -> Router {
        Router::new().route(path, post(receive)).with_state(self)
    }

    /// Every certificate in use, ours first, for the operator API and the metrics.
    pub fn certificates(&self) -> Vec<CertInfo> {
        let mut out = vec![CertInfo::of("us", &self.id, &self.us.cert)];
        let mut peers: Vec<(&String, &Peer)> = self.peers.iter().collect();
        peers.sort_by_key(|(id, _)| *id);
        for (id, p) in peers {
            out.extend(p.certs.iter().map(|c| CertInfo::of(&p.partner, id, c)));
        }
        out
    }

    /// Our identity (the sender signs with it too).
    pub fn identity(&self) -> Arc<Identity> {
        self.us.clone()
    }

    pub fn partners(&self) -> usize {
        self.peers.len()
    }
}

fn refuse(status: StatusCode, why: String) -> Response {
    tracing::warn!("AS2 message refused: {why}");
    (status, [("content-type", "text/plain; charset=utf-8")], why).into_response()
}

async fn receive(AxState(s): AxState<Arc<As2>>, headers: HeaderMap, body: Body) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(from), Some(to), Some(message_id)) = (h("as2-from").map(|v| crate::as2::unquote_name(&v)), h("as2-to").map(|v| crate::as2::unquote_name(&v)), h("message-id")) else {
        return refuse(StatusCode::BAD_REQUEST, "not an AS2 message: AS2-From, AS2-To and Message-ID are required".into());
    };
    let message_id = message_id.trim().trim_matches(['<', '>']).to_string();
    if message_id.is_empty() || message_id.len() > 998 {
        return refuse(StatusCode::BAD_REQUEST, "Message-ID is empty or too long".into());
    }
    if h("content-length").and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > s.max_body as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("the message is over the limit of {} bytes; nothing was kept", s.max_body));
    }
    let bytes = match tokio::time::timeout(s.body_timeout, axum::body::to_bytes(body, s.max_body)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) if format!("{e:?}").contains("LengthLimit") => return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("the message is over the limit of {} bytes; nothing was kept", s.max_body)),
        Ok(Err(e)) => return refuse(StatusCode::BAD_REQUEST, format!("the body broke off ({e}); nothing was kept")),
        Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {} s; nothing was kept", s.body_timeout.as_secs())),
    };
    let journal = s.pipeline.journal.clone();

    // The message as received, with its headers (credentials a proxy may add left out), is kept
    // whatever it holds and whoever sent it.
    let mut raw = Vec::with_capacity(bytes.len() + 1024);
    for (k, v) in headers.iter().filter(|(k, _)| !matches!(k.as_str(), "authorization" | "proxy-authorization" | "cookie")) {
        raw.extend_from_slice(k.as_str().as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(v.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&bytes);
    let j = journal.clone();
    let raw_sha = match tokio::task::spawn_blocking(move || j.put_raw(&raw)).await {
        Ok(Ok(sha)) => sha,
        Ok(Err(e)) => return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the message could not be kept ({e}); send it again")),
        Err(_) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "the message could not be kept; send it again".into()),
    };

    let stranger = if to != s.id {
        Some(format!("AS2-To {to:?} is not this gateway (it is {:?})", s.id))
    } else if !s.peers.contains_key(&from) {
        Some(format!("AS2-From {from:?} is no partner of this gateway (no profile has it as transport.as2.id)"))
    } else {
        None
    };
    if let Some(why) = stranger {
        let cause = format!("refused: {why}; raw message {raw_sha}");
        let _ = journal.record(&Event { at: journal::now(), subject: format!("as2:refused:{from}:{message_id}"), state: State::Rejected, cause });
        return refuse(StatusCode::FORBIDDEN, format!("{why}; the message is kept as {raw_sha}"));
    }
    let peer = &s.peers[&from];
    let key = format!("as2:{}:{message_id}", peer.partner);

    // An asynchronous MDN for something we sent.
    let ct = h("content-type").unwrap_or_default();
    let lower = ct.to_ascii_lowercase();
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    if lower.starts_with("multipart/report") || (lower.starts_with("multipart/signed") && head.contains("multipart/report")) {
        let (j, partner, certs, body) = (journal.clone(), peer.partner.clone(), peer.certs.clone(), bytes.to_vec());
        let taken = tokio::task::spawn_blocking(move || crate::delivery::as2::take_async_mdn(&*j, &partner, &certs, &ct, &body)).await;
        return match taken {
            Ok(Ok(what)) => {
                tracing::info!(partner = %peer.partner, message_id = %message_id, "asynchronous MDN taken: {what}");
                (StatusCode::OK, what).into_response()
            }
            Ok(Err(why)) => refuse(StatusCode::BAD_REQUEST, format!("MDN from {}: {why}", peer.partner)),
            Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error while reading the MDN".into()),
        };
    }

    // The same Message-ID again: the same MDN, nothing taken twice.
    match journal.receipt(&key) {
        Ok(Some(mdn)) => {
            tracing::info!(partner = %peer.partner, message_id = %message_id, "AS2 message seen before: its MDN again");
            return mdn_response(&s, &from, &mdn, &headers).await;
        }
        Ok(None) => {}
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the journal cannot be read ({e}); send the message again")),
    }


    // The outermost entity: the HTTP Content-Type (and transfer encoding) over the body.
    let mut entity = format!("Content-Type: {}\r\n", h("content-type").unwrap_or_default()).into_bytes();
    if let Some(cte) = h("content-transfer-encoding") {
        entity.extend_from_slice(format!("Content-Transfer-Encoding: {cte}\r\n").as_bytes());
    }
    entity.extend_from_slice(b"\r\n");
    entity.extend_from_slice(&bytes);
    let options = h("disposition-notification-options").unwrap_or_default().to_ascii_lowercase();
    let mic_alg = options
        .split(';')
        .find_map(|o| o.trim().strip_prefix("signed-receipt-micalg").map(|v| v.to_string()))
        .and_then(|v| v.split([',', '=']).skip(1).map(str::trim).find_map(DigestAlg::from_name));
    let expect = Expect { signed: peer.require_signed, encrypted: peer.require_encrypted, mic_alg, max_size: s.pipeline.max_size };
    let (us, certs) = (s.us.clone(), peer.certs.clone());
    let unwrapped = tokio::task::spawn_blocking(move || message::unwrap(&entity, &us, &certs, &expect)).await.unwrap_or_else(|_| {
        Err(message::Failure { kind: FailureKind::UnexpectedProcessingError, detail: "internal error while unwrapping".into() })
    });

    let (outcome, mic, text, intake) = match unwrapped {
        Ok(got) => {
            let up = Upload {
                partner: peer.partner.clone(),
                channel: "as2",
                filename: got.filename.clone().map(|f| f.chars().filter(|c| !c.is_control()).take(255).collect()),
                bytes: got.payload,
                correlation_id: None,
                once_key: Some(format!("as2:{message_id}")),
            };
            match s.pipeline.receive(up).await {
                Ok(rec) => {
                    tracing::info!(partner = %peer.partner, message_id = %message_id, intake = rec.id, signed = ?got.signed, encrypted = got.encrypted, compressed = got.compressed, "AS2 message received");
                    let text = format!("The AS2 message {message_id} was received and kept (intake {}). Its content will be acknowledged by its own functional acknowledgment.", rec.id);
                    (Ok(()), Some(got.mic), text, Some(rec.id))
                }
                Err(e @ IntakeError::TooLarge { .. }) => (Err(FailureKind::UnexpectedProcessingError), Some(got.mic), format!("The message was not accepted: {e}."), None),
                Err(e) => {
                    tracing::error!(partner = %peer.partner, message_id = %message_id, "AS2 payload not kept: {e}");
                    (Err(FailureKind::UnexpectedProcessingError), Some(got.mic), format!("The message could not be kept ({e}); send it again."), None)
                }
            }
        }
        Err(f) => {
            tracing::warn!(partner = %peer.partner, message_id = %message_id, "AS2 message refused: {f}");
            (Err(f.kind), None, format!("The AS2 message {message_id} was not accepted: {f}."), None)
        }
    };
    let cause = match (&outcome, intake) {
        (Ok(()), Some(i)) => format!("received as intake {i}; raw message {raw_sha}"),
        (Err(k), _) => format!("refused ({}): {text}; raw message {raw_sha}", k.word()),
        _ => format!("raw message {raw_sha}"),
    };
    let _ = journal.record(&Event { at: journal::now(), subject: key.clone(), state: if outcome.is_ok() { State::Received } else { State::Rejected }, cause });

    // The MDN: signed when asked, kept, and given (in this response, or posted where asked).
    let signed = options.contains("signed-receipt-protocol") && options.contains("pkcs7-signature");
    let fields = MdnFields { us: &s.id, original_message_id: &message_id, outcome, mic: mic.as_ref(), text };
    let mdn = match message::render_mdn(&fields, signed.then(|| (&*s.us, mic_alg.unwrap_or(DigestAlg::Sha256)))) {
        Ok((ct, body)) => [format!("Content-Type: {ct}\r\n\r\n").into_bytes(), body].concat(),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("the MDN could not be made: {e}")),
    };
    // Kept before it is given: the same message again gets this very MDN.
    // (Made durable by the group commit that serves the intake too: one sync for many messages.)
    let kept = match journal.put_receipt(&key, &mdn) {
        Ok(()) => s.pipeline.commit.durable().await,
        Err(e) => Err(e),
    };
    if let Err(e) = kept {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the MDN could not be kept ({e}); send the message again"));
    }
    if let Some(id) = intake {
        let pipeline = s.pipeline.clone();
        let partner = peer.partner.clone();
        tokio::spawn(async move {
            if let Err(e) = pipeline.process(id, &partner).await {
                tracing::error!(intake = id, "processing failed, will be retried at the next start: {e}");
            }
        });
    }
    mdn_response(&s, &from, &mdn, &headers).await
}

/// Gives an MDN: in the response (synchronous), or posted to `Receipt-Delivery-Option` (asynchronous,
/// the response then empty), or not at all when none was asked for.
async fn mdn_response(s: &As2, partner_id: &str, mdn: &[u8], request: &HeaderMap) -> Response {
    let Some((ct, body)) = crate::as2::mime::Entity::parse(mdn).ok().map(|e| (e.header("content-type").unwrap_or_default().to_string(), e.body.to_vec())) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "a kept MDN does not parse".into());
    };
    let wanted = request.contains_key("disposition-notification-to");
    let message_id = format!("<{}-{:016x}@edigate>", journal::now().timestamp_millis(), fastrand::u64(..));
    let headers = [
        ("as2-version".to_string(), "1.2".to_string()),
        ("as2-from".to_string(), crate::as2::quote_name(&s.id)),
        ("as2-to".to_string(), crate::as2::quote_name(partner_id)),
        ("message-id".to_string(), message_id),
        ("mime-version".to_string(), "1.0".to_string()),
        ("content-type".to_string(), ct),
    ];
    if !wanted {
        return StatusCode::OK.into_response();
    }
    if let Some(url) = request.get("receipt-delivery-option").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string()) {
        let client = s.client.clone();
        tokio::spawn(async move {
            let mut req = client.post(&url).body(body);
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => tracing::info!(url = %url, "asynchronous MDN delivered"),
                Ok(r) => tracing::warn!(url = %url, status = r.status().as_u16(), "asynchronous MDN refused"),
                Err(e) => tracing::warn!(url = %url, "asynchronous MDN not delivered: {e}"),
            }
        });
        return StatusCode::OK.into_response();
    }
    let mut r = Response::new(Body::from(body));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (axum::http::HeaderName::try_from(k), axum::http::HeaderValue::try_from(v)) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// A certificate as operators see it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CertInfo {
    /// `us`, or the partner's code.
    pub owner: String,
    pub as2_id: String,
    pub subject: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// Seconds since 1970 when it expires (for the metric).
    pub not_after_unix: u64,
}

impl CertInfo {
    fn of(owner: &str, as2_id: &str, c: &Certificate) -> CertInfo {
        let v = &c.tbs_certificate.validity;
        CertInfo {
            owner: owner.to_string(),
            as2_id: as2_id.to_string(),
            subject: c.tbs_certificate.subject.to_string(),
            serial: c.tbs_certificate.serial_number.to_string(),
            not_before: v.not_before.to_string(),
            not_after: v.not_after.to_string(),
            not_after_unix: v.not_after.to_unix_duration().as_secs(),
        }
    }

    /// Days until it expires (negative once expired).
    pub fn days_left(&self) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
        (self.not_after_unix as i64 - now).div_euclid(86_400)
    }
}

/// Logs every certificate that has expired or expires within `days`, now and then once a day.
pub async fn watch_expiry(certs: Vec<CertInfo>, days: u64, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        for c in &certs {
            let left = c.days_left();
            if left < 0 {
                tracing::error!(owner = %c.owner, as2_id = %c.as2_id, subject = %c.subject, serial = %c.serial, not_after = %c.not_after, "AS2 certificate has expired");
            } else if left <= days as i64 {
                tracing::warn!(owner = %c.owner, as2_id = %c.as2_id, subject = %c.subject, serial = %c.serial, not_after = %c.not_after, days_left = left, "AS2 certificate expires soon");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(86_400)) => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
    }
}
