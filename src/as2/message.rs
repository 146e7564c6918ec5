//! An inbound AS2 message unwrapped layer by layer (encryption, signature, compression, in whatever
//! order the partner applied them), and the MDN that answers it. No HTTP, no journal.

use super::mime::{split_multipart, ContentType, Entity, MimeError};
use super::smime::{self, DigestAlg, Identity, SmimeError};
use cms::cert::x509::Certificate;

/// What the profile asks of a partner's messages, and what the message asked of us.
pub struct Expect {
    pub signed: bool,
    pub encrypted: bool,
    /// `signed-receipt-micalg` of `Disposition-Notification-Options`.
    pub mic_alg: Option<DigestAlg>,
    /// Largest payload (after decompression).
    pub max_size: usize,
}

/// The MIC returned in `Received-Content-MIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mic {
    pub base64: String,
    pub alg: DigestAlg,
}

impl Mic {
    fn of(bytes: &[u8], alg: DigestAlg) -> Mic {
        use base64::Engine;
        Mic { base64: base64::engine::general_purpose::STANDARD.encode(alg.digest(bytes)), alg }
    }
}

/// The payload and what protected it.
#[derive(Debug)]
pub struct Received {
    pub payload: Vec<u8>,
    pub content_type: String,
    pub filename: Option<String>,
    pub encrypted: bool,
    pub signed: Option<DigestAlg>,
    pub compressed: bool,
    pub mic: Mic,
}

/// Why a message was not accepted: the MDN's error word, and the detail for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    DecryptionFailed,
    AuthenticationFailed,
    IntegrityCheckFailed,
    DecompressionFailed,
    InsufficientMessageSecurity,
    UnexpectedProcessingError,
}

impl FailureKind {
    /// The word after `processed/error:` (RFC 4130 section 7.4.3, RFC 5402).
    pub fn word(self) -> &'static str {
        match self {
            FailureKind::DecryptionFailed => "decryption-failed",
            FailureKind::AuthenticationFailed => "authentication-failed",
            FailureKind::IntegrityCheckFailed => "integrity-check-failed",
            FailureKind::DecompressionFailed => "decompression-failed",
            FailureKind::InsufficientMessageSecurity => "insufficient-message-security",
            FailureKind::UnexpectedProcessingError => "unexpected-processing-error",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.word(), self.detail)
    }
}

impl From<SmimeError> for Failure {
    fn from(e: SmimeError) -> Failure {
        let kind = match e {
            SmimeError::Decryption(_) => FailureKind::DecryptionFailed,
            SmimeError::Authentication(_) => FailureKind::AuthenticationFailed,
            SmimeError::Integrity => FailureKind::IntegrityCheckFailed,
            SmimeError::Decompression(_) => FailureKind::DecompressionFailed,
            SmimeError::Malformed(_) => FailureKind::UnexpectedProcessingError,
        };
        Failure { kind, detail: e.to_string() }
    }
}

impl From<MimeError> for Failure {
    fn from(e: MimeError) -> Failure {
        Failure { kind: FailureKind::UnexpectedProcessingError, detail: format!("MIME: {e}") }
    }
}

