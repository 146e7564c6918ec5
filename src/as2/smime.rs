//! S/MIME's cryptography for AS2 (RFC 5652 CMS, RFC 3274 compression, RFC 5751 algorithms), with
//! RustCrypto: no I/O, no HTTP, no MIME (see [`super::mime`]).
//!
//! - [`decrypt`]: EnvelopedData with RSA PKCS#1 v1.5 key transport; AES-128/192/256-CBC or 3DES-CBC.
//! - [`verify_detached`]: a detached SignedData over given bytes (RSA PKCS#1 v1.5 with SHA-1, SHA-256,
//!   SHA-384 or SHA-512; with or without signed attributes), by one of the partner's certificates.
//! - [`decompress`]: CompressedData (zlib).
//! - [`sign_detached`], [`encrypt`], [`compress`]: the same, the other way (MDNs, outbound messages).
//!
//! Only DER is read (what pyas2lib, asn1crypto and OpenSSL write for these structures); BER with
//! indefinite lengths, which some other implementations send, is not.

use cms::cert::x509::der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use cms::cert::x509::der::{Decode, Encode};
use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::cert::x509::Certificate;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::compressed_data::CompressedData;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::Digest;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
const ID_COMPRESSED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.9");
const ID_ZLIB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.3.8");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");

/// What went wrong, in the words an MDN needs (`decryption-failed`, `authentication-failed`,
/// `integrity-check-failed`) and with the detail operators need.
#[derive(Debug, thiserror::Error)]
pub enum SmimeError {
    #[error("decryption failed: {0}")]
    Decryption(String),
    #[error("signature not verified: {0}")]
    Authentication(String),
    #[error("content does not match its signature (digest differs)")]
    Integrity,
    #[error("decompression failed: {0}")]
    Decompression(String),
    #[error("malformed S/MIME structure: {0}")]
    Malformed(String),
}

fn malformed(e: impl std::fmt::Display) -> SmimeError {
    SmimeError::Malformed(e.to_string())
}

/// The digests AS2 uses for signatures and MICs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
    const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
    const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

    /// From a `micalg` / `signed-receipt-micalg` name: `sha256`, `sha-256`, `SHA-256`, `sha1`, ...
    pub fn from_name(s: &str) -> Option<DigestAlg> {
        match s.trim().to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(DigestAlg::Sha1),
            "sha256" => Some(DigestAlg::Sha256),
            "sha384" => Some(DigestAlg::Sha384),
            "sha512" => Some(DigestAlg::Sha512),
            _ => None,
        }
    }

    /// The name written in `Received-Content-MIC` and `micalg` (RFC 5751 spelling).
    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Sha1 => "sha1",
            DigestAlg::Sha256 => "sha-256",
            DigestAlg::Sha384 => "sha-384",
            DigestAlg::Sha512 => "sha-512",
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlg::Sha1 => Self::SHA1,
            DigestAlg::Sha256 => Self::SHA256,
            DigestAlg::Sha384 => Self::SHA384,
            DigestAlg::Sha512 => Self::SHA512,
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<DigestAlg> {
        [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha384, DigestAlg::Sha512].into_iter().find(|d| d.oid() == *oid)
    }

    /// A signature algorithm that names its digest (`sha256WithRSAEncryption`, ...).
    fn from_signature_oid(oid: &ObjectIdentifier) -> Option<DigestAlg> {
        match oid.to_string().as_str() {
            "1.2.840.113549.1.1.5" => Some(DigestAlg::Sha1),
            "1.2.840.113549.1.1.11" => Some(DigestAlg::Sha256),
            "1.2.840.113549.1.1.12" => Some(DigestAlg::Sha384),
            "1.2.840.113549.1.1.13" => Some(DigestAlg::Sha512),
            _ => None,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            DigestAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
            DigestAlg::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
            DigestAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
            DigestAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }
}

/// A content encryption algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    TripleDesCbc,
}

