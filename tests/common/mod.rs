//! Shared by the integration tests: where the repository is and which samples there are.
#![allow(dead_code)] // each test crate uses part of it

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.edi` under `samples/`, sorted, as paths relative to the repository root.
pub fn all_samples() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("samples dir").flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "edi") {
                out.push(p.strip_prefix(root()).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = vec![];
    walk(&root().join("samples"), &mut out);
    assert!(out.len() >= 60, "expected the sample corpus, found {} files", out.len());
    out
}

pub fn is_malformed(file: &Path) -> bool {
    file.components().any(|c| c.as_os_str() == "malformed")
}

/// The samples of the version folders and `multi/` (no quirks, nothing malformed): what writers and
/// round trips are held to.
pub fn regular_samples() -> Vec<PathBuf> {
    let dirs = ["x12/004010", "x12/005010", "x12/multi", "edifact/D96A", "edifact/D01B", "edifact/multi"];
    let out: Vec<PathBuf> = all_samples().into_iter().filter(|p| dirs.iter().any(|d| p.starts_with(Path::new("samples").join(d)))).collect();
    assert!(out.len() >= 36, "{}", out.len());
    out
}