/// Unwraps a message: `entity` is the outermost MIME entity (the HTTP headers and body).
pub fn unwrap(entity: &[u8], us: &Identity, certs: &[Certificate], expect: &Expect) -> Result<Received, Failure> {
    let mut cur = entity.to_vec();
    let (mut encrypted, mut signed, mut compressed) = (false, None, false);
    let mut mic: Option<Mic> = None;
    let mic_alg = expect.mic_alg.unwrap_or(DigestAlg::Sha256);
    for _ in 0..8 {
        let e = Entity::parse(&cur)?;
        let ct = e.content_type();
        if ct.is("application/pkcs7-mime") || ct.is("application/x-pkcs7-mime") {
            let der = e.decoded().map_err(|e| Failure { kind: FailureKind::DecryptionFailed, detail: format!("the S/MIME body does not decode: {e}") })?;
            let compressed_layer = ct.param("smime-type").is_some_and(|t| t.eq_ignore_ascii_case("compressed-data"));
            if compressed_layer {
                cur = smime::decompress(&der, expect.max_size.saturating_add(64 * 1024))?;
                compressed = true;
            } else {
                cur = smime::decrypt(&der, us)?;
                encrypted = true;
                if Entity::parse(&cur).is_err() {
                    return Err(Failure { kind: FailureKind::DecryptionFailed, detail: "the decrypted content is no MIME entity (a wrong key or altered ciphertext)".into() });
                }
                // Unsigned and encrypted: the MIC is over the decrypted entity (RFC 4130 7.3.1).
                if signed.is_none() && mic.is_none() {
                    mic = Some(Mic::of(&cur, mic_alg));
                }
            }
            continue;
        }
        if ct.is("multipart/signed") {
            let boundary = ct.param("boundary").ok_or_else(|| MimeError::NoBoundary(String::new()))?;
            let parts = split_multipart(e.body, boundary)?;
            if parts.len() != 2 {
                return Err(MimeError::SignedParts(parts.len()).into());
            }
            // A signature that cannot even be read authenticates nothing.
            let unreadable = |e: MimeError| Failure { kind: FailureKind::AuthenticationFailed, detail: format!("the signature part does not decode: {e}") };
            let sig = Entity::parse(parts[1]).map_err(unreadable)?.decoded().map_err(unreadable)?;
            let alg = smime::verify_detached(parts[0], &sig, certs)?;
            // The MIC is over the signed part as it was sent: headers, blank line, body.
            mic = Some(Mic::of(parts[0], expect.mic_alg.unwrap_or(alg)));
            signed = Some(alg);
            cur = parts[0].to_vec();
            continue;
        }
        let payload = e.decoded()?;
        if payload.len() > expect.max_size {
            return Err(Failure { kind: FailureKind::UnexpectedProcessingError, detail: format!("payload of {} bytes is over the limit of {} bytes", payload.len(), expect.max_size) });
        }
        if expect.encrypted && !encrypted {
            return Err(Failure { kind: FailureKind::InsufficientMessageSecurity, detail: "the partner's profile requires encrypted messages; this one was not".into() });
        }
        if expect.signed && signed.is_none() {
            return Err(Failure { kind: FailureKind::InsufficientMessageSecurity, detail: "the partner's profile requires signed messages; this one was not".into() });
        }
        // Neither signed nor encrypted: the MIC is over the content alone.
        let mic = mic.unwrap_or_else(|| Mic::of(&payload, mic_alg));
        return Ok(Received { payload, content_type: ct.mime.clone(), filename: e.filename(), encrypted, signed, compressed, mic });
    }
    Err(Failure { kind: FailureKind::UnexpectedProcessingError, detail: "more than 8 nested S/MIME layers".into() })
}

/// What an MDN says.
pub struct MdnFields<'a> {
    /// Our AS2 id (`Original-Recipient`, `Final-Recipient`, `AS2-From`).
    pub us: &'a str,
    pub original_message_id: &'a str,
    pub outcome: Result<(), FailureKind>,
    pub mic: Option<&'a Mic>,
    /// The human-readable part.
    pub text: String,
}

/// An MDN as an HTTP body with its `Content-Type`: a `multipart/report`, inside a `multipart/signed`
/// when `sign` is given.
pub fn render_mdn(m: &MdnFields<'_>, sign: Option<(&Identity, DigestAlg)>) -> Result<(String, Vec<u8>), SmimeError> {
    let inner = boundary();
    let disposition = match m.outcome {
        Ok(()) => "automatic-action/MDN-sent-automatically; processed".to_string(),
        Err(k) => format!("automatic-action/MDN-sent-automatically; processed/error: {}", k.word()),
    };
    let mut report = format!(
        "--{inner}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}\r\n--{inner}\r\nContent-Type: message/disposition-notification\r\nContent-Transfer-Encoding: 7bit\r\n\r\nReporting-UA: edigate/{}\r\nOriginal-Recipient: rfc822; {us}\r\nFinal-Recipient: rfc822; {us}\r\nOriginal-Message-ID: <{}>\r\nDisposition: {disposition}\r\n",
        m.text.replace('\n', "\r\n").replace("\r\r\n", "\r\n"),
        env!("CARGO_PKG_VERSION"),
        m.original_message_id.trim_matches(['<', '>']),
        us = m.us,
    );
    if let Some(mic) = m.mic {
        report.push_str(&format!("Received-Content-MIC: {}, {}\r\n", mic.base64, mic.alg.name()));
    }
    report.push_str(&format!("\r\n--{inner}--\r\n"));
    let report_type = format!("multipart/report; report-type=disposition-notification; boundary=\"{inner}\"");
    let Some((us, alg)) = sign else { return Ok((report_type, report.into_bytes())) };
    let part = format!("Content-Type: {report_type}\r\n\r\n{report}");
    let sig = smime::sign_detached(part.as_bytes(), us, alg)?;
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    let outer = boundary();
    let body = format!(
        "--{outer}\r\n{part}\r\n--{outer}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n{}\r\n--{outer}--\r\n",
        lines.join("\r\n")
    );
    let ct = ContentType {
        mime: "multipart/signed".into(),
        params: vec![("protocol".into(), "application/pkcs7-signature".into()), ("micalg".into(), alg.name().into()), ("boundary".into(), outer)],
    };
    Ok((ct.to_string(), body.into_bytes()))
}

