//! The embedded journal: one sled 0.34 database in a directory; raw inputs and canonical documents
//! appended to a value log beside it ([`super::values`], sled holds references), raw inputs over
//! 1 MB as files of their own (written, fsynced, then referenced).
//!
//! Trees and their keys (all records JSON):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `raw` | SHA-256 hex | `2` + [`ValueRef`] (in the value log), `1` (in `blobs/ab/abcd…`), or `0` + bytes (journals written before the value log) |
//! | `intakes` | intake id (u64 BE) | [`Intake`] and its `history` ([`Change`]s) |
//! | `pending` | intake id | empty: received, not processed yet |
//! | `documents` | intake id + set number (u32 BE) | [`DocumentRecord`] and its `history` ([`Change`]s) |
//! | `canonical` | same | `2` + [`ValueRef`] (in the value log), or canonical JSON (journals written before) |
//! | `numbers` | number `\0` document key | empty: the search index |
//! | `acks` | ack id | `3`, the record's length (u32 BE), [`AckRecord`], the EDI (or the record alone, with the EDI in `ack_bytes`: journals written before) |
//! | `events` | subject `\0` sequence (u64 BE) | [`Event`] of subjects without a record (and of inputs and documents in journals written before histories were kept with records) |
//! | `queue` | partner `\0` document key | document id |
//! | `attempts` | document key + attempt (u32 BE) | [`Attempt`] |
//! | `counters`, `claims` | name | u64 BE |
//! | `receipts` | receipt key (`as2:PARTNER:MESSAGE-ID`) | the receipt (an MDN as a MIME entity) |

use super::values::{ValueLog, ValueRef};
use super::*;
use sled::{Db, Tree};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Raw inputs larger than this are kept as files.
pub const BLOB_THRESHOLD: usize = 1 << 20;

pub struct SledJournal {
    db: Db,
    instance: String,
    blobs: PathBuf,
    values: ValueLog,
    raw: Tree,
    intakes: Tree,
    pending: Tree,
    documents: Tree,
    canonical: Tree,
    numbers: Tree,
    acks: Tree,
    ack_bytes: Tree,
    events: Tree,
    queue: Tree,
    attempts: Tree,
    counters: Tree,
    claims: Tree,
    receipts: Tree,
    /// Documents per state (index: `State::ALL`), counted once at open, then kept up to date by
    /// `put_document` (from the record each write replaces), so that `/metrics` costs no scan.
    by_state: [std::sync::atomic::AtomicU64; State::ALL.len()],
}

/// Only the state of a document record (the rest of the JSON is skipped).
#[derive(Deserialize)]
struct StateOnly {
    state: State,
}

/// A record as kept: its fields, and its history (`history`, beside them).
#[derive(Serialize)]
struct Kept<'a, T> {
    #[serde(flatten)]
    record: &'a T,
    history: &'a [Change],
}

/// What a kept record (an intake or a document) holds beyond its own fields, and what a write
/// that replaces it needs of it: its state (for the counts), the numbers indexed for it, its history.
#[derive(Deserialize)]
struct Replaced {
    state: State,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    order_numbers: Vec<String>,
    #[serde(default)]
    history: Vec<Change>,
}

fn state_index(s: State) -> usize {
    State::ALL.iter().position(|x| *x == s).expect("every state is in State::ALL")
}

fn storage(e: sled::Error) -> JournalError {
    JournalError::Storage(e.to_string())
}

impl From<sled::Error> for JournalError {
    fn from(e: sled::Error) -> Self {
        storage(e)
    }
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("journal records serialize")
}

fn decode<T: for<'de> Deserialize<'de>>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| JournalError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), message: e.to_string() })
}

fn doc_key(id: &str) -> Result<[u8; 12]> {
    let (i, n) = DocumentRecord::parse_id(id).ok_or_else(|| JournalError::NotFound(format!("document {id:?}")))?;
    Ok(DocumentRecord::key(i, n))
}

