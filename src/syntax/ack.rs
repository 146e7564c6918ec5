//! Functional acknowledgments from a validation [`Report`]: TA1 + 997/999 for X12, CONTRL for EDIFACT.
//!
//! The acknowledgment is computed from the report alone (no second pass over the input), so it works for
//! inputs of any size. The standard-specific layouts live in [`super::x12::ack`] and
//! [`super::edifact::ack`]; this module holds the options, the dispatch and the grouping of a set's
//! diagnostics by segment that both standards need.

use super::diag::{Diagnostic, Level, Problem};
use super::envelope::Standard;
use super::validate::{InterchangeReport, Report};
use super::write::WriteError;
use super::{edifact, x12};

/// What the sender of the acknowledgment decides: its control numbers and the time it is sent.
#[derive(Clone, Debug)]
pub struct AckOptions {
    /// ISA13 / UNB 0020 of the first acknowledgment interchange; each further interchange takes the next.
    pub control_number: u32,
    /// GS06 of the first FA group / UNH 0062 of the first CONTRL; each further group or message the next.
    pub group_control_number: u32,
    /// CCYYMMDD (X12 ISA09 and EDIFACT syntax 3 use its last six digits).
    pub date: String,
    /// HHMM.
    pub time: String,
    /// Also acknowledge the groups and sets of an interchange rejected at envelope level (TA1 / UCI
    /// rejected). Off by default: the standards define a rejected interchange as not processed, so
    /// acknowledging its content would contradict the TA1 / UCI.
    pub acknowledge_rejected_content: bool,
    /// Which X12 set answers a group: by its version (999 from 005010 on, 997 before), or what the
    /// partner asked for.
    pub x12_set: X12AckSet,
}

/// The X12 functional acknowledgment set to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum X12AckSet {
    /// 999 for groups of 005010 and later, 997 in the group's own version before.
    #[default]
    ByVersion,
    /// Always a 997 (many 005010 partners still want one), in the group's version.
    Fa997,
    /// Always a 999 (005010X231A1).
    Ia999,
}

impl Default for AckOptions {
    fn default() -> Self {
        AckOptions {
            control_number: 1,
            group_control_number: 1,
            date: "19700101".into(),
            time: "0000".into(),
            acknowledge_rejected_content: false,
            x12_set: X12AckSet::ByVersion,
        }
    }
}

/// An acknowledgment could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("acknowledgment of interchange {interchange}: {source}")]
    Write {
        interchange: String,
        #[source]
        source: WriteError,
    },
    #[error("acknowledgment options: {0}")]
    Options(String),
}

/// The acknowledgment of one received interchange: a complete interchange of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgment {
    pub standard: Standard,
    /// Control number (ISA13 / UNB 0020) of the interchange acknowledged.
    pub acknowledges: String,
    pub bytes: Vec<u8>,
}

/// One acknowledgment per interchange of the report, in input order. Problems outside any interchange
/// (garbage, a header too broken to read) cannot be acknowledged: there is no sender to answer.
pub fn acknowledge(report: &Report, opts: &AckOptions) -> Result<Vec<Acknowledgment>, AckError> {
    check_options(opts)?;
    let mut out = Vec::with_capacity(report.interchanges.len());
    let mut next = opts.clone();
    for ic in &report.interchanges {
        let bytes = match ic.header.standard {
            Standard::X12 => x12::ack::acknowledge(ic, &next),
            Standard::Edifact => edifact::ack::acknowledge(ic, &next),
        }
        .map_err(|source| AckError::Write { interchange: ic.header.control_number.clone(), source })?;
        out.push(Acknowledgment { standard: ic.header.standard, acknowledges: ic.header.control_number.clone(), bytes });
        next.control_number = next.control_number.wrapping_add(1);
        next.group_control_number = next.group_control_number.wrapping_add(group_numbers_used(ic));
    }
    Ok(out)
}

/// Group control numbers one interchange's acknowledgment consumes (X12: one FA group per group;
/// EDIFACT: one CONTRL message).
fn group_numbers_used(ic: &InterchangeReport) -> u32 {
    match ic.header.standard {
        Standard::X12 => ic.groups.len().max(1) as u32,
        Standard::Edifact => 1,
    }
}

/// Dates and times end up in fixed-width envelope fields; a wrong one would make an unreadable ack.
fn check_options(opts: &AckOptions) -> Result<(), AckError> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(&opts.date, 8) {
        return Err(AckError::Options(format!("date must be CCYYMMDD, found {:?}", opts.date)));
    }
    if !digits(&opts.time, 4) {
        return Err(AckError::Options(format!("time must be HHMM, found {:?}", opts.time)));
    }
    if opts.control_number > 999_999_999 {
        return Err(AckError::Options("control number must fit in 9 digits (ISA13)".into()));
    }
    Ok(())
}

/// What follows each segment terminator: a line break for people reading the file, unless the
/// terminator is a line break itself (a second one would read as an empty segment).
pub(crate) fn line_end(segment_terminator: u8) -> &'static [u8] {
    if matches!(segment_terminator, b'\n' | b'\r') {
        b""
    } else {
        b"\n"
    }
}

