//! The intake pipeline, the same for every channel (HTTP upload, watched directory, later SFTP and
//! AS2): an input from an authenticated partner is kept, made durable, then read, checked,
//! acknowledged, translated and queued for delivery.
//!
//! 1. [`Pipeline::receive`]: raw bytes and the intake record into the journal, then a group commit
//!    ([`GroupCommit`]): only after it may a channel answer the sender (HTTP 2xx, SFTP close, AS2 MDN).
//! 2. [`Pipeline::process`]: on a processing thread (each has its own translator and compiled
//!    mappings; a partner's inputs always go to the same thread, so they are processed in the
//!    order handed over): every set validated and mapped; every interchange checked for its sender
//!    (the ISA/UNB sender must be the authenticated partner) and for duplicates (same sender and
//!    control number); acknowledgments (TA1/997/999/CONTRL) stored and written to the partner's
//!    outbox; the documents of accepted interchanges queued for delivery.
//!
//! Processing is idempotent (document ids are the input's id and the set's position; claims are
//! owned by the input), so inputs found unprocessed after a crash are simply processed again.
//! This module knows nothing of a transport.

use crate::journal::{self, AckRecord, Change, DocumentRecord, Intake, InterchangeFacts, Journal, JournalError, State};
use crate::mapping::Library;
use crate::profiles::Profiles;
use crate::syntax::ack::{acknowledge, AckOptions, X12AckSet};
use crate::syntax::diag::{Diagnostic, Location, Problem};
use crate::syntax::envelope::Standard;
use crate::syntax::validate::{Options, Report, Status};
use crate::translate::{SetOutcome, Translator};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch, Notify};

/// An input as a channel hands it over.
#[derive(Debug)]
pub struct Upload {
    /// The partner the channel authenticated (its profile code).
    pub partner: String,
    /// `http`, `directory`, ...
    pub channel: &'static str,
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
    /// Given by the client (`X-Correlation-Id`), or made here.
    pub correlation_id: Option<String>,
    /// An input already taken under this key is not taken again (a watched file seen twice).
    pub once_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("input of {size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the gateway is shutting down")]
    Closed,
}

/// Batches `Journal::sync` across concurrent inputs: a caller waits until a sync that started after
/// its writes has finished; one sync serves every caller that arrived while the previous one ran.
pub struct GroupCommit {
    journal: Arc<dyn Journal>,
    /// (tickets handed out, a sync is running)
    state: Mutex<(u64, bool)>,
    /// Highest ticket known durable.
    done: watch::Sender<u64>,
    syncs: std::sync::atomic::AtomicU64,
}

impl GroupCommit {
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        GroupCommit { journal, state: Mutex::new((0, false)), done: watch::Sender::new(0), syncs: Default::default() }
    }

    /// Returns when everything the caller wrote before calling is on disk.
    pub async fn durable(&self) -> Result<(), JournalError> {
        let ticket = {
            let mut s = self.state.lock().expect("group commit lock");
            s.0 += 1;
            s.0
        };
        let mut rx = self.done.subscribe();
        loop {
            if *rx.borrow_and_update() >= ticket {
                return Ok(());
            }
            let lead = {
                let mut s = self.state.lock().expect("group commit lock");
                if s.1 {
                    None
                } else {
                    s.1 = true;
                    Some(s.0)
                }
            };
            if let Some(target) = lead {
                let j = self.journal.clone();
                let r = tokio::task::spawn_blocking(move || j.sync()).await.unwrap_or_else(|e| Err(JournalError::Storage(e.to_string())));
                self.state.lock().expect("group commit lock").1 = false;
                self.syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match r {
                    Ok(()) => self.done.send_modify(|d| *d = (*d).max(target)),
                    Err(e) => {
                        // Wake the others: one of them leads the next try.
                        self.done.send_modify(|_| {});
                        return Err(e);
                    }
                }
                continue;
            }
            if rx.changed().await.is_err() {
                return Err(JournalError::Storage("group commit closed".into()));
            }
        }
    }

    /// How many syncs ran (for metrics: inputs / syncs is the batching factor).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Inputs up to this size are kept on the caller's thread by [`Pipeline::receive`]; larger ones