impl Cipher {
    /// From a profile's name: `aes128-cbc`, `aes_256_cbc`, `3des`, `tripledes_192_cbc`, ...
    pub fn from_name(s: &str) -> Option<Cipher> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "aes128cbc" | "aes128" => Some(Cipher::Aes128Cbc),
            "aes192cbc" | "aes192" => Some(Cipher::Aes192Cbc),
            "aes256cbc" | "aes256" => Some(Cipher::Aes256Cbc),
            "3des" | "3descbc" | "desede3cbc" | "tripledes192cbc" | "tripledes" => Some(Cipher::TripleDesCbc),
            _ => None,
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Cipher::Aes128Cbc => AES128_CBC,
            Cipher::Aes192Cbc => AES192_CBC,
            Cipher::Aes256Cbc => AES256_CBC,
            Cipher::TripleDesCbc => DES_EDE3_CBC,
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<Cipher> {
        [Cipher::Aes128Cbc, Cipher::Aes192Cbc, Cipher::Aes256Cbc, Cipher::TripleDesCbc].into_iter().find(|c| c.oid() == *oid)
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Cbc => 16,
            Cipher::Aes192Cbc | Cipher::TripleDesCbc => 24,
            Cipher::Aes256Cbc => 32,
        }
    }

    fn block_len(self) -> usize {
        if self == Cipher::TripleDesCbc {
            8
        } else {
            16
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
        let bad = |e: &dyn std::fmt::Display| format!("{self:?}: {e}");
        match self {
            Cipher::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv).map_err(|e| bad(&e))?.decrypt_padded_vec_mut::<Pkcs7>(data).map_err(|e| bad(&e)),
            Cipher::Aes192Cbc => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv).map_err(|e| bad(&e))?.decrypt_padded_vec_mut::<Pkcs7>(data).map_err(|e| bad(&e)),
            Cipher::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).map_err(|e| bad(&e))?.decrypt_padded_vec_mut::<Pkcs7>(data).map_err(|e| bad(&e)),
            Cipher::TripleDesCbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv).map_err(|e| bad(&e))?.decrypt_padded_vec_mut::<Pkcs7>(data).map_err(|e| bad(&e)),
        }
    }

    fn encrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
        use cbc::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
        match self {
            Cipher::Aes128Cbc => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv).expect("key and iv lengths").encrypt_padded_vec_mut::<Pkcs7>(data),
            Cipher::Aes192Cbc => cbc::Encryptor::<aes::Aes192>::new_from_slices(key, iv).expect("key and iv lengths").encrypt_padded_vec_mut::<Pkcs7>(data),
            Cipher::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv).expect("key and iv lengths").encrypt_padded_vec_mut::<Pkcs7>(data),
            Cipher::TripleDesCbc => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv).expect("key and iv lengths").encrypt_padded_vec_mut::<Pkcs7>(data),
        }
    }
}

/// An identity: a private key and its certificate.
pub struct Identity {
    pub key: RsaPrivateKey,
    pub cert: Certificate,
    /// The same key for ring, which signs (SHA-256/384/512) several times faster than `rsa`.
    signer: Option<ring::signature::RsaKeyPair>,
}

impl Identity {
    pub fn new(key: RsaPrivateKey, cert: Certificate) -> Identity {
        use rsa::pkcs8::EncodePrivateKey;
        let signer = key.to_pkcs8_der().ok().and_then(|der| ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).ok());
        Identity { key, cert, signer }
    }

    /// An RSA PKCS#1 v1.5 signature over `message` (hashed here with `alg`).
    pub fn sign(&self, alg: DigestAlg, message: &[u8]) -> Result<Vec<u8>, SmimeError> {
        let ring_alg: Option<&'static dyn ring::signature::RsaEncoding> = match alg {
            DigestAlg::Sha256 => Some(&ring::signature::RSA_PKCS1_SHA256),
            DigestAlg::Sha384 => Some(&ring::signature::RSA_PKCS1_SHA384),
            DigestAlg::Sha512 => Some(&ring::signature::RSA_PKCS1_SHA512),
            DigestAlg::Sha1 => None,
        };
        if let (Some(kp), Some(enc)) = (&self.signer, ring_alg) {
            let mut sig = vec![0u8; kp.public().modulus_len()];
            let rng = ring::rand::SystemRandom::new();
            kp.sign(enc, &rng, message, &mut sig).map_err(|_| SmimeError::Malformed("RSA signature failed".into()))?;
            return Ok(sig);
        }
        // SHA-1 (legacy partners): ring signs no SHA-1, the rsa crate does.
        self.key.sign(alg.pkcs1v15(), &alg.digest(message)).map_err(|e| SmimeError::Malformed(format!("RSA signature: {e}")))
    }
}