fn prefixed(prefix: &str, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 1 + rest.len());
    k.extend_from_slice(prefix.as_bytes());
    k.push(0);
    k.extend_from_slice(rest);
    k
}

impl SledJournal {
    /// Opens (or creates) the journal in `dir`.
    pub fn open(dir: &Path) -> Result<SledJournal> {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Blob { path: dir.display().to_string(), source })?;
        remove_unfinished_snapshots(&dir.join("db"))?;
        let db = sled::Config::new().path(dir.join("db")).mode(sled::Mode::HighThroughput).open()?;
        let instance = match db.get("instance")? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => {
                let id = format!("{:016x}", fastrand::u64(..));
                db.insert("instance", id.as_bytes())?;
                db.flush()?;
                id
            }
        };
        let t = |name: &str| db.open_tree(name).map_err(storage);
        SledJournal {
            instance,
            blobs: dir.join("blobs"),
            values: ValueLog::open(&dir.join("values"))?,
            raw: t("raw")?,
            intakes: t("intakes")?,
            pending: t("pending")?,
            documents: t("documents")?,
            canonical: t("canonical")?,
            numbers: t("numbers")?,
            acks: t("acks")?,
            ack_bytes: t("ack_bytes")?,
            events: t("events")?,
            queue: t("queue")?,
            attempts: t("attempts")?,
            counters: t("counters")?,
            claims: t("claims")?,
            receipts: t("receipts")?,
            by_state: Default::default(),
            db,
        }
        .counted()
    }

    /// Counts the documents per state (one pass at open).
    fn counted(self) -> Result<SledJournal> {
        for kv in self.documents.iter() {
            let (k, v) = kv?;
            let d: StateOnly = decode(&k, &v)?;
            self.by_state[state_index(d.state)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(self)
    }

    fn blob_path(&self, sha: &str) -> PathBuf {
        self.blobs.join(&sha[..2]).join(sha)
    }

    /// Appends a value to the value log; returns what sled keeps: `2` + its reference.
    fn append_value(&self, bytes: &[u8]) -> Result<[u8; 1 + ValueRef::ENCODED]> {
        let mut v = [2u8; 1 + ValueRef::ENCODED];
        v[1..].copy_from_slice(&self.values.append(bytes)?.encode());
        Ok(v)
    }

    /// The value behind what [`append_value`](Self::append_value) returned.
    fn read_value(&self, key: &[u8], v: &[u8]) -> Result<Vec<u8>> {
        match v.split_first() {
            Some((2, r)) => match ValueRef::decode(r) {
                Some(r) => self.values.read(r),
                None => Err(JournalError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), message: format!("a value reference of {} bytes", r.len()) }),
            },
            _ => Err(JournalError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), message: format!("unknown value tag {:?}", v.first()) }),
        }
    }

    /// Writes `record` under `key` with the history of the record it replaces plus `changes` (one
    /// compare-and-swap, so concurrent writers cannot lose a change). Returns the replaced record.
    fn keep_with_history<T: Serialize>(&self, tree: &Tree, key: &[u8], record: &T, changes: Vec<Change>) -> Result<Option<Replaced>> {
        // Set by each try of the update; the last try is the one that was swapped in.
        let mut replaced: Result<Option<Replaced>> = Ok(None);
        tree.fetch_and_update(key, |old| {
            replaced = old.map(|v| decode::<Replaced>(key, v)).transpose();
            let mut history = match &mut replaced {
                Ok(Some(r)) => std::mem::take(&mut r.history),
                Ok(None) => Vec::new(),
                // Left as it is; the error is returned.
                Err(_) => return old.map(<[u8]>::to_vec),
            };
            history.extend(changes.iter().cloned());
            Some(encode(&Kept { record, history: &history }))
        })?;
        replaced
    }

    /// Writes a blob file durably: temporary name, fsync, rename, fsync of the directory.
    fn write_blob(&self, sha: &str, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(sha);
        let dir = path.parent().expect("blob paths have a directory").to_path_buf();
        let io = |source| JournalError::Blob { path: path.display().to_string(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let tmp = dir.join(format!(".{sha}.{}", fastrand::u32(..)));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }
}

impl Journal for SledJournal {
    fn instance(&self) -> &str {
        &self.instance
    }

    fn put_raw(&self, bytes: &[u8]) -> Result<String> {
        let sha = sha256_hex(bytes);
        if let Some(v) = self.raw.get(&sha)? {
            // Kept before. A value-log reference is checked first: after a power loss it can point
            // at bytes that never reached the disk (sled wrote it on its own before a sync), and the
            // sender, never answered, sends the same bytes again; those are kept anew.
            if v.first() != Some(&2) || self.read_value(sha.as_bytes(), &v).is_ok() {
                return Ok(sha);
            }
        }
        if bytes.len() > BLOB_THRESHOLD {
            self.write_blob(&sha, bytes)?;
            self.raw.insert(&sha, &[1u8][..])?;
        } else {
            self.raw.insert(&sha, &self.append_value(bytes)?[..])?;
        }
        Ok(sha)
    }

    fn raw(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let Some(v) = self.raw.get(sha256)? else { return Ok(None) };
        match v.first() {
            Some(0) => Ok(Some(v[1..].to_vec())),
            Some(1) => {
                let path = self.blob_path(sha256);
                std::fs::read(&path).map(Some).map_err(|source| JournalError::Blob { path: path.display().to_string(), source })
            }
            _ => self.read_value(sha256.as_bytes(), &v).map(Some),
        }
    }

    fn next_intake_id(&self) -> Result<u64> {
        self.next_counter("intake", 1)
    }

    fn next_counter(&self, name: &str, by: u64) -> Result<u64> {
        let by = by.max(1);
        let old = self.counters.fetch_and_update(name, |old| {
            let n = old.and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes);
            Some((n + by).to_be_bytes().to_vec())
        })?;
        Ok(old.and_then(|b| b.as_ref().try_into().ok()).map_or(0, u64::from_be_bytes) + 1)
    }

    fn claim(&self, key: &str, owner: u64) -> Result<Option<u64>> {
        match self.claims.compare_and_swap(key, None as Option<&[u8]>, Some(&owner.to_be_bytes()[..]))? {
            Ok(()) => Ok(None),
            Err(e) => {
                let prev = e.current.and_then(|b| b.as_ref().try_into().ok()).map(u64::from_be_bytes);
                Ok(prev.filter(|&p| p != owner))
            }
        }
    }

    fn release(&self, key: &str) -> Result<()> {
        self.claims.remove(key)?;
        Ok(())
    }

    fn put_intake(&self, r: &Intake, change: Change) -> Result<()> {
        let k = r.id.to_be_bytes();
        self.keep_with_history(&self.intakes, &k, r, vec![change])?;
        if r.state == State::Received {
            self.pending.insert(k, &[][..])?;
        } else {
            self.pending.remove(k)?;
        }
        Ok(())
    }

    fn intake(&self, id: u64) -> Result<Option<Intake>> {
        let k = id.to_be_bytes();
        self.intakes.get(k)?.map(|v| decode(&k, &v)).transpose()
    }

    fn unprocessed(&self) -> Result<Vec<u64>> {
        self.pending.iter().keys().map(|k| Ok(u64::from_be_bytes(k?.as_ref().try_into().unwrap_or_default()))).collect()
    }

    fn intakes(&self, limit: usize) -> Result<Vec<Intake>> {
        self.intakes.iter().rev().take(limit).map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        }).collect()
    }

    fn put_document(&self, d: &DocumentRecord, changes: Vec<Change>) -> Result<()> {
        let k = doc_key(&d.id)?;
        // The record this one replaces has its numbers indexed already (a state change does not
        // write the index again). Index entries go first, so a crash in between leaves an entry
        // without a record, never a record missing from the index.
        let was: Option<Replaced> = self.documents.get(k)?.map(|old| decode(&k, &old)).transpose()?;
        let indexed = |n: &String| was.as_ref().is_some_and(|w| w.number.as_ref() == Some(n) || w.order_numbers.contains(n));
        let mut numbers: Vec<&String> = d.number.iter().chain(&d.order_numbers).filter(|n| !indexed(n)).collect();
        numbers.dedup();
        for n in numbers {
            self.numbers.insert(prefixed(n, &k), &[][..])?;
        }
        // The replaced record's state leaves the count.
        let old = self.keep_with_history(&self.documents, &k, d, changes)?;
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(old) = old {
            self.by_state[state_index(old.state)].fetch_sub(1, Relaxed);
        }
        self.by_state[state_index(d.state)].fetch_add(1, Relaxed);
        Ok(())
    }

    fn document(&self, id: &str) -> Result<Option<DocumentRecord>> {
        let Ok(k) = doc_key(id) else { return Ok(None) };
        self.documents.get(k)?.map(|v| decode(&k, &v)).transpose()
    }

    fn put_canonical(&self, id: &str, json: &[u8]) -> Result<()> {
        // In the value log, like raw inputs. Written after the input was acknowledged, so a power
        // loss before the next sync can leave the reference without its bytes; readers then rebuild
        // the document from the input's raw bytes, which were durable before the acknowledgment
        // (see `pipeline::Canonicals`).
        self.canonical.insert(doc_key(id)?, &self.append_value(json)?[..])?;
        Ok(())
    }

    fn canonical(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let Ok(k) = doc_key(id) else { return Ok(None) };
        match self.canonical.get(k)? {
            // JSON kept in sled itself (journals written before canonical JSON went to the value log).
            Some(v) if v.first() == Some(&b'{') => Ok(Some(v.to_vec())),
            Some(v) => self.read_value(id.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }

    fn documents(&self, q: &Query) -> Result<Vec<DocumentRecord>> {
        let limit = q.limit.unwrap_or(100).min(10_000);
        let mut out = Vec::new();
        if let Some(n) = &q.number {
            // The index first: a number names few documents.
            for k in self.numbers.scan_prefix(prefixed(n, &[])).keys().rev() {
                let k = k?;
                let key = &k[k.len() - 12..];
                if let Some(v) = self.documents.get(key)? {
                    let d: DocumentRecord = decode(key, &v)?;
                    if q.matches(&d) {
                        out.push(d);
                        if out.len() >= limit {
                            break;
                        }
                    }
                }
            }
            return Ok(out);
        }
        for kv in self.documents.iter().rev() {
            let (k, v) = kv?;
            let d: DocumentRecord = decode(&k, &v)?;
            if q.matches(&d) {
                out.push(d);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn count_by_state(&self) -> Result<BTreeMap<State, u64>> {
        Ok(State::ALL.iter().zip(&self.by_state).map(|(s, n)| (*s, n.load(std::sync::atomic::Ordering::Relaxed))).collect())
    }

    fn put_ack(&self, a: &AckRecord, bytes: &[u8]) -> Result<()> {
        // One value: `3`, the record's length (u32 BE), the record (JSON), the EDI.
        let json = encode(a);
        let mut v = Vec::with_capacity(5 + json.len() + bytes.len());
        v.push(3);
        v.extend_from_slice(&(json.len() as u32).to_be_bytes());
        v.extend_from_slice(&json);
        v.extend_from_slice(bytes);
        self.acks.insert(&a.id, v)?;
        Ok(())
    }

    fn ack(&self, id: &str) -> Result<Option<(AckRecord, Vec<u8>)>> {
        let Some(v) = self.acks.get(id)? else { return Ok(None) };
        if v.first() != Some(&3) {
            // Written before acknowledgments were one value: the record here, the EDI in `ack_bytes`.
            let rec = decode(id.as_bytes(), &v)?;
            let bytes = self.ack_bytes.get(id)?.map(|b| b.to_vec()).unwrap_or_default();
            return Ok(Some((rec, bytes)));
        }
        let corrupt = || JournalError::Corrupt { key: id.to_string(), message: format!("an acknowledgment value of {} bytes", v.len()) };
        let len = v.get(1..5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or_else(corrupt)? as usize;
        let json = v.get(5..5 + len).ok_or_else(corrupt)?;
        Ok(Some((decode(id.as_bytes(), json)?, v[5 + len..].to_vec())))
    }

    fn put_receipt(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.receipts.insert(key, bytes)?;
        Ok(())
    }

    fn receipt(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.receipts.get(key)?.map(|b| b.to_vec()))
    }

    fn receipts(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.receipts
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    fn remove_receipt(&self, key: &str) -> Result<()> {
        self.receipts.remove(key)?;
        Ok(())
    }

    fn record(&self, e: &Event) -> Result<()> {
        let seq = self.db.generate_id()?;
        self.events.insert(prefixed(&e.subject, &seq.to_be_bytes()), encode(e))?;
        Ok(())
    }

    fn history(&self, subject: &str) -> Result<Vec<Event>> {
        // Recorded events: subjects without a record, and journals written before histories were
        // kept with their records.
        let mut out: Vec<Event> = self.events.scan_prefix(prefixed(subject, &[])).map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        }).collect::<Result<_>>()?;
        let kept = if let Some(id) = subject.strip_prefix("document:") {
            match doc_key(id) {
                Ok(k) => self.documents.get(k)?.map(|v| (k.to_vec(), v)),
                Err(_) => None,
            }
        } else if let Some(id) = subject.strip_prefix("intake:").and_then(|id| id.parse::<u64>().ok()) {
            self.intakes.get(id.to_be_bytes())?.map(|v| (id.to_be_bytes().to_vec(), v))
        } else {
            None
        };
        if let Some((k, v)) = kept {
            let h: Replaced = decode(&k, &v)?;
            out.extend(h.history.into_iter().map(|c| c.event(subject)));
            out.sort_by_key(|e| e.at);
        }
        Ok(out)
    }

    fn enqueue(&self, partner: &str, document: &str) -> Result<()> {
        self.queue.insert(prefixed(partner, &doc_key(document)?), document.as_bytes())?;
        Ok(())
    }

    fn dequeue(&self, partner: &str, document: &str) -> Result<()> {
        self.queue.remove(prefixed(partner, &doc_key(document)?))?;
        Ok(())
    }

    fn queue_heads(&self) -> Result<Vec<QueueEntry>> {
        // One seek per partner: after a partner's first entry, jump past its prefix.
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some(kv) = self.queue.range(from.clone()..).next() {
            let (k, v) = kv?;
            let Some(cut) = k.iter().position(|&b| b == 0) else { break };
            let partner = String::from_utf8_lossy(&k[..cut]).into_owned();
            out.push(QueueEntry { partner, document: String::from_utf8_lossy(&v).into_owned() });
            from = k[..cut].to_vec();
            from.push(1);
        }
        Ok(out)
    }

    fn queue_len(&self) -> Result<u64> {
        Ok(self.queue.len() as u64)
    }

    fn add_attempt(&self, a: &Attempt) -> Result<()> {
        let mut k = doc_key(&a.document)?.to_vec();
        k.extend_from_slice(&a.n.to_be_bytes());
        self.attempts.insert(k, encode(a))?;
        Ok(())
    }

    fn attempts(&self, document: &str) -> Result<Vec<Attempt>> {
        let Ok(k) = doc_key(document) else { return Ok(vec![]) };
        self.attempts.scan_prefix(k).map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        }).collect()
    }

    fn sync(&self) -> Result<()> {
        // Values first: then every reference sled makes durable points at durable bytes.
        self.values.sync()?;
        self.db.flush()?;
        Ok(())
    }
}

/// sled 0.34 writes a snapshot as `snap.N.generating`, then renames it; a process killed in between
/// leaves the unfinished file, and the next open fails with "Read corrupted data" (sled issues 1527,
/// 1533; seen here under kill -9). The finished snapshot and the log are intact, so the unfinished
/// file is removed before opening, but only when no running process holds the database (sled's own
/// lock on `db/db`).
fn remove_unfinished_snapshots(db: &Path) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(db) else { return Ok(()) };
    let unfinished: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".generating"))).collect();
    if unfinished.is_empty() {
        return Ok(());
    }
    let io = |source| JournalError::Blob { path: db.display().to_string(), source };
    let lock = std::fs::OpenOptions::new().read(true).write(true).open(db.join("db")).map_err(io)?;
    if lock.try_lock().is_err() {
        // Someone has it open: sled's own open reports that.
        return Ok(());
    }
    for p in unfinished {
        tracing::warn!(file = %p.display(), "removing a snapshot a previous run did not finish");
        std::fs::remove_file(&p).map_err(io)?;
    }
    drop(lock);
    Ok(())
}

