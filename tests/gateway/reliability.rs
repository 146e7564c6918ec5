//! Nothing lost, nothing twice: kill -9 in a loop while uploads stream in; the ERP down, then up;
//! refusals dead-lettered and replayed.

use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_loop_loses_nothing_and_delivers_nothing_twice() {
    // At least this many uploads: the client goes on until every kill is made.
    const UPLOADS: u32 = 220;
    const KILLS: u32 = 22;
    let killing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut h = Harness::new("kill", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let h = std::sync::Arc::new(tokio::sync::Mutex::new(h));

    // The client: each upload is sent until it gets a 2xx (a resend after a lost answer is a
    // duplicate for the gateway, which must not deliver it again).
    let client = {
        let h = h.clone();
        let killing = killing.clone();
        tokio::spawn(async move {
            let (url, http) = {
                let g = h.lock().await;
                (g.url("/api/v1/inbound"), g.client.clone())
            };
            let mut acked = BTreeMap::new();
            let mut sends = 0u32;
            let mut n = 0;
            while n < UPLOADS || killing.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                loop {
                    sends += 1;
                    let r = http.post(&url).bearer_auth("dev-token-wayne-retail").body(wayne_order(n)).send().await;
                    if let Ok(r) = r {
                        let status = r.status().as_u16();
                        if let Ok(b) = r.bytes().await {
                            if (200..300).contains(&status) {
                                let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                                acked.insert(n, v["state"].as_str().unwrap_or("?").to_string());
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }
            (acked, sends)
        })
    };

    // The killer: once the gateway is up, SIGKILL at a random moment of the traffic; restart at once.
    let mut kills = 0;
    while kills < KILLS {
        let mut g = h.lock().await;
        g.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(10..300))).await;
        g.kill_gateway();
        kills += 1;
        g.spawn_gateway();
    }
    killing.store(false, std::sync::atomic::Ordering::SeqCst);
    let (acked, sends) = client.await.unwrap();
    let mut g = h.lock().await;
    g.wait_ready().await;
    let uploads = acked.len() as u32;
    assert!(uploads >= UPLOADS);
    assert_eq!(kills, KILLS);

    let delivered = g.wait_delivered(uploads as usize, Duration::from_secs(120)).await;
    let mut by_order: BTreeMap<String, usize> = BTreeMap::new();
    for r in &delivered {
        *by_order.entry(order_number(r)).or_default() += 1;
    }
    let twice: Vec<_> = by_order.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<u32> = (1..=uploads).filter(|n| !by_order.contains_key(&format!("WR-{n:06}"))).collect();
    assert!(missing.is_empty(), "acknowledged with a 2xx but never delivered: {missing:?}");
    assert_eq!(delivered.len(), uploads as usize);
    let duplicates = acked.values().filter(|s| *s == "duplicate").count();
    let replays = std::fs::read_to_string(g.store().join("replays.log")).map(|s| s.lines().count()).unwrap_or(0);
    eprintln!("kill -9 x {kills}: {uploads} uploads, {sends} sends, {duplicates} answered as duplicates, {replays} deliveries the ERP had already (idempotency key)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erp_down_then_up_everything_arrives_once_in_order_per_partner() {
    let mut h = Harness::new("erp-down", Options::default());
    // No ERP at all: connections refused.
    h.start_gateway().await;
    let mut sent: Vec<(String, String)> = Vec::new();
    for n in 1..=12u32 {
        let (s, b) = h.upload("wayne-retail", wayne_order(n)).await.unwrap();
        assert_eq!(s, 202, "{b:#}");
        sent.push(("wayne-retail".into(), format!("WR-{n:06}")));
        if n % 4 == 0 {
            for (partner, path) in [("globex", "samples/x12/004010/855-globex-accept-with-changes.edi"), ("globex", "samples/x12/004010/856-globex-pick-pack.edi"), ("globex", "samples/x12/004010/810-globex-invoice.edi")] {
                let bytes = String::from_utf8(sample(path)).unwrap().replace("000004", &format!("00{n:04}")).into_bytes();
                let (s, b) = h.upload(partner, bytes).await.unwrap();
                assert_eq!(s, 202, "{path}: {b:#}");
            }
        }
    }
    // The first tries fail (connection refused): wait for one, as long as a loaded machine needs.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let failed = h.get_json("/api/v1/documents?state=failed").await;
        if !failed.as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "tries failed while the ERP was away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(h.delivered().is_empty());
    // The ERP comes up, but answers 503 to its first 8 calls.
    h.start_erp(&["--fail-first", "8"]);
    let delivered = h.wait_delivered(21, Duration::from_secs(60)).await;
    assert_eq!(delivered.len(), 21, "12 orders + 3 x (855, 856, 810), once each");
    // Per partner, in the order received: the ERP's own sequence numbers.
    let wayne: Vec<String> = delivered.iter().filter(|r| r["path"] == "/purchase-orders").map(order_number).collect();
    let want: Vec<String> = sent.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(wayne, want, "Wayne Retail's orders in the order they came");
    let globex_kinds: Vec<&str> = delivered.iter().filter(|r| r["path"] != "/purchase-orders").map(|r| r["document"]["document"].as_str().unwrap()).collect();
    assert_eq!(globex_kinds, ["order_confirmation", "ship_notice", "invoice"].repeat(3), "confirmation before ASN before invoice");
    let (_, m) = h.get_bytes("/metrics").await;
    let m = String::from_utf8(m).unwrap();
    let retries: u64 = m.lines().find_map(|l| l.strip_prefix("edigate_delivery_retries_total ")).unwrap().parse().unwrap();
    assert!(retries >= 8, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_dead_lettered_with_the_answer_kept_and_replayed_by_an_operator() {
    let mut h = Harness::new("dead", Options::default());
    h.start_erp(&["--status", "422"]);
    h.start_gateway().await;
    let (_, a) = h.upload("wayne-retail", wayne_order(1)).await.unwrap();
    let (_, b) = h.upload("wayne-retail", wayne_order(2)).await.unwrap();
    let ids = [a["documents"][0].as_str().unwrap().to_string(), b["documents"][0].as_str().unwrap().to_string()];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dead = h.get_json("/api/v1/dead-letters").await;
        if dead.as_array().unwrap().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not dead-lettered: {dead:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = h.document(&ids[0]).await;
    assert_eq!(d["document"]["state"], "dead_lettered");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "a 4xx is not retried");
    assert_eq!(attempts[0]["status"], 422);
    assert!(attempts[0]["response"].as_str().unwrap().contains("told to fail"), "the ERP's answer is kept");
    // The ERP is fixed; an operator replays one, then the rest.
    h.stop_erp();
    h.start_erp(&[]);
    let (s, _) = h.post_json(&format!("/api/v1/documents/{}/replay", ids[0])).await;
    assert_eq!(s, 200);
    h.wait_delivered(1, Duration::from_secs(30)).await;
    let (s, r) = h.post_json("/api/v1/dead-letters/replay").await;
    assert_eq!(s, 200);
    assert_eq!(r["replayed"], serde_json::json!([ids[1]]));
    let got = h.wait_delivered(2, Duration::from_secs(30)).await;
    assert_eq!(got.iter().map(order_number).collect::<BTreeSet<_>>(), ["WR-000001".to_string(), "WR-000002".to_string()].into());
    let (s, e) = h.post_json(&format!("/api/v1/documents/{}/replay", ids[0])).await;
    assert_eq!(s, 409, "a delivered document is not replayed: {e}");
    let history: Vec<String> = h.document(&ids[0]).await["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap().to_string()).collect();
    assert_eq!(history, ["mapped", "queued", "dead_lettered", "queued", "delivered"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_whose_raw_bytes_never_reached_the_disk_is_rejected_and_the_gateway_starts() {
    use edigate::journal::{Change, Intake, Journal, SledJournal, State};
    let mut h = Harness::new("lost-raw", Options::default());
    // What a power loss can leave: sled wrote the intake record and the reference to its raw bytes
    // on its own, but the value log's bytes never reached the disk (the sender was never answered).
    let journal_dir = h.dir.join("data/journal");
    let id = {
        let j = SledJournal::open(&journal_dir).unwrap();
        let body = wayne_order(1);
        let sha256 = j.put_raw(&body).unwrap();
        let id = j.next_intake_id().unwrap();
        let rec = Intake {
            id,
            partner: "wayne-retail".into(),
            channel: "http".into(),
            filename: None,
            received_at: edigate::journal::now(),
            size: body.len() as u64,
            sha256,
            correlation_id: "lost-1".into(),
            state: State::Received,
            interchanges: vec![],
            documents: vec![],
            acks: vec![],
            errors: vec![],
        };
        j.put_intake(&rec, Change::new(State::Received, "test")).unwrap();
        j.sync().unwrap();
        id
    };
    let log = journal_dir.join("values/00000001.log");
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes[..100].windows(3).any(|w| w == b"ISA"), "the raw bytes went to the value log");
    // Blocks set aside but never written read as zeros.
    use std::os::unix::fs::FileExt;
    std::fs::File::options().write(true).open(&log).unwrap().write_all_at(&[0u8; 4096], 0).unwrap();

    h.start_erp(&[]);
    h.start_gateway().await;
    let got = h.get_json(&format!("/api/v1/intakes/{id}")).await;
    assert_eq!(got["intake"]["state"], "rejected", "{got:#}");
    let why = got["intake"]["errors"][0].as_str().unwrap();
    assert!(why.contains("raw bytes cannot be read") && why.contains("00000001.log at offset 0") && why.contains("the record holds 0 bytes"), "{why}");
    // The gateway goes on serving.
    let (status, _) = h.upload("wayne-retail", wayne_order(2)).await.unwrap();
    assert_eq!(status, 202);
    let got = h.wait_delivered(1, Duration::from_secs(30)).await;
    assert_eq!(order_number(&got[0]), "WR-000002");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_canonical_json_did_not_survive_is_made_again_from_its_raw_bytes() {
    let mut h = Harness::new("lost-canonical", Options::default());
    h.start_erp(&["--status", "503"]);
    h.start_gateway().await;
    let mut ids = Vec::new();
    for n in [7, 8] {
        let (s, r) = h.upload("wayne-retail", wayne_order(n)).await.unwrap();
        assert_eq!(s, 202, "{r:#}");
        ids.push(r["documents"][0].as_str().unwrap().to_string());
    }
    // The first is tried (and refused); the second waits behind it (one document of a partner in
    // flight at a time).
    h.wait_state(&ids[0], "failed", Duration::from_secs(30)).await;
    assert_eq!(h.document(&ids[1]).await["document"]["state"], "queued");
    // A clean stop (the journal synced), then what a power loss right after processing can leave:
    // the documents' records kept, the value log's copies of their canonical JSON not; and for the
    // second, its input's raw bytes gone too (a damaged disk: then it cannot be made again).
    let mut gw = h.gateway.take().unwrap();
    assert!(std::process::Command::new("kill").args(["-TERM", &gw.id().to_string()]).status().unwrap().success());
    gw.wait().unwrap();
    h.stop_erp();
    let log = h.dir.join("data/journal/values/00000001.log");
    let bytes = std::fs::read(&log).unwrap();
    let find = |what: &[u8], from: usize| from + bytes[from..].windows(what.len()).position(|w| w == what).expect("in the value log");
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::options().write(true).open(&log).unwrap();
    let mut at = 0;
    for _ in 0..2 {
        at = find(b"{\"document\":\"purchase_order\",", at + 1);
        file.write_all_at(&[0u8; 64], (at - 8) as u64).unwrap();
    }
    let second_raw = find(b"ISA*", find(b"WR-000007", 0));
    file.write_all_at(&[0u8; 64], (second_raw - 8) as u64).unwrap();

    h.start_erp(&[]);
    h.start_gateway().await;
    let got = h.wait_delivered(1, Duration::from_secs(30)).await;
    assert_eq!(order_number(&got[0]), "WR-000007");
    assert_eq!(got[0]["document"]["provenance"]["partner"], "wayne-retail");
    let d = h.wait_state(&ids[0], "delivered", Duration::from_secs(30)).await;
    let causes: Vec<&str> = d["history"].as_array().unwrap().iter().map(|e| e["cause"].as_str().unwrap()).collect();
    assert!(causes.iter().any(|c| c.contains("made again from the input's raw bytes") && c.contains("the record holds 0 bytes")), "{causes:#?}");
    // Kept anew: operators read it without another rebuild.
    assert_eq!(d["canonical"]["order_number"], "WR-000007");
    let again = h.document(&ids[0]).await;
    assert_eq!(again["history"].as_array().unwrap().iter().filter(|e| e["cause"].as_str().unwrap().contains("made again")).count(), 1);
    // Not to be made again: dead-lettered with the reason, nothing sent.
    let d = h.wait_state(&ids[1], "dead_lettered", Duration::from_secs(30)).await;
    let why = d["document"]["error"].as_str().unwrap();
    assert!(why.contains("cannot be made again") && why.contains("raw bytes cannot be read either"), "{why}");
    assert!(d["canonical"].is_null() && d["canonical_error"].as_str().unwrap().contains("cannot be made again"), "{d:#}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.delivered().len(), 1, "delivered once, the lost one not at all");
}

/// A listening port taken between the harness choosing it and the gateway binding it (a parallel
/// test's connection on a busy machine) makes the gateway exit with "Address already in use"; the
/// harness starts it again on other ports instead of failing the test that wanted a gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_port_taken_before_start_moves_the_gateway() {
    let mut h = Harness::new("port-taken", Options::default());
    let taken = std::net::TcpListener::bind(("127.0.0.1", h.sftp_port)).expect("take the SFTP port");
    let before = h.sftp_port;
    h.start_gateway().await;
    assert_ne!(h.sftp_port, before, "the gateway moved off the taken port");
    assert!(h.log().contains("Address already in use"), "the first start met the taken port: {}", h.log());
    let ready = h.client.get(h.url("/readyz")).send().await.expect("readyz");
    assert!(ready.status().is_success());
    drop(taken);
}