/// The RSA public key of a certificate.
pub fn public_key(cert: &Certificate) -> Result<RsaPublicKey, SmimeError> {
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(malformed)?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| SmimeError::Malformed(format!("certificate key is not RSA: {e}")))
}

fn content_info(der: &[u8], want: ObjectIdentifier, what: &str) -> Result<Any, SmimeError> {
    let ci = ContentInfo::from_der(der).map_err(|e| SmimeError::Malformed(format!("{what}: not a DER CMS ContentInfo: {e}")))?;
    if ci.content_type != want {
        return Err(SmimeError::Malformed(format!("{what}: content type {} where {want} was expected", ci.content_type)));
    }
    Ok(ci.content)
}

/// Decrypts an EnvelopedData (DER) for `us`.
pub fn decrypt(der: &[u8], us: &Identity) -> Result<Vec<u8>, SmimeError> {
    let ed: EnvelopedData = content_info(der, ID_ENVELOPED_DATA, "enveloped data")
        .map_err(|e| SmimeError::Decryption(e.to_string()))?
        .decode_as()
        .map_err(|e| SmimeError::Decryption(format!("enveloped data: {e}")))?;
    let eci = &ed.encrypted_content;
    let cipher = Cipher::from_oid(&eci.content_enc_alg.oid).ok_or_else(|| SmimeError::Decryption(format!("unsupported content encryption algorithm {}", eci.content_enc_alg.oid)))?;
    let iv = eci.content_enc_alg.parameters.as_ref().and_then(|p| p.decode_as::<OctetString>().ok()).ok_or_else(|| SmimeError::Decryption("no IV in the content encryption parameters".into()))?;
    let data = eci.encrypted_content.as_ref().ok_or_else(|| SmimeError::Decryption("no encrypted content".into()))?;
    // The recipient info for our certificate (by issuer and serial), else any we can open.
    let ours = IssuerAndSerialNumber { issuer: us.cert.tbs_certificate.issuer.clone(), serial_number: us.cert.tbs_certificate.serial_number.clone() };
    let mut tried = 0;
    let mut infos: Vec<&KeyTransRecipientInfo> = ed.recip_infos.0.iter().filter_map(|r| if let RecipientInfo::Ktri(k) = r { Some(k) } else { None }).collect();
    infos.sort_by_key(|k| !matches!(&k.rid, RecipientIdentifier::IssuerAndSerialNumber(i) if *i == ours));
    for k in infos {
        tried += 1;
        if k.key_enc_alg.oid != RSA_ENCRYPTION {
            continue;
        }
        let Ok(cek) = us.key.decrypt(Pkcs1v15Encrypt, k.enc_key.as_bytes()) else { continue };
        if cek.len() != cipher.key_len() {
            continue;
        }
        return cipher.decrypt(&cek, iv.as_bytes(), data.as_bytes()).map_err(SmimeError::Decryption);
    }
    Err(SmimeError::Decryption(format!("none of the {tried} key-transport recipient infos opens with our private key (encrypted for another certificate?)")))
}

