//! `edigate render DOC.json --partner P [--control-number N]`

use crate::model::Document;
use crate::syntax::validate::{validate, Options};
use crate::translate::{render_interchange, Envelope};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, partner: &str, control_number: u32, dirs: &super::Dirs) -> anyhow::Result<ExitCode> {
    let (library, profiles) = dirs.load()?;
    let p = profiles.get(partner).ok_or_else(|| anyhow::anyhow!("unknown partner {partner:?}; profiles: {}", profiles.codes().join(", ")))?;
    let (mut src, _) = super::open(file)?;
    let mut text = String::new();
    src.read_to_string(&mut text).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    // One document, or the array `translate` prints.
    let docs: Vec<Document> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(_)) => serde_json::from_str(&text),
        Ok(_) => serde_json::from_str(&text).map(|d| vec![d]),
        Err(e) => Err(e),
    }
    .map_err(|e| anyhow::anyhow!("{}:{}:{}: not a canonical document: {e}", file.display(), e.line(), e.column()))?;
    if docs.is_empty() {
        anyhow::bail!("{}: no documents to render", file.display());
    }
    let (date, time) = super::now_utc();
    let bytes = render_interchange(&library, p, &docs, &Envelope { control_number, date, time }).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // What we send must pass our own validation.
    let report = validate(&bytes[..], Options::default())?;
    std::io::stdout().lock().write_all(&bytes)?;
    if !report.is_valid() {
        for (_, d) in report.all_diagnostics().filter(|(_, d)| d.is_error()) {
            eprintln!("edigate: rendered EDI is invalid: segment {} {}: {}", d.location.segment_number, d.location.segment_id, d.message);
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
