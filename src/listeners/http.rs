//! HTTP intake: `POST /api/v1/inbound`, the body is the EDI, `Authorization: Bearer TOKEN`
//! names the partner (its profile lists the SHA-256 of its tokens). Optional headers: `X-Filename`,
//! `X-Correlation-Id`.
//!
//! Answers, always JSON, always after the input is durable in the journal:
//! - 202: accepted; its documents are queued for delivery,
//! - 200: a duplicate of an earlier input (nothing new is delivered),
//! - 422: rejected (envelope, sender or every set); the raw bytes are kept and the negative
//!   acknowledgment is in the partner's outbox,
//! - 401 unknown token, 413 too large, 503 the journal cannot write (nothing was kept: send again).

use crate::journal::{sha256_hex, Intake, State as DocState};
use crate::pipeline::{IntakeError, Pipeline, Upload};
use crate::profiles::Profiles;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::Arc;

pub struct HttpIntake {
    pipeline: Arc<Pipeline>,
    /// SHA-256 (hex) of a token → partner code.
    tokens: HashMap<String, String>,
    limits: Limits,
    /// Uploads being read at once (each may hold up to `max_size` bytes).
    reading: tokio::sync::Semaphore,
}

/// What one upload may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_size: usize,
    pub max_concurrent: usize,
    /// For the whole body to arrive.
    pub body_timeout: std::time::Duration,
}

/// The partners' tokens, by hash.
pub fn tokens(profiles: &Profiles) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for p in &profiles.partners {
        if let Some(h) = &p.profile.transport.http {
            for t in &h.token_sha256 {
                out.insert(t.trim().to_ascii_lowercase(), p.profile.code.clone());
            }
        }
    }
    out
}

pub fn routes(pipeline: Arc<Pipeline>, limits: Limits) -> Router {
    let state = Arc::new(HttpIntake { tokens: tokens(&pipeline.profiles), pipeline, reading: tokio::sync::Semaphore::new(limits.max_concurrent.max(1)), limits });
    Router::new().route("/api/v1/inbound", post(inbound)).with_state(state)
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn inbound(State(s): State<Arc<HttpIntake>>, headers: HeaderMap, body: Body) -> Response {
    let Some(partner) = bearer(&headers).and_then(|t| s.tokens.get(&sha256_hex(t.as_bytes()))) else {
        tracing::warn!("inbound: refused a request without a known partner token");
        return error(StatusCode::UNAUTHORIZED, "unknown or missing partner token (Authorization: Bearer TOKEN)");
    };
    let max = s.limits.max_size;
    let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        tracing::warn!(partner = %partner, limit = max, "inbound: body over the limit");
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over the limit of {max} bytes; nothing was kept"));
    }
    // Bounded memory: only so many bodies are read at once; the others wait their turn.
    let Ok(_reading) = s.reading.acquire().await else { return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down") };
    let bytes = match tokio::time::timeout(s.limits.body_timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) if format!("{e:?}").contains("LengthLimit") => {
            tracing::warn!(partner = %partner, limit = max, "inbound: body over the limit");
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over the limit of {max} bytes; nothing was kept"));
        }
        Ok(Err(e)) => {
            tracing::warn!(partner = %partner, "inbound: the body broke off: {e}");
            return error(StatusCode::BAD_REQUEST, format!("the body broke off ({e}); nothing was kept, send it again"));
        }
        Err(_) => {
            tracing::warn!(partner = %partner, "inbound: the body did not arrive in time");
            return error(StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {} s; nothing was kept", s.limits.body_timeout.as_secs()));
        }
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let up = Upload {
        partner: partner.clone(),
        channel: "http",
        filename: header("x-filename").map(|f| f.chars().filter(|c| !c.is_control()).take(255).collect()),
        bytes: bytes.to_vec(),
        correlation_id: header("x-correlation-id"),
        once_key: None,
    };
    let (rec, raw) = match s.pipeline.receive_keeping(up).await {
        Ok(r) => r,
        Err(IntakeError::TooLarge { size, limit }) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("{size} bytes is over the limit of {limit}")),
        Err(e) => {
            tracing::error!("inbound: could not keep the input: {e}");
            return error(StatusCode::SERVICE_UNAVAILABLE, format!("the input could not be kept ({e}); nothing was accepted, send it again"));
        }
    };
    // Kept and durable: from here on, the answer is about what the input holds.
    let id = rec.id;
    match s.pipeline.process_bytes(id, &rec.partner, raw).await {
        Ok(rec) => answer(&rec),
        Err(e) => {
            tracing::error!(intake = id, "processing failed, will be retried at the next start: {e}");
            (StatusCode::ACCEPTED, Json(serde_json::json!({ "intake": id, "state": "received", "note": format!("kept; processing failed and will be retried: {e}") }))).into_response()
        }
    }
}

/// The JSON answer for a processed input.
pub fn answer(rec: &Intake) -> Response {
    let status = match rec.state {
        DocState::Validated | DocState::Received => StatusCode::ACCEPTED,
        DocState::Duplicate => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let body = serde_json::json!({
        "intake": rec.id,
        "state": rec.state,
        "correlation_id": rec.correlation_id,
        "sha256": rec.sha256,
        "interchanges": rec.interchanges,
        "documents": rec.documents,
        "acknowledgments": rec.acks,
        "errors": rec.errors,
    });
    (status, [("x-correlation-id", rec.correlation_id.clone())], Json(body)).into_response()
}
