//! Partner profiles (`partner-profiles/*.toml`): who a trading partner is on each channel, which
//! documents it exchanges with which mapping, and what it changes in the base mappings.
//!
//! The format is documented in `partner-profiles/README.md`. Profiles are read with serde
//! (unknown keys are errors) and checked against the mapping library by [`Profiles::check`], which
//! reports every fault with file, line and column.

use crate::mapping::{CodeList, Direction, Layer, Library, MappingError, SourceFile};
use crate::syntax::envelope::{InterchangeHeader, Standard};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// One trading partner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Our internal code for the partner (also the file name): `acme-foods`.
    pub code: String,
    pub name: String,
    /// What the partner is to us: a `buyer` (our customer) or a `supplier`.
    pub role: PartnerRole,
    #[serde(default)]
    pub x12: Option<X12Identity>,
    #[serde(default)]
    pub edifact: Option<EdifactIdentity>,
    #[serde(default)]
    pub documents: Vec<Spanned<DocumentEntry>>,
    #[serde(default)]
    pub acknowledgments: Option<Acknowledgments>,
    #[serde(default)]
    pub contacts: Contacts,
    /// Additions to the shared code lists (`[codes.x12_unit] PC = "C62"`).
    #[serde(default)]
    pub codes: BTreeMap<String, BTreeMap<String, String>>,
    /// Cross-references: their values ↔ ours (`[xref.parts] "AC-100" = "4711-001"`).
    #[serde(default)]
    pub xref: BTreeMap<String, BTreeMap<String, String>>,
    /// How the partner reaches us: HTTP intake tokens, SFTP keys; AS2 certificates later.
    #[serde(default)]
    pub transport: Transport,
}

/// The partner's channels.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    #[serde(default)]
    pub http: Option<HttpTransport>,
    #[serde(default)]
    pub sftp: Option<SftpTransport>,
    #[serde(default)]
    pub as2: Option<As2Transport>,
}

/// The partner as an AS2 peer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct As2Transport {
    /// The partner's AS2 id (`AS2-From` of what it sends).
    pub id: String,
    /// Its certificates (PEM or DER files): its signatures are verified with them. Several at once
    /// for rollover.
    pub certificates: Vec<std::path::PathBuf>,
    /// Refuse unsigned or unencrypted messages (both on by default).
    #[serde(default = "yes")]
    pub require_signed: bool,
    #[serde(default = "yes")]
    pub require_encrypted: bool,
    /// Send acknowledgments and outbound documents to the partner over AS2; without it they wait in
    /// its outbox (for SFTP pickup).
    #[serde(default)]
    pub send: Option<As2Send>,
}

/// How we send to an AS2 partner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct As2Send {
    /// The partner's AS2 URL (`https://...` or `http://...`).
    pub url: String,
    /// Signature digest (`sha1`, `sha256`, `sha384`, `sha512`) or `none`.
    #[serde(default = "sha256")]
    pub sign: String,
    /// Cipher (`aes128-cbc`, `aes192-cbc`, `aes256-cbc`, `3des`) or `none`.
    #[serde(default = "aes256")]
    pub encrypt: String,
    #[serde(default)]
    pub compress: bool,
    /// MDN wanted: `sync` (in the HTTP response), `async` (posted to our AS2 URL, `as2.public_url`)
    /// or `none`.
    #[serde(default = "sync")]
    pub mdn: String,
    #[serde(default = "yes")]
    pub signed_mdn: bool,
    /// An MDN not received within this many minutes is overdue (an alert).
    #[serde(default = "thirty")]
    pub mdn_within_minutes: u64,
}

fn sha256() -> String {
    "sha256".into()
}
fn aes256() -> String {
    "aes256-cbc".into()
}
fn sync() -> String {
    "sync".into()
}
fn thirty() -> u64 {
    30
}

