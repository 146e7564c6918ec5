//! The operator API (JSON over HTTP, beside the intake): find documents, see everything about one,
//! replay dead letters; health, readiness and Prometheus metrics.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/documents?partner=&type=&state=&number=&from=&to=&limit=` | documents, newest first; `number` finds a document by its own number or by a PO it is about |
//! | `GET /api/v1/documents/{id}` | record, canonical JSON (or `canonical_error` when it was lost and cannot be made again), state history, delivery attempts, its input |
//! | `POST /api/v1/documents/{id}/replay` | queue a dead-lettered or failed document again |
//! | `GET /api/v1/dead-letters` · `POST /api/v1/dead-letters/replay?partner=` | dead letters; replay them all |
//! | `GET /api/v1/intakes?limit=` · `GET /api/v1/intakes/{id}` · `GET /api/v1/intakes/{id}/raw` | inputs, one with its history and acknowledgments, its raw bytes |
//! | `GET /api/v1/acks/{id}` | an acknowledgment's EDI |
//! | `GET /api/v1/sftp` | the SFTP server's address, host key (and its fingerprint) and users |
//! | `GET /api/v1/as2` | the AS2 listener, our and the partners' certificates with their expiry (`status`: ok, expiring, expired) |
//! | `GET /api/v1/receipts/{key}` | an MDN kept as evidence: `as2:PARTNER:MESSAGE-ID` (ours, for what we received), `as2-out:PARTNER:MESSAGE-ID` (the partner's, for what we sent) |
//! | `GET /healthz` · `GET /readyz` · `GET /metrics` | liveness, readiness (journal open, recovery done), Prometheus text |
//!
//! With `http.operator_token_sha256` set, `/api/v1/` routes other than the intake want
//! `Authorization: Bearer TOKEN`.

