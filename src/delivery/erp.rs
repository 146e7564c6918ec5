//! The ERP's REST endpoint: one POST of canonical JSON per document, with an `Idempotency-Key`
//! that stays the same across retries, and the verdict on the answer: delivered, try again (5xx,
//! 408, 429, timeouts, connection errors; `Retry-After` honoured), or refused (any other 4xx).

use crate::config::{ErpAuth, ErpConfig, Secret};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the ERP made of one POST.
#[derive(Debug)]
pub enum Answer {
    Delivered { status: u16 },
    /// Worth another try, after `after` when the ERP said so.
    Retry { status: Option<u16>, error: String, after: Option<Duration> },
    /// The ERP will not take this document: a person must look at it.
    Refused { status: u16, error: String },
}

enum Auth {
    None,
    Bearer(Secret),
    Basic(String, Secret),
}

pub struct Erp {
    client: reqwest::Client,
    base: String,
    paths: BTreeMap<String, String>,
    auth: Auth,
}

/// The part of an answer kept in the journal.
pub const RESPONSE_KEPT: usize = 4096;

impl Erp {
    pub fn new(c: &ErpConfig) -> anyhow::Result<Erp> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_millis(c.timeout_ms))
            .connect_timeout(Duration::from_millis(c.connect_timeout_ms))
            .pool_max_idle_per_host(c.concurrency.max(1))
            .user_agent(concat!("edigate/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &c.tls.ca_file {
            let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("erp.tls.ca_file {}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| anyhow::anyhow!("erp.tls.ca_file {}: {e}", ca.display()))? {
                b = b.add_root_certificate(cert);
            }
        }
        match (&c.tls.client_cert_file, &c.tls.client_key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = std::fs::read(cert).map_err(|e| anyhow::anyhow!("erp.tls.client_cert_file {}: {e}", cert.display()))?;
                pem.extend(std::fs::read(key).map_err(|e| anyhow::anyhow!("erp.tls.client_key_file {}: {e}", key.display()))?);
                b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| anyhow::anyhow!("erp.tls client identity: {e}"))?);
            }
            (None, None) => {}
            _ => anyhow::bail!("erp.tls: client_cert_file and client_key_file go together"),
        }
        let auth = match &c.auth {
            ErpAuth::None => Auth::None,
            ErpAuth::Bearer { token } => Auth::Bearer(token.load()?),
            ErpAuth::Basic { username, password } => Auth::Basic(username.clone(), password.load()?),
        };
        Ok(Erp { client: b.build()?, base: c.base_url.trim_end_matches('/').to_string(), paths: c.paths.clone(), auth })
    }

    /// The URL a document type is posted to.
    pub fn url(&self, kind: &str) -> String {
        let path = self.paths.get(kind).cloned().unwrap_or_else(|| format!("/{kind}"));
        format!("{}{}", self.base, path)
    }

    /// Posts one document. Returns the verdict and the start of the ERP's answer.
    pub async fn post(&self, kind: &str, body: Vec<u8>, key: &str, correlation_id: &str) -> (Answer, Option<String>) {
        let mut req = self
            .client
            .post(self.url(kind))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .header("x-correlation-id", correlation_id)
            .body(body);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p.expose())),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return (Answer::Retry { status: None, error: describe(&e), after: None }, None),
        };
        let status = resp.status().as_u16();
        let after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry_after);
        let text = match resp.bytes().await {
            Ok(b) => Some(String::from_utf8_lossy(&b[..b.len().min(RESPONSE_KEPT)]).into_owned()),
            Err(e) if (200..300).contains(&status) => {
                // The ERP said yes; the rest of its answer got lost. Delivered (it has the key).
                tracing::warn!("ERP answered {status} but its body broke off: {e}");
                None
            }
            Err(e) => return (Answer::Retry { status: Some(status), error: describe(&e), after }, None),
        };
        let answer = match status {
            200..=299 => Answer::Delivered { status },
            408 | 429 | 500..=599 => Answer::Retry { status: Some(status), error: format!("ERP answered {status}"), after },
            _ => Answer::Refused { status, error: format!("ERP refused the document with {status}") },
        };
        (answer, text)
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    };
    // The error chain names the cause (connection refused, certificate...).
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.signed_duration_since(crate::journal::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO), "a date in the past: now");
        assert_eq!(retry_after("soon"), None);
    }
}