/// The partner as an SFTP user of our server (`edigate serve`, `[sftp]` in the gateway config).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpTransport {
    /// The SFTP user name (the partner's code when absent).
    #[serde(default)]
    pub user: Option<String>,
    /// OpenSSH public keys (`authorized_keys` lines: ed25519, RSA, ECDSA) that authenticate the
    /// partner. Several at once allow rotation.
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// Password login, off unless this is set: an Argon2id PHC string made by
    /// `edigate hash-password` (never the password itself).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Push acknowledgments and outbound documents to the partner's own SFTP server; without it they
    /// wait in the partner's `outbound/` for pickup.
    #[serde(default)]
    pub push: Option<SftpPush>,
}

/// The partner's SFTP server, where edigate delivers its outbound files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpPush {
    pub host: String,
    #[serde(default = "ssh_port")]
    pub port: u16,
    pub user: String,
    /// The server's host keys (`ssh-ed25519 AAAA...`, as in `known_hosts` without the host name):
    /// any other key fails the connection. Several at once allow rollover.
    pub host_keys: Vec<String>,
    /// Our private key for this partner (OpenSSH format, a file readable only by edigate).
    pub key_file: std::path::PathBuf,
    /// The directory files go into; each is written under a `.part` name, then renamed.
    #[serde(default = "slash")]
    pub dir: String,
}

fn ssh_port() -> u16 {
    22
}

fn slash() -> String {
    "/".into()
}

/// HTTP intake (`POST /api/v1/inbound` with `Authorization: Bearer TOKEN`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTransport {
    /// SHA-256 (lower-case hex) of each token the partner may use: the tokens themselves are never
    /// stored. Several at once allow rotation. `printf %s TOKEN | sha256sum` makes one.
    #[serde(default)]
    pub token_sha256: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerRole {
    Buyer,
    Supplier,
}

/// The partner's X12 identity and how we write to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X12Identity {
    /// ISA05/ISA07 qualifier (`ZZ`, `01`, `12`).
    pub qualifier: String,
    /// ISA06/ISA08 id.
    pub id: String,
    /// GS02/GS03 application code (the ISA id when absent).
    #[serde(default)]
    pub gs_id: Option<String>,
    /// Our own ISA qualifier, id and GS code as this partner knows us.
    pub our_qualifier: String,
    pub our_id: String,
    #[serde(default)]
    pub our_gs_id: Option<String>,
    /// The version we write (`004010`, `005010`).
    pub version: String,
    #[serde(default)]
    pub delimiters: X12Delimiters,
    /// ISA15: `P` production or `T` test.
    #[serde(default = "production")]
    pub usage: String,
}

fn production() -> String {
    "P".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X12Delimiters {
    #[serde(default = "star")]
    pub element: char,
    #[serde(default = "tilde")]
    pub segment: char,
    #[serde(default = "gt")]
    pub component: char,
    #[serde(default = "caret")]
    pub repetition: char,
    /// Written after each segment terminator (`"\n"` for one segment per line), or nothing.
    #[serde(default)]
    pub suffix: String,
}

fn star() -> char {
    '*'
}
fn tilde() -> char {
    '~'
}
fn gt() -> char {
    '>'
}
fn caret() -> char {
    '^'
}

impl Default for X12Delimiters {
    fn default() -> Self {
        X12Delimiters { element: '*', segment: '~', component: '>', repetition: '^', suffix: String::new() }
    }
}

/// The partner's EDIFACT identity and how we write to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdifactIdentity {
    /// UNB S002 0004 (sender id when they send).
    pub id: String,
    /// UNB 0007 qualifier (`14` = GLN, `ZZZ`).
    #[serde(default)]
    pub qualifier: Option<String>,
    pub our_id: String,
    #[serde(default)]
    pub our_qualifier: Option<String>,
    /// Syntax identifier and version we write (`UNOC`, 3).
    #[serde(default = "unoc")]
    pub syntax: String,
    #[serde(default = "three")]
    pub syntax_version: u8,
    /// The directory we write (`D96A`, `D01B`).
    pub directory: String,
    /// UNH S009 0057 association code (`EAN008`), when the partner uses one.
    #[serde(default)]
    pub association: Option<String>,
    /// Write a UNA service string advice.
    #[serde(default = "yes")]
    pub una: bool,
    /// Written after each segment terminator (`"\n"`), or nothing.
    #[serde(default)]
    pub suffix: String,
}