/// SHA-256 of `bytes` as lower-case hex: raw inputs' keys, and how tokens are compared.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, partner: &str, number: &str) -> DocumentRecord {
        let (intake, _) = DocumentRecord::parse_id(id).unwrap();
        DocumentRecord {
            id: id.into(),
            intake,
            partner: partner.into(),
            kind: Some("ship_notice".into()),
            document_type: "856".into(),
            version: "004010".into(),
            interchange_control_number: "1".into(),
            set_control_number: "1".into(),
            number: Some(number.into()),
            order_numbers: vec!["4500012345".into()],
            state: State::Queued,
            error: None,
            created_at: now(),
            updated_at: now(),
            attempts: 0,
            next_attempt_at: None,
            correlation_id: "c".into(),
        }
    }

    #[test]
    fn raw_bytes_small_and_large_survive_a_reopen() {
        let dir = tempdir();
        let small = b"ISA*00*...~".to_vec();
        let large = vec![b'x'; BLOB_THRESHOLD + 10];
        let (a, b, instance) = {
            let j = SledJournal::open(&dir).unwrap();
            let a = j.put_raw(&small).unwrap();
            let b = j.put_raw(&large).unwrap();
            assert_eq!(j.put_raw(&small).unwrap(), a, "content-addressed");
            j.sync().unwrap();
            (a, b, j.instance().to_string())
        };
        let j = SledJournal::open(&dir).unwrap();
        assert_eq!(j.instance(), instance);
        assert_eq!(j.raw(&a).unwrap().unwrap(), small);
        assert_eq!(j.raw(&b).unwrap().unwrap(), large);
        assert!(dir.join("blobs").join(&b[..2]).join(&b).exists());
        assert_eq!(j.raw("00").unwrap(), None);
    }

    #[test]
    fn raw_bytes_sent_again_after_a_power_loss_took_them_are_kept_anew() {
        let dir = tempdir();
        let body = b"ISA*00*lost before the sync~".to_vec();
        let sha = {
            let j = SledJournal::open(&dir).unwrap();
            let sha = j.put_raw(&body).unwrap();
            j.sync().unwrap();
            sha
        };
        // The reference is in sled, the bytes are gone (what a power loss can leave).
        std::fs::File::options().write(true).open(dir.join("values/00000001.log")).unwrap().set_len(0).unwrap();
        let j = SledJournal::open(&dir).unwrap();
        assert!(matches!(j.raw(&sha), Err(JournalError::Corrupt { .. })));
        assert_eq!(j.put_raw(&body).unwrap(), sha);
        assert_eq!(j.raw(&sha).unwrap().unwrap(), body, "the bytes sent again are kept, not taken as kept already");
    }

    #[test]
    fn queue_heads_are_per_partner_in_arrival_order() {
        let dir = tempdir();
        let j = SledJournal::open(&dir).unwrap();
        for (p, d) in [("globex", "10-2"), ("globex", "10-1"), ("initech", "12-1"), ("globex", "11-1"), ("acme", "9-1")] {
            j.enqueue(p, d).unwrap();
        }
        let heads = j.queue_heads().unwrap();
        let shown: Vec<_> = heads.iter().map(|e| format!("{}:{}", e.partner, e.document)).collect();
        assert_eq!(shown, ["acme:9-1", "globex:10-1", "initech:12-1"]);
        j.dequeue("globex", "10-1").unwrap();
        assert_eq!(j.queue_heads().unwrap()[1].document, "10-2");
        assert_eq!(j.queue_len().unwrap(), 4);
    }

    #[test]
    fn an_acknowledgment_is_one_value_and_older_ones_still_read() {
        let dir = tempdir();
        let j = SledJournal::open(&dir).unwrap();
        let ack = |id: &str| AckRecord {
            id: id.into(),
            intake: 7,
            partner: "globex".into(),
            standard: "x12".into(),
            acknowledges: "000000007".into(),
            control_number: 12,
            file: format!("ack-{id}.edi"),
            created_at: now(),
            summary: "accepted".into(),
        };
        // Not valid UTF-8 on purpose: an acknowledgment may copy bad data from the input.
        let edi = b"ISA*00*\xff~IEA*1*000000012~".to_vec();
        j.put_ack(&ack("7-a1"), &edi).unwrap();
        let (rec, bytes) = j.ack("7-a1").unwrap().unwrap();
        assert_eq!((rec.id.as_str(), rec.control_number, bytes), ("7-a1", 12, edi.clone()));
        // As journals before wrote them: the record alone, the EDI in its own tree.
        j.acks.insert("6-a1", encode(&ack("6-a1"))).unwrap();
        j.ack_bytes.insert("6-a1", &edi[..]).unwrap();
        let (rec, bytes) = j.ack("6-a1").unwrap().unwrap();
        assert_eq!((rec.file.as_str(), bytes), ("ack-6-a1.edi", edi));
        assert!(j.ack("5-a1").unwrap().is_none());
        j.acks.insert("4-a1", &[3u8, 0, 0, 9][..]).unwrap();
        assert!(matches!(j.ack("4-a1"), Err(JournalError::Corrupt { .. })));
    }

    #[test]
    fn claims_counters_search_and_history() {
        let dir = tempdir();
        let j = SledJournal::open(&dir).unwrap();
        assert_eq!(j.claim("ctl:x12:ZZ:GLOBEX:1", 5).unwrap(), None);
        assert_eq!(j.claim("ctl:x12:ZZ:GLOBEX:1", 5).unwrap(), None, "the owner may claim again");
        assert_eq!(j.claim("ctl:x12:ZZ:GLOBEX:1", 6).unwrap(), Some(5));
        assert_eq!(j.next_counter("ack:globex", 2).unwrap(), 1);
        assert_eq!(j.next_counter("ack:globex", 1).unwrap(), 3);
        j.put_document(&doc("3-1", "globex", "ASN-1"), vec![]).unwrap();
        j.put_document(&doc("4-1", "initech", "ASN-2"), vec![]).unwrap();
        let found = j.documents(&Query { number: Some("4500012345".into()), ..Default::default() }).unwrap();
        assert_eq!(found.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["4-1", "3-1"]);
        let found = j.documents(&Query { partner: Some("globex".into()), ..Default::default() }).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(j.count_by_state().unwrap()[&State::Queued], 2);
        let mut d = j.document("3-1").unwrap().unwrap();
        d.state = State::Delivered;
        j.put_document(&d, vec![]).unwrap();
        let counts = j.count_by_state().unwrap();
        assert_eq!((counts[&State::Queued], counts[&State::Delivered]), (1, 1), "a state change moves the count");
        j.sync().unwrap();
        drop(j);
        let j = SledJournal::open(&dir).unwrap();
        let counts = j.count_by_state().unwrap();
        assert_eq!((counts[&State::Queued], counts[&State::Delivered]), (1, 1), "counted again at open");
        for s in [State::Mapped, State::Queued, State::Delivered] {
            j.record(&Event { at: now(), subject: "document:3-1".into(), state: s, cause: "test".into() }).unwrap();
        }
        let h: Vec<_> = j.history("document:3-1").unwrap().into_iter().map(|e| e.state).collect();
        assert_eq!(h, [State::Mapped, State::Queued, State::Delivered]);
        assert!(j.history("document:3-10").unwrap().is_empty(), "prefixes do not leak");
    }

    #[test]
    fn a_history_is_kept_with_its_record_and_merged_with_recorded_events() {
        let dir = tempdir();
        let j = SledJournal::open(&dir).unwrap();
        let t = |s: i64| chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        // An event recorded the old way (a journal from before histories were kept with records).
        j.record(&Event { at: t(0), subject: "document:7-1".into(), state: State::Mapped, cause: "old".into() }).unwrap();
        let mut d = doc("7-1", "globex", "ASN-7");
        j.put_document(&d, vec![Change::at(t(1), State::Queued, "interchange accepted")]).unwrap();
        d.state = State::Delivered;
        j.put_document(&d, vec![Change::at(t(2), State::Delivered, "ERP answered 201")]).unwrap();
        j.sync().unwrap();
        drop(j);
        let j = SledJournal::open(&dir).unwrap();
        let h: Vec<_> = j.history("document:7-1").unwrap().into_iter().map(|e| (e.subject, e.state, e.cause)).collect();
        assert_eq!(
            h,
            [
                ("document:7-1".to_string(), State::Mapped, "old".to_string()),
                ("document:7-1".to_string(), State::Queued, "interchange accepted".to_string()),
                ("document:7-1".to_string(), State::Delivered, "ERP answered 201".to_string()),
            ]
        );
        // The record reads as before; the history stays out of it.
        assert_eq!(j.document("7-1").unwrap().unwrap().state, State::Delivered);
        assert_eq!(j.count_by_state().unwrap()[&State::Delivered], 1);
        // Inputs alike.
        let rec = Intake {
            id: 9,
            partner: "globex".into(),
            channel: "http".into(),
            filename: None,
            received_at: t(0),
            size: 1,
            sha256: "00".into(),
            correlation_id: "c".into(),
            state: State::Received,
            interchanges: vec![],
            documents: vec![],
            acks: vec![],
            errors: vec![],
        };
        j.put_intake(&rec, Change::at(t(0), State::Received, "1 bytes by http")).unwrap();
        j.put_intake(&Intake { state: State::Validated, ..rec }, Change::at(t(1), State::Validated, "1 interchange(s)")).unwrap();
        let h: Vec<_> = j.history("intake:9").unwrap().into_iter().map(|e| e.state).collect();
        assert_eq!(h, [State::Received, State::Validated]);
        assert!(j.history("intake:90").unwrap().is_empty() && j.history("document:x").unwrap().is_empty());
        assert_eq!(j.unprocessed().unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn an_unfinished_snapshot_left_by_a_killed_process_does_not_stop_the_next_open() {
        let dir = tempdir();
        let sha = {
            let j = SledJournal::open(&dir).unwrap();
            let sha = j.put_raw(b"kept").unwrap();
            j.sync().unwrap();
            sha
        };
        // What kill -9 during a snapshot leaves (an empty `.generating` file, as seen in the kill test).
        std::fs::write(dir.join("db").join("snap.00000000FFFFFFFF.generating"), b"").unwrap();
        let j = SledJournal::open(&dir).unwrap();
        assert_eq!(j.raw(&sha).unwrap().unwrap(), b"kept");
        assert!(!dir.join("db").join("snap.00000000FFFFFFFF.generating").exists());
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("edigate-journal-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