/// Encrypts `content` for a partner's certificate: EnvelopedData (DER), RSA PKCS#1 v1.5 key transport.
pub fn encrypt(content: &[u8], to: &Certificate, cipher: Cipher) -> Result<Vec<u8>, SmimeError> {
    let mut rng = SystemRng;
    let mut key = vec![0u8; cipher.key_len()];
    let mut iv = vec![0u8; cipher.block_len()];
    fill_random(&mut key)?;
    fill_random(&mut iv)?;
    let enc_key = public_key(to)?.encrypt(&mut rng, Pkcs1v15Encrypt, &key).map_err(|e| SmimeError::Malformed(format!("RSA encryption: {e}")))?;
    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber { issuer: to.tbs_certificate.issuer.clone(), serial_number: to.tbs_certificate.serial_number.clone() }),
        key_enc_alg: AlgorithmIdentifierOwned { oid: RSA_ENCRYPTION, parameters: Some(Any::null()) },
        enc_key: OctetString::new(enc_key).map_err(malformed)?,
    };
    let mut infos = SetOfVec::new();
    infos.insert(RecipientInfo::Ktri(ktri)).map_err(malformed)?;
    let ed = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(infos),
        encrypted_content: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned { oid: cipher.oid(), parameters: Some(Any::encode_from(&OctetString::new(iv.clone()).map_err(malformed)?).map_err(malformed)?) },
            encrypted_content: Some(OctetString::new(cipher.encrypt(&key, &iv, content)).map_err(malformed)?),
        },
        unprotected_attrs: None,
    };
    wrap(ID_ENVELOPED_DATA, &ed)
}

fn wrap<T: cms::cert::x509::der::EncodeValue + cms::cert::x509::der::Tagged>(oid: ObjectIdentifier, inner: &T) -> Result<Vec<u8>, SmimeError> {
    let ci = ContentInfo { content_type: oid, content: Any::encode_from(inner).map_err(malformed)? };
    ci.to_der().map_err(malformed)
}

fn fill_random(buf: &mut [u8]) -> Result<(), SmimeError> {
    rustls::crypto::ring::default_provider().secure_random.fill(buf).map_err(|_| SmimeError::Malformed("no secure random numbers".into()))
}

/// The system's random numbers (through ring), for the `rsa` crate, which wants a `CryptoRngCore`.
pub struct SystemRng;

mod rand_core_compat {
    use super::SystemRng;
    impl rsa::rand_core::RngCore for SystemRng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rustls::crypto::ring::default_provider().secure_random.fill(dest).expect("system random numbers");
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rsa::rand_core::CryptoRng for SystemRng {}
}

/// Verifies a detached SignedData (DER) over `content` with one of `certs`; returns the digest used.
pub fn verify_detached(content: &[u8], signature: &[u8], certs: &[Certificate]) -> Result<DigestAlg, SmimeError> {
    let sd: SignedData = content_info(signature, ID_SIGNED_DATA, "signature").map_err(|e| SmimeError::Authentication(e.to_string()))?.decode_as().map_err(|e| SmimeError::Authentication(format!("signature: {e}")))?;
    let si = sd.signer_infos.0.iter().next().ok_or_else(|| SmimeError::Authentication("the signature has no signer".into()))?;
    let alg = DigestAlg::from_oid(&si.digest_alg.oid).ok_or_else(|| SmimeError::Authentication(format!("unsupported digest algorithm {}", si.digest_alg.oid)))?;
    if si.signature_algorithm.oid != RSA_ENCRYPTION && DigestAlg::from_signature_oid(&si.signature_algorithm.oid).is_none() {
        return Err(SmimeError::Authentication(format!("unsupported signature algorithm {} (RSA PKCS#1 v1.5 expected)", si.signature_algorithm.oid)));
    }
    let digest = alg.digest(content);
    let signed = match &si.signed_attrs {
        Some(attrs) => {
            let md = attrs
                .iter()
                .find(|a| a.oid == ID_MESSAGE_DIGEST)
                .and_then(|a| a.values.iter().next())
                .and_then(|v| v.decode_as::<OctetString>().ok())
                .ok_or_else(|| SmimeError::Authentication("signed attributes without a message digest".into()))?;
            if md.as_bytes() != digest.as_slice() {
                return Err(SmimeError::Integrity);
            }
            alg.digest(&attrs.to_der().map_err(malformed)?)
        }
        None => digest,
    };
    let sig = si.signature.as_bytes();
    if certs.is_empty() {
        return Err(SmimeError::Authentication("no certificate of the partner to verify with".into()));
    }
    for c in certs {
        if let Ok(k) = public_key(c) {
            if k.verify(alg.pkcs1v15(), &signed, sig).is_ok() {
                if !valid_now(c) {
                    return Err(SmimeError::Authentication(format!(
                        "signed with certificate {} that is not valid now (valid {} to {})",
                        describe(c),
                        c.tbs_certificate.validity.not_before,
                        c.tbs_certificate.validity.not_after
                    )));
                }
                return Ok(alg);
            }
        }
    }
    Err(SmimeError::Authentication(format!("the signature was not made with the key of any of the partner's {} certificate(s)", certs.len())))
}

