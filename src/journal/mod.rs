//! The journal: every raw input, its envelope facts, every canonical document, acknowledgment and
//! delivery attempt, and every state change with its time and cause. Nothing is lost: raw bytes are
//! kept before anything else happens to them, and nothing is delivered twice: a document's
//! delivery state and its idempotency key live here.
//!
//! Storage sits behind the [`Journal`] trait; [`embedded::SledJournal`] (sled 0.34, one directory
//! on disk) is the embedded default. No sled type leaves this module. Records are serde types
//! written as JSON, so a journal can be read with nothing but a sled dump and, for raw inputs and
//! canonical documents, the value log beside it ([`values`]: length, CRC32, bytes).
//!
//! Durability: writes are in memory until [`Journal::sync`] returns. The pipeline calls it (batched
//! across concurrent inputs, see `pipeline::GroupCommit`) before anything is acknowledged to a sender.

pub mod embedded;
pub mod values;

pub use embedded::{sha256_hex, SledJournal};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The current time (UTC).
pub fn now() -> DateTime<Utc> {
    DateTime::from(std::time::SystemTime::now())
}

/// What a journal operation could not do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal storage: {0}")]
    Storage(String),
    #[error("journal blob {path}: {source}")]
    Blob {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal record {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
    #[error("{0} not found in the journal")]
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, JournalError>;

/// Where an input or a document stands. Inputs: received → validated | rejected | duplicate.
/// Documents: mapped → queued → delivered | failed (retrying) | dead_lettered; a set that could not be
/// validated or mapped is `rejected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Received,
    Validated,
    Rejected,
    Duplicate,
    Mapped,
    Queued,
    Delivered,
    Failed,
    DeadLettered,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Received,
        State::Validated,
        State::Rejected,
        State::Duplicate,
        State::Mapped,
        State::Queued,
        State::Delivered,
        State::Failed,
        State::DeadLettered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Validated => "validated",
            State::Rejected => "rejected",
            State::Duplicate => "duplicate",
            State::Mapped => "mapped",
            State::Queued => "queued",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::DeadLettered => "dead_lettered",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.name() == s || x.name().replace('_', "-") == s)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One input as it arrived: an HTTP upload, a file from a watched directory, later an SFTP upload or
/// an AS2 message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Intake {
    pub id: u64,
    /// The partner the channel authenticated.
    pub partner: String,
    /// `http`, `directory`, ...
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub received_at: DateTime<Utc>,
    pub size: u64,
    /// SHA-256 of the raw bytes: their key in the journal.
    pub sha256: String,
    /// Follows the input through logs and to the ERP (`X-Correlation-Id`).
    pub correlation_id: String,
    pub state: State,
    /// Envelope facts, once read.
    #[serde(default)]
    pub interchanges: Vec<InterchangeFacts>,
    /// Ids of the documents made from it.
    #[serde(default)]
    pub documents: Vec<String>,
    /// Ids of the acknowledgments sent for it.
    #[serde(default)]
    pub acks: Vec<String>,
    /// Why it was rejected, in words (interchange / segment / element positions included).
    #[serde(default)]
    pub errors: Vec<String>,
}

/// ISA/UNB facts of one interchange of an input.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InterchangeFacts {
    pub standard: String,
    /// `qualifier:id`.
    pub sender: String,
    pub receiver: String,
    pub control_number: String,
    pub date: String,
    pub time: String,
    pub test: bool,
    /// `accepted`, `rejected` or `duplicate`.
    pub status: String,
    /// The input that first brought this interchange, for a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<u64>,
    pub sets: u32,
}

/// One transaction set / message of an input, and what became of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// `{intake}-{n}`: the n-th set (from 1) of the input.
    pub id: String,
    pub intake: u64,
    pub partner: String,
    /// The canonical type (`purchase_order`, ...), when mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The EDI document (`850`, `DESADV`) and version.
    pub document_type: String,
    pub version: String,
    pub interchange_control_number: String,
    pub set_control_number: String,
    /// Its own business number: the order, shipment or invoice number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// The purchase orders it is about (for "where is the ASN for PO 4500012345?").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_numbers: Vec<String>,
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub correlation_id: String,
}

impl DocumentRecord {
    /// The key documents are stored and listed under: intake then set number, so that listing order
    /// is arrival order.
    pub fn key(intake: u64, n: u32) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&intake.to_be_bytes());
        k[8..].copy_from_slice(&n.to_be_bytes());
        k
    }

    /// `42-3` → (42, 3).
    pub fn parse_id(id: &str) -> Option<(u64, u32)> {
        let (a, b) = id.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}

/// An acknowledgment written for an input (TA1, 997, 999, CONTRL).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AckRecord {
    /// `{intake}-a{n}`.
    pub id: String,
    pub intake: u64,
    pub partner: String,
    pub standard: String,
    /// The interchange control number acknowledged.
    pub acknowledges: String,
    /// ISA13 / UNB 0020 of the acknowledgment itself.
    pub control_number: u32,
    /// Its file name in the partner's outbox.
    pub file: String,
    pub created_at: DateTime<Utc>,
    /// Accepted, or what it reports.
    pub summary: String,
}

/// One try to hand a document to the ERP.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    pub document: String,
    pub n: u32,
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `delivered`, `retry` or `dead_letter`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the ERP's answer, kept for dead letters and operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// A state change: of `intake:42`, `document:42-1`, `outbound:globex/ack-42-1.edi`, ...
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub subject: String,
    pub state: State,
    pub cause: String,
}

/// A state change of an input or a document, written with its record (one write, not two): the
/// record's history is its changes in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub state: State,
    pub cause: String,
}

