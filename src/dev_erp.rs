//! `edigate dev-erp`: a small ERP receiver for development and tests. It stores each document it
//! accepts as one JSON file, honours `Idempotency-Key` as an ERP should (a key seen before is answered
//! 200 again and not stored twice; each such replay is a line in `replays.log`), and can be told to
//! fail: the first N calls (`--fail-first`), or every call (`--status` alone), with a given status.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct DevErp {
    store: PathBuf,
    /// Calls still to fail; `u64::MAX` for all of them.
    fail_left: AtomicU64,
    status: StatusCode,
    seq: AtomicU64,
    /// Documents stored by this process, in order (the `sequence` of each file).
    stored: AtomicU64,
    /// One writer at a time: the check for a key and the store of its file are one step.
    write: Mutex<()>,
    /// When set, calls must carry `Authorization: Bearer` with this token.
    token: Option<String>,
}

impl DevErp {
    pub fn new(store: PathBuf, fail_first: Option<u64>, status: Option<u16>, token: Option<String>) -> anyhow::Result<Arc<DevErp>> {
        std::fs::create_dir_all(&store).map_err(|e| anyhow::anyhow!("dev-erp store {}: {e}", store.display()))?;
        let fail_left = match (fail_first, status) {
            (Some(n), _) => n,
            (None, Some(_)) => u64::MAX,
            (None, None) => 0,
        };
        let status = StatusCode::from_u16(status.unwrap_or(503)).map_err(|e| anyhow::anyhow!("--status: {e}"))?;
        Ok(Arc::new(DevErp { store, fail_left: AtomicU64::new(fail_left), status, seq: AtomicU64::new(0), stored: AtomicU64::new(0), write: Mutex::new(()), token }))
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new().route("/health", get(|| async { "ok" })).route("/{*path}", post(receive)).with_state(self)
    }
}

/// Runs the receiver until the process ends: plain HTTP, or HTTPS with `tls` (and then client
/// certificates too when its configuration asks for them).
pub async fn serve(listen: std::net::SocketAddr, erp: Arc<DevErp>, tls: Option<Arc<rustls::ServerConfig>>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("dev-erp cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, store = %erp.store.display(), tls = tls.is_some(), "dev-erp listening");
    match tls {
        Some(tls) => crate::tls::serve(listener, tls, erp.router()).await?,
        None => axum::serve(listener, erp.router()).await?,
    }
    Ok(())
}

fn file_name(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).take(200).collect()
}

async fn receive(State(erp): State<Arc<DevErp>>, Path(path): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(want) = &erp.token {
        if crate::listeners::http::bearer(&headers) != Some(want.as_str()) {
            return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({ "error": "dev-erp wants its bearer token" }))).into_response();
        }
    }
    let failing = erp.fail_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
        0 => None,
        u64::MAX => Some(u64::MAX),
        n => Some(n - 1),
    });
    if failing.is_ok() {
        return (erp.status, Json(serde_json::json!({ "error": "dev-erp was told to fail" }))).into_response();
    }
    // Checked to be JSON, then kept as sent (no tree is built: the receiver stays cheap).
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": format!("not JSON: {e}") }))).into_response();
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let key = header("idempotency-key");
    let n = erp.seq.fetch_add(1, Ordering::SeqCst);
    let name = match &key {
        Some(k) => format!("{}.json", file_name(k)),
        None => format!("no-key-{}-{n}.json", std::process::id()),
    };
    let head = serde_json::json!({
        "path": format!("/{path}"),
        "idempotency_key": key,
        "correlation_id": header("x-correlation-id"),
        "received_at": crate::journal::now(),
    });
    let _one = erp.write.lock().expect("dev-erp write lock");
    let target = erp.store.join(&name);
    if target.exists() {
        let mut log = match std::fs::OpenOptions::new().create(true).append(true).open(erp.store.join("replays.log")) {
            Ok(f) => f,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
        let _ = writeln!(log, "{name}");
        return (StatusCode::OK, Json(serde_json::json!({ "status": "already received", "file": name }))).into_response();
    }
    // {"path": ..., ..., "sequence": n, "document": <the body as sent>}
    let mut head = head;
    head["sequence"] = erp.stored.fetch_add(1, Ordering::SeqCst).into();
    let mut record = serde_json::to_vec(&head).unwrap_or_default();
    record.pop();
    record.extend_from_slice(b",\"document\":");
    record.extend_from_slice(&body);
    record.extend_from_slice(b"}\n");
    // Whole file or none; no fsync: this is a development receiver.
    if let Err(e) = crate::pipeline::write_atomically(&erp.store, &name, &record) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("dev-erp cannot store: {e}")).into_response();
    }
    (StatusCode::CREATED, Json(serde_json::json!({ "status": "stored", "file": name }))).into_response()
}
