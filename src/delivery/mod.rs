//! Delivery of queued documents to the ERP, exactly once.
//!
//! Each partner has a queue in the journal, in arrival order; only its first document is in flight,
//! so a PO's confirmation is never overtaken by its ship notice. Partners are delivered side by side,
//! at most `erp.concurrency` at once. A failed try is retried with exponential backoff and full
//! jitter (or after the ERP's `Retry-After`), until `erp.max_attempts`; a refusal (4xx other than 408
//! and 429) dead-letters the document at once, with the ERP's answer kept. Dead letters are replayed
//! by operators ([`Delivery::replay`]).
//!
//! Exactly once: a document's `Idempotency-Key` is the journal's instance id and the document id, the
//! same on every try and after a restart, so an ERP that honours it (as `dev-erp` does) takes each
//! document once even when edigate dies between the ERP's answer and recording it.

pub mod as2;
pub mod email;
pub mod erp;
pub mod sftp;

use crate::journal::{self, Attempt, Change, DocumentRecord, Event, Journal, JournalError, State};
use crate::pipeline::Canonicals;
use erp::{Answer, Erp};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};

/// When to try again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// The wait after the `n`-th failed try (from 1): full jitter over `initial * 2^(n-1)`, capped; at
    /// least what the ERP asked for.
    pub fn delay(&self, n: u32, asked: Option<Duration>) -> Duration {
        let ceiling = self.initial.saturating_mul(1u32 << (n.saturating_sub(1)).min(20)).min(self.max);
        let jittered = ceiling.mul_f64(0.5 + fastrand::f64() * 0.5);
        match asked {
            Some(a) => jittered.max(a.min(self.max.max(Duration::from_secs(3600)))),
            None => jittered,
        }
    }
}

/// Counters for the metrics endpoint.
#[derive(Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub delivered: AtomicU64,
    pub retries: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Received → delivered.
    pub latency: crate::metrics::Histogram,
}

pub struct Delivery {
    journal: Arc<dyn Journal>,
    canonicals: Arc<Canonicals>,
    erp: Erp,
    policy: RetryPolicy,
    concurrency: usize,
    /// Woken when something was queued or replayed.
    pub wake: Arc<Notify>,
    busy: Mutex<HashSet<String>>,
    pub stats: Stats,
    /// Dead letters are told to people.
    notices: Option<tokio::sync::mpsc::UnboundedSender<email::Notice>>,
}

impl Delivery {
    pub fn new(
        journal: Arc<dyn Journal>,
        canonicals: Arc<Canonicals>,
        erp: Erp,
        policy: RetryPolicy,
        concurrency: usize,
        wake: Arc<Notify>,
        notices: Option<tokio::sync::mpsc::UnboundedSender<email::Notice>>,
    ) -> Arc<Delivery> {
        Arc::new(Delivery { journal, canonicals, erp, policy, concurrency: concurrency.max(1), wake, busy: Mutex::new(HashSet::new()), stats: Stats::default(), notices })
    }

