//! `edigate validate FILE... [--json]`

use crate::syntax::validate::{validate_with, Options, Report};
use crate::syntax::Severity;
use serde_json::json;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf], as_json: bool) -> anyhow::Result<ExitCode> {
    let mut all_valid = true;
    let mut out = io::stdout().lock();
    for file in files {
        let (src, len) = super::open(file)?;
        let bar = super::progress(len);
        let opts = Options { keep_sets: if as_json { usize::MAX } else { 10_000 }, ..Options::default() };
        let report = validate_with(src, opts, |pos| if let Some(b) = &bar { b.set_position(pos) }, |_, _, _| {})
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        all_valid &= report.is_valid();
        if as_json {
            writeln!(out, "{}", serde_json::to_string_pretty(&to_json(&file.display().to_string(), &report))?)?;
        } else {
            print_text(&mut out, &file.display().to_string(), &report)?;
        }
    }
    Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The JSON object of one file: standard, counts, sets, errors and warnings.
pub fn to_json(file: &str, r: &Report) -> serde_json::Value {
    let mut sets = vec![];
    for ic in &r.interchanges {
        for g in &ic.groups {
            for s in &g.sets {
                sets.push(json!({
                    "interchange": ic.header.control_number,
                    "group": g.header.as_ref().map(|h| h.control_number.clone()),
                    "document": s.header.document,
                    "name": s.name,
                    "control_number": s.header.control_number,
                    "version": s.header.version,
                    "segments": s.segments,
                    "status": s.status,
                }));
            }
        }
    }
    let diag = |sev: Severity| -> Vec<serde_json::Value> {
        r.all_diagnostics()
            .filter(|(_, d)| d.severity == sev)
            .map(|(ctx, d)| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                if let (Some(obj), Ok(serde_json::Value::Object(c))) = (v.as_object_mut(), serde_json::to_value(ctx)) {
                    obj.remove("severity");
                    obj.extend(c);
                }
                v
            })
            .collect()
    };
    json!({
        "file": file,
        "standard": r.standard(),
        "valid": r.is_valid(),
        "counts": r.counts,
        "interchanges": r.interchanges.iter().map(|ic| json!({
            "control_number": ic.header.control_number,
            "sender": ic.header.sender,
            "receiver": ic.header.receiver,
            "version": ic.header.version,
            "syntax_identifier": ic.header.syntax_identifier,
            "test": ic.header.test,
            "status": ic.status(),
        })).collect::<Vec<_>>(),
        "sets": sets,
        "errors": diag(Severity::Error),
        "warnings": diag(Severity::Warning),
    })
}

fn print_text(out: &mut impl Write, file: &str, r: &Report) -> io::Result<()> {
    let c = r.counts;
    let std = r.standard().map(|s| s.name()).unwrap_or("no EDI");
    let verdict = if r.is_valid() { "valid" } else { "INVALID" };
    writeln!(
        out,
        "{file}: {verdict} ({std}; {} interchange(s), {} group(s), {} set(s), {} segments; {} error(s), {} warning(s))",
        c.interchanges, c.groups, c.sets, c.segments, r.errors_total, r.warnings_total
    )?;
    for (ctx, d) in r.all_diagnostics() {
        let mut place = vec![];
        if let Some(i) = ctx.interchange {
            place.push(format!("interchange {i}"));
        }
        if let Some(g) = ctx.group {
            place.push(format!("group {g}"));
        }
        if let Some(s) = ctx.set {
            place.push(format!("set {s}"));
        }
        let place = if place.is_empty() { String::new() } else { format!(" [{}]", place.join(" / ")) };
        writeln!(out, "  {d}{place}")?;
    }
    let shown: u64 = r.all_diagnostics().count() as u64;
    let total = r.errors_total + r.warnings_total;
    if total > shown {
        writeln!(out, "  ... and {} more", total - shown)?;
    }
    Ok(())
}
