//! Malformed and hostile inputs: each gets a precise answer and, where the standard has one, a
//! negative acknowledgment; the raw bytes are kept; nothing is delivered; the gateway keeps serving.

use crate::harness::*;
use std::time::Duration;

/// A malformed sample sent by a partner: the samples are written from us to Globex, so sender and
/// receiver swap places (same widths).
fn from_partner(path: &str) -> (&'static str, Vec<u8>) {
    let s = String::from_utf8_lossy(&sample(path)).into_owned();
    if path.contains("/x12/") {
        let s = s.replace("*ZZ*ACMEMFG        *ZZ*GLOBEX         *", "*ZZ*GLOBEX         *ZZ*ACMEMFG        *").replace("*ACMEMFG*GLOBEX*", "*GLOBEX*ACMEMFG*");
        ("globex", s.into_bytes())
    } else {
        let s = s.replace("+4012345000009:14+4098765000001:14+", "+4098765000001:14+4012345000009:14+");
        ("globex-gmbh", s.into_bytes())
    }
}

struct Case {
    name: String,
    partner: &'static str,
    body: Vec<u8>,
    /// Expected HTTP status.
    status: u16,
    /// Words the answer's errors must contain.
    says: &'static str,
    /// An acknowledgment is due, with this in it.
    ack: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let c = |name: &str, partner, body: Vec<u8>, status, says, ack| Case { name: name.to_string(), partner, body, status, says, ack };
    let order = wayne_order(900);
    v.push(c("empty body", "wayne-retail", vec![], 422, "no interchange", None));
    v.push(c("binary garbage", "wayne-retail", (0..4096).map(|_| fastrand::u8(..)).collect(), 422, "", None));
    v.push(c("text that is not EDI", "wayne-retail", b"Dear supplier, please find attached our order.\n".to_vec(), 422, "", None));
    v.push(c("only an ISA", "wayne-retail", order[..106].to_vec(), 422, "", Some("TA1")));
    v.push(c("cut in the middle", "wayne-retail", order[..order.len() / 2].to_vec(), 422, "", Some("TA1")));
    v.push(c("wrong sender for the token", "globex", wayne_order(901), 422, "is not partner \"globex\"", Some("*R*006~")));
    v.push(c("our own id as sender", "globex", sample("samples/x12/004010/850-globex-three-lines.edi"), 422, "sender ZZ:ACMEMFG is not partner", Some("*R*006~")));
    v.push(c("edifact from the wrong partner", "initech", sample("samples/edifact/D96A/DESADV-globex-pallets.edi"), 422, "is not partner \"initech\"", Some("+4+23+UNB'")));
    v.push(c("x12 from an edifact-only partner", "initech", sample("samples/x12/004010/856-initech-two-orders.edi"), 422, "no x12 identity", Some("*R*006~")));
    let mut huge = String::from_utf8(wayne_order(902)).unwrap();
    huge = huge.replace("HEX BOLT M8 X 40MM ZINC PLATED", &"X".repeat(200_000));
    v.push(c("a 200 KB segment", "wayne-retail", huge.into_bytes(), 422, "", Some("")));
    let mut nul = wayne_order(903);
    nul.splice(300..300, [0u8, 0, 0, 0xff, 0xfe]);
    v.push(c("NUL and invalid UTF-8 inside a segment", "wayne-retail", nul, 422, "", Some("")));
    v.push(c("utf-16", "wayne-retail", String::from_utf8(wayne_order(904)).unwrap().encode_utf16().flat_map(|u| u.to_le_bytes()).collect(), 422, "", None));
    for dir in ["samples/x12/malformed", "samples/edifact/malformed"] {
        let mut paths: Vec<_> = std::fs::read_dir(root().join(dir)).unwrap().flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let rel = p.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
            let (partner, body) = from_partner(&rel);
            // An envelope too broken to read has no sender to answer: no acknowledgment is possible.
            let ack = if rel.ends_with("isa-short.edi") { None } else { Some("") };
            v.push(c(&rel, partner, body, 0, "", ack));
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_inputs_get_precise_answers_and_lose_nothing() {
    let mut h = Harness::new("hostile", Options { max_body_bytes: 512 << 10, ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let cases = cases();
    assert!(cases.len() >= 30, "{}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (status, body) = h.upload(case.partner, case.body.clone()).await.unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, h.log()));
        let errors = body["errors"].as_array().map(|a| a.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>().join("\n")).unwrap_or_default();
        let mut problems = Vec::new();
        if case.status != 0 && status != case.status {
            problems.push(format!("status {status}, expected {}", case.status));
        }
        if errors.is_empty() {
            problems.push("no error given".into());
        }
        if !errors.contains(case.says) {
            problems.push(format!("errors do not say {:?}", case.says));
        }
        // Kept: the raw bytes as sent.
        let intake = body["intake"].as_u64();
        match intake {
            Some(id) => {
                let (_, raw) = h.get_bytes(&format!("/api/v1/intakes/{id}/raw")).await;
                if raw != case.body {
                    problems.push("raw bytes not kept as sent".into());
                }
            }
            None => problems.push("no intake id".into()),
        }
        if let Some(want) = case.ack {
            match body["acknowledgments"][0].as_str() {
                Some(a) => {
                    let (_, ack) = h.get_bytes(&format!("/api/v1/acks/{a}")).await;
                    let ack = ack_text(&ack);
                    let negative = ack.contains("*R*") || ack.contains("*R~") || ack.contains("*E*") || ack.contains("*E~") || ack.contains("AK5*R") || ack.contains("IK5*R") || ack.contains("+4'") || ack.contains("+4+");
                    if !ack.contains(want) || !negative {
                        problems.push(format!("acknowledgment is not negative or lacks {want:?}:\n{ack}"));
                    }
                }
                None => problems.push("no acknowledgment".into()),
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n  answer {status}: {body}", case.name, problems.join("; ")));
        }
    }
    // Unauthenticated and oversized: refused before anything is kept.
    let (s, b) = h.upload_with(None, wayne_order(905)).await.unwrap();
    assert_eq!(s, 401, "{b}");
    let (s, _) = h.upload_with(Some("dev-token-nobody"), wayne_order(905)).await.unwrap();
    assert_eq!(s, 401);
    let (s, b) = h.upload("wayne-retail", vec![b'A'; 600 << 10]).await.unwrap();
    assert_eq!(s, 413, "{b}");
    assert!(b["error"].as_str().unwrap().contains("limit of 524288 bytes"), "{b}");

    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // Still serving, and nothing of the rejected interchanges went to the ERP.
    assert_eq!(h.get_bytes("/healthz").await.0, 200);
    let (s, b) = h.upload("wayne-retail", wayne_order(906)).await.unwrap();
    assert_eq!(s, 202, "{b}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8(h.get_bytes("/metrics").await.1).unwrap().contains("edigate_queue_depth 0\n") {
        assert!(std::time::Instant::now() < deadline, "queue not empty");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = |v: serde_json::Value| v.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect::<std::collections::BTreeSet<_>>();
    let sent: std::collections::BTreeSet<String> =
        h.delivered().iter().map(|r| r["idempotency_key"].as_str().unwrap().rsplit_once('-').map(|(a, n)| format!("{}-{n}", a.rsplit('-').next().unwrap())).unwrap()).collect();
    let delivered = ids(h.get_json("/api/v1/documents?state=delivered&limit=1000").await);
    assert_eq!(sent, delivered, "what the ERP has is what the journal says was delivered");
    let rejected = ids(h.get_json("/api/v1/documents?state=rejected&limit=1000").await);
    assert!(rejected.len() >= 20, "{rejected:?}");
    assert!(rejected.is_disjoint(&sent), "a rejected set reached the ERP");
}

/// Sends raw bytes on a new connection and returns the status line of the answer.
fn raw_http(port: u16, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer (and close) before it has read everything we send.
    let _ = c.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_and_oversized_chunked_bodies_are_cut_off() {
    let mut h = Harness::new("slow", Options { max_body_bytes: 512 << 10, body_timeout_ms: 500, ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let port = h.port;
    let head = "POST /api/v1/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer dev-token-wayne-retail\r\n";
    // Announces 1000 bytes, sends 6, then nothing: 408 once the body timeout is over.
    let slow = format!("{head}Content-Length: 1000\r\n\r\nISA*00");
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || raw_http(port, slow.as_bytes())).await.unwrap();
    assert!(status.contains(" 408 "), "{status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Chunked (no length announced), over the limit: 413 without keeping anything.
    let mut big = format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
    let chunk = vec![b'A'; 600 << 10];
    big.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
    big.extend_from_slice(&chunk);
    big.extend_from_slice(b"\r\n0\r\n\r\n");
    let status = tokio::task::spawn_blocking(move || raw_http(port, &big)).await.unwrap();
    assert!(status.contains(" 413 "), "{status}");
    assert!(h.get_json("/api/v1/intakes").await.as_array().unwrap().is_empty(), "nothing kept");
    // And the gateway goes on.
    assert_eq!(h.upload("wayne-retail", wayne_order(1)).await.unwrap().0, 202);
}