    /// Delivers until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        loop {
            let next = match self.start_ready(&slots) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!("delivery: {e}");
                    Some(Duration::from_secs(1))
                }
            };
            let nap = next.unwrap_or(Duration::from_secs(5));
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(nap) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Starts a try for each partner whose first document is due; returns when the next is due.
    fn start_ready(self: &Arc<Self>, slots: &Arc<Semaphore>) -> Result<Option<Duration>, JournalError> {
        let now = journal::now();
        let mut next: Option<Duration> = None;
        // Every slot in use: nothing could start, and the end of a try wakes the loop again.
        if slots.available_permits() == 0 {
            return Ok(None);
        }
        for head in self.journal.queue_heads()? {
            if self.busy.lock().expect("busy lock").contains(&head.partner) {
                continue;
            }
            let doc = match self.journal.document(&head.document)? {
                Some(d) if matches!(d.state, State::Queued | State::Failed) => d,
                _ => {
                    // Delivered or dead-lettered but still queued (a stop in between): done with it.
                    self.journal.dequeue(&head.partner, &head.document)?;
                    self.wake.notify_one();
                    continue;
                }
            };
            if let Some(at) = doc.next_attempt_at.filter(|at| *at > now) {
                let wait = (at - now).to_std().unwrap_or_default();
                next = Some(next.map_or(wait, |n| n.min(wait)));
                continue;
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
            self.busy.lock().expect("busy lock").insert(head.partner.clone());
            let me = self.clone();
            tokio::spawn(async move {
                let partner = doc.partner.clone();
                if let Err(e) = me.attempt(doc).await {
                    // The journal failed us (not the ERP): wait before this partner's next try, or
                    // the loop would spin on it.
                    tracing::error!(partner = %partner, "delivery: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                me.busy.lock().expect("busy lock").remove(&partner);
                drop(permit);
                me.wake.notify_one();
            });
        }
        Ok(next)
    }

    /// One try of one document, and its consequences in the journal.
    async fn attempt(&self, mut doc: DocumentRecord) -> Result<(), JournalError> {
        let j = &self.journal;
        let body = match self.canonicals.get(&doc.id) {
            Ok(Some(body)) => body,
            Ok(None) => return Err(JournalError::NotFound(format!("canonical JSON of document {}", doc.id))),
            // Lost to a power loss and not to be made again (its raw bytes lost too, or its set no
            // longer maps): nothing to send. An operator replays it once the cause is mended.
            Err(e @ JournalError::Corrupt { .. }) => return self.conclude(doc, State::DeadLettered, Some(e.to_string()), e.to_string(), None),
            Err(e) => return Err(e),
        };
        let kind = doc.kind.clone().unwrap_or_default();
        let key = format!("{}-{}", j.instance(), doc.id);
        let n = doc.attempts + 1;
        let started = Instant::now();
        let at = journal::now();
        self.stats.attempts.fetch_add(1, Ordering::Relaxed);
        let (answer, response) = self.erp.post(&kind, body, &key, &doc.correlation_id).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let span = tracing::info_span!("deliver", document = %doc.id, partner = %doc.partner, correlation_id = %doc.correlation_id, attempt = n);
        let _e = span.enter();
        let (status, outcome, error, state, cause) = match answer {
            Answer::Delivered { status } => (Some(status), "delivered", None, State::Delivered, format!("ERP answered {status}")),
            Answer::Retry { status, error, after } if n < self.policy.max_attempts => {
                let wait = self.policy.delay(n, after);
                doc.next_attempt_at = Some(journal::now() + chrono::Duration::from_std(wait).unwrap_or_default());
                (status, "retry", Some(error.clone()), State::Failed, format!("{error}; try {} in {} ms", n + 1, wait.as_millis()))
            }
            Answer::Retry { status, error, .. } => (status, "dead_letter", Some(error.clone()), State::DeadLettered, format!("{error}; gave up after {n} tries")),
            Answer::Refused { status, error } => (Some(status), "dead_letter", Some(error.clone()), State::DeadLettered, error),
        };
        j.add_attempt(&Attempt { document: doc.id.clone(), n, at, duration_ms, status, outcome: outcome.into(), error: error.clone(), response })?;
        doc.attempts = n;
        self.conclude(doc, state, error, cause, Some(duration_ms))
    }

    /// A document's state after a try (or without one), and its consequences: dequeued when
    /// delivered or dead-lettered, counted, told to people.
    fn conclude(&self, mut doc: DocumentRecord, state: State, error: Option<String>, cause: String, duration_ms: Option<u64>) -> Result<(), JournalError> {
        let j = &self.journal;
        doc.state = state;
        doc.updated_at = journal::now();
        doc.error = error;
        if state != State::Failed {
            doc.next_attempt_at = None;
        }
        j.put_document(&doc, vec![Change::at(doc.updated_at, state, cause.clone())])?;
        match state {
            State::Delivered => {
                j.dequeue(&doc.partner, &doc.id)?;
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                let age = (doc.updated_at - doc.created_at).to_std().unwrap_or_default();
                self.stats.latency.observe(age);
                tracing::info!(ms = duration_ms.unwrap_or_default(), "delivered");
            }
            State::DeadLettered => {
                j.dequeue(&doc.partner, &doc.id)?;
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("dead-lettered: {cause}");
                if let Some(tx) = &self.notices {
                    let _ = tx.send(email::Notice {
                        at: doc.updated_at,
                        partner: doc.partner.clone(),
                        kind: email::NoticeKind::DeadLetter,
                        subject: format!("document {} ({} {})", doc.id, doc.kind.as_deref().unwrap_or("?"), doc.number.as_deref().unwrap_or("")),
                        text: cause.clone(),
                        link: format!("GET /api/v1/documents/{}; replay: POST /api/v1/documents/{}/replay", doc.id, doc.id),
                    });
                }
            }
            _ => {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("delivery failed: {cause}");
            }
        }
        Ok(())
    }

    /// Queues a dead-lettered (or failed) document again, with a fresh count of tries.
    pub fn replay(&self, id: &str, by: &str) -> Result<DocumentRecord, ReplayError> {
        let j = &self.journal;
        let mut doc = j.document(id)?.ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
        if !matches!(doc.state, State::DeadLettered | State::Failed) {
            return Err(ReplayError::State { id: id.to_string(), state: doc.state });
        }
        doc.state = State::Queued;
        doc.attempts = 0;
        doc.next_attempt_at = None;
        doc.updated_at = journal::now();
        j.put_document(&doc, vec![Change::at(doc.updated_at, State::Queued, format!("replayed by {by}"))])?;
        j.enqueue(&doc.partner, id)?;
        self.wake.notify_one();
        Ok(doc)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no document {0}")]
    NotFound(String),
    #[error("document {id} is {state}: only dead-lettered or failed documents are replayed")]
    State { id: String, state: State },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Failed tries in a row per partner, and when to try again (the SFTP and AS2 senders).
#[derive(Default)]
pub struct Backoff(std::collections::HashMap<String, (u32, Instant)>);

impl Backoff {
    /// Whether the partner may be tried now.
    pub fn ready(&self, partner: &str) -> bool {
        self.0.get(partner).is_none_or(|(_, at)| Instant::now() >= *at)
    }

    pub fn succeeded(&mut self, partner: &str) {
        self.0.remove(partner);
    }

    /// Counts a failed try; returns its number and the wait before the next one.
    pub fn failed(&mut self, partner: &str, policy: &RetryPolicy) -> (u32, Duration) {
        let n = self.0.get(partner).map_or(0, |(n, _)| *n) + 1;
        let wait = policy.delay(n, None);
        self.0.insert(partner.to_string(), (n, Instant::now() + wait));
        (n, wait)
    }
}

/// Records what became of a file sent to a partner (SFTP push, AS2), under `outbound:PARTNER/FILE`.
pub fn note_outbound(journal: &dyn Journal, partner: &str, file: &str, state: State, cause: String) {
    let e = Event { at: journal::now(), subject: format!("outbound:{partner}/{file}"), state, cause };
    if let Err(err) = journal.record(&e) {
        tracing::error!(partner, file, "cannot record the sending of a file: {err}");
    }
}

/// Regular files waiting in a partner's outbox (for the SFTP and AS2 senders), by name.
pub fn outbox_files(dir: &std::path::Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return vec![] };
    let mut v: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".tmp"))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy { max_attempts: 10, initial: Duration::from_millis(100), max: Duration::from_secs(2) };
        for _ in 0..100 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d4 = p.delay(4, None);
            assert!(d4 >= Duration::from_millis(400) && d4 <= Duration::from_millis(800), "{d4:?}");
            assert!(p.delay(30, None) <= Duration::from_secs(2));
            assert!(p.delay(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        }
    }
}