impl Change {
    pub fn new(state: State, cause: impl Into<String>) -> Change {
        Change { at: now(), state, cause: cause.into() }
    }

    pub fn at(at: DateTime<Utc>, state: State, cause: impl Into<String>) -> Change {
        Change { at, state, cause: cause.into() }
    }

    /// As an event of `subject`.
    pub fn event(self, subject: &str) -> Event {
        Event { at: self.at, subject: subject.to_string(), state: self.state, cause: self.cause }
    }
}

/// A document waiting for delivery, in its partner's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub partner: String,
    pub document: String,
}

/// Filters for listing documents; all optional, combined with AND.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Query {
    pub partner: Option<String>,
    /// Canonical type (`ship_notice`) or EDI document (`856`, `DESADV`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub state: Option<State>,
    /// Its own number, or an order it is about.
    pub number: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<usize>,
}

impl Query {
    pub fn matches(&self, d: &DocumentRecord) -> bool {
        self.partner.as_ref().is_none_or(|p| &d.partner == p)
            && self.kind.as_ref().is_none_or(|k| d.kind.as_ref() == Some(k) || &d.document_type == k)
            && self.state.is_none_or(|s| d.state == s)
            && self.number.as_ref().is_none_or(|n| d.number.as_ref() == Some(n) || d.order_numbers.contains(n))
            && self.from.is_none_or(|t| d.created_at >= t)
            && self.to.is_none_or(|t| d.created_at < t)
    }
}

/// The storage of the gateway. Every method is synchronous and quick (in-memory until [`sync`]);
/// callers on an async runtime use `spawn_blocking` for [`sync`] and for raw inputs.
///
/// [`sync`]: Journal::sync
pub trait Journal: Send + Sync + 'static {
    /// A random id made when the journal was created: part of every idempotency key, so that a new
    /// journal never reuses the keys of an old one.
    fn instance(&self) -> &str;
    /// Keeps raw bytes under their SHA-256 (hex), which it returns. Idempotent.
    fn put_raw(&self, bytes: &[u8]) -> Result<String>;
    fn raw(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
    /// A new intake id (increasing, never reused).
    fn next_intake_id(&self) -> Result<u64>;
    /// The next value of a named counter, starting at 1 (acknowledgment control numbers).
    fn next_counter(&self, name: &str, by: u64) -> Result<u64>;
    /// Claims `key` for `owner`; returns the earlier owner when someone has it already.
    fn claim(&self, key: &str, owner: u64) -> Result<Option<u64>>;
    /// Gives a claim up.
    fn release(&self, key: &str) -> Result<()>;
    /// Keeps a receipt given to a partner (an AS2 MDN), to give the same one again and as evidence.
    fn put_receipt(&self, key: &str, bytes: &[u8]) -> Result<()>;
    fn receipt(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Receipts whose key starts with `prefix` (pending asynchronous MDNs: `as2-wait:`).
    fn receipts(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    fn remove_receipt(&self, key: &str) -> Result<()>;

    /// Stores an input's record with the state change that made it (added to its history).
    fn put_intake(&self, r: &Intake, change: Change) -> Result<()>;
    fn intake(&self, id: u64) -> Result<Option<Intake>>;
    /// Inputs received but not processed yet (after a crash).
    fn unprocessed(&self) -> Result<Vec<u64>>;
    /// Inputs, newest first.
    fn intakes(&self, limit: usize) -> Result<Vec<Intake>>;

    /// Stores a document record with the state changes that made it (added to its history), and
    /// indexes its numbers.
    fn put_document(&self, d: &DocumentRecord, changes: Vec<Change>) -> Result<()>;
    fn document(&self, id: &str) -> Result<Option<DocumentRecord>>;
    /// Keeps a document's canonical JSON. It is written after its input was acknowledged: until the
    /// next [`sync`](Journal::sync) a power loss may take it while keeping the records that point
    /// at it, so it must be derivable again (from the durable raw input, `pipeline::Canonicals`).
    fn put_canonical(&self, id: &str, json: &[u8]) -> Result<()>;
    /// A document's canonical JSON; [`JournalError::Corrupt`] when what was kept did not survive.
    fn canonical(&self, id: &str) -> Result<Option<Vec<u8>>>;
    /// Documents matching a query, newest first.
    fn documents(&self, q: &Query) -> Result<Vec<DocumentRecord>>;
    /// How many documents are in each state.
    fn count_by_state(&self) -> Result<BTreeMap<State, u64>>;

    fn put_ack(&self, a: &AckRecord, bytes: &[u8]) -> Result<()>;
    fn ack(&self, id: &str) -> Result<Option<(AckRecord, Vec<u8>)>>;

    /// Appends a state change of a subject without a record of its own here (`outbound:...`,
    /// `as2:...`); an input's or a document's changes go with its record (`put_intake`,
    /// `put_document`).
    fn record(&self, e: &Event) -> Result<()>;
    /// The state changes of a subject, oldest first: those recorded, and for `intake:ID` and
    /// `document:ID` those kept with the record.
    fn history(&self, subject: &str) -> Result<Vec<Event>>;

    /// Puts a document in its partner's delivery queue, at its place in arrival order.
    fn enqueue(&self, partner: &str, document: &str) -> Result<()>;
    fn dequeue(&self, partner: &str, document: &str) -> Result<()>;
    /// The first waiting document of every partner.
    fn queue_heads(&self) -> Result<Vec<QueueEntry>>;
    fn queue_len(&self) -> Result<u64>;

    fn add_attempt(&self, a: &Attempt) -> Result<()>;
    fn attempts(&self, document: &str) -> Result<Vec<Attempt>>;

    /// Everything written so far is on disk when this returns.
    fn sync(&self) -> Result<()>;
}
