//! Runs the real `edigate` binary over every file in `samples/` and compares `inspect`, `validate --json`
//! and `ack` with the golden files in `tests/golden/`. Set `UPDATE_GOLDEN=1` to rewrite them (then read
//! the diff before committing: a golden file is a claim about the standards).
//!
//! Also checks the verdicts: every good sample validates (exit 0), every malformed sample fails (exit 1)
//! with its own problem.

use std::path::Path;
use std::process::Command;

mod common;
use common::{all_samples as samples, is_malformed, root};

/// Runs `edigate ARGS FILE` from the repository root; returns exit code and stdout.
fn edigate(args: &[&str], file: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .current_dir(root())
        // Acknowledgments carry the date and time they were made: fix them for the golden files.
        .env("SOURCE_DATE_EPOCH", "1718000000")
        .args(args)
        .arg(file)
        .output()
        .expect("run edigate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "edigate {args:?} {} panicked:\n{stderr}", file.display());
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn golden(file: &Path, kind: &str, actual: &str) -> Option<String> {
    let path = root().join("tests/golden").join(file.strip_prefix("samples").unwrap_or(file)).with_extension(kind);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    (expected != actual).then(|| {
        format!("{} differs from {} (run with UPDATE_GOLDEN=1 to rewrite, then review the diff)", kind, path.display())
    })
}

#[test]
fn outputs_match_golden_files() {
    let mut failures = vec![];
    for file in samples() {
        for (args, kind) in [(&["inspect"][..], "inspect.txt"), (&["validate", "--json"][..], "validate.json"), (&["ack"][..], "ack.txt")] {
            let (_, out) = edigate(args, &file);
            failures.extend(golden(&file, kind, &out));
        }
    }
    assert!(failures.is_empty(), "{} golden mismatches:\n{}", failures.len(), failures.join("\n"));
}


#[test]
fn good_samples_validate_and_malformed_ones_fail() {
    let mut wrong = vec![];
    for file in samples() {
        let (code, out) = edigate(&["validate", "--json"], &file);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: bad JSON: {e}\n{out}", file.display()));
        let errors = v["errors"].as_array().map(|a| a.len()).unwrap_or(0);
        if is_malformed(&file) {
            if code != 1 || errors == 0 {
                wrong.push(format!("{}: malformed but exit {code} with {errors} errors", file.display()));
            }
        } else if code != 0 || errors != 0 {
            wrong.push(format!("{}: should be valid, exit {code}, errors {}", file.display(), v["errors"]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The one problem each malformed sample was written to have (see samples/*/README.md): its code and
/// the segment it is reported on.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("samples/x12/malformed/se-count-wrong.edi", "segment-count-mismatch", "SE"),
    ("samples/x12/malformed/se-control-mismatch.edi", "set-control-mismatch", "SE"),
    ("samples/x12/malformed/ge-count-wrong.edi", "group-count-mismatch", "GE"),
    ("samples/x12/malformed/ge-control-mismatch.edi", "group-control-mismatch", "GE"),
    ("samples/x12/malformed/iea-count-wrong.edi", "interchange-count-mismatch", "IEA"),
    ("samples/x12/malformed/iea-control-mismatch.edi", "interchange-control-mismatch", "IEA"),
    ("samples/x12/malformed/missing-beg.edi", "mandatory-segment-missing", "BEG"),
    ("samples/x12/malformed/missing-se.edi", "set-trailer-missing", "GE"),
    ("samples/x12/malformed/hl-bad-parent.edi", "invalid-hierarchy", "HL"),
    ("samples/x12/malformed/hl-wrong-level.edi", "invalid-hierarchy", "HL"),
    ("samples/x12/malformed/truncated.edi", "premature-end", ""),
    ("samples/x12/malformed/isa-short.edi", "invalid-interchange-header", "ISA"),
    ("samples/x12/malformed/bad-date.edi", "invalid-date", "DTM"),
    ("samples/x12/malformed/too-long-element.edi", "element-too-long", "BEG"),
    ("samples/x12/malformed/bad-code.edi", "invalid-code", "N1"),
    ("samples/x12/malformed/unknown-segment.edi", "unrecognized-segment", "ZZZ"),
    ("samples/x12/malformed/segment-out-of-order.edi", "segment-out-of-sequence", "CTT"),
    ("samples/x12/malformed/duplicate-set-control.edi", "duplicate-set-control", "ST"),
    ("samples/edifact/malformed/unt-count-wrong.edi", "segment-count-mismatch", "UNT"),
    ("samples/edifact/malformed/unt-ref-mismatch.edi", "set-control-mismatch", "UNT"),
    ("samples/edifact/malformed/unz-count-wrong.edi", "interchange-count-mismatch", "UNZ"),
    ("samples/edifact/malformed/unz-ref-mismatch.edi", "interchange-control-mismatch", "UNZ"),
    ("samples/edifact/malformed/une-count-wrong.edi", "group-count-mismatch", "UNE"),
    ("samples/edifact/malformed/missing-bgm.edi", "mandatory-segment-missing", "BGM"),
    ("samples/edifact/malformed/missing-unt.edi", "set-trailer-missing", "UNZ"),
    ("samples/edifact/malformed/bad-una.edi", "invalid-service-string", "UNA"),
    ("samples/edifact/malformed/truncated.edi", "premature-end", ""),
    ("samples/edifact/malformed/unoa-lowercase.edi", "invalid-character-set", "NAD"),
    ("samples/edifact/malformed/bad-syntax-version.edi", "unsupported-version", "UNB"),
    ("samples/edifact/malformed/bad-date.edi", "invalid-date", "DTM"),
    ("samples/edifact/malformed/too-long-element.edi", "element-too-long", "BGM"),
    ("samples/edifact/malformed/unknown-segment.edi", "unrecognized-segment", "ZZZ"),
    ("samples/edifact/malformed/cps-bad-parent.edi", "invalid-hierarchy", "CPS"),
    ("samples/edifact/malformed/segment-out-of-order.edi", "segment-out-of-sequence", "CNT"),
    ("samples/edifact/malformed/dangling-release.edi", "premature-end", ""),
];

#[test]
fn each_malformed_sample_reports_its_problem_first() {
    let mut wrong = vec![];
    for (file, code, segment) in EXPECTED {
        let (_, out) = edigate(&["validate", "--json"], Path::new(file));
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let errors = v["errors"].as_array().cloned().unwrap_or_default();
        let hit = errors.iter().any(|e| e["code"] == *code && e["segment_id"] == *segment);
        if !hit {
            wrong.push(format!("{file}: expected {code} on {segment:?}, got {}", serde_json::to_string(&errors).unwrap()));
        }
    }
    for file in samples().iter().filter(|f| is_malformed(f)) {
        if !EXPECTED.iter().any(|(f, _, _)| Path::new(f) == file) {
            wrong.push(format!("{}: malformed sample without an expected problem in this test", file.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