/// (hashing 64 MB takes a while) on a blocking thread.
const INLINE_RECEIVE: usize = 256 << 10;

/// An intake id, its raw bytes when the caller has them, and where the result goes.
type Job = (u64, Option<Vec<u8>>, oneshot::Sender<Result<Intake, JournalError>>);

/// The gateway's intake: receive, then process.
pub struct Pipeline {
    pub journal: Arc<dyn Journal>,
    pub commit: GroupCommit,
    pub profiles: Arc<Profiles>,
    /// Where delivery and operators read canonical JSON.
    pub canonicals: Arc<Canonicals>,
    /// One queue per processing thread; a partner's inputs always go to the same one.
    jobs: Vec<std::sync::mpsc::Sender<Job>>,
    /// Woken when documents were queued.
    pub delivery: Arc<Notify>,
    pub max_size: usize,
    inputs: std::sync::atomic::AtomicU64,
    /// Rejected inputs are told to people.
    notices: Option<tokio::sync::mpsc::UnboundedSender<crate::delivery::email::Notice>>,
    pub intake_latency: crate::metrics::Histogram,
    pub process_latency: crate::metrics::Histogram,
}

impl Pipeline {
    /// Inputs kept since start.
    pub fn inputs(&self) -> u64 {
        self.inputs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts `threads` processing threads (at least one).
    pub fn start(
        journal: Arc<dyn Journal>,
        library: Arc<Library>,
        profiles: Arc<Profiles>,
        outbox: PathBuf,
        max_size: usize,
        threads: usize,
        notices: Option<tokio::sync::mpsc::UnboundedSender<crate::delivery::email::Notice>>,
    ) -> Arc<Pipeline> {
        let delivery = Arc::new(Notify::new());
        let jobs = (0..threads.max(1))
            .map(|n| {
                let (jobs, rx) = std::sync::mpsc::channel::<Job>();
                let worker = Processor { journal: journal.clone(), profiles: profiles.clone(), outbox: outbox.clone() };
                let lib = library.clone();
                std::thread::Builder::new()
                    .name(format!("edigate-process-{n}"))
                    .spawn(move || {
                        let translator = Translator::new(&lib, &worker.profiles);
                        for (id, raw, reply) in rx {
                            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.process(&translator, id, raw)))
                                .unwrap_or_else(|p| worker.internal_error(id, p));
                            let _ = reply.send(out);
                        }
                    })
                    .expect("start a processing thread");
                jobs
            })
            .collect();
        Arc::new(Pipeline {
            canonicals: Arc::new(Canonicals::new(journal.clone(), library, profiles.clone())),
            commit: GroupCommit::new(journal.clone()),
            journal,
            profiles,
            jobs,
            delivery,
            max_size,
            inputs: Default::default(),
            notices,
            intake_latency: Default::default(),
            process_latency: Default::default(),
        })
    }

    /// Keeps an input: raw bytes and intake record durable when this returns.
    pub async fn receive(&self, up: Upload) -> Result<Intake, IntakeError> {
        self.receive_keeping(up).await.map(|(rec, _)| rec)
    }

    /// [`receive`](Self::receive), giving the bytes back for [`process_bytes`](Self::process_bytes).
    pub async fn receive_keeping(&self, up: Upload) -> Result<(Intake, Vec<u8>), IntakeError> {
        if up.bytes.len() > self.max_size {
            return Err(IntakeError::TooLarge { size: up.bytes.len(), limit: self.max_size });
        }
        let started = std::time::Instant::now();
        let j = self.journal.clone();
        let small = up.bytes.len() <= INLINE_RECEIVE;
        let keep = move || -> Result<(Intake, Vec<u8>), JournalError> {
            let sha256 = j.put_raw(&up.bytes)?;
            let id = j.next_intake_id()?;
            if let Some(key) = &up.once_key {
                if let Some(prev) = j.claim(&once_claim(&up.partner, key, &sha256), id)? {
                    if let Some(rec) = j.intake(prev)? {
                        return Ok((rec, up.bytes));
                    }
                }
            }
            let correlation_id = up
                .correlation_id
                .filter(|c| !c.is_empty() && c.len() <= 128 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
                .unwrap_or_else(|| format!("{}-{id}", &j.instance()[..8]));
            let rec = Intake {
                id,
                partner: up.partner,
                channel: up.channel.to_string(),
                filename: up.filename,
                received_at: journal::now(),
                size: up.bytes.len() as u64,
                sha256,
                correlation_id,
                state: State::Received,
                interchanges: vec![],
                documents: vec![],
                acks: vec![],
                errors: vec![],
            };
            j.put_intake(&rec, Change::at(rec.received_at, State::Received, format!("{} bytes by {}", rec.size, rec.channel)))?;
            Ok((rec, up.bytes))
        };
        // A small input is kept right here (tens of microseconds: hashing, one append, a few
        // in-memory sled writes); handing it to a blocking thread and back would cost as much.
        let (rec, bytes) = if small { keep()? } else { tokio::task::spawn_blocking(keep).await.map_err(|_| IntakeError::Closed)?? };
        self.commit.durable().await?;
        self.inputs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.intake_latency.observe(started.elapsed());
        tracing::info!(intake = rec.id, partner = %rec.partner, channel = %rec.channel, size = rec.size, correlation_id = %rec.correlation_id, "received");
        Ok((rec, bytes))
    }

    /// Processes a received input (again, if it was already: processing is idempotent) and returns
    /// its record with what became of it.
    /// `partner` picks the thread: one partner's inputs are processed one at a time, in the order
    /// they are handed over, so its documents are queued for delivery in that order.
    pub async fn process(&self, id: u64, partner: &str) -> Result<Intake, IntakeError> {
        self.process_job(id, partner, None).await
    }

    /// [`process`](Self::process) with the input's raw bytes at hand (from
    /// [`receive_keeping`](Self::receive_keeping)): not read back from the journal.
    pub async fn process_bytes(&self, id: u64, partner: &str, raw: Vec<u8>) -> Result<Intake, IntakeError> {
        self.process_job(id, partner, Some(raw)).await
    }

    async fn process_job(&self, id: u64, partner: &str, raw: Option<Vec<u8>>) -> Result<Intake, IntakeError> {
        let started = std::time::Instant::now();
        let (tx, rx) = oneshot::channel();
        self.jobs[shard(partner, self.jobs.len())].send((id, raw, tx)).map_err(|_| IntakeError::Closed)?;
        let rec = rx.await.map_err(|_| IntakeError::Closed)??;
        self.process_latency.observe(started.elapsed());
        if !rec.documents.is_empty() {
            self.delivery.notify_one();
        }
        if rec.state == State::Rejected {
            if let Some(tx) = &self.notices {
                let _ = tx.send(crate::delivery::email::Notice {
                    at: rec.received_at,
                    partner: rec.partner.clone(),
                    kind: crate::delivery::email::NoticeKind::Rejected,
                    subject: format!("intake {} ({} bytes by {}{})", rec.id, rec.size, rec.channel, rec.filename.as_deref().map(|f| format!(", {f}")).unwrap_or_default()),
                    text: rec.errors.iter().take(5).cloned().collect::<Vec<_>>().join("\n"),
                    link: format!("GET /api/v1/intakes/{}; raw bytes: GET /api/v1/intakes/{}/raw", rec.id, rec.id),
                });
            }
        }
        Ok(rec)
    }

    /// Processes every input left unprocessed by a crash or a stop.
    pub async fn recover(&self) -> Result<usize, IntakeError> {
        let ids = self.journal.unprocessed()?;
        for &id in &ids {
            let partner = self.journal.intake(id)?.map(|r| r.partner).unwrap_or_default();
            self.process(id, &partner).await?;
        }
        if !ids.is_empty() {
            tracing::info!(inputs = ids.len(), "processed inputs left from the last run");
        }
        Ok(ids.len())
    }
}

