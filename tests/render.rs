//! render(translate(x)) keeps the business content: every good sample is translated, written back as
//! EDI through the base outbound mappings for a partner of the same standard and version
//! (`tests/fixtures/render-profiles/`), the EDI checked by the validator, translated again, and the
//! two canonical forms compared. Provenance (new envelopes) and `source_unit` (the unit as the source
//! spelled it: `CS` and `CA` are both a case) are left out of the comparison.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod common;
use common::root;

const PROFILES: &str = "tests/fixtures/render-profiles";

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .current_dir(root())
        .env("SOURCE_DATE_EPOCH", "1718000000")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run edigate");
    if let Some(input) = stdin {
        // edigate may refuse (unknown partner) before it reads its input: a closed pipe is fine.
        match child.stdin.take().expect("stdin").write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
    }
    let out = child.wait_with_output().expect("edigate output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "edigate {args:?} panicked:\n{stderr}");
    (out.status.code().unwrap_or(-1), out.stdout, stderr)
}

fn samples() -> Vec<PathBuf> {
    common::regular_samples().into_iter().map(|p| root().join(p)).collect()
}

/// The canonical form compared: provenance and source units removed.
fn business(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.shift_remove("provenance");
                o.shift_remove("source_unit");
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

fn partner_for(doc: &Value) -> String {
    let p = &doc["provenance"];
    let std = p["standard"].as_str().unwrap_or_default();
    let version = p["version"].as_str().unwrap_or_default();
    match std {
        "x12" => format!("x12-{}", &version[..6.min(version.len())]),
        _ => format!("edifact-{}", version.to_lowercase()),
    }
}

#[test]
fn render_of_translate_keeps_the_business_content() {
    let mut failures = vec![];
    for file in samples() {
        let shown = file.strip_prefix(root()).unwrap_or(&file).display().to_string();
        let (code, out, err) = run(&["translate", &shown, "--profiles", PROFILES], None);
        if code != 0 {
            failures.push(format!("{shown}: translate failed: {err}"));
            continue;
        }
        let first: Value = serde_json::from_slice(&out).expect("translate prints JSON");
        let Some(doc0) = first.as_array().and_then(|a| a.first()) else { continue };
        let partner = partner_for(doc0);
        let (code, edi, err) = run(&["render", "-", "--partner", &partner, "--profiles", PROFILES], Some(&out));
        if code != 0 {
            failures.push(format!("{shown}: render for {partner} failed (exit {code}):\n{err}\n{}", String::from_utf8_lossy(&edi)));
            continue;
        }
        let (code, again, err) = run(&["translate", "-", "--profiles", PROFILES], Some(&edi));
        if code != 0 {
            failures.push(format!("{shown}: the rendered EDI does not translate: {err}\n{}", String::from_utf8_lossy(&edi)));
            continue;
        }
        let second: Value = serde_json::from_slice(&again).expect("JSON");
        let (a, b) = (business(first), business(second));
        if a != b {
            let (sa, sb) = (serde_json::to_string_pretty(&a).unwrap(), serde_json::to_string_pretty(&b).unwrap());
            let diff: Vec<String> = sa.lines().zip(sb.lines()).enumerate().filter(|(_, (x, y))| x != y).take(6).map(|(i, (x, y))| format!("  line {i}: {x}\n       now: {y}")).collect();
            failures.push(format!("{shown}: business content changed through {partner}:\n{}", diff.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{} of the samples do not survive render(translate(x)):\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn render_refuses_what_the_partner_cannot_receive() {
    // An unknown partner, and a document without the fields its mapping needs.
    let (code, _, err) = run(&["render", "-", "--partner", "nobody", "--profiles", PROFILES], Some(b"[]"));
    assert_eq!(code, 2);
    assert!(err.contains("unknown partner \"nobody\""), "{err}");
    let (code, _, err) = run(&["render", "-", "--partner", "x12-004010", "--profiles", PROFILES], Some(b"{\"document\": \"purchase_order\"}"));
    assert_eq!(code, 2);
    assert!(err.contains("not a canonical document") && err.contains("missing field"), "{err}");
}

#[test]
fn control_totals_are_recomputed_from_the_document() {
    // The 856 CTT (HL count, SN102 hash total) and the DESADV CNT+2 (line items) of a rendered
    // document equal the source's.
    for (sample, partner, total) in [
        ("samples/x12/004010/856-initech-two-orders.edi", "x12-004010", "CTT*"),
        ("samples/edifact/D96A/DESADV-globex-pallets.edi", "edifact-d96a", "CNT+2:"),
    ] {
        let source = std::fs::read_to_string(root().join(sample)).unwrap();
        let expected = source.split(['~', '\'']).map(str::trim).find(|s| s.starts_with(total)).unwrap_or_else(|| panic!("{sample} has no {total}")).to_string();
        let (_, json, _) = run(&["translate", sample, "--profiles", PROFILES], None);
        let (code, edi, err) = run(&["render", "-", "--partner", partner, "--profiles", PROFILES], Some(&json));
        assert_eq!(code, 0, "{err}");
        let edi = String::from_utf8(edi).unwrap();
        let written = edi.split(['~', '\'']).map(str::trim).find(|s| s.starts_with(total)).unwrap_or_else(|| panic!("no {total} in\n{edi}"));
        assert_eq!(written, expected, "{sample}");
    }
}
