//! `edigate ack FILE [--control-number N]`: validate, then print the functional acknowledgment of
//! every interchange (TA1 + 997/999 for X12, CONTRL for EDIFACT) on standard output.

use crate::syntax::ack::{acknowledge, AckOptions};
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

/// Current UTC date (CCYYMMDD) and time (HHMM). `SOURCE_DATE_EPOCH` (seconds, the reproducible-builds
/// convention) pins it, so golden files and test runs get the same bytes.
pub(crate) fn now_utc() -> (String, String) {
    let pinned = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok());
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    utc(pinned.unwrap_or_else(now))
}

/// Seconds since 1970 as (CCYYMMDD, HHMM), UTC.
fn utc(secs: i64) -> (String, String) {
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    (t.format("%Y%m%d").to_string(), t.format("%H%M").to_string())
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn civil_dates() {
        assert_eq!(utc(0), ("19700101".to_string(), "0000".to_string()));
        assert_eq!(utc(1_718_000_000), ("20240610".to_string(), "0613".to_string()));
        assert_eq!(utc(19_782 * 86_400), ("20240229".to_string(), "0000".to_string()));
    }
}