/// The errors of one segment of a set: those about the segment itself and those about its elements.
#[derive(Debug)]
pub(crate) struct SegmentErrors<'a> {
    /// Position in the set (ST/UNH = 1).
    pub number: u32,
    pub id: &'a str,
    pub segment: Vec<&'a Diagnostic>,
    pub elements: Vec<&'a Diagnostic>,
}

/// Segment- and element-level errors of a set, one entry per segment in set order. Warnings are left
/// out: they are tolerances edigate applied (wrapped lines, unknown versions) for which the
/// acknowledgment code lists have no code.
pub(crate) fn segment_errors(diags: &[Diagnostic]) -> Vec<SegmentErrors<'_>> {
    let mut out: Vec<SegmentErrors<'_>> = Vec::new();
    for d in diags.iter().filter(|d| d.is_error()) {
        let level = d.problem.level();
        if !matches!(level, Level::Segment | Level::Element) {
            continue;
        }
        let (number, id) = (d.location.segment_number, d.location.segment_id.as_str());
        // A missing trailer is the reader's set-level "trailer missing" already; not a segment note too.
        if d.problem == Problem::MandatorySegmentMissing && matches!(id, "SE" | "UNT") {
            continue;
        }
        let i = match out.iter().position(|s| s.number == number && s.id == id) {
            Some(i) => i,
            None => {
                out.push(SegmentErrors { number, id, segment: vec![], elements: vec![] });
                out.len() - 1
            }
        };
        // An element problem without an element position can only be told at segment level.
        if level == Level::Element && d.location.element.is_some() {
            out[i].elements.push(d);
        } else {
            out[i].segment.push(d);
        }
    }
    out.sort_by_key(|s| s.number);
    out
}

/// Errors that concern the interchange envelope, wherever the report placed them: on the interchange,
/// or (input ending early, a stray segment) on the group or set being read when it happened.
pub(crate) fn interchange_errors(ic: &InterchangeReport) -> impl Iterator<Item = &Diagnostic> {
    let nested = ic.groups.iter().flat_map(|g| g.diagnostics.iter().chain(g.sets.iter().flat_map(|s| s.diagnostics.iter())));
    let nested = nested.filter(|d| d.problem.level() == Level::Interchange);
    ic.diagnostics.iter().chain(nested).filter(|d| d.is_error())
}

/// Set-level errors (trailer, control number, count, unsupported document) of a set.
pub(crate) fn set_errors(diags: &[Diagnostic]) -> impl Iterator<Item = &Diagnostic> {
    diags.iter().filter(|d| d.is_error() && d.problem.level() == Level::Set)
}

/// Up to `max` distinct codes, in order of first appearance (the trailers' code elements repeat 5 times).
pub(crate) fn distinct_codes<'a>(codes: impl Iterator<Item = &'a str>, max: usize) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for c in codes {
        if !out.contains(&c) && out.len() < max {
            out.push(c);
        }
    }
    out
}

/// Current UTC date (CCYYMMDD) and time (HHMM). `SOURCE_DATE_EPOCH` (seconds, the reproducible-builds
/// convention) pins it, so golden files and test runs get the same bytes.
pub fn now_utc() -> (String, String) {
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
    use super::*;
    use crate::syntax::validate::{validate, Options};

    #[test]
    fn one_ack_per_interchange_with_consecutive_control_numbers() {
        let one = "UNB+UNOC:3+SENDER:14+RECEIVER:14+240115:1030+REF1'UNH+1+ORDERS:D:96A:UN'BGM+220+1+9'UNT+3+1'UNZ+1+REF1'\n";
        let two = format!("{one}{}", one.replace("REF1", "REF2"));
        let report = validate(two.as_bytes(), Options::default()).unwrap();
        let opts = AckOptions { control_number: 7, group_control_number: 40, ..AckOptions::default() };
        let acks = acknowledge(&report, &opts).unwrap();
        assert_eq!(acks.len(), 2);
        assert_eq!(acks[1].acknowledges, "REF2");
        let second = String::from_utf8(acks[1].bytes.clone()).unwrap();
        assert!(second.contains("+8'\nUNH+41+CONTRL:D:3:UN'"), "{second}");
    }

    #[test]
    fn rejects_bad_options() {
        let opts = AckOptions { date: "240115".into(), ..AckOptions::default() };
        assert!(matches!(acknowledge(&Report::default(), &opts), Err(AckError::Options(_))));
    }
}

#[cfg(test)]
mod clock_tests {
    use super::utc;

    #[test]
    fn civil_dates() {
        assert_eq!(utc(0), ("19700101".to_string(), "0000".to_string()));
        assert_eq!(utc(1_718_000_000), ("20240610".to_string(), "0613".to_string()));
        assert_eq!(utc(19_782 * 86_400), ("20240229".to_string(), "0000".to_string()));
    }
}