/// How to protect an outbound message.
#[derive(Clone, Copy, Debug)]
pub struct Protect {
    pub sign: Option<DigestAlg>,
    pub encrypt: Option<smime::Cipher>,
    pub compress: bool,
}

/// An outbound message: the top entity's headers (to send as HTTP headers), its body, and the MIC
/// the partner's MDN must return.
pub struct Outbound {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub mic: Mic,
}

/// Builds a message: compress, then sign, then encrypt (each as asked), as pyas2lib and most
/// implementations do.
pub fn build(payload: &[u8], content_type: &str, filename: &str, us: &Identity, to: &Certificate, p: Protect) -> Result<Outbound, SmimeError> {
    let name: String = filename.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
    let mut entity = [format!("Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n").into_bytes(), payload.to_vec()].concat();
    if p.compress {
        let der = smime::compress(&entity)?;
        entity = [b"Content-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\r\nContent-Transfer-Encoding: binary\r\nContent-Disposition: attachment; filename=\"smime.p7z\"\r\n\r\n".to_vec(), der].concat();
    }
    let mic = match p.sign {
        Some(alg) => {
            let mic = Mic::of(&entity, alg);
            use base64::Engine;
            let sig = base64::engine::general_purpose::STANDARD.encode(smime::sign_detached(&entity, us, alg)?);
            let lines: Vec<&str> = sig.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
            let b = boundary();
            let mut body = format!("--{b}\r\n").into_bytes();
            body.extend_from_slice(&entity);
            body.extend_from_slice(format!("\r\n--{b}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n{}\r\n--{b}--\r\n", lines.join("\r\n")).as_bytes());
            let ct = ContentType { mime: "multipart/signed".into(), params: vec![("protocol".into(), "application/pkcs7-signature".into()), ("micalg".into(), alg.name().into()), ("boundary".into(), b)] };
            entity = [format!("Content-Type: {ct}\r\n\r\n").into_bytes(), body].concat();
            mic
        }
        // Unsigned: over the content alone, or over the entity that is encrypted (RFC 4130 7.3.1).
        None if p.encrypt.is_some() => Mic::of(&entity, DigestAlg::Sha256),
        None => Mic::of(payload, DigestAlg::Sha256),
    };
    if let Some(c) = p.encrypt {
        let der = smime::encrypt(&entity, to, c)?;
        entity = [b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\nContent-Transfer-Encoding: binary\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n".to_vec(), der].concat();
    }
    let e = Entity::parse(&entity).map_err(|e| SmimeError::Malformed(e.to_string()))?;
    Ok(Outbound { headers: e.headers.clone(), body: e.body.to_vec(), mic })
}

/// What a partner's MDN says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MdnReport {
    pub original_message_id: Option<String>,
    /// The whole `Disposition` field.
    pub disposition: String,
    /// `processed` without error or failure.
    pub processed: bool,
    /// `Received-Content-MIC`: the digest (base64) and the algorithm's name as written.
    pub mic: Option<(String, String)>,
    /// The MDN was signed, and the signature verified with one of the partner's certificates.
    pub signed: bool,
}

