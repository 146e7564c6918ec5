//! `edigate profiles check` and `profiles test`: the shipped mappings and profiles are clean, every
//! fault in deliberately broken ones (`tests/fixtures/bad/`) is reported at its file, line and column,
//! and a trace names the element behind each canonical field.

use std::path::PathBuf;
use std::process::Command;

fn edigate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edigate")).current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR"))).args(args).output().expect("run edigate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "edigate {args:?} panicked:\n{stderr}");
    (out.status.code().unwrap_or(-1), format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn shipped_mappings_and_profiles_have_no_problems() {
    let (code, out) = edigate(&["profiles", "check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("partner profiles: no problems"), "{out}");
}

#[test]
fn every_fault_is_reported_where_it_is() {
    let (code, out) = edigate(&["profiles", "check", "--mappings", "tests/fixtures/bad/mappings", "--profiles", "tests/fixtures/bad/profiles"]);
    assert_eq!(code, 1, "{out}");
    let m = "tests/fixtures/bad/mappings/x12/004010";
    let p = "tests/fixtures/bad/profiles";
    let expected = [
        format!("{m}/850.in.toml:4:16: path \"BEG3\": BEG3 is not a segment or loop of 004010 850 Purchase Order"),
        format!("{m}/850.in.toml:5:11: purpose: code list \"purpose.codes\" translates \"QQ\" that 353 (Transaction Set Purpose Code) does not have"),
        format!("{m}/850.in.toml:6:14: path \"BEG13\": BEG13 does not exist: BEG has 12 elements"),
        format!("{m}/850.in.toml:7:1: the document: unknown field \"ordr_type\"; fields here: provenance, order_number, purpose, order_type,"),
        format!("{m}/850.in.toml:8:40: unknown code list \"no_such_list\"; available: x12_purpose"),
        format!("{m}/850.in.toml:9:37: currency: unknown key \"frobnicate\"; a value takes: from, const,"),
        format!("{m}/850.in.toml:13:15: path \"BEG03\": BEG is not in loop PO1; in 004010 850 it is at: the set's top level"),
        format!("{m}/855.in.toml:2:11: unknown mapping \"x12/004010/855.base.in\"; available: x12/004010/850.in, x12/004010/855.in"),
        format!("{p}/acme.toml:12:1: unknown mapping \"x12/004010/865.in\"; available: x12/004010/850.in, x12/004010/855.in"),
        format!("{p}/acme.toml:20:51: unknown code list \"x12_unit\"; available: x12_purpose"),
        format!("{p}/acme.toml:21:1: lines.item: unknown field \"colour\"; fields here: buyer_part, vendor_part, gtin, upc, description"),
        format!("{p}/acme.toml:24:15: \"not-an-email\" is not an email address"),
        format!("{p}/acme.toml:27:16: not an OpenSSH public key"),
        format!("{p}/acme.toml:31:17: {p}/no-such-cert.pem: "),
        format!("{p}/acme.toml:34:7: \"ftp://acme.example/as2\" is not an http:// or https:// URL"),
        format!("{p}/acme.toml:35:11: encrypt \"aes257-cbc\": expected aes128-cbc, aes192-cbc, aes256-cbc, 3des or none"),
        format!("{p}/acme.toml:36:7: mdn \"later\": expected sync, async or none"),
        format!("{p}/typo.toml:3:1: unknown field `rol`, expected one of `code`, `name`, `role`,"),
    ];
    let lines: Vec<&str> = out.lines().collect();
    for e in &expected {
        assert!(lines.iter().any(|l| l.starts_with(e.as_str())), "missing:\n  {e}\nin:\n{out}");
    }
    assert!(out.contains(&format!("{} problems", expected.len())), "{out}");
}

#[test]
fn a_trace_names_the_element_behind_each_field_and_what_nothing_read() {
    let (code, out) = edigate(&["profiles", "test", "wayne-retail", "samples/x12/004010/850-wayne-retail-store-order.edi"]);
    assert_eq!(code, 0, "{out}");
    // The override of the partner: its SKU (pair IN) is the buyer part.
    let line = out.lines().find(|l| l.trim_start().starts_with("lines[0].item.buyer_part")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("\"WR-SKU-100234\"") && line.contains("segment   9 PO107") && line.contains("partner-profiles/wayne-retail.toml"), "{line}");
    // A cross-reference: the store number became our location code.
    assert!(out.contains("\"WR-STORE-0042\""), "{out}");
    assert!(out.contains("every element was read by a rule"), "{out}");
    // What no rule reads is listed: PO105, the price basis, has no place in the canonical order.
    let (code, out) = edigate(&["profiles", "test", "globex", "samples/x12/004010/850-globex-three-lines.edi"]);
    assert_eq!(code, 0, "{out}");
    let unread = out.split("not read by any rule:").nth(1).unwrap_or_else(|| panic!("{out}"));
    assert!(unread.contains("segment  21 PO105 \"PE\""), "{out}");
}

#[test]
fn a_partner_override_reads_what_the_base_mapping_does_not() {
    // Globex's profile takes the order number from REF*PO when PRF is not sent (the base 856 reads PRF).
    let source = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/x12/005010/856-globex-pick-pack.edi")).unwrap();
    let changed = source.replace("PRF*4500013007***20240502~", "REF*PO*4500013007~");
    assert_ne!(source, changed, "the sample's PRF changed; update this test");
    let dir = std::env::temp_dir().join(format!("edigate-override-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("856.edi");
    std::fs::write(&file, changed).unwrap();
    let (code, out) = edigate(&["translate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"order_number\": \"4500013007\""), "{out}");
    // Without the partner's profile (base mapping only) the order has no number: the document fails.
    let (code, out) = edigate(&["translate", file.to_str().unwrap(), "--profiles", "tests/fixtures/render-profiles"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("orders[0].order_number: required, but PRF01 found nothing"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}