fn unoc() -> String {
    "UNOC".to_string()
}
fn three() -> u8 {
    3
}
fn yes() -> bool {
    true
}

/// One document the partner exchanges with us.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentEntry {
    /// The EDI document (`850`, `DESADV`).
    pub document: String,
    /// `in`: the partner sends it to us; `out`: we send it to the partner.
    pub direction: DirectionName,
    /// X12 version or EDIFACT directory (the identity's when absent).
    #[serde(default)]
    pub version: Option<String>,
    /// The mapping to use (`x12/004010/850.in`); the base mapping for the document when absent.
    #[serde(default)]
    pub mapping: Option<String>,
    /// Rules layered on the mapping, by canonical field (`order_number = "REF02[01=PO]"`).
    #[serde(default)]
    pub overrides: Option<toml::Table>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectionName {
    In,
    Out,
}

impl From<DirectionName> for Direction {
    fn from(d: DirectionName) -> Direction {
        match d {
            DirectionName::In => Direction::In,
            DirectionName::Out => Direction::Out,
        }
    }
}

/// What acknowledgments the partner expects from us, and within how long.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgments {
    /// `997`, `999`, `CONTRL` or `none`.
    pub kind: String,
    /// The partner's acknowledgments of what we send are overdue after this many hours.
    #[serde(default)]
    pub expect_within_hours: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    /// Who hears about rejected documents, dead letters and overdue acknowledgments.
    #[serde(default)]
    pub exceptions: Vec<String>,
}

/// A loaded profile with its source (for messages and overrides).
#[derive(Debug)]
pub struct Loaded {
    pub profile: Profile,
    pub file: SourceFile,
}

/// Every profile of a directory.
#[derive(Debug, Default)]
pub struct Profiles {
    pub partners: Vec<Loaded>,
}

impl Profiles {
    /// Reads every `*.toml` of `dir`; a file that does not parse is an error with its place.
    pub fn load(dir: &Path) -> Result<Profiles, Vec<MappingError>> {
        let (profiles, errors) = Self::load_all(dir);
        if errors.is_empty() {
            Ok(profiles)
        } else {
            Err(errors)
        }
    }