/// Reads an MDN (HTTP `Content-Type` and body): its signature is checked when it has one, and
/// required when `must_be_signed`.
pub fn read_mdn(content_type: &str, body: &[u8], certs: &[Certificate], must_be_signed: bool) -> Result<MdnReport, Failure> {
    let mut entity = [format!("Content-Type: {content_type}\r\n\r\n").into_bytes(), body.to_vec()].concat();
    let mut signed = false;
    let ct = ContentType::parse(content_type);
    if ct.is("multipart/signed") {
        let boundary = ct.param("boundary").ok_or_else(|| MimeError::NoBoundary(String::new()))?;
        let parts = split_multipart(body, boundary)?;
        if parts.len() != 2 {
            return Err(MimeError::SignedParts(parts.len()).into());
        }
        let sig = Entity::parse(parts[1])?.decoded()?;
        smime::verify_detached(parts[0], &sig, certs)?;
        signed = true;
        entity = parts[0].to_vec();
    } else if must_be_signed {
        return Err(Failure { kind: FailureKind::InsufficientMessageSecurity, detail: format!("a signed MDN was asked for; this one is {}", ct.mime) });
    }
    let report = Entity::parse(&entity)?;
    let rct = report.content_type();
    if !rct.is("multipart/report") {
        return Err(Failure { kind: FailureKind::UnexpectedProcessingError, detail: format!("not an MDN: {}", rct.mime) });
    }
    let parts = split_multipart(report.body, rct.param("boundary").unwrap_or_default())?;
    let notification = parts
        .iter()
        .filter_map(|p| Entity::parse(p).ok())
        .find(|e| e.content_type().is("message/disposition-notification"))
        .ok_or_else(|| Failure { kind: FailureKind::UnexpectedProcessingError, detail: "the MDN has no message/disposition-notification part".into() })?;
    let body = notification.decoded()?;
    let fields = super::mime::parse_headers(&body);
    let field = |n: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let disposition = field("disposition").unwrap_or_default();
    let status = disposition.rsplit(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let mic = field("received-content-mic").map(|m| {
        let mut it = m.splitn(2, ',');
        (it.next().unwrap_or_default().trim().to_string(), it.next().unwrap_or_default().trim().to_string())
    });
    Ok(MdnReport {
        original_message_id: field("original-message-id").map(|v| v.trim().trim_matches(['<', '>']).to_string()),
        processed: status == "processed",
        disposition,
        mic,
        signed,
    })
}

fn boundary() -> String {
    format!("----=_edigate_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(who: &str) -> Identity {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/as2");
        Identity::new(
            smime::load_private_key(&std::fs::read(dir.join(format!("{who}.key.pem"))).unwrap()).unwrap(),
            smime::load_certificates(&std::fs::read(dir.join(format!("{who}.cert.pem"))).unwrap()).unwrap().remove(0),
        )
    }

    /// A message as a partner builds it: compress, sign, encrypt, each optional.
    fn build(payload: &[u8], from: &Identity, to: &Identity, compress: bool, sign: Option<DigestAlg>, cipher: Option<smime::Cipher>) -> Vec<u8> {
        build_ordered(payload, from, to, compress, false, sign, cipher)
    }

    fn compressed(entity: &[u8]) -> Vec<u8> {
        let der = smime::compress(entity).unwrap();
        [b"Content-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\r\nContent-Transfer-Encoding: binary\r\n\r\n".as_slice(), &der].concat()
    }

    /// `compress_last`: compress after signing (RFC 5402 allows both orders).
    fn build_ordered(payload: &[u8], from: &Identity, to: &Identity, compress: bool, compress_last: bool, sign: Option<DigestAlg>, cipher: Option<smime::Cipher>) -> Vec<u8> {
        use base64::Engine;
        let mut entity = [b"Content-Type: application/edi-x12\r\nContent-Disposition: attachment; filename=\"po.edi\"\r\n\r\n".as_slice(), payload].concat();
        if compress && !compress_last {
            entity = compressed(&entity);
        }
        if let Some(alg) = sign {
            let sig = base64::engine::general_purpose::STANDARD.encode(smime::sign_detached(&entity, from, alg).unwrap());
            let mut body = b"--sig\r\n".to_vec();
            body.extend_from_slice(&entity);
            body.extend_from_slice(format!("\r\n--sig\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n{sig}\r\n--sig--\r\n").as_bytes());
            entity = [format!("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={}; boundary=\"sig\"\r\n\r\n", alg.name()).as_bytes(), &body].concat();
        }
        if compress && compress_last {
            entity = compressed(&entity);
        }
        if let Some(c) = cipher {
            let der = smime::encrypt(&entity, &to.cert, c).unwrap();
            entity = [b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: binary\r\n\r\n".as_slice(), &der].concat();
        }
        entity
    }

    #[test]
    fn every_layer_order_unwraps_with_the_right_mic() {
        let (us, partner) = (identity("edigate"), identity("partner"));
        let payload = b"ISA*00*...~IEA*1*000000001~\r\n";
        for (compress, last) in [(false, false), (true, false), (true, true)] {
            for sign in [None, Some(DigestAlg::Sha1), Some(DigestAlg::Sha256), Some(DigestAlg::Sha384), Some(DigestAlg::Sha512)] {
                for cipher in [None, Some(smime::Cipher::Aes128Cbc), Some(smime::Cipher::Aes192Cbc), Some(smime::Cipher::Aes256Cbc), Some(smime::Cipher::TripleDesCbc)] {
                    let msg = build_ordered(payload, &partner, &us, compress, last, sign, cipher);
                    let expect = Expect { signed: false, encrypted: false, mic_alg: Some(DigestAlg::Sha256), max_size: 1 << 20 };
                    let got = unwrap(&msg, &us, std::slice::from_ref(&partner.cert), &expect).unwrap_or_else(|e| panic!("{compress} {sign:?} {cipher:?}: {e}"));
                    assert_eq!(got.payload, payload);
                    assert_eq!(got.filename.as_deref(), Some("po.edi"));
                    assert_eq!((got.compressed, got.signed, got.encrypted), (compress, sign, cipher.is_some()));
                    assert_eq!(got.mic.alg, DigestAlg::Sha256);
                }
            }
        }
    }

    #[test]
    fn tampering_wrong_keys_and_missing_protection_fail_with_the_mdn_words() {
        let (us, partner) = (identity("edigate"), identity("partner"));
        let expect = Expect { signed: true, encrypted: true, mic_alg: None, max_size: 1 << 20 };
        let certs = std::slice::from_ref(&partner.cert);
        // Signed with a key that is not the partner's.
        let msg = build(b"data", &us, &us, false, Some(DigestAlg::Sha256), Some(smime::Cipher::Aes256Cbc));
        assert_eq!(unwrap(&msg, &us, certs, &expect).unwrap_err().kind, FailureKind::AuthenticationFailed);
        // Encrypted for someone else.
        let msg = build(b"data", &partner, &partner, false, Some(DigestAlg::Sha256), Some(smime::Cipher::Aes256Cbc));
        assert_eq!(unwrap(&msg, &us, certs, &expect).unwrap_err().kind, FailureKind::DecryptionFailed);
        // A byte of the signed content changed.
        let msg = build(b"data to sign", &partner, &us, false, Some(DigestAlg::Sha256), None);
        let tampered = String::from_utf8_lossy(&msg).replace("data to sign", "data to sigN").into_bytes();
        let e = unwrap(&tampered, &us, certs, &Expect { encrypted: false, ..expect }).unwrap_err();
        assert_eq!(e.kind, FailureKind::IntegrityCheckFailed, "{e}");
        // Not encrypted, though the profile requires it.
        let msg = build(b"data", &partner, &us, false, Some(DigestAlg::Sha256), None);
        let e = unwrap(&msg, &us, certs, &Expect { signed: true, encrypted: true, mic_alg: None, max_size: 1 << 20 }).unwrap_err();
        assert_eq!(e.kind, FailureKind::InsufficientMessageSecurity);
    }

    #[test]
    fn certificates_load_from_pem_der_and_pkcs12_alike() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/as2");
        let pem = smime::load_certificates(&std::fs::read(dir.join("partner.cert.pem")).unwrap()).unwrap();
        use cms::cert::x509::der::Encode;
        let der = smime::load_certificates(&pem[0].to_der().unwrap()).unwrap();
        let p12 = smime::load_certificates(&std::fs::read(dir.join("partner.cert.p12")).unwrap()).unwrap();
        assert_eq!(pem.len(), 1);
        assert_eq!(pem, der);
        assert_eq!(pem, p12);
        assert!(smime::valid_now(&pem[0]));
    }

    #[test]
    fn a_signed_mdn_verifies_over_its_first_part() {
        let us = identity("edigate");
        let mic = Mic::of(b"x", DigestAlg::Sha256);
        let m = MdnFields { us: "edigate", original_message_id: "<abc@partner>", outcome: Ok(()), mic: Some(&mic), text: "The message was received.".into() };
        let (ct, body) = render_mdn(&m, Some((&us, DigestAlg::Sha256))).unwrap();
        let ct = ContentType::parse(&ct);
        let parts = split_multipart(&body, ct.param("boundary").unwrap()).unwrap();
        let sig = Entity::parse(parts[1]).unwrap().decoded().unwrap();
        assert_eq!(smime::verify_detached(parts[0], &sig, std::slice::from_ref(&us.cert)).unwrap(), DigestAlg::Sha256);
        let text = String::from_utf8_lossy(parts[0]);
        assert!(text.contains("Original-Message-ID: <abc@partner>") && text.contains(&format!("Received-Content-MIC: {}, sha-256", mic.base64)), "{text}");
    }
}
