//! Runs `edigate translate` over every good sample and compares the canonical JSON with the golden
//! files in `tests/golden/` (`*.canonical.json`, checked by hand when written). `UPDATE_GOLDEN=1`
//! rewrites them: read the diff before committing.

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::root;

fn good_samples() -> Vec<PathBuf> {
    common::all_samples().into_iter().filter(|p| !common::is_malformed(p)).collect()
}

/// Samples that are valid EDI but have nothing edigate can map (their reason is in the sample README).
const UNMAPPABLE: &[&str] = &["samples/x12/quirks/unsupported-version.edi"];

pub fn edigate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edigate")).current_dir(root()).args(args).output().expect("run edigate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "edigate {args:?} panicked:\n{stderr}");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn every_good_sample_translates_to_its_golden_canonical_json() {
    let mut failures = vec![];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for file in good_samples() {
        let shown = file.display().to_string();
        let (code, out, err) = edigate(&["translate", &shown]);
        if UNMAPPABLE.contains(&shown.as_str()) {
            if code == 0 {
                failures.push(format!("{shown}: expected a translation failure"));
            }
            continue;
        }
        if code != 0 {
            failures.push(format!("{shown}: exit {code}\n{err}"));
            continue;
        }
        let golden = root().join("tests/golden").join(file.strip_prefix("samples").unwrap()).with_extension("canonical.json");
        if update {
            std::fs::write(&golden, &out).unwrap();
        } else if std::fs::read_to_string(&golden).unwrap_or_default() != out {
            failures.push(format!("{shown}: canonical JSON differs from {} (UPDATE_GOLDEN=1 rewrites; review the diff)", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn xml_output_is_well_formed_and_follows_the_json_shape() {
    let (code, xml, err) = edigate(&["translate", "--format", "xml", "samples/edifact/D96A/DESADV-globex-pallets.edi"]);
    assert_eq!(code, 0, "{err}");
    let (_, json, _) = edigate(&["translate", "samples/edifact/D96A/DESADV-globex-pallets.edi"]);
    let docs: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    // Every element opened is closed, in order; collect the path of each text.
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut stack: Vec<String> = vec![];
    let mut texts: Vec<(String, String)> = vec![];
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) => stack.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap()),
            quick_xml::events::Event::End(e) => assert_eq!(stack.pop().as_deref(), Some(std::str::from_utf8(e.name().as_ref()).unwrap())),
            quick_xml::events::Event::Text(t) => texts.push((stack.join("/"), t.decode().unwrap().into_owned())),
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    let sscc = docs[0]["orders"][0]["packs"][0]["packs"][0]["sscc"].as_str().or_else(|| docs[0]["orders"][0]["packs"][0]["sscc"].as_str()).expect("an SSCC in the JSON");
    assert!(
        texts.iter().any(|(path, text)| path.starts_with("documents/ship_notice/orders/order/packs/pack") && path.ends_with("/sscc") && text == sscc),
        "SSCC {sscc} not found in the XML: {texts:?}"
    );
    let number = docs[0]["shipment_number"].as_str().unwrap();
    assert!(texts.contains(&("documents/ship_notice/shipment_number".to_string(), number.to_string())));
}

#[test]
fn address_lines_keep_the_order_of_their_segments() {
    let edi = "ISA*00*          *00*          *ZZ*ACMEMFG        *ZZ*NOBODY         *240311*0915*U*00401*000000901*0*P*>~\
GS*PO*ACMEMFG*NOBODY*20240311*0915*901*X*004010~ST*850*0001~BEG*00*SA*PO-1**20240311~\
N1*ST*PLANT 2~N2*RECEIVING~N3*DOCK 4*GATE B~N3*455 ROUTE 35~N4*XENIA*OH*45385*US~\
PO1*1*5*EA*1.5**BP*P-1~CTT*1~SE*10*0001~GE*1*901~IEA*1*000000901~";
    let dir = std::env::temp_dir().join(format!("edigate-n3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("po.edi");
    std::fs::write(&file, edi).unwrap();
    let (code, out, err) = edigate(&["translate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let docs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(docs[0]["parties"][0]["address"]["lines"], serde_json::json!(["RECEIVING", "DOCK 4", "GATE B", "455 ROUTE 35"]));
    std::fs::remove_dir_all(&dir).ok();
}

/// The least a valid document can hold (mandatory segments and elements only) still translates: no
/// mapping may require what the standard leaves optional.
#[test]
fn minimal_valid_documents_translate() {
    let isa = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240311*0915*U*00401*000000001*0*P*>~";
    let una = "UNA:+.? 'UNB+UNOC:3+SENDER:ZZZ+RECEIVER:ZZZ+240311:0915+R1'";
    let cases: [(&str, String, &str, &str); 8] = [
        ("850", format!("{isa}GS*PO*S*R*20240311*0915*1*X*004010~ST*850*0001~BEG*00*SA*PO-1**20240311~PO1*1*5*EA~CTT*1~SE*5*0001~GE*1*1~IEA*1*000000001~"), "order_number", "PO-1"),
        ("855", format!("{isa}GS*PR*S*R*20240311*0915*1*X*004010~ST*855*0001~BAK*00*AC*PO-1*20240311~SE*3*0001~GE*1*1~IEA*1*000000001~"), "order_number", "PO-1"),
        ("856", format!("{isa}GS*SH*S*R*20240311*0915*1*X*004010~ST*856*0001~BSN*00*SHIP-1*20240311*1200~HL*1**S~HL*2*1*O~PRF*PO-1~HL*3*2*I~LIN**BP*X-1~SN1**5*EA~SE*9*0001~GE*1*1~IEA*1*000000001~"), "shipment_number", "SHIP-1"),
        ("810", format!("{isa}GS*IN*S*R*20240311*0915*1*X*004010~ST*810*0001~BIG*20240311*INV-1~IT1*1*5*EA*2~TDS*1000~SE*5*0001~GE*1*1~IEA*1*000000001~"), "invoice_number", "INV-1"),
        ("ORDERS", format!("{una}UNH+1+ORDERS:D:96A:UN'BGM+220+PO-1+9'DTM+137:20240311:102'LIN+1'QTY+21:5'UNS+S'UNT+7+1'UNZ+1+R1'"), "order_number", "PO-1"),
        ("ORDRSP", format!("{una}UNH+1+ORDRSP:D:96A:UN'BGM+231+OR-1+29'DTM+137:20240311:102'RFF+ON:PO-1'UNS+S'UNT+6+1'UNZ+1+R1'"), "order_number", "PO-1"),
        ("DESADV", format!("{una}UNH+1+DESADV:D:96A:UN'BGM+351+D-1+9'DTM+137:20240311:102'RFF+ON:PO-1'CPS+1'LIN+1'QTY+12:5'UNT+8+1'UNZ+1+R1'"), "shipment_number", "D-1"),
        ("INVOIC", format!("{una}UNH+1+INVOIC:D:96A:UN'BGM+380+I-1+9'DTM+137:20240311:102'LIN+1'QTY+47:5'UNS+S'MOA+77:10'UNT+8+1'UNZ+1+R1'"), "invoice_number", "I-1"),
    ];
    let dir = std::env::temp_dir().join(format!("edigate-minimal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = vec![];
    for (name, edi, field, value) in cases {
        let file = dir.join(format!("{name}.edi"));
        std::fs::write(&file, edi).unwrap();
        let (code, out, err) = edigate(&["translate", file.to_str().unwrap()]);
        if code != 0 {
            failures.push(format!("{name}: {err}"));
            continue;
        }
        let docs: serde_json::Value = serde_json::from_str(&out).unwrap();
        if docs[0][field] != value {
            failures.push(format!("{name}: {field} is {} in {out}", docs[0][field]));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A set that validates but does not map fails with the canonical field (list positions included),
/// what is wrong, the EDI element it came from and the mapping rule; the command exits 1.
#[test]
fn a_value_that_does_not_map_names_the_field_the_element_and_the_rule() {
    let source = std::fs::read_to_string(root().join("samples/x12/004010/850-globex-three-lines.edi")).unwrap();
    let dir = std::env::temp_dir().join(format!("edigate-mapfail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        // A purpose code the code list does not have (valid X12: 06 is a confirmation).
        ("BEG*00*SA", "BEG*06*SA", r#"purpose: "06" is not in code list "x12_purpose""#, r#"(segment 2 BEG01 = "06") [rule at mappings/x12/004010/850.in.toml:7:"#),
        // The second line without quantity or unit: its required quantity has nothing to be made of.
        ("PO1*2*200*EA*1.15", "PO1*2***1.15", "lines[1].quantity: required, but its rules found nothing", "[rule at mappings/x12/004010/850.in.toml:"),
    ];
    for (from, to, what, source_and_rule) in cases {
        let changed = source.replacen(from, to, 1);
        assert_ne!(source, changed, "the sample no longer has {from:?}; update this test");
        let file = dir.join("850.edi");
        std::fs::write(&file, changed).unwrap();
        let (code, _, err) = edigate(&["translate", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(what) && err.contains(source_and_rule), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The documents (as JSON) or errors of every set in `data`, planned or walked (`trace`).
fn outcomes(data: &[u8], trace: bool) -> Vec<String> {
    use edigate::mapping::Library;
    use edigate::profiles::Profiles;
    use edigate::syntax::validate::Options;
    use edigate::translate::Translator;
    let library = Library::load(&root().join("mappings")).expect("mappings");
    let profiles = Profiles::load(&root().join("partner-profiles")).expect("profiles");
    let mut t = Translator::new(&library, &profiles);
    t.trace = trace;
    let mut out = vec![];
    t.translate(data, Options::default(), |o| {
        out.push(match o.result {
            Ok(d) => serde_json::to_string(&d).expect("JSON"),
            Err(e) => format!("error: {e}"),
        })
    })
    .expect("reading from memory");
    out
}

/// Evaluation plans (probes filled in one pass per scope, keyed by condition codes, taken as direct
/// values) only change how fast a document is made: every sample, with the repository's partner
/// profiles, gives the same documents and the same errors as walking every path (a traced run, which
/// plans nothing).
#[test]
fn planned_evaluation_gives_what_walking_every_path_gives() {
    let mut documents = 0;
    for file in good_samples() {
        let data = std::fs::read(root().join(&file)).expect("sample");
        let (planned, walked) = (outcomes(&data, false), outcomes(&data, true));
        assert_eq!(planned, walked, "{}", file.display());
        documents += planned.iter().filter(|o| !o.starts_with("error: ")).count();
    }
    assert!(documents >= 30, "{documents} documents compared");
}

/// The shipped items (wherever their pack is, in document order) of the ship notice that `sample`
/// becomes with `edits`, which must give the same documents planned and walked.
fn shipped_items(sample: &str, edits: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut data = std::fs::read_to_string(root().join(sample)).expect("sample");
    for (from, to) in edits {
        assert!(data.contains(from), "{sample} has {from:?}");
        data = data.replace(from, to);
    }
    let (planned, walked) = (outcomes(data.as_bytes(), false), outcomes(data.as_bytes(), true));
    assert_eq!(planned, walked);
    let doc: serde_json::Value = serde_json::from_str(&planned[0]).unwrap_or_else(|_| panic!("a document: {}", planned[0]));
    fn items(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("items", serde_json::Value::Array(list)) => out.extend(list.iter().cloned()),
                        _ => items(x, out),
                    }
                }
            }
            serde_json::Value::Array(list) => list.iter().for_each(|x| items(x, out)),
            _ => {}
        }
    }
    let mut found = vec![];
    items(&doc, &mut found);
    found
}

/// A list read from a segment that a scope holds more than once (two REF*LT, two REF*SE in one
/// item) has every match, planned or walked; from a segment held once, its one value.
#[test]
fn lists_from_repeated_segments_have_every_match() {
    let items = shipped_items(
        "samples/x12/005010/856-globex-pick-pack.edi",
        &[
            ("LIN*1*BP*ACM-10011*VP*GX-4406-A*LT*L24-0502~\nSN1**1000*EA~\nREF*LT*L24-0502~", "LIN*1*BP*ACM-10011*VP*GX-4406-A~\nSN1**1000*EA~\nREF*LT*L24-0502~\nREF*SE*S-1~\nREF*LT*L24-0503~\nREF*SE*S-2~"),
            ("SE*37*5163~", "SE*40*5163~"),
        ],
    );
    assert_eq!(items[0]["lots"], serde_json::json!(["L24-0502", "L24-0503"]), "{}", items[0]);
    assert_eq!(items[0]["serials"], serde_json::json!(["S-1", "S-2"]), "{}", items[0]);
    assert_eq!(items[1]["lots"], serde_json::json!(["L24-0477"]), "{}", items[1]);
}

/// EDIFACT lists of many reads (a DESADV item's lots: PIA NB, GIN BX, ...; serials: GIN BN) give
/// what is there, planned or walked, and nothing for an item that has none.
#[test]
fn desadv_lots_and_serials_from_many_reads() {
    let items = shipped_items(
        "samples/edifact/D96A/DESADV-globex-pallets.edi",
        &[
            ("PIA+1+GX-HB-M8X40-ZN:SA+100-2001:IN'", "PIA+1+GX-HB-M8X40-ZN:SA+100-2001:IN+L-77:NB'"),
            ("QTY+12:5000:PCE'", "QTY+12:5000:PCE'\nGIN+BN+S-1+S-2'"),
            ("UNT+33+DES00211'", "UNT+34+DES00211'"),
        ],
    );
    assert_eq!(items[0]["lots"], serde_json::json!(["L-77"]), "{}", items[0]);
    assert_eq!(items[0]["serials"], serde_json::json!(["S-1", "S-2"]), "{}", items[0]);
    assert_eq!(items[1].get("lots"), None, "{}", items[1]);
}
