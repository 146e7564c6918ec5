//! Intake to delivery, acknowledgments, duplicates, the operator API, watched directories.

use crate::harness::*;
use std::time::Duration;

/// Inbound samples of the sample partners, by the partner that sends them.
pub const INBOUND: &[(&str, &str)] = &[
    ("wayne-retail", "samples/x12/004010/850-wayne-retail-store-order.edi"),
    ("globex", "samples/x12/004010/855-globex-accept-with-changes.edi"),
    ("globex", "samples/x12/004010/856-globex-pick-pack.edi"),
    ("globex", "samples/x12/004010/810-globex-invoice.edi"),
    ("globex", "samples/x12/005010/855-globex-accept-with-changes.edi"),
    ("globex", "samples/x12/005010/856-globex-pick-pack.edi"),
    ("globex", "samples/x12/005010/810-globex-invoice.edi"),
    ("globex-gmbh", "samples/edifact/D96A/ORDRSP-globex-changes.edi"),
    ("globex-gmbh", "samples/edifact/D96A/DESADV-globex-pallets.edi"),
    ("globex-gmbh", "samples/edifact/D96A/INVOIC-globex.edi"),
    ("globex-gmbh", "samples/edifact/D01B/ORDRSP-globex-changes.edi"),
    ("globex-gmbh", "samples/edifact/D01B/DESADV-globex-pallets.edi"),
    ("globex-gmbh", "samples/edifact/D01B/INVOIC-globex.edi"),
    ("initech", "samples/edifact/D96A/ORDRSP-initech-accept.edi"),
    ("initech", "samples/edifact/D96A/DESADV-initech-parcels.edi"),
    ("initech", "samples/edifact/D96A/INVOIC-initech-credit-note.edi"),
    ("initech", "samples/edifact/D01B/ORDRSP-initech-accept.edi"),
    ("initech", "samples/edifact/D01B/DESADV-initech-parcels.edi"),
    ("initech", "samples/edifact/D01B/INVOIC-initech-credit-note.edi"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partner_sample_is_kept_acknowledged_and_delivered_once() {
    let mut h = Harness::new("samples", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let mut expected = 0;
    for (partner, path) in INBOUND {
        let bytes = sample(path);
        let (status, body) = h.upload(partner, bytes.clone()).await.unwrap();
        assert_eq!(status, 202, "{path}: {body:#}");
        assert_eq!(body["state"], "validated", "{path}: {body:#}");
        let docs = body["documents"].as_array().unwrap();
        assert!(!docs.is_empty(), "{path}");
        expected += docs.len();
        // The raw bytes as sent, from the journal.
        let (_, raw) = h.get_bytes(&format!("/api/v1/intakes/{}/raw", body["intake"])).await;
        assert_eq!(raw, bytes, "{path}: raw bytes kept");
        // The acknowledgment is in the partner's outbox, and it accepts.
        let ack_id = body["acknowledgments"][0].as_str().unwrap_or_else(|| panic!("{path}: no ack: {body:#}"));
        let (_, ack) = h.get_bytes(&format!("/api/v1/acks/{ack_id}")).await;
        let ack = ack_text(&ack);
        if path.contains("/x12/") {
            // The set the partner's profile asks for, whatever the version: Globex 999, Wayne 997.
            let want = if *partner == "globex" { "ST*999*" } else { "ST*997*" };
            assert!(ack.contains(want), "{path}: wanted {want}:\n{ack}");
        }
        let accepted = ack_accepts(&ack);
        assert!(accepted, "{path}: ack does not accept:\n{ack}");
        let intake = body["intake"].as_u64().unwrap();
        assert!(files(&h.outbox(partner)).contains(&format!("ack-{intake}-1.edi")), "{path}");
    }
    let delivered = h.wait_delivered(expected, Duration::from_secs(60)).await;
    assert_eq!(delivered.len(), expected, "each document exactly once");
    for r in &delivered {
        let kind = r["document"]["document"].as_str().unwrap();
        let path = r["path"].as_str().unwrap();
        let want = match kind {
            "purchase_order" => "/purchase-orders",
            "order_confirmation" => "/order-confirmations",
            "ship_notice" => "/ship-notices",
            "invoice" => "/invoices",
            k => panic!("kind {k}"),
        };
        assert_eq!(path, want);
        assert!(r["idempotency_key"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(r["document"]["provenance"]["raw_id"].as_str().is_some_and(|s| s.len() == 64), "{r:#}");
        assert!(r["correlation_id"].as_str().is_some());
    }
    // Nothing was delivered twice even though the ERP was never asked twice.
    assert!(!h.store().join("replays.log").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_interchange_again_is_a_duplicate_answered_with_ta1_025_and_not_delivered_again() {
    let mut h = Harness::new("dup", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let asn = sample("samples/x12/004010/856-globex-pick-pack.edi");
    let (s1, first) = h.upload("globex", asn.clone()).await.unwrap();
    assert_eq!(s1, 202, "{first:#}");
    // The same bytes, and the same interchange with other bytes (line breaks added): both duplicates.
    let (s2, second) = h.upload("globex", asn.clone()).await.unwrap();
    assert_eq!(s2, 200, "{second:#}");
    assert_eq!(second["state"], "duplicate");
    assert_eq!(second["interchanges"][0]["duplicate_of"], first["intake"]);
    let mut reformatted = asn.clone();
    reformatted.extend_from_slice(b"\n");
    let (s3, third) = h.upload("globex", reformatted).await.unwrap();
    assert_eq!((s3, third["state"].as_str()), (200, Some("duplicate")), "{third:#}");
    let (_, ack) = h.get_bytes(&format!("/api/v1/acks/{}", second["acknowledgments"][0].as_str().unwrap())).await;
    let ack = ack_text(&ack);
    assert!(ack.contains("*R*025~"), "TA1 with 025 duplicate interchange control number:\n{ack}");
    assert!(second["errors"][0].as_str().unwrap().contains("received before"), "{second:#}");
    // The EDIFACT answer: CONTRL rejecting the interchange with 26 (duplicate detected).
    let desadv = sample("samples/edifact/D96A/DESADV-globex-pallets.edi");
    assert_eq!(h.upload("globex-gmbh", desadv.clone()).await.unwrap().0, 202);
    let (s, again) = h.upload("globex-gmbh", desadv).await.unwrap();
    assert_eq!(s, 200);
    let (_, contrl) = h.get_bytes(&format!("/api/v1/acks/{}", again["acknowledgments"][0].as_str().unwrap())).await;
    let contrl = String::from_utf8(contrl).unwrap();
    assert!(contrl.contains("+4+26+UNB'"), "UCI action 4, error 26 in UNB:\n{contrl}");

    let delivered = h.wait_delivered(2, Duration::from_secs(30)).await;
    assert_eq!(delivered.len(), 2, "the ASN and the DESADV once each");
    // Duplicates are shown to operators.
    let docs = h.get_json("/api/v1/documents?state=duplicate").await;
    assert_eq!(docs.as_array().unwrap().len(), 3, "{docs:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_find_the_asn_for_a_po_and_see_its_whole_story() {
    let mut h = Harness::new("operator", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    // Initech's X12 856 is about POs 4500012345 and 4500012346; globex's pick-pack is about another.
    let (s, asn) = h.upload("globex", sample("samples/x12/004010/856-globex-pick-pack.edi")).await.unwrap();
    assert_eq!(s, 202);
    let po = {
        let id = asn["documents"][0].as_str().unwrap();
        h.wait_delivered(1, Duration::from_secs(30)).await;
        let d = h.document(id).await;
        d["document"]["order_numbers"][0].as_str().unwrap().to_string()
    };
    let found = h.get_json(&format!("/api/v1/documents?number={po}&type=ship_notice")).await;
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    let id = found[0]["id"].as_str().unwrap();
    let detail = h.document(id).await;
    let states: Vec<&str> = detail["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["mapped", "queued", "delivered"], "{detail:#}");
    assert_eq!(detail["attempts"][0]["status"], 201);
    assert_eq!(detail["canonical"]["document"], "ship_notice");
    assert_eq!(detail["intake"]["partner"], "globex");
    let intake = h.get_json(&format!("/api/v1/intakes/{}", detail["document"]["intake"])).await;
    let istates: Vec<&str> = intake["history"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(istates, ["received", "validated"]);
    assert_eq!(intake["acknowledgments"][0]["partner"], "globex");
    // Filters that match nothing.
    assert!(h.get_json(&format!("/api/v1/documents?number={po}&partner=initech")).await.as_array().unwrap().is_empty());
    assert!(h.get_json("/api/v1/documents?state=dead_lettered").await.as_array().unwrap().is_empty());
    // Metrics.
    let (_, m) = h.get_bytes("/metrics").await;
    let m = String::from_utf8(m).unwrap();
    assert!(m.contains("edigate_documents{state=\"delivered\"} 1"), "{m}");
    assert!(m.contains("edigate_queue_depth 0"), "{m}");
    assert!(m.contains("edigate_receive_to_delivered_seconds_count 1"), "{m}");
    assert_eq!(h.get_bytes("/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_in_a_partners_directory_is_taken_once() {
    let mut h = Harness::new("dir", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let inbound = h.dir.join("data/inbound/initech");
    // Written under a temporary name, then renamed: the usual pattern of scripts.
    std::fs::write(inbound.join("desadv.edi.part"), sample("samples/edifact/D96A/DESADV-initech-parcels.edi")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.delivered().is_empty(), ".part files are left alone");
    std::fs::rename(inbound.join("desadv.edi.part"), inbound.join("desadv.edi")).unwrap();
    let got = h.wait_delivered(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["document"]["document"], "ship_notice");
    assert!(!inbound.join("desadv.edi").exists(), "taken files are removed");
    let intakes = h.get_json("/api/v1/intakes").await;
    assert_eq!(intakes[0]["channel"], "directory");
    assert_eq!(intakes[0]["filename"], "desadv.edi");
    assert!(files(&h.outbox("initech")).iter().any(|f| f.starts_with("ack-")), "CONTRL in the outbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_api_wants_its_token_when_one_is_set_and_the_intake_its_own() {
    let real = {
        use sha2::Digest;
        sha2::Sha256::digest(b"ops-secret").iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let mut h = Harness::new("optoken", Options { operator_token_sha256: Some(real), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let get = |token: Option<&'static str>| {
        let mut r = h.client.get(h.url("/api/v1/documents"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status().as_u16(), 401);
    assert_eq!(get(Some("wrong")).await.unwrap().status().as_u16(), 401);
    assert_eq!(get(Some("dev-token-globex")).await.unwrap().status().as_u16(), 401, "a partner token is not an operator token");
    assert_eq!(get(Some("ops-secret")).await.unwrap().status().as_u16(), 200);
    // Health, readiness and metrics stay open (for probes and scrapers); intake takes partner tokens.
    assert_eq!(h.get_bytes("/healthz").await.0, 200);
    assert_eq!(h.get_bytes("/metrics").await.0, 200);
    assert_eq!(h.upload("globex", sample("samples/x12/004010/855-globex-accept-with-changes.edi")).await.unwrap().0, 202);
}
