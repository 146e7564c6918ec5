//! The AS2 listener with pyas2lib (PyPI) as the partner: every combination of signature digest,
//! cipher and compression, sync and async MDNs, signed and unsigned; error cases; duplicates.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Globex 856 sample as a new interchange (its own ISA13/GS06), so that each message delivers.
fn globex_asn(n: u32) -> Vec<u8> {
    let s = String::from_utf8(sample("samples/x12/004010/856-globex-pick-pack.edi")).unwrap();
    s.replace("|000004730|", &format!("|{:09}|", 200_000_000 + n))
        .replace("IEA|1|000004730", &format!("IEA|1|{:09}", 200_000_000 + n))
        .replace("|4730|X|", &format!("|{n}|X|"))
        .replace("GE|1|4730", &format!("GE|1|{n}"))
        .replace("GX-SHP-0098765", &format!("GX-SHP-{n:07}"))
        .into_bytes()
}

/// The repository's profiles with Globex's AS2 requirements set as given.
fn profiles(dir: &Path, require: bool) -> PathBuf {
    let p = copy_profiles(dir);
    if !require {
        let globex = p.join("globex.toml");
        let text = std::fs::read_to_string(&globex).unwrap().replace("[transport.as2]\n", "[transport.as2]\nrequire_signed = false\nrequire_encrypted = false\n");
        std::fs::write(globex, text).unwrap();
    }
    p
}

/// Runs pyas2lib over a batch of messages (one JSON object each); one result per message.
fn partner(h: &Harness, partner_key: &Path, messages: &[Value]) -> Vec<Value> {
    partner_at(&format!("http://127.0.0.1:{}/as2", h.as2_port), &[], partner_key, messages)
}