    /// Reads every profile that parses, and the faults of those that do not.
    pub fn load_all(dir: &Path) -> (Profiles, Vec<MappingError>) {
        let mut out = Profiles::default();
        let mut errors = Vec::new();
        let mut paths: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect(),
            Err(e) => {
                errors.push(MappingError { origin: crate::mapping::Origin { file: dir.display().to_string().into(), line: 0, col: 0 }, message: format!("cannot read: {e}"), field: None });
                return (out, errors);
            }
        };
        paths.sort();
        for p in paths {
            let shown = p.display().to_string();
            let text = match std::fs::read_to_string(&p) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(MappingError { origin: crate::mapping::Origin { file: shown.into(), line: 0, col: 0 }, message: format!("cannot read: {e}"), field: None });
                    continue;
                }
            };
            let file = SourceFile::new(shown, text);
            match toml::from_str::<Profile>(&file.text) {
                Ok(profile) => {
                    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    if profile.code != stem {
                        let at = key_offset(&file, &["code"]);
                        errors.push(file.error(at, format!("code {:?} must match the file name {stem:?}", profile.code)));
                    }
                    out.partners.push(Loaded { profile, file });
                }
                Err(e) => {
                    let at = e.span().map(|s| s.start).unwrap_or(0);
                    errors.push(file.error(at, e.message().to_string()));
                }
            }
        }
        (out, errors)
    }

    pub fn get(&self, code: &str) -> Option<&Loaded> {
        self.partners.iter().find(|p| p.profile.code == code)
    }

    pub fn codes(&self) -> Vec<&str> {
        self.partners.iter().map(|p| p.profile.code.as_str()).collect()
    }

    /// The partner that sent an interchange (by ISA06 / UNB sender id and qualifier).
    pub fn sender_of(&self, h: &InterchangeHeader) -> Option<&Loaded> {
        self.partners.iter().find(|p| p.is_sender_of(h))
    }

    /// Checks every profile against the mapping library: each document's mapping exists and compiles
    /// with the profile's overrides, code lists and cross-references; identities are complete.
    pub fn check(&self, library: &Library) -> Vec<MappingError> {
        let mut errors = Vec::new();
        for p in &self.partners {
            let pr = &p.profile;
            for (i, d) in pr.documents.iter().enumerate() {
                let at = d.span().start;
                let entry = d.get_ref();
                let id = match p.mapping_id(entry) {
                    Ok(id) => id,
                    Err(m) => {
                        errors.push(p.file.error(at, m));
                        continue;
                    }
                };
                if !library.files.contains_key(&id) {
                    let mut near: Vec<&str> = library.ids().filter(|x| x.ends_with(&format!(".{}", Direction::from(entry.direction).suffix()))).collect();
                    near.sort();
                    errors.push(p.file.error(at, format!("unknown mapping {id:?}; available: {}", near.join(", "))));
                    continue;
                }
                let result = match p.layer(i) {
                    Ok(layer) => match Direction::from(entry.direction) {
                        Direction::In => library.inbound(&id, Some(&layer)).err(),
                        Direction::Out => library.outbound(&id, Some(&layer)).err(),
                    },
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                };
                if let Some(e) = result {
                    errors.extend(e.0);
                }
            }
            let lists = library.code_list_names();
            for (name, _) in pr.codes.iter() {
                if !lists.contains(name) {
                    let at = key_offset(&p.file, &["codes", name]);
                    errors.push(p.file.error(at, format!("[codes.{name}] adds to a code list no mapping defines")));
                }
            }
            if let Some(a) = &pr.acknowledgments {
                if !matches!(a.kind.as_str(), "997" | "999" | "CONTRL" | "none") {
                    let at = key_offset(&p.file, &["acknowledgments", "kind"]);
                    errors.push(p.file.error(at, format!("acknowledgments.kind {:?}: expected one of 997, 999, CONTRL, none", a.kind)));
                }
            }
            if let Some(sftp) = &pr.transport.sftp {
                for (i, k) in sftp.public_keys.iter().enumerate() {
                    if let Err(e) = russh::keys::PublicKey::from_openssh(k.trim()) {
                        let at = key_offset(&p.file, &["transport", "sftp", "public_keys", &i.to_string()]);
                        errors.push(p.file.error(at, format!("not an OpenSSH public key (expected an authorized_keys line such as \"ssh-ed25519 AAAA... comment\"): {e}")));
                    }
                }
                if let Some(h) = &sftp.password_hash {
                    if !h.starts_with("$argon2") || argon2::PasswordHash::new(h).is_err() {
                        let at = key_offset(&p.file, &["transport", "sftp", "password_hash"]);
                        errors.push(p.file.error(at, "password_hash must be an Argon2 PHC string made by `edigate hash-password` (the password itself is never written here)"));
                    }
                }
                if let Some(push) = &sftp.push {
                    for (i, k) in push.host_keys.iter().enumerate() {
                        if let Err(e) = russh::keys::PublicKey::from_openssh(k.trim()) {
                            let at = key_offset(&p.file, &["transport", "sftp", "push", "host_keys", &i.to_string()]);
                            errors.push(p.file.error(at, format!("not an SSH host key (expected \"ssh-ed25519 AAAA...\", a known_hosts line without its host): {e}")));
                        }
                    }
                    if push.host_keys.is_empty() {
                        let at = key_offset(&p.file, &["transport", "sftp", "push"]);
                        errors.push(p.file.error(at, "push.host_keys is empty: the partner's server must be pinned (ssh-keyscan shows its keys; check them with the partner)"));
                    }
                }
                let user = p.sftp_user().unwrap_or_default();
                if let Some(other) = self.partners.iter().take_while(|o| !std::ptr::eq(*o, p)).find(|o| o.sftp_user() == Some(user)) {
                    let at = key_offset(&p.file, &["transport", "sftp"]);
                    errors.push(p.file.error(at, format!("SFTP user {user:?} is already partner {:?}'s", other.profile.code)));
                }
            }
            if let Some(as2) = &pr.transport.as2 {
                self.check_as2(p, as2, &mut errors);
            }
            for (i, c) in pr.contacts.exceptions.iter().enumerate() {
                if !c.contains('@') || c.contains(char::is_whitespace) {
                    let at = key_offset(&p.file, &["contacts", "exceptions", &i.to_string()]);
                    errors.push(p.file.error(at, format!("{c:?} is not an email address")));
                }
            }
        }
        errors
    }
}