use crate::delivery::{Delivery, ReplayError};
use crate::journal::{Journal, JournalError, Query, State as DocState};
use crate::journal::sha256_hex;
use crate::listeners::http::bearer;
use crate::pipeline::Pipeline;
use axum::extract::{Path, Query as Q, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Api {
    pub journal: Arc<dyn Journal>,
    pub pipeline: Arc<Pipeline>,
    pub delivery: Arc<Delivery>,
    pub ready: AtomicBool,
    pub operator_token_sha256: Option<String>,
    /// The SFTP server's address, host key and users, when it runs.
    pub sftp: Option<crate::listeners::sftp::SftpInfo>,
    /// The AS2 listener and its certificates, when it runs.
    pub as2: Option<As2Info>,
}

pub struct As2Info {
    pub id: String,
    pub listen: std::net::SocketAddr,
    pub path: String,
    pub expiry_warning_days: u64,
    pub certificates: Vec<crate::listeners::as2::CertInfo>,
}

pub fn routes(api: Arc<Api>) -> Router {
    let operator = Router::new()
        .route("/api/v1/documents", get(documents))
        .route("/api/v1/documents/{id}", get(document))
        .route("/api/v1/documents/{id}/replay", post(replay))
        .route("/api/v1/dead-letters", get(dead_letters))
        .route("/api/v1/dead-letters/replay", post(replay_all))
        .route("/api/v1/intakes", get(intakes))
        .route("/api/v1/intakes/{id}", get(intake))
        .route("/api/v1/intakes/{id}/raw", get(raw))
        .route("/api/v1/acks/{id}", get(ack))
        .route("/api/v1/sftp", get(sftp))
        .route("/api/v1/as2", get(as2))
        .route("/api/v1/receipts/{key}", get(receipt))
        .route_layer(middleware::from_fn_with_state(api.clone(), operator_auth));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(operator)
        .with_state(api)
}

async fn operator_auth(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    if let Some(want) = &api.operator_token_sha256 {
        let ok = bearer(req.headers()).is_some_and(|t| sha256_hex(t.as_bytes()).eq_ignore_ascii_case(want.trim()));
        if !ok {
            return fail(StatusCode::UNAUTHORIZED, "operator token missing or wrong");
        }
    }
    next.run(req).await
}

fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

fn internal(e: JournalError) -> Response {
    tracing::error!("operator API: {e}");
    fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn sftp(State(api): State<Arc<Api>>) -> Response {
    match &api.sftp {
        Some(info) => Json(info).into_response(),
        None => fail(StatusCode::NOT_FOUND, "the SFTP server is off (sftp.enabled = false)"),
    }
}

async fn as2(State(api): State<Arc<Api>>) -> Response {
    let Some(a) = &api.as2 else { return fail(StatusCode::NOT_FOUND, "the AS2 listener is off (as2.enabled = false)") };
    let certs: Vec<serde_json::Value> = a
        .certificates
        .iter()
        .map(|c| {
            let left = c.days_left();
            let status = if left < 0 { "expired" } else if left <= a.expiry_warning_days as i64 { "expiring" } else { "ok" };
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["days_left"] = left.into();
            v["status"] = status.into();
            v
        })
        .collect();
    Json(serde_json::json!({ "id": a.id, "listen": a.listen, "path": a.path, "expiry_warning_days": a.expiry_warning_days, "certificates": certs })).into_response()
}

async fn receipt(State(api): State<Arc<Api>>, Path(key): Path<String>) -> Response {
    if !(key.starts_with("as2:") || key.starts_with("as2-out:")) {
        return fail(StatusCode::NOT_FOUND, "receipt keys are as2:PARTNER:MESSAGE-ID or as2-out:PARTNER:MESSAGE-ID");
    }
    match api.journal.receipt(&key) {
        Ok(Some(b)) => ([("content-type", "message/rfc822")], b).into_response(),
        Ok(None) => fail(StatusCode::NOT_FOUND, format!("no receipt {key}")),
        Err(e) => internal(e),
    }
}

async fn readyz(State(api): State<Arc<Api>>) -> Response {
    if api.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        fail(StatusCode::SERVICE_UNAVAILABLE, "recovering inputs left from the last run")
    }
}

async fn documents(State(api): State<Arc<Api>>, Q(q): Q<Query>) -> Response {
    match api.journal.documents(&q) {
        Ok(d) => Json(d).into_response(),
        Err(e) => internal(e),
    }
}

async fn document(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    let j = &api.journal;
    let run = || -> Result<Option<serde_json::Value>, JournalError> {
        let Some(d) = j.document(&id)? else { return Ok(None) };
        // A canonical document lost and not to be made again is shown as such, with the rest.
        let (canonical, canonical_error) = match api.pipeline.canonicals.get(&id) {
            Ok(b) => (b.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()), None),
            Err(e @ JournalError::Corrupt { .. }) => (None, Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let intake = j.intake(d.intake)?;
        Ok(Some(serde_json::json!({
            "document": d,
            "canonical": canonical,
            "canonical_error": canonical_error,
            "history": j.history(&format!("document:{id}"))?,
            "attempts": j.attempts(&id)?,
            "intake": intake,
            "raw": format!("/api/v1/intakes/{}/raw", d.intake),
        })))
    };
    match run() {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => fail(StatusCode::NOT_FOUND, format!("no document {id}")),
        Err(e) => internal(e),
    }
}

async fn replay(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    match api.delivery.replay(&id, "operator") {
        Ok(d) => Json(d).into_response(),
        Err(e @ ReplayError::NotFound(_)) => fail(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ReplayError::State { .. }) => fail(StatusCode::CONFLICT, e.to_string()),
        Err(ReplayError::Journal(e)) => internal(e),
    }
}

async fn dead_letters(State(api): State<Arc<Api>>, Q(mut q): Q<Query>) -> Response {
    q.state = Some(DocState::DeadLettered);
    documents(State(api), Q(q)).await
}

#[derive(serde::Deserialize)]
struct PartnerFilter {
    partner: Option<String>,
}

async fn replay_all(State(api): State<Arc<Api>>, Q(f): Q<PartnerFilter>) -> Response {
    let q = Query { state: Some(DocState::DeadLettered), partner: f.partner, limit: Some(10_000), ..Default::default() };
    let docs = match api.journal.documents(&q) {
        Ok(d) => d,
        Err(e) => return internal(e),
    };
    // Oldest first, so that each partner's order is kept.
    let mut replayed = Vec::new();
    for d in docs.iter().rev() {
        match api.delivery.replay(&d.id, "operator (bulk)") {
            Ok(_) => replayed.push(d.id.clone()),
            Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("replayed {replayed:?}, then: {e}")),
        }
    }
    Json(serde_json::json!({ "replayed": replayed })).into_response()
}

#[derive(serde::Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn intakes(State(api): State<Arc<Api>>, Q(l): Q<Limit>) -> Response {
    match api.journal.intakes(l.limit.unwrap_or(100).min(10_000)) {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

async fn intake(State(api): State<Arc<Api>>, Path(id): Path<u64>) -> Response {
    let j = &api.journal;
    let run = || -> Result<Option<serde_json::Value>, JournalError> {
        let Some(rec) = j.intake(id)? else { return Ok(None) };
        // Each acknowledgment with how it left: pushed to the partner's server, or picked up by it.
        let mut acks = Vec::new();
        for (r, _) in rec.acks.iter().filter_map(|a| j.ack(a).ok().flatten()) {
            let sent = j.history(&format!("outbound:{}/{}", r.partner, r.file))?;
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            v["sent"] = serde_json::json!(sent);
            acks.push(v);
        }
        Ok(Some(serde_json::json!({
            "intake": rec,
            "history": j.history(&format!("intake:{id}"))?,
            "acknowledgments": acks,
            "raw": format!("/api/v1/intakes/{id}/raw"),
        })))
    };
    match run() {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => fail(StatusCode::NOT_FOUND, format!("no intake {id}")),
        Err(e) => internal(e),
    }
}

async fn raw(State(api): State<Arc<Api>>, Path(id): Path<u64>) -> Response {
    let j = api.journal.clone();
    let got = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, JournalError> {
        let Some(rec) = j.intake(id)? else { return Ok(None) };
        j.raw(&rec.sha256)
    })
    .await;
    match got {
        Ok(Ok(Some(b))) => {
            let kind = match b.trim_ascii_start() {
                x if x.starts_with(b"ISA") => "application/edi-x12",
                x if x.starts_with(b"UNA") || x.starts_with(b"UNB") => "application/edifact",
                _ => "application/octet-stream",
            };
            ([("content-type", kind)], b).into_response()
        }
        Ok(Ok(None)) => fail(StatusCode::NOT_FOUND, format!("no raw bytes for intake {id}")),
        Ok(Err(e)) => internal(e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn ack(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    match api.journal.ack(&id) {
        Ok(Some((_, bytes))) => ([("content-type", "text/plain; charset=utf-8")], bytes).into_response(),
        Ok(None) => fail(StatusCode::NOT_FOUND, format!("no acknowledgment {id}")),
        Err(e) => internal(e),
    }
}

/// Prometheus text exposition.
async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let j = api.journal.clone();
    let counts = tokio::task::spawn_blocking(move || -> Result<_, JournalError> {
        let by_state = j.count_by_state()?;
        let depth = j.queue_len()?;
        // The oldest undelivered document: the oldest queue head.
        let now = crate::journal::now();
        let mut oldest = 0i64;
        for h in j.queue_heads()? {
            if let Some(d) = j.document(&h.document)? {
                oldest = oldest.max((now - d.created_at).num_seconds());
            }
        }
        Ok((by_state, depth, oldest))
    })
    .await;
    let (by_state, depth, oldest) = match counts {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return internal(e),
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let s = &api.delivery.stats;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP edigate_documents Documents in the journal, by state.\n# TYPE edigate_documents gauge");
    for st in DocState::ALL {
        let _ = writeln!(out, "edigate_documents{{state=\"{st}\"}} {}", by_state.get(&st).copied().unwrap_or(0));
    }
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let _ = writeln!(out, "# HELP edigate_queue_depth Documents waiting for delivery.\n# TYPE edigate_queue_depth gauge\nedigate_queue_depth {depth}");
    let _ = writeln!(out, "# HELP edigate_oldest_undelivered_seconds Age of the oldest document waiting for delivery.\n# TYPE edigate_oldest_undelivered_seconds gauge\nedigate_oldest_undelivered_seconds {oldest}");
    if let Some(a) = &api.as2 {
        let _ = writeln!(out, "# HELP edigate_certificate_expiry_timestamp_seconds When each AS2 certificate (ours: owner=\"us\") expires.\n# TYPE edigate_certificate_expiry_timestamp_seconds gauge");
        for c in &a.certificates {
            let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(out, "edigate_certificate_expiry_timestamp_seconds{{owner=\"{}\",as2_id=\"{}\",serial=\"{}\"}} {}", label(&c.owner), label(&c.as2_id), label(&c.serial), c.not_after_unix);
        }
    }
    let _ = writeln!(out, "# HELP edigate_inputs_total Inputs kept.\n# TYPE edigate_inputs_total counter\nedigate_inputs_total {}", api.pipeline.inputs());
    let _ = writeln!(out, "# HELP edigate_journal_syncs_total Journal syncs (inputs per sync = group commit batching).\n# TYPE edigate_journal_syncs_total counter\nedigate_journal_syncs_total {}", api.pipeline.commit.syncs());
    let _ = writeln!(out, "# TYPE edigate_delivery_attempts_total counter\nedigate_delivery_attempts_total {}", ld(&s.attempts));
    let _ = writeln!(out, "# TYPE edigate_delivery_retries_total counter\nedigate_delivery_retries_total {}", ld(&s.retries));
    let _ = writeln!(out, "# TYPE edigate_delivered_total counter\nedigate_delivered_total {}", ld(&s.delivered));
    let _ = writeln!(out, "# TYPE edigate_dead_lettered_total counter\nedigate_dead_lettered_total {}", ld(&s.dead_lettered));
    s.latency.write(&mut out, "edigate_receive_to_delivered_seconds", "From receipt to the ERP's 2xx.");
    api.pipeline.intake_latency.write(&mut out, "edigate_intake_seconds", "From the start of an intake to the input durable.");
    api.pipeline.process_latency.write(&mut out, "edigate_process_seconds", "Validation, acknowledgment and mapping of one input.");
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
