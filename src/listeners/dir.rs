//! Watched directories: a file put in `DATA/inbound/PARTNER/` is taken in as an input of that
//! partner (the directory is the authentication: whoever may write there speaks for the partner).
//!
//! A file is taken once its size has not changed for one poll (writers still at work are left
//! alone); names starting with `.` or ending in `.tmp` / `.part` are skipped, and so is anything
//! that is not a regular file (symlinks are never followed). Once the input is durable in the
//! journal the file is removed; a file seen again after a crash in between is recognised (same name
//! and bytes) and not taken twice. Files over the size limit are moved to `.refused/` beside them.

use crate::pipeline::{Pipeline, Upload};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Watches every partner's directory under `root` until `stop` turns true.
pub async fn watch(pipeline: Arc<Pipeline>, root: PathBuf, poll: Duration, mut stop: watch::Receiver<bool>) {
    let partners: Vec<String> = pipeline.profiles.partners.iter().map(|p| p.profile.code.clone()).collect();
    for p in &partners {
        if let Err(e) = std::fs::create_dir_all(root.join(p)) {
            tracing::error!("cannot make the inbound directory of {p}: {e}");
        }
    }
    // Sizes seen at the last poll: a file is taken when its size is the same twice.
    let mut seen: HashMap<PathBuf, u64> = HashMap::new();
    loop {
        for p in &partners {
            let dir = root.join(p);
            for (path, size) in ready_files(&dir, &mut seen) {
                take(&pipeline, p, &path, size).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}

fn ready_files(dir: &Path, seen: &mut HashMap<PathBuf, u64>) -> Vec<(PathBuf, u64)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return vec![] };
    // Files that went away (taken, or moved by someone else) are forgotten.
    seen.retain(|p, _| p.parent() != Some(dir) || p.exists());
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part") {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let path = e.path();
        let size = meta.len();
        if seen.insert(path.clone(), size) == Some(size) {
            seen.remove(&path);
            out.push((path, size));
        }
    }
    out.sort();
    out
}

async fn take(pipeline: &Pipeline, partner: &str, path: &Path, size: u64) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if size as usize > pipeline.max_size {
        tracing::warn!(partner, file = %name, size, limit = pipeline.max_size, "inbound file over the size limit: moved to .refused/");
        let refused = path.with_file_name(".refused");
        let _ = std::fs::create_dir_all(&refused);
        let _ = std::fs::rename(path, refused.join(&name));
        return;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(partner, file = %name, "cannot read inbound file: {e}");
            return;
        }
    };
    let up = Upload { partner: partner.to_string(), channel: "directory", filename: Some(name.clone()), bytes, correlation_id: None, once_key: Some(name.clone()) };
    match pipeline.receive(up).await {
        Ok(rec) => {
            // Durable: the file may go. Once it is gone, the same file sent again is a new input
            // (a duplicate, answered as such), not this one seen twice.
            match std::fs::remove_file(path) {
                Ok(()) => {
                    let _ = pipeline.journal.release(&crate::pipeline::once_claim(partner, &name, &rec.sha256));
                }
                Err(e) => tracing::warn!(partner, file = %name, "taken, but cannot remove it: {e}"),
            }
            if let Err(e) = pipeline.process(rec.id, &rec.partner).await {
                tracing::error!(intake = rec.id, "processing failed, will be retried at the next start: {e}");
            }
        }
        Err(e) => tracing::error!(partner, file = %name, "cannot keep inbound file (left in place, tried again): {e}"),
    }
}