impl Profiles {
    /// `[transport.as2]`: a unique id, certificates that load (paths relative to the profile), and
    /// sending options that exist.
    fn check_as2(&self, p: &Loaded, as2: &As2Transport, errors: &mut Vec<MappingError>) {
        use crate::as2::smime;
        let at = |path: &[&str]| key_offset(&p.file, &[&["transport", "as2"][..], path].concat());
        if let Some(other) = self.partners.iter().take_while(|o| !std::ptr::eq(*o, p)).find(|o| o.profile.transport.as2.as_ref().is_some_and(|a| a.id == as2.id)) {
            errors.push(p.file.error(at(&["id"]), format!("AS2 id {:?} is already partner {:?}'s", as2.id, other.profile.code)));
        }
        let base = Path::new(&*p.file.path).parent().map(Path::to_path_buf).unwrap_or_default();
        for (i, f) in as2.certificates.iter().enumerate() {
            let path = base.join(f);
            let loaded = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| smime::load_certificates(&b).map_err(|e| e.to_string()));
            match loaded {
                Ok(certs) if !certs.is_empty() => {}
                Ok(_) => errors.push(p.file.error(at(&["certificates", &i.to_string()]), format!("{} holds no certificate", path.display()))),
                Err(e) => errors.push(p.file.error(at(&["certificates", &i.to_string()]), format!("{}: {e} (paths are relative to this profile's directory)", path.display()))),
            }
        }
        if as2.certificates.is_empty() && (as2.require_signed || as2.send.is_some()) {
            errors.push(p.file.error(at(&["certificates"]), "no certificate: the partner's signatures cannot be verified nor messages encrypted to it"));
        }
        let Some(send) = &as2.send else { return };
        if !(send.url.starts_with("http://") || send.url.starts_with("https://")) {
            errors.push(p.file.error(at(&["send", "url"]), format!("{:?} is not an http:// or https:// URL", send.url)));
        }
        if send.sign != "none" && smime::DigestAlg::from_name(&send.sign).is_none() {
            errors.push(p.file.error(at(&["send", "sign"]), format!("sign {:?}: expected sha1, sha256, sha384, sha512 or none", send.sign)));
        }
        if send.encrypt != "none" && smime::Cipher::from_name(&send.encrypt).is_none() {
            errors.push(p.file.error(at(&["send", "encrypt"]), format!("encrypt {:?}: expected aes128-cbc, aes192-cbc, aes256-cbc, 3des or none", send.encrypt)));
        }
        if !matches!(send.mdn.as_str(), "sync" | "async" | "none") {
            errors.push(p.file.error(at(&["send", "mdn"]), format!("mdn {:?}: expected sync, async or none", send.mdn)));
        }
    }
}

/// The byte offset of a key in a profile (`["contacts", "exceptions", "1"]`: a number indexes an
/// array), from the spanned parse; the file's start when the key is not there.
fn key_offset(file: &SourceFile, path: &[&str]) -> usize {
    let Ok(doc) = file.parse() else { return 0 };
    let mut at = doc.span().start;
    let mut cur: Option<&toml::Spanned<toml::de::DeValue<'_>>> = None;
    for (i, k) in path.iter().enumerate() {
        let next = match (i, cur) {
            (0, _) => doc.get_ref().get(*k),
            (_, Some(v)) => match (v.get_ref(), k.parse::<usize>()) {
                (toml::de::DeValue::Array(a), Ok(n)) => a.get(n),
                (toml::de::DeValue::Table(t), _) => t.get(*k),
                _ => None,
            },
            _ => None,
        };
        match next {
            Some(v) => {
                at = v.span().start;
                cur = Some(v);
            }
            None => break,
        }
    }
    at
}