/// Signs `content` (detached): SignedData (DER) with content type, signing time and message digest
/// as signed attributes, and our certificate.
pub fn sign_detached(content: &[u8], us: &Identity, alg: DigestAlg) -> Result<Vec<u8>, SmimeError> {
    use cms::cert::x509::attr::Attribute;
    let attr = |oid: ObjectIdentifier, v: Any| -> Result<Attribute, SmimeError> {
        let mut values = SetOfVec::new();
        values.insert(v).map_err(malformed)?;
        Ok(Attribute { oid, values })
    };
    let now = UtcTime::from_system_time(std::time::SystemTime::now()).map_err(malformed)?;
    let mut attrs = SetOfVec::new();
    attrs.insert(attr(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(malformed)?)?).map_err(malformed)?;
    attrs.insert(attr(ID_SIGNING_TIME, Any::encode_from(&now).map_err(malformed)?)?).map_err(malformed)?;
    attrs.insert(attr(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(alg.digest(content)).map_err(malformed)?).map_err(malformed)?)?).map_err(malformed)?;
    let signature = us.sign(alg, &attrs.to_der().map_err(malformed)?)?;
    let digest_alg = AlgorithmIdentifierOwned { oid: alg.oid(), parameters: None };
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber { issuer: us.cert.tbs_certificate.issuer.clone(), serial_number: us.cert.tbs_certificate.serial_number.clone() }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: AlgorithmIdentifierOwned { oid: RSA_ENCRYPTION, parameters: Some(Any::null()) },
        signature: OctetString::new(signature).map_err(malformed)?,
        unsigned_attrs: None,
    };
    let mut digests = SetOfVec::new();
    digests.insert(digest_alg).map_err(malformed)?;
    let mut certs = SetOfVec::new();
    certs.insert(CertificateChoices::Certificate(us.cert.clone())).map_err(malformed)?;
    let mut signers = SetOfVec::new();
    signers.insert(si).map_err(malformed)?;
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: digests,
        encap_content_info: EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None },
        certificates: Some(CertificateSet(certs)),
        crls: None,
        signer_infos: SignerInfos(signers),
    };
    wrap(ID_SIGNED_DATA, &sd)
}

/// Decompresses a CompressedData (DER, zlib). At most `limit` bytes come out.
pub fn decompress(der: &[u8], limit: usize) -> Result<Vec<u8>, SmimeError> {
    let cd: CompressedData = content_info(der, ID_COMPRESSED_DATA, "compressed data").map_err(|e| SmimeError::Decompression(e.to_string()))?.decode_as().map_err(|e| SmimeError::Decompression(e.to_string()))?;
    if cd.compression_alg.oid != ID_ZLIB {
        return Err(SmimeError::Decompression(format!("unsupported compression algorithm {} (zlib expected)", cd.compression_alg.oid)));
    }
    let data = cd.encap_content_info.econtent.ok_or_else(|| SmimeError::Decompression("no compressed content".into()))?;
    let data: OctetString = data.decode_as().map_err(|e| SmimeError::Decompression(e.to_string()))?;
    let mut out = Vec::new();
    use std::io::Read;
    let mut z = flate2::read::ZlibDecoder::new(data.as_bytes()).take(limit as u64 + 1);
    z.read_to_end(&mut out).map_err(|e| SmimeError::Decompression(format!("zlib: {e}")))?;
    if out.len() > limit {
        return Err(SmimeError::Decompression(format!("decompressed content is over the limit of {limit} bytes")));
    }
    Ok(out)
}