/// What a processing thread owns.
struct Processor {
    journal: Arc<dyn Journal>,
    profiles: Arc<Profiles>,
    outbox: PathBuf,
}

/// A set's document as processing saw it.
struct SetSeen {
    id: String,
    mapped: bool,
    /// Written once, when its interchange's fate is known, with its first change (mapped or
    /// rejected).
    record: DocumentRecord,
    change: Change,
}

impl Processor {
    fn process(&self, translator: &Translator<'_>, id: u64, raw: Option<Vec<u8>>) -> Result<Intake, JournalError> {
        let j = &*self.journal;
        let mut rec = j.intake(id)?.ok_or_else(|| JournalError::NotFound(format!("intake {id}")))?;
        if rec.state != State::Received {
            return Ok(rec);
        }
        // Unreadable raw bytes: only a power loss between an input's writes and their sync (so the
        // sender was never answered) or a damaged disk does this; the input is marked, not retried.
        let raw = match raw.map_or_else(|| raw_bytes(j, &rec), |raw| Ok(Ok(raw)))? {
            Ok(raw) => raw,
            Err(why) => return self.unreadable(rec, why),
        };
        let span = tracing::info_span!("process", intake = id, partner = %rec.partner, correlation_id = %rec.correlation_id);
        let _enter = span.enter();
        let now = journal::now();

        // Every set: its document record (mapped, or rejected with the reason), in input order.
        let mut seen: Vec<SetSeen> = Vec::new();
        let mut failure: Option<JournalError> = None;
        let report = translator.translate(&raw[..], in_memory(&raw), |o: SetOutcome| {
            if failure.is_some() {
                return;
            }
            let n = seen.len() as u32 + 1;
            let doc_id = format!("{id}-{n}");
            if let Err(e) = self.keep_set(&rec, &doc_id, o, now).map(|(record, change)| seen.push(SetSeen { id: doc_id, mapped: record.state == State::Mapped, record, change })) {
                failure = Some(e);
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let mut report = report.map_err(|e| JournalError::Storage(format!("reading the input from memory: {e}")))?;

        // Every interchange: envelope errors, sender, duplicates; then its sets' fate.
        let partner = self.profiles.get(&rec.partner);
        let mut sets = seen.into_iter();
        let mut accepted_any = false;
        let mut duplicates = 0;
        for ic in report.interchanges.iter_mut() {
            let h = &ic.header;
            let n_sets: usize = ic.groups.iter().map(|g| g.sets.len()).sum();
            let mut facts = InterchangeFacts {
                standard: h.standard.name().to_string(),
                sender: format!("{}:{}", h.sender.qualifier.trim(), h.sender.id.trim()),
                receiver: format!("{}:{}", h.receiver.qualifier.trim(), h.receiver.id.trim()),
                control_number: h.control_number.clone(),
                date: h.date.clone(),
                time: h.time.clone(),
                test: h.test,
                status: "accepted".into(),
                duplicate_of: None,
                sets: n_sets as u32,
            };
            let (header, trailer): (&[u8], &str) = match h.standard {
                Standard::X12 => (b"ISA", "IEA"),
                Standard::Edifact => (b"UNB", "UNZ"),
            };
            let at = Location::segment(h.offset, 1, header);
            let verdict: Result<(), (State, String)> = if ic.status() == Status::Rejected || !ic.trailer {
                let mut why = ic.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect::<Vec<_>>();
                if !ic.trailer {
                    why.push(format!("the input ended before the interchange trailer ({trailer})"));
                }
                Err((State::Rejected, format!("interchange {} rejected: {}", h.control_number, why.join("; "))))
            } else if !partner.is_some_and(|p| p.is_sender_of(h)) {
                let msg = format!(
                    "interchange {}: sender {} is not partner {:?} (the channel authenticated {:?}; its profile says {})",
                    h.control_number,
                    facts.sender,
                    rec.partner,
                    rec.partner,
                    partner.map(|p| expected_sender(p, h.standard)).unwrap_or_else(|| "nothing: no profile".into())
                );
                ic.diagnostics.push(Diagnostic::error(Problem::UnknownSender, at, msg.clone()));
                Err((State::Rejected, msg))
            } else {
                let key = format!("interchange:{}:{}:{}", facts.standard, facts.sender, h.control_number);
                match j.claim(&key, id)? {
                    None => Ok(()),
                    Some(prev) => {
                        let msg = format!("interchange {} from {} was received before, in input {prev}: not processed again", h.control_number, facts.sender);
                        ic.diagnostics.push(Diagnostic::error(Problem::DuplicateInterchange, at, msg.clone()));
                        facts.duplicate_of = Some(prev);
                        Err((State::Duplicate, msg))
                    }
                }
            };
            match &verdict {
                Ok(()) => {}
                Err((State::Duplicate, m)) => {
                    facts.status = "duplicate".into();
                    duplicates += 1;
                    rec.errors.push(m.clone());
                }
                Err((_, m)) => {
                    facts.status = "rejected".into();
                    rec.errors.push(m.clone());
                }
            }
            for set in sets.by_ref().take(n_sets) {
                accepted_any |= verdict.is_ok() && set.mapped;
                rec.documents.push(set.id.clone());
                self.settle(&rec, set, &verdict)?;
            }
            rec.interchanges.push(facts);
        }
        // Sets the report did not place (none expected): kept, never delivered.
        for set in sets {
            rec.documents.push(set.id.clone());
            self.settle(&rec, set, &Err((State::Rejected, "outside any interchange".into())))?;
        }
        for d in &report.diagnostics {
            rec.errors.push(d.to_string());
        }
        for (_, d) in report.all_diagnostics().filter(|(_, d)| d.is_error() && d.problem.level() != crate::syntax::diag::Level::Interchange) {
            if rec.errors.len() < 50 {
                rec.errors.push(d.to_string());
            }
        }
        if report.interchanges.is_empty() && report.diagnostics.is_empty() {
            rec.errors.push("no interchange: the input is empty or holds no ISA/UNB".into());
        }

        self.acknowledge(&mut rec, &report)?;

        // Validated when something goes on to the ERP; the errors of what does not are listed either way.
        rec.state = if accepted_any {
            State::Validated
        } else if duplicates > 0 && duplicates == report.interchanges.len() {
            State::Duplicate
        } else {
            State::Rejected
        };
        let cause = match rec.state {
            State::Validated => format!("{} interchange(s), {} document(s)", rec.interchanges.len(), rec.documents.len()),
            _ => rec.errors.first().cloned().unwrap_or_default(),
        };
        j.put_intake(&rec, Change::new(rec.state, cause))?;
        tracing::info!(state = %rec.state, documents = rec.documents.len(), acks = rec.acks.len(), "processed");
        Ok(rec)
    }

    fn unreadable(&self, rec: Intake, why: String) -> Result<Intake, JournalError> {
        tracing::error!(intake = rec.id, "raw bytes unreadable: {why}");
        let error = format!("the input's raw bytes cannot be read ({why}); it was never acknowledged to its sender unless the disk is damaged");
        self.reject(rec, error, "raw bytes unreadable")
    }

    /// An input that cannot be processed: kept, marked rejected with the reason.
    fn reject(&self, mut rec: Intake, error: String, cause: &str) -> Result<Intake, JournalError> {
        rec.state = State::Rejected;
        rec.errors.push(error);
        self.journal.put_intake(&rec, Change::new(State::Rejected, cause))?;
        Ok(rec)
    }

    /// Keeps one set's canonical JSON when it mapped. Returns its document record (mapped, or
    /// rejected with the reason) and that first change, which `settle` writes.
    fn keep_set(&self, rec: &Intake, doc_id: &str, o: SetOutcome, now: chrono::DateTime<chrono::Utc>) -> Result<(DocumentRecord, Change), JournalError> {
        let j = &*self.journal;
        let p = &o.provenance;
        let mut d = DocumentRecord {
            id: doc_id.to_string(),
            intake: rec.id,
            partner: rec.partner.clone(),
            kind: None,
            document_type: p.document_type.clone(),
            version: p.version.clone(),
            interchange_control_number: p.interchange_control_number.clone(),
            set_control_number: p.set_control_number.clone(),
            number: None,
            order_numbers: vec![],
            state: State::Mapped,
            error: None,
            created_at: now,
            updated_at: now,
            attempts: 0,
            next_attempt_at: None,
            correlation_id: rec.correlation_id.clone(),
        };
        let (state, cause) = match o.result {
            Ok(doc) => {
                d.kind = Some(doc.kind().to_string());
                d.number = Some(doc.number().to_string());
                d.order_numbers = doc.order_numbers().into_iter().map(str::to_string).collect();
                j.put_canonical(doc_id, &canonical_json(doc, rec))?;
                (State::Mapped, format!("mapped with {}", o.mapping.as_deref().unwrap_or("?")))
            }
            Err(e) => {
                let msg = format!("set {} ({} {}): {e}", p.set_control_number, p.document_type, p.version);
                d.error = Some(msg.clone());
                (State::Rejected, msg)
            }
        };
        d.state = state;
        Ok((d, Change::at(now, state, cause)))
    }

    /// A set's final state: queued when its interchange was accepted and it mapped.
    fn settle(&self, rec: &Intake, set: SetSeen, verdict: &Result<(), (State, String)>) -> Result<(), JournalError> {
        let j = &*self.journal;
        let mut d = set.record;
        let (state, cause) = match verdict {
            Ok(()) if set.mapped => (State::Queued, "interchange accepted".to_string()),
            // Rejected by validation or mapping: as keep_set left it.
            Ok(()) => return j.put_document(&d, vec![set.change]),
            Err((s, why)) => (*s, why.clone()),
        };
        d.state = state;
        d.updated_at = journal::now();
        if state != State::Queued {
            d.error.get_or_insert_with(|| cause.clone());
        }
        j.put_document(&d, vec![set.change, Change::at(d.updated_at, state, cause)])?;
        if state == State::Queued {
            j.enqueue(&rec.partner, &d.id)?;
        }
        Ok(())
    }

    /// Acknowledgments for every interchange (per the partner's profile), kept and put in its outbox.
    fn acknowledge(&self, rec: &mut Intake, report: &Report) -> Result<(), JournalError> {
        let j = &*self.journal;
        let asked = self.profiles.get(&rec.partner).and_then(|p| p.profile.acknowledgments.as_ref()).map(|a| a.kind.to_ascii_uppercase());
        if asked.as_deref() == Some("NONE") || report.interchanges.is_empty() {
            return Ok(());
        }
        // The profile's 997 or 999 wins over the version's default (TA1 and CONTRL are what they are).
        let x12_set = match asked.as_deref() {
            Some("997") => X12AckSet::Fa997,
            Some("999") => X12AckSet::Ia999,
            _ => X12AckSet::ByVersion,
        };
        let n = report.interchanges.len() as u64;
        let groups: u64 = report.interchanges.iter().map(|i| i.groups.len().max(1) as u64).sum();
        let control = j.next_counter(&format!("ack:{}", rec.partner), n)?;
        let group = j.next_counter(&format!("ack-group:{}", rec.partner), groups)?;
        let (date, time) = crate::syntax::ack::now_utc();
        let opts = AckOptions { control_number: (control % 999_999_999) as u32, group_control_number: (group % 999_999_999) as u32, date, time, x12_set, ..AckOptions::default() };
        let acks = match acknowledge(report, &opts) {
            Ok(a) => a,
            Err(e) => {
                rec.errors.push(format!("no acknowledgment could be written: {e}"));
                return Ok(());
            }
        };
        let dir = self.outbox.join(&rec.partner);
        for (i, (a, ic)) in acks.iter().zip(&rec.interchanges).enumerate() {
            let ack_id = format!("{}-a{}", rec.id, i + 1);
            let file = format!("ack-{}-{}.edi", rec.id, i + 1);
            let ar = AckRecord {
                id: ack_id.clone(),
                intake: rec.id,
                partner: rec.partner.clone(),
                standard: a.standard.name().to_string(),
                acknowledges: a.acknowledges.clone(),
                control_number: opts.control_number + i as u32,
                file: file.clone(),
                created_at: journal::now(),
                summary: ic.status.clone(),
            };
            j.put_ack(&ar, &a.bytes)?;
            write_atomically(&dir, &file, &a.bytes).map_err(|source| JournalError::Blob { path: dir.join(&file).display().to_string(), source })?;
            rec.acks.push(ack_id);
        }
        Ok(())
    }

    /// A bug met an input: it is kept, marked rejected, and the thread goes on.
    fn internal_error(&self, id: u64, panic: Box<dyn std::any::Any + Send>) -> Result<Intake, JournalError> {
        let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
        tracing::error!(intake = id, "internal error while processing: {what}");
        let rec = self.journal.intake(id)?.ok_or_else(|| JournalError::NotFound(format!("intake {id}")))?;
        self.reject(rec, format!("internal error while processing (the input is kept): {what}"), "internal error")
    }
}

/// An input's raw bytes from the journal: `Ok(Err(why))` when they are missing or damaged (a
/// power loss before their sync, or a damaged disk), an error when the journal itself fails.
fn raw_bytes(j: &dyn Journal, rec: &Intake) -> Result<Result<Vec<u8>, String>, JournalError> {
    match j.raw(&rec.sha256) {
        Ok(Some(raw)) => Ok(Ok(raw)),
        Ok(None) => Ok(Err(format!("raw bytes {} not found in the journal", rec.sha256))),
        Err(e @ (JournalError::Corrupt { .. } | JournalError::NotFound(_))) => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

/// Reading options for an input held in memory: no set is larger than the input, so the reader's
/// window is the input's size, not the 256 KB (zeroed) a stream of unknown length starts with.
fn in_memory(raw: &[u8]) -> Options {
    let mut opts = Options::default();
    opts.limits.max_set_bytes = opts.limits.max_set_bytes.min(raw.len() + 1);
    opts
}

/// A set's canonical JSON as kept: its provenance names the input's raw bytes and its partner.
fn canonical_json(mut doc: crate::model::Document, rec: &Intake) -> Vec<u8> {
    doc.provenance_mut().raw_id = Some(rec.sha256.clone());
    doc.provenance_mut().partner = Some(rec.partner.clone());
    serde_json::to_vec(&doc).expect("canonical documents serialize")
}

/// Reads documents' canonical JSON for delivery and operators. Canonical JSON is kept after its
/// input was acknowledged, and a power loss before the next sync can take it while keeping the
/// records that point at it (the journal then answers [`JournalError::Corrupt`]). The input's raw
/// bytes were durable before its acknowledgment, so the document is made again from them, with the
/// mappings and profiles in force, kept anew, and the rebuild is written in its history.
pub struct Canonicals {
    journal: Arc<dyn Journal>,
    library: Arc<Library>,
    profiles: Arc<Profiles>,
}

impl Canonicals {
    pub fn new(journal: Arc<dyn Journal>, library: Arc<Library>, profiles: Arc<Profiles>) -> Canonicals {
        Canonicals { journal, library, profiles }
    }

    pub fn get(&self, id: &str) -> Result<Option<Vec<u8>>, JournalError> {
        match self.journal.canonical(id) {
            Err(JournalError::Corrupt { key, message }) => self.rebuild(id, &format!("{key}: {message}")).map(Some),
            kept => kept,
        }
    }

    fn rebuild(&self, id: &str, why: &str) -> Result<Vec<u8>, JournalError> {
        let j = &*self.journal;
        let cannot = |m: String| JournalError::Corrupt { key: format!("canonical JSON of document {id}"), message: format!("{why}; it cannot be made again: {m}") };
        let d = j.document(id)?.ok_or_else(|| cannot("no document record".into()))?;
        let (_, n) = DocumentRecord::parse_id(id).ok_or_else(|| cannot("not a document id".into()))?;
        let rec = j.intake(d.intake)?.ok_or_else(|| cannot(format!("no intake {}", d.intake)))?;
        let raw = raw_bytes(j, &rec)?.map_err(|why| cannot(format!("its input's raw bytes cannot be read either ({why})")))?;
        let mut set = None;
        let mut seen = 0u32;
        Translator::new(&self.library, &self.profiles)
            .translate(&raw[..], in_memory(&raw), |o: SetOutcome| {
                seen += 1;
                if seen == n {
                    set = Some(o.result);
                }
            })
            .map_err(|e| cannot(format!("reading the input: {e}")))?;
        let doc = match set {
            Some(Ok(doc)) => doc,
            Some(Err(e)) => return Err(cannot(format!("set {n} no longer maps: {e}"))),
            None => return Err(cannot(format!("the input has {seen} set(s), not {n}"))),
        };
        let json = canonical_json(doc, &rec);
        j.put_canonical(id, &json)?;
        let cause = format!("canonical JSON made again from the input's raw bytes with the mappings in force (the kept copy could not be read: {why})");
        tracing::warn!(document = id, "{cause}");
        j.record(&Change::new(d.state, cause).event(&format!("document:{id}")))?;
        Ok(json)
    }
}

fn expected_sender(p: &crate::profiles::Loaded, standard: Standard) -> String {
    let pr = &p.profile;
    match standard {
        Standard::X12 => pr.x12.as_ref().map(|x| format!("{}:{}", x.qualifier, x.id)),
        Standard::Edifact => pr.edifact.as_ref().map(|e| format!("{}:{}", e.qualifier.as_deref().unwrap_or(""), e.id)),
    }
    .unwrap_or_else(|| format!("no {} identity", standard.name()))
}

/// The processing thread of a partner: FNV-1a of its code, so the choice is the same on every start.
fn shard(partner: &str, threads: usize) -> usize {
    let h = partner.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (h % threads as u64) as usize
}

/// The claim that keeps an input with a `once_key` from being taken twice.
pub fn once_claim(partner: &str, key: &str, sha256: &str) -> String {
    format!("once:{partner}:{key}:{sha256}")
}

/// Writes `dir/name` so that readers see the whole file or none of it. Not fsynced: what is written
/// here (acknowledgments in an outbox) is kept in the journal, which is the record.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    // An unnamed file linked in once written: one directory entry made, none renamed or removed.
    match write_unnamed_then_link(dir, name, bytes) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            if write_unnamed_then_link(dir, name, bytes).is_ok() {
                return Ok(());
            }
        }
        // The name exists (an input processed again: its file is replaced below), or the file
        // system has no unnamed files.
        Err(_) => {}
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// `O_TMPFILE` in `dir`, the bytes written, then `linkat` under `name` (fails if `name` exists).
#[cfg(target_os = "linux")]
fn write_unnamed_then_link(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let mut f = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_TMPFILE).mode(0o644).open(dir)?;
    f.write_all(bytes)?;
    let cstr = |b: &[u8]| std::ffi::CString::new(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
    let from = cstr(format!("/proc/self/fd/{}", f.as_raw_fd()).as_bytes())?;
    let to = cstr(dir.join(name).as_os_str().as_bytes())?;
    // SAFETY: both paths are NUL-terminated C strings that outlive the call.
    match unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn write_unnamed_then_link(_dir: &Path, _name: &str, _bytes: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no unnamed files here"))
}

#[cfg(test)]
mod tests {
    use super::shard;

    #[test]
    fn outbox_files_appear_whole_replace_the_same_name_and_leave_nothing_else() {
        let root = std::env::temp_dir().join(format!("edigate-outbox-{}-{}", std::process::id(), fastrand::u32(..)));
        let dir = root.join("globex");
        super::write_atomically(&dir, "ack-1-1.edi", b"ISA*first~").unwrap();
        assert_eq!(std::fs::read(dir.join("ack-1-1.edi")).unwrap(), b"ISA*first~", "the directory is made when missing");
        super::write_atomically(&dir, "ack-1-1.edi", b"ISA*again~").unwrap();
        assert_eq!(std::fs::read(dir.join("ack-1-1.edi")).unwrap(), b"ISA*again~", "processed again: the file is replaced");
        super::write_atomically(&dir, "ack-2-1.edi", b"ISA*second~").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["ack-1-1.edi", "ack-2-1.edi"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_partner_keeps_its_processing_thread() {
        // The same code always lands on the same thread (its inputs stay in order) ...
        for code in ["acme-supplies", "wayne-retail", "bench-0"] {
            assert_eq!(shard(code, 2), shard(code, 2));
            assert_eq!(shard(code, 1), 0);
        }
        // ... and partners spread over the threads.
        let codes: Vec<String> = (0..8).map(|n| format!("bench-{n}")).collect();
        let on_first = codes.iter().filter(|c| shard(c, 2) == 0).count();
        assert!((1..8).contains(&on_first), "{on_first} of 8 partners on thread 0");
        assert!(codes.iter().all(|c| shard(c, 3) < 3));
    }
}
