//! `edigate ack FILE [--control-number N]`: validate, then print the functional acknowledgment of
//! every interchange (TA1 + 997/999 for X12, CONTRL for EDIFACT) on standard output.

use crate::syntax::ack::{acknowledge, AckOptions};
use crate::syntax::validate::{validate, Options};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Current UTC date (CCYYMMDD) and time (HHMM), without a date library. `SOURCE_DATE_EPOCH` (seconds,
/// the reproducible-builds convention) pins it, so golden files and test runs get the same bytes.
pub(crate) fn now_utc() -> (String, String) {
    let pinned = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok());
    let secs = pinned.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let minutes = secs % 86_400 / 60;
    (format!("{y:04}{m:02}{d:02}"), format!("{:02}{:02}", minutes / 60, minutes % 60))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_737), (2024, 1, 15));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
