//! Runs `edigate translate` over every good sample and compares the canonical JSON with the golden
//! files in `tests/golden/` (`*.canonical.json`, checked by hand when written). `UPDATE_GOLDEN=1`
//! rewrites them: read the diff before committing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn good_samples() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("samples dir").flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "malformed") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|e| e == "edi") {
                out.push(p.strip_prefix(root()).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = vec![];
    walk(&root().join("samples"), &mut out);
    out
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