impl Loaded {
    /// The partner's SFTP user name, when it may use SFTP.
    pub fn sftp_user(&self) -> Option<&str> {
        let s = self.profile.transport.sftp.as_ref()?;
        Some(s.user.as_deref().unwrap_or(&self.profile.code))
    }

    pub fn is_sender_of(&self, h: &InterchangeHeader) -> bool {
        let p = &self.profile;
        match h.standard {
            Standard::X12 => p.x12.as_ref().is_some_and(|x| x.id.trim() == h.sender.id.trim() && x.qualifier.trim() == h.sender.qualifier.trim()),
            Standard::Edifact => p.edifact.as_ref().is_some_and(|e| e.id == h.sender.id && e.qualifier.as_deref().is_none_or(|q| q == h.sender.qualifier)),
        }
    }

    /// The document entry for a message and direction.
    pub fn document(&self, message: &str, direction: Direction) -> Option<(usize, &DocumentEntry)> {
        self.profile.documents.iter().enumerate().find_map(|(i, d)| {
            let d = d.get_ref();
            (d.document == message && Direction::from(d.direction) == direction).then_some((i, d))
        })
    }

    /// The document entry for a message, direction and version (X12 `004010`, EDIFACT `D96A`): an
    /// entry for another version of the same document does not apply.
    pub fn document_version(&self, message: &str, direction: Direction, version: &str) -> Option<(usize, &DocumentEntry)> {
        self.profile.documents.iter().enumerate().find_map(|(i, d)| {
            let d = d.get_ref();
            let v = self.version_of(d)?;
            let same = version.get(..v.len()).is_some_and(|x| x == v);
            (d.document == message && Direction::from(d.direction) == direction && same).then_some((i, d))
        })
    }

    /// The version a document entry is for: its own, or the identity's.
    fn version_of(&self, d: &DocumentEntry) -> Option<String> {
        let x12 = d.document.chars().all(|c| c.is_ascii_digit());
        d.version.clone().or_else(|| if x12 { self.profile.x12.as_ref().map(|x| x.version.clone()) } else { self.profile.edifact.as_ref().map(|e| e.directory.clone()) })
    }

    /// The mapping id a document entry uses.
    pub fn mapping_id(&self, d: &DocumentEntry) -> Result<String, String> {
        if let Some(m) = &d.mapping {
            return Ok(m.clone());
        }
        let x12 = d.document.chars().all(|c| c.is_ascii_digit());
        let (standard, version) = if x12 {
            (Standard::X12, d.version.clone().or_else(|| self.profile.x12.as_ref().map(|x| x.version.clone())))
        } else {
            (Standard::Edifact, d.version.clone().or_else(|| self.profile.edifact.as_ref().map(|e| e.directory.clone())))
        };
        let version = version.ok_or_else(|| format!("document {}: no version (set `version`, or the [x12]/[edifact] identity)", d.document))?;
        Ok(Library::id(standard, &version, &d.document, d.direction.into()))
    }

    /// The profile's layer for its `i`-th document entry: overrides, code-list additions, cross-references.
    pub fn layer(&self, i: usize) -> Result<Layer<'_>, MappingError> {
        // Overrides are taken from the spanned parse so their faults point into this file.
        let spanned = self.file.parse()?;
        let overrides = spanned
            .get_ref()
            .get("documents")
            .and_then(|d| d.get_ref().as_array())
            .and_then(|a| a.get(i))
            .and_then(|d| d.get_ref().as_table())
            .and_then(|t| t.get("overrides"))
            .cloned();
        let list = |table: &str, name: &String, m: &BTreeMap<String, String>| {
            CodeList::new(name.clone(), m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), self.file.origin(key_offset(&self.file, &[table, name])))
        };
        Ok(Layer {
            file: &self.file,
            overrides,
            codes: self.profile.codes.iter().map(|(n, m)| list("codes", n, m)).collect(),
            xrefs: self.profile.xref.iter().map(|(n, m)| list("xref", n, m)).collect(),
        })
    }
}