fn partner_at(url: &str, extra: &[&str], partner_key: &Path, messages: &[Value]) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg(root().join("tests/as2/partner.py"))
        .args(extra)
        .args(["--batch", "--url", url, "--partner-key"])
        .arg(partner_key)
        .arg("--our-cert")
        .arg(root().join("samples/as2/edigate.cert.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for m in messages {
            writeln!(stdin, "{m}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyas2lib partner failed (pip install pyas2lib; see .ci/run):\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), messages.len(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    results
}

fn key_and_cert(dir: &Path, who: &str) -> PathBuf {
    let p = dir.join(format!("{who}-keycert.pem"));
    let pem = [std::fs::read(root().join(format!("samples/as2/{who}.key.pem"))).unwrap(), std::fs::read(root().join(format!("samples/as2/{who}.cert.pem"))).unwrap()].concat();
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_combination_from_pyas2lib_is_delivered_once_with_an_mdn_pyas2lib_accepts() {
    let work = std::env::temp_dir().join(format!("edigate-as2-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&work).unwrap();
    let mut h = Harness::new("as2-matrix", Options { profiles_dir: Some(profiles(&work, false)), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let key = key_and_cert(&work, "partner");
    let mut messages = Vec::new();
    let mut n = 0;
    for sign in [None, Some("sha1"), Some("sha256"), Some("sha384"), Some("sha512")] {
        for encrypt in [None, Some("aes_128_cbc"), Some("aes_192_cbc"), Some("aes_256_cbc"), Some("tripledes_192_cbc")] {
            for compress in [false, true] {
                for mdn in ["sync", "async"] {
                    for signed_mdn in [true, false] {
                        n += 1;
                        let payload = work.join(format!("asn-{n}.edi"));
                        std::fs::write(&payload, globex_asn(n)).unwrap();
                        messages.push(json!({ "payload": payload, "sign": sign, "encrypt": encrypt, "compress": compress, "mdn": mdn, "signed_mdn": signed_mdn }));
                    }
                }
            }
        }
    }
    let results = partner(&h, &key, &messages);
    for r in &results {
        assert_eq!(r["http"], 200, "{r}");
        // pyas2lib's own check of our MDN: signature with our certificate, MIC equal to its own.
        assert_eq!(r["mdn_status"], "processed", "{r}\n{}", h.log());
        assert_eq!(r["mdn_signed"], r["request"]["signed_mdn"], "{r}");
        if r["request"]["mdn"] == "async" {
            assert_eq!(r["sync_body"], 0, "an asynchronous MDN is not in the response: {r}");
        }
    }
    let delivered = h.wait_delivered(messages.len(), Duration::from_secs(120)).await;
    assert_eq!(delivered.len(), messages.len(), "each message delivered exactly once");
    let mut numbers: Vec<String> = delivered.iter().map(order_number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), messages.len());
    let intakes = h.get_json("/api/v1/intakes?limit=1000").await;
    assert!(intakes.as_array().unwrap().iter().all(|i| i["channel"] == "as2" && i["partner"] == "globex"));
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_get_the_right_mdn_or_http_error_nothing_is_delivered_and_duplicates_are_answered_again() {
    let work = std::env::temp_dir().join(format!("edigate-as2-err-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&work).unwrap();
    // A partner whose only certificate expired in 2021, and our own identity as a PKCS#12 file with
    // a password (made by the openssl command line).
    let expired = expired_identity(&work);
    let profile_dir = profiles(&work, true);
    let globex = std::fs::read_to_string(profile_dir.join("globex.toml")).unwrap();
    let old = globex.replace("code = \"globex\"", "code = \"globex-old\"").replace("id = \"GLOBEX\"", "id = \"GLOBEXOLD\"").replace("id = \"globex\"", "id = \"globex-old\"");
    let old = old.split("[transport.http]").next().unwrap().to_string() + &format!("[transport.as2]\nid = \"globex-old\"\ncertificates = [\"{}\"]\n", expired.join("exp.pem").display());
    std::fs::write(profile_dir.join("globex-old.toml"), old).unwrap();
    let p12 = work.join("edigate.p12");
    let out = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:p12-secret", "-out"])
        .arg(&p12)
        .arg("-inkey")
        .arg(root().join("samples/as2/edigate.key.pem"))
        .arg("-in")
        .arg(root().join("samples/as2/edigate.cert.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(work.join("p12-password"), "p12-secret\n").unwrap();
    let as2 = format!("key_file = \"{}\"\nkey_password = {{ file = \"{}\" }}\n", p12.display(), work.join("p12-password").display());
    let mut h = Harness::new("as2-errors", Options { profiles_dir: Some(profile_dir), as2, ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let (key, wrong) = (key_and_cert(&work, "partner"), key_and_cert(&work, "edigate"));
    let payload = |n: u32| {
        let p = work.join(format!("asn-{n}.edi"));
        std::fs::write(&p, globex_asn(n)).unwrap();
        p
    };
    let good = |n: u32| json!({ "payload": payload(n), "sign": "sha256", "encrypt": "aes_256_cbc", "signed_mdn": true });
    let mut tampered_payload = good(2);
    tampered_payload["encrypt"] = Value::Null;
    tampered_payload["tamper"] = json!("payload");
    let cases = vec![
        (json!({ "payload": payload(1), "sign": "sha256", "encrypt": "aes_256_cbc", "signed_mdn": true, "tamper": "cipher" }), "decryption-failed"),
        (tampered_payload, "integrity-check-failed"),
        (json!({ "payload": payload(3), "encrypt": "aes_256_cbc", "signed_mdn": true }), "insufficient-message-security"),
        (json!({ "payload": payload(4), "sign": "sha256", "signed_mdn": true }), "insufficient-message-security"),
    ];
    let results = partner(&h, &key, &cases.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>());
    for (r, (_, want)) in results.iter().zip(&cases) {
        assert_eq!(r["mdn_status"], "processed/error", "{r}");
        assert_eq!(r["mdn_detail"], *want, "{r}");
    }
    // Signed with a certificate that has expired: authentication-failed, and the API says so.
    let mut exp = good(10);
    exp["as2_from"] = json!("globex-old");
    let r = &partner(&h, &expired.join("exp-keycert.pem"), &[exp])[0];
    assert_eq!((r["mdn_status"].as_str(), r["mdn_detail"].as_str()), (Some("processed/error"), Some("authentication-failed")), "{r}");
    assert!(h.log().contains("that is not valid now"), "{}", h.log());
    let info = h.get_json("/api/v1/as2").await;
    let certs = info["certificates"].as_array().unwrap();
    assert!(certs.iter().any(|c| c["owner"] == "us" && c["status"] == "ok"), "{info:#}");
    assert!(certs.iter().any(|c| c["owner"] == "globex-old" && c["status"] == "expired" && c["days_left"].as_i64().unwrap() < -1000), "{info:#}");
    let (_, metrics) = h.get_bytes("/metrics").await;
    assert!(String::from_utf8_lossy(&metrics).contains("edigate_certificate_expiry_timestamp_seconds{owner=\"globex-old\",as2_id=\"globex-old\",serial="));
    // Signed with a key that is not in Globex's profile: authentication-failed.
    let r = &partner(&h, &wrong, &[good(5)])[0];
    assert_eq!((r["mdn_status"].as_str(), r["mdn_detail"].as_str()), (Some("processed/error"), Some("authentication-failed")), "{r}");
    // Unknown AS2-To and AS2-From: refused over HTTP with the reason.
    let mut to = good(6);
    to["as2_to"] = json!("someone-else");
    let mut from = good(7);
    from["as2_from"] = json!("stranger");
    let r = partner(&h, &key, &[to, from]);
    assert_eq!(r[0]["http"], 403, "{}", r[0]);
    assert!(r[0]["body"].as_str().unwrap().contains("AS2-To \"someone-else\" is not this gateway"), "{}", r[0]);
    assert_eq!(r[1]["http"], 403);
    assert!(r[1]["body"].as_str().unwrap().contains("AS2-From \"stranger\" is no partner"), "{}", r[1]);
    // Kept all the same: the raw message, by its SHA-256 in the answer.
    assert!(r[1]["body"].as_str().unwrap().contains("the message is kept as "), "{}", r[1]);

    // A good message, then the same Message-ID again.
    // (A partner whose MDN got lost sends the same message again: it gets the same MDN, whose MIC
    // matches; another message under a used Message-ID gets that first MDN too, which pyas2lib then
    // flags as not matching its own MIC.)
    let mut first = good(8);
    first["message_id"] = json!("same-id-twice");
    let again = first.clone();
    let mut other = good(9);
    other["message_id"] = json!("same-id-twice");
    let r = partner(&h, &key, &[first, again, other]);
    assert_eq!(r[0]["mdn_status"], "processed", "{}", r[0]);
    assert_eq!(r[1]["mdn_status"], "processed", "the same MDN again: {}", r[1]);
    assert_eq!(r[2]["mdn_status"], "processed/warning", "the first MDN, not a new one: {}", r[2]);
    // The MDN given is kept as evidence, readable by operators.
    let (status, mdn) = h.get_bytes("/api/v1/receipts/as2:globex:same-id-twice@None").await;
    let mdn = String::from_utf8_lossy(&mdn);
    assert_eq!(status, 200, "{mdn}");
    assert!(mdn.contains("Original-Message-ID: <same-id-twice@None>") && mdn.contains("; processed\r\n"), "{mdn}");
    let delivered = h.wait_delivered(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.delivered().len(), 1, "only the first good message is delivered: {delivered:?}");
    let intakes = h.get_json("/api/v1/intakes?limit=100").await;
    assert_eq!(intakes.as_array().unwrap().len(), 1, "refused and repeated messages are not inputs: {intakes:#}");
    let log = h.log();
    for want in ["decryption-failed", "integrity-check-failed", "insufficient-message-security", "authentication-failed"] {
        assert!(log.contains(want), "the refusal is logged ({want}):\n{log}");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// pyas2lib's AS2 server (tests/as2/receiver.py), killed when dropped.
struct Receiver {
    child: std::process::Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start(out: &Path, key: &Path, extra: &[&str]) -> Receiver {
        let mut child = Command::new("python3")
            .arg(root().join("tests/as2/receiver.py"))
            .arg("--out")
            .arg(out)
            .arg("--key")
            .arg(key)
            .arg("--edigate-cert")
            .arg(root().join("samples/as2/edigate.cert.pem"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("receiver did not start: {line:?}"));
        Receiver { child, port, out: out.to_path_buf() }
    }

    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out.join("log.jsonl")).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Globex's profile as partner `code` (its own X12 id `id`), sending to `url` as `send` says.
fn sending_profile(dir: &Path, code: &str, id: &str, url: &str, send: &str) {
    let text = std::fs::read_to_string(root().join("partner-profiles/globex.toml")).unwrap();
    let text = text
        .replace("code = \"globex\"", &format!("code = \"{code}\""))
        .replace("id = \"GLOBEX\"", &format!("id = \"{id}\""))
        .replace("id = \"globex\"", &format!("id = \"{code}\""))
        .replace("\"../samples/as2/", &format!("\"{}/samples/as2/", root().display()));
    let text = text.split("[transport.http]").next().unwrap().to_string()
        + &text[text.find("[transport.as2]").unwrap()..]
        + &format!("\n[transport.as2.send]\nurl = \"{url}\"\n{send}\n");
    std::fs::write(dir.join(format!("{code}.toml")), text).unwrap();
}

/// The Globex 856 sample as sent by partner X12 id `id`.
fn asn_from(id: &str, n: u32) -> Vec<u8> {
    String::from_utf8(globex_asn(n)).unwrap().replace("|GLOBEX         |", &format!("|{id:<15}|")).replace("GS|SH|GLOBEX|", &format!("GS|SH|{id}|")).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgments_reach_pyas2lib_in_every_combination_and_its_mdns_are_verified() {
    let work = std::env::temp_dir().join(format!("edigate-as2-send-{}-{}", std::process::id(), fastrand::u32(..)));
    let profiles = work.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let receiver = Receiver::start(&work.join("received"), &key_and_cert(&work, "partner"), &[]);
    let url = format!("http://127.0.0.1:{}/as2", receiver.port);
    let mut partners = Vec::new();
    let mut k = 0;
    for sign in ["none", "sha1", "sha256", "sha384", "sha512"] {
        for encrypt in ["none", "aes128-cbc", "aes192-cbc", "aes256-cbc", "3des"] {
            for compress in [false, true] {
                for (mdn, signed_mdn) in [("sync", true), ("sync", false), ("async", true), ("async", false), ("none", false)] {
                    k += 1;
                    let (code, id) = (format!("send-{k}"), format!("SEND{k}"));
                    sending_profile(&profiles, &code, &id, &url, &format!("sign = \"{sign}\"\nencrypt = \"{encrypt}\"\ncompress = {compress}\nmdn = \"{mdn}\"\nsigned_mdn = {signed_mdn}"));
                    partners.push((code, id, sign, encrypt, compress, mdn, signed_mdn));
                }
            }
        }
    }
    let mut h = Harness::new("as2-send", Options { profiles_dir: Some(profiles), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    // Each partner drops one ASN in its watched directory; the 999 for it goes back over AS2.
    for (n, (code, id, ..)) in partners.iter().enumerate() {
        let dir = h.dir.join("data/inbound").join(code);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("asn.edi"), asn_from(id, n as u32 + 1)).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while receiver.log().len() < partners.len() {
        assert!(std::time::Instant::now() < deadline, "{} of {} received:\n{}", receiver.log().len(), partners.len(), h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = receiver.log();
    for (code, _, sign, encrypt, compress, mdn, signed_mdn) in &partners {
        let archived = h.dir.join("data/archive").join(code);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while files(&archived).is_empty() {
            assert!(std::time::Instant::now() < deadline, "{code}: not archived; outbox {:?}\n{}", files(&h.outbox(code)), h.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ack = std::fs::read(archived.join(&files(&archived)[0])).unwrap();
        // pyas2lib's view of what arrived: protected as the profile says, the payload unchanged.
        let got = log.iter().find(|l| l["payload"].as_str().is_some_and(|p| std::fs::read(p).ok().as_deref() == Some(&ack[..]))).unwrap_or_else(|| panic!("{code}: not received as sent: {log:?}"));
        assert_eq!(got["status"], "processed", "{code}: {got}");
        assert_eq!(got["signed"], *sign != "none", "{code}: {got}");
        assert_eq!(got["encrypted"], *encrypt != "none", "{code}: {got}");
        assert_eq!(got["compressed"], *compress, "{code}: {got}");
        assert_eq!(got["mdn"], *mdn != "none", "{code}: {got}");
        // Our view: delivered, the MDN verified (when signed) and its MIC ours.
        let intakes = h.get_json("/api/v1/intakes?limit=1000").await;
        let intake = intakes.as_array().unwrap().iter().find(|i| i["partner"] == code.as_str()).unwrap()["id"].as_u64().unwrap();
        // (An asynchronous MDN comes a moment after the message: sent, then delivered.)
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let sent = loop {
            let detail = h.get_json(&format!("/api/v1/intakes/{intake}")).await;
            let sent = detail["acknowledgments"][0]["sent"].as_array().cloned().unwrap_or_default();
            if sent.last().is_some_and(|e| e["state"] == "delivered") {
                break sent;
            }
            assert!(std::time::Instant::now() < deadline, "{code}: not delivered: {detail:#}\n{}", h.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let cause = sent.last().unwrap()["cause"].as_str().unwrap().to_string();
        if *mdn != "none" {
            assert!(cause.contains("MDN processed") && cause.contains("matches"), "{code}: {cause}");
            assert_eq!(cause.contains("signature verified"), *signed_mdn, "{code}: {cause}");
        }
        if *mdn == "async" {
            assert_eq!(sent.len(), 2, "{code}: sent (waiting), then delivered by the MDN: {sent:?}");
            assert_eq!(sent[0]["state"], "queued");
            assert!(cause.starts_with("asynchronous MDN"), "{cause}");
        }
    }
    drop(receiver);
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_partner_server_or_a_wrong_mic_is_no_delivery_and_is_retried() {
    let work = std::env::temp_dir().join(format!("edigate-as2-sendfail-{}-{}", std::process::id(), fastrand::u32(..)));
    let profiles = work.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let key = key_and_cert(&work, "partner");
    let down = Receiver::start(&work.join("down"), &key, &["--status", "503"]);
    let liar = Receiver::start(&work.join("liar"), &key, &["--tamper-mic"]);
    let silent = Receiver::start(&work.join("silent"), &key, &["--drop-async-mdn"]);
    sending_profile(&profiles, "send-down", "SENDDOWN", &format!("http://127.0.0.1:{}/as2", down.port), "");
    sending_profile(&profiles, "send-liar", "SENDLIAR", &format!("http://127.0.0.1:{}/as2", liar.port), "signed_mdn = false");
    sending_profile(&profiles, "send-silent", "SENDSILENT", &format!("http://127.0.0.1:{}/as2", silent.port), "mdn = \"async\"\nmdn_within_minutes = 0");
    let mut h = Harness::new("as2-sendfail", Options { profiles_dir: Some(profiles), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    for (n, (code, id)) in [("send-down", "SENDDOWN"), ("send-liar", "SENDLIAR"), ("send-silent", "SENDSILENT")].iter().enumerate() {
        let dir = h.dir.join("data/inbound").join(code);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("asn.edi"), asn_from(id, n as u32 + 1)).unwrap();
    }
    for (code, want) in [("send-down", "HTTP 503"), ("send-liar", "is not ours")] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let events = loop {
            let intakes = h.get_json("/api/v1/intakes?limit=10").await;
            if let Some(i) = intakes.as_array().unwrap().iter().find(|i| i["partner"] == code) {
                let d = h.get_json(&format!("/api/v1/intakes/{}", i["id"])).await;
                let sent = d["acknowledgments"][0]["sent"].as_array().cloned().unwrap_or_default();
                if sent.len() >= 2 {
                    break sent;
                }
            }
            assert!(std::time::Instant::now() < deadline, "{code}: no retries recorded:\n{}", h.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(events.iter().all(|e| e["state"] == "failed"), "{code}: {events:?}");
        assert!(events[0]["cause"].as_str().unwrap().contains(want), "{code}: {events:?}");
        assert_eq!(files(&h.outbox(code)).len(), 1, "{code}: the file waits in the outbox for the next try");
    }
    // The partner took the message but its asynchronous MDN never comes: overdue, alerted once.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let intakes = h.get_json("/api/v1/intakes?limit=10").await;
        let sent = match intakes.as_array().unwrap().iter().find(|i| i["partner"] == "send-silent") {
            Some(i) => h.get_json(&format!("/api/v1/intakes/{}", i["id"])).await["acknowledgments"][0]["sent"].as_array().cloned().unwrap_or_default(),
            None => vec![],
        };
        if sent.len() >= 2 {
            assert_eq!(sent[0]["state"], "queued", "{sent:?}");
            assert_eq!(sent[1]["state"], "failed", "{sent:?}");
            assert!(sent[1]["cause"].as_str().unwrap().contains("is overdue"), "{sent:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no overdue MDN recorded:\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(h.log().contains("asynchronous MDN overdue"));
    drop((down, liar, silent));
    let _ = std::fs::remove_dir_all(&work);
}

/// A key and a certificate valid from 2020 to 2021 only (openssl ca, which can date them).
fn expired_identity(dir: &Path) -> PathBuf {
    let d = dir.join("expired-ca");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("serial"), "01\n").unwrap();
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca = t\n[t]\ndir = .\ndatabase = ./index.txt\nnew_certs_dir = .\nserial = ./serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(&d).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "exp.key", "-out", "exp.csr", "-subj", "/CN=globex-old expired"]);
    run(&["ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "exp.key", "-in", "exp.csr", "-out", "exp.pem", "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-notext"]);
    let pem = [std::fs::read(d.join("exp.key")).unwrap(), std::fs::read(d.join("exp.pem")).unwrap()].concat();
    std::fs::write(d.join("exp-keycert.pem"), pem).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_with_rustls() {
    let work = std::env::temp_dir().join(format!("edigate-as2-tls-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&work).unwrap();
    crate::erp_auth::make_certificates(&work);
    let as2 = format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", work.join("server.pem").display(), work.join("server.key").display());
    let mut h = Harness::new("as2-tls", Options { profiles_dir: Some(profiles(&work, true)), as2, ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let payload = work.join("asn.edi");
    std::fs::write(&payload, globex_asn(1)).unwrap();
    let ca = work.join("ca.pem").display().to_string();
    let r = &partner_at(
        &format!("https://127.0.0.1:{}/as2", h.as2_port),
        &["--ca", &ca],
        &key_and_cert(&work, "partner"),
        &[json!({ "payload": payload, "sign": "sha256", "encrypt": "aes_256_cbc", "compress": true, "signed_mdn": true })],
    )[0];
    assert_eq!((r["http"].as_u64(), r["mdn_status"].as_str()), (Some(200), Some("processed")), "{r}\n{}", h.log());
    assert_eq!(h.wait_delivered(1, Duration::from_secs(30)).await.len(), 1);
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_get_answers_and_the_listener_goes_on() {
    let work = std::env::temp_dir().join(format!("edigate-as2-hostile-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&work).unwrap();
    let mut h = Harness::new("as2-hostile", Options { profiles_dir: Some(profiles(&work, true)), as2: "max_body_bytes = 100000".into(), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let url = format!("http://127.0.0.1:{}/as2", h.as2_port);
    let post = |ct: &str, body: Vec<u8>, headers: &[(&str, &str)]| {
        let mut r = h.client.post(&url).header("content-type", ct).body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r
    };
    let as2 = [("AS2-From", "globex"), ("AS2-To", "edigate"), ("Message-ID", "<hostile@test>"), ("Disposition-Notification-To", "x@y")];
    let mut random = vec![0u8; 5000];
    random.iter_mut().for_each(|b| *b = fastrand::u8(..));
    // Content-Type, body, headers, the HTTP status and what the answer must say.
    type Case<'a> = (&'a str, Vec<u8>, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: Vec<Case> = vec![
        ("application/pkcs7-mime; smime-type=enveloped-data", random.clone(), &as2, 200, "decryption-failed"),
        ("multipart/signed; protocol=\"application/pkcs7-signature\"", b"--x\r\nno boundary\r\n".to_vec(), &as2, 200, "unexpected-processing-error"),
        ("multipart/signed; boundary=\"b\"", b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\n!!!not base64!!!\r\n--b--\r\n".to_vec(), &as2, 200, "authentication-failed"),
        ("application/pkcs7-mime; smime-type=compressed-data", random.clone(), &as2, 200, "decompression-failed"),
        ("application/edi-x12", Vec::new(), &as2, 200, "insufficient-message-security"),
        ("application/edi-x12", b"ISA".to_vec(), &[("AS2-From", "globex")], 400, "AS2-From, AS2-To and Message-ID are required"),
        ("application/edi-x12", vec![b'x'; 200_000], &as2, 413, "over the limit of 100000 bytes"),
    ];
    for (i, (ct, body, headers, status, want)) in cases.into_iter().enumerate() {
        let mut hs: Vec<(&str, String)> = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        for (k, v) in hs.iter_mut() {
            if *k == "Message-ID" {
                *v = format!("<hostile-{i}@test>");
            }
        }
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post(ct, body, &hs).send().await.unwrap();
        let code = r.status().as_u16();
        let text = String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned();
        assert_eq!(code, status, "case {i}: {text}");
        assert!(text.contains(want), "case {i}: wanted {want:?} in:\n{text}");
    }
    // Still serving: a good message goes through.
    let payload = work.join("asn.edi");
    std::fs::write(&payload, globex_asn(1)).unwrap();
    let r = &partner(&h, &key_and_cert(&work, "partner"), &[json!({ "payload": payload, "sign": "sha256", "encrypt": "aes_128_cbc", "signed_mdn": true })])[0];
    assert_eq!(r["mdn_status"], "processed", "{r}");
    assert_eq!(h.wait_delivered(1, Duration::from_secs(30)).await.len(), 1);
    let _ = std::fs::remove_dir_all(&work);
}