/// Compresses `content`: CompressedData (DER, zlib).
pub fn compress(content: &[u8]) -> Result<Vec<u8>, SmimeError> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(content).map_err(malformed)?;
    let data = z.finish().map_err(malformed)?;
    let cd = CompressedData {
        version: CmsVersion::V0,
        compression_alg: AlgorithmIdentifierOwned { oid: ID_ZLIB, parameters: None },
        encap_content_info: EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: Some(Any::encode_from(&OctetString::new(data).map_err(malformed)?).map_err(malformed)?) },
    };
    wrap(ID_COMPRESSED_DATA, &cd)
}

/// Reads a PKCS#12 file (`.p12`, `.pfx`): its private key (if any) and its certificates.
pub fn load_pkcs12(bytes: &[u8], password: &str) -> Result<(Option<RsaPrivateKey>, Vec<Certificate>), SmimeError> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    use rsa::pkcs8::DecodePrivateKey;
    let ks = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Raw).map_err(|e| SmimeError::Malformed(format!("PKCS#12: {e}")))?;
    let (mut key, mut certs) = (None, Vec::new());
    for (_, entry) in ks.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => {
                if key.is_none() {
                    key = Some(RsaPrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|e| SmimeError::Malformed(format!("PKCS#12 private key: {e}")))?);
                }
                for c in chain.certs() {
                    certs.push(Certificate::from_der(c.as_der()).map_err(malformed)?);
                }
            }
            KeyStoreEntry::Certificate(c) => certs.push(Certificate::from_der(c.as_der()).map_err(malformed)?),
            KeyStoreEntry::Secret(_) => {}
        }
    }
    Ok((key, certs))
}

/// When a certificate stops being valid.
pub fn not_after(cert: &Certificate) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + cert.tbs_certificate.validity.not_after.to_unix_duration()
}

/// Whether a certificate is valid now (between its not-before and not-after times).
pub fn valid_now(cert: &Certificate) -> bool {
    let now = std::time::SystemTime::now();
    std::time::UNIX_EPOCH + cert.tbs_certificate.validity.not_before.to_unix_duration() <= now && now <= not_after(cert)
}

/// A certificate as people name it: its subject and serial number.
pub fn describe(cert: &Certificate) -> String {
    format!("{} (serial {})", cert.tbs_certificate.subject, cert.tbs_certificate.serial_number)
}

/// Reads certificates: PEM (one or more), DER, or PKCS#12 without a password.
pub fn load_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, SmimeError> {
    if !bytes.starts_with(b"-----") && Certificate::from_der(bytes).is_err() {
        if let Ok((_, certs)) = load_pkcs12(bytes, "") {
            return Ok(certs);
        }
    }
    use cms::cert::x509::der::DecodePem;
    let text = String::from_utf8_lossy(bytes);
    if text.contains("-----BEGIN CERTIFICATE-----") {
        let mut out = Vec::new();
        for block in text.split("-----END CERTIFICATE-----") {
            if let Some(start) = block.find("-----BEGIN CERTIFICATE-----") {
                let pem = format!("{}-----END CERTIFICATE-----\n", &block[start..]);
                out.push(Certificate::from_pem(pem.as_bytes()).map_err(malformed)?);
            }
        }
        return Ok(out);
    }
    Ok(vec![Certificate::from_der(bytes).map_err(malformed)?])
}

/// Reads an RSA private key: PEM, PKCS#8 or PKCS#1.
pub fn load_private_key(bytes: &[u8]) -> Result<RsaPrivateKey, SmimeError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let text = std::str::from_utf8(bytes).map_err(|_| SmimeError::Malformed("private key: not PEM text".into()))?;
    RsaPrivateKey::from_pkcs8_pem(text).or_else(|_| RsaPrivateKey::from_pkcs1_pem(text)).map_err(|e| SmimeError::Malformed(format!("private key: {e}")))
}
