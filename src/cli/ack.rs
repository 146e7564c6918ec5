//! `edigate ack FILE [--control-number N]`: validate, then print the functional acknowledgment of
//! every interchange (TA1 + 997/999 for X12, CONTRL for EDIFACT) on standard output.

use crate::syntax::ack::{acknowledge, now_utc, AckOptions};
use crate::syntax::validate::{validate, Options};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Exit code 0 when the input was valid, 1 when not (the acknowledgment says what is wrong).
pub fn run(file: &Path, control_number: u32) -> anyhow::Result<ExitCode> {
    let (src, _) = super::open(file)?;
    let report = validate(src, Options::default()).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let (date, time) = now_utc();
    let opts = AckOptions { control_number, group_control_number: control_number, date, time, ..AckOptions::default() };
    let acks = acknowledge(&report, &opts)?;
    if acks.is_empty() {
        eprintln!("edigate: {}: no interchange to acknowledge", file.display());
    }
    let mut out = std::io::stdout().lock();
    for a in &acks {
        out.write_all(&a.bytes)?;
    }
    out.flush()?;
    Ok(if report.is_valid() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
