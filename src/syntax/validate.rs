//! The whole check of an input: envelopes, then each set's structure, gathered into a [`Report`].
//!
//! Memory stays bounded for any input size: the report keeps a summary per set only up to
//! [`Options::keep_sets`] sets (counts go on), and diagnostics up to [`Options::keep_diagnostics`].

use super::diag::{Diagnostic, Level, Location, Problem, Severity};
use super::envelope::{GroupHeader, InterchangeHeader, SetHeader, Standard};
use super::reader::{Item, Limits, Reader, TransactionSet};
use super::spec::{standards, DocumentSpec, VersionSpec};
use super::structure::{Tree, Validator};
use serde::Serialize;
use std::io::{self, Read};

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub limits: Limits,
    /// Sets whose summaries are kept (later ones are counted only).
    pub keep_sets: usize,
    /// Diagnostics kept in the report (later ones are counted only).
    pub keep_diagnostics: usize,
    /// Record each checked set's loop instances ([`Checked::tree`]) for mappings.
    pub record_tree: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { limits: Limits::default(), keep_sets: 1_000_000, keep_diagnostics: 10_000, record_tree: false }
    }
}

/// Outcome of a set, group or interchange as acknowledgments report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Accepted,
    /// Some sets of the group were rejected.
    PartiallyAccepted,
    Rejected,
}

#[derive(Debug, Default, Serialize, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub interchanges: u64,
    pub groups: u64,
    pub sets: u64,
    pub segments: u64,
}

#[derive(Debug, Serialize)]
pub struct SetReport {
    #[serde(flatten)]
    pub header: SetHeader,
    /// Name of the document from the standards (`Purchase Order`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub segments: u32,
    pub status: Status,
    /// True when the set was checked against a known structure.
    pub structure_checked: bool,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Serialize)]
pub struct GroupReport {
    /// GS/UNG; `None` for EDIFACT messages sent without UNG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<GroupHeader>,
    pub trailer: bool,
    pub sets: Vec<SetReport>,
    /// Sets counted but not kept (see [`Options::keep_sets`]).
    pub sets_total: u64,
    pub sets_rejected: u64,
    pub diagnostics: Vec<Diagnostic>,
}

impl GroupReport {
    pub fn status(&self) -> Status {
        if self.diagnostics.iter().any(Diagnostic::is_error) || (self.sets_total > 0 && self.sets_rejected == self.sets_total) {
            Status::Rejected
        } else if self.sets_rejected > 0 {
            Status::PartiallyAccepted
        } else {
            Status::Accepted
        }
    }
}

#[derive(Debug, Serialize)]
pub struct InterchangeReport {
    pub header: InterchangeHeader,
    pub trailer: bool,
    pub groups: Vec<GroupReport>,
    pub diagnostics: Vec<Diagnostic>,
}

impl InterchangeReport {
    /// Rejected when the interchange itself has errors (TA1 / UCI level).
    pub fn status(&self) -> Status {
        if self.diagnostics.iter().any(Diagnostic::is_error) {
            Status::Rejected
        } else {
            Status::Accepted
        }
    }
}

/// Everything found in one input.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub counts: Counts,
    pub interchanges: Vec<InterchangeReport>,
    /// Problems outside any interchange (garbage, unreadable headers).
    pub diagnostics: Vec<Diagnostic>,
    pub errors_total: u64,
    pub warnings_total: u64,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.errors_total == 0
    }

    pub fn standard(&self) -> Option<Standard> {
        self.interchanges.first().map(|i| i.header.standard)
    }

    /// Every kept diagnostic, with the interchange, group and set it belongs to.
    pub fn all_diagnostics(&self) -> impl Iterator<Item = (Context<'_>, &Diagnostic)> {
        let file = self.diagnostics.iter().map(|d| (Context::default(), d));
        let nested = self.interchanges.iter().flat_map(|ic| {
            let ctx = Context { interchange: Some(&ic.header.control_number), ..Default::default() };
            ic.diagnostics.iter().map(move |d| (ctx, d)).chain(ic.groups.iter().flat_map(move |g| {
                let gctx = Context { group: g.header.as_ref().map(|h| h.control_number.as_str()), ..ctx };
                g.diagnostics.iter().map(move |d| (gctx, d)).chain(g.sets.iter().flat_map(move |s| {
                    let sctx = Context { set: Some(&s.header.control_number), ..gctx };
                    s.diagnostics.iter().map(move |d| (sctx, d))
                }))
            }))
        });
        file.chain(nested)
    }
}

/// Control numbers that place a diagnostic.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Context<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interchange: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<&'a str>,
}

/// Validates everything in `src`.
pub fn validate<R: Read>(src: R, opts: Options) -> io::Result<Report> {
    validate_with(src, opts, |_| {}, |_, _, _| {})
}

/// A set whose structure was checked: its document, version and loop instances.
#[derive(Clone, Copy)]
pub struct Checked<'a> {
    pub version: &'static VersionSpec,
    pub doc: &'static DocumentSpec,
    pub tree: &'a Tree,
}

/// Validates everything in `src`, calling `progress` with the bytes read so far after each event and
/// `on_set` with each set, its diagnostics (envelope and structure) and, when its structure is known,
/// what it was checked against, while its segments are in memory.
pub fn validate_with<R: Read>(
    src: R,
    opts: Options,
    mut progress: impl FnMut(u64),
    mut on_set: impl FnMut(&TransactionSet<'_>, &[Diagnostic], Option<Checked<'_>>),
) -> io::Result<Report> {
    let mut reader = Reader::with_limits(src, opts.limits);
    let mut report = Report::default();
    let mut validator = if opts.record_tree { Validator::recording() } else { Validator::new() };
    let mut set_diags = Vec::new();
    let mut kept_sets = 0usize;
    let mut kept_diags = 0usize;
    while let Some(ev) = reader.next_event()? {
        let diags = ev.diagnostics;
        match ev.item {
            Item::InterchangeStart(h) => {
                report.counts.interchanges += 1;
                report.interchanges.push(InterchangeReport { header: h.clone(), trailer: false, groups: vec![], diagnostics: vec![] });
                route(&mut report, diags, &mut kept_diags, opts.keep_diagnostics);
            }
            Item::GroupStart(h) => {
                report.counts.groups += 1;
                if let Some(ic) = report.interchanges.last_mut() {
                    ic.groups.push(new_group(Some(h.clone())));
                }
                route(&mut report, diags, &mut kept_diags, opts.keep_diagnostics);
            }
            Item::Set(set) => {
                report.counts.sets += 1;
                set_diags.clear();
                set_diags.extend_from_slice(diags);
                let checked = check_structure(&set, &mut validator, &mut set_diags);
                let name = checked.map(|(_, doc)| doc.name.clone());
                on_set(&set, &set_diags, checked.map(|(version, doc)| Checked { version, doc, tree: validator.tree() }));
                let rejected = set_diags.iter().any(Diagnostic::is_error);
                let Some(ic) = report.interchanges.last_mut() else { continue };
                if set.group.is_none() && ic.groups.last().is_none_or(|g| g.header.is_some() || g.trailer) {
                    ic.groups.push(new_group(None));
                }
                let g = ic.groups.last_mut().expect("group");
                g.sets_total += 1;
                g.sets_rejected += u64::from(rejected);
                for d in set_diags.iter() {
                    count(&mut report.errors_total, &mut report.warnings_total, d);
                }
                if kept_sets < opts.keep_sets {
                    kept_sets += 1;
                    let room = opts.keep_diagnostics.saturating_sub(kept_diags);
                    let kept: Vec<Diagnostic> = set_diags.iter().take(room).cloned().collect();
                    kept_diags += kept.len();
                    g.sets.push(SetReport {
                        header: set.header.clone(),
                        name,
                        segments: set.len() as u32,
                        status: if rejected { Status::Rejected } else { Status::Accepted },
                        structure_checked: checked.is_some(),
                        diagnostics: kept,
                    });
                }
            }
            Item::GroupEnd { trailer, .. } => {
                if let Some(g) = report.interchanges.last_mut().and_then(|ic| ic.groups.last_mut()) {
                    g.trailer = trailer;
                }
                route(&mut report, diags, &mut kept_diags, opts.keep_diagnostics);
            }
            Item::InterchangeEnd { trailer, .. } => {
                if let Some(ic) = report.interchanges.last_mut() {
                    ic.trailer = trailer;
                    // EDIFACT bare messages sit in an implicit group that ends with the interchange.
                    if let Some(g) = ic.groups.last_mut().filter(|g| g.header.is_none()) {
                        g.trailer = true;
                    }
                }
                route(&mut report, diags, &mut kept_diags, opts.keep_diagnostics);
            }
            Item::Unreadable { .. } => {
                for d in diags {
                    count(&mut report.errors_total, &mut report.warnings_total, d);
                    if kept_diags < opts.keep_diagnostics {
                        kept_diags += 1;
                        report.diagnostics.push(d.clone());
                    }
                }
            }
        }
        progress(reader.position());
    }
    report.counts.segments = reader.segments_read();
    Ok(report)
}

fn new_group(header: Option<GroupHeader>) -> GroupReport {
    GroupReport { header, trailer: false, sets: vec![], sets_total: 0, sets_rejected: 0, diagnostics: vec![] }
}

fn count(errors: &mut u64, warnings: &mut u64, d: &Diagnostic) {
    match d.severity {
        Severity::Error => *errors += 1,
        Severity::Warning => *warnings += 1,
    }
}

/// Puts envelope diagnostics on the interchange or the open group, by the level they concern.
fn route(report: &mut Report, diags: &[Diagnostic], kept: &mut usize, max: usize) {
    for d in diags {
        count(&mut report.errors_total, &mut report.warnings_total, d);
        if *kept >= max {
            continue;
        }
        *kept += 1;
        let Some(ic) = report.interchanges.last_mut() else {
            report.diagnostics.push(d.clone());
            continue;
        };
        match (d.problem.level(), ic.groups.last_mut()) {
            (Level::Group, Some(g)) => g.diagnostics.push(d.clone()),
            _ => ic.diagnostics.push(d.clone()),
        }
    }
}

/// Validates a set's structure when its document and version are known; returns the document it was
/// checked against.
pub fn check_structure(
    set: &TransactionSet<'_>,
    validator: &mut Validator,
    out: &mut Vec<Diagnostic>,
) -> Option<(&'static VersionSpec, &'static DocumentSpec)> {
    let std = set.standard();
    let h = &set.header;
    let Some(version) = standards().version(std, &h.version) else {
        out.push(Diagnostic::warning(
            Problem::UnsupportedVersion,
            Location::segment(h.offset, 1, header_id(std)),
            format!("version {:?} is not one edigate has structures for; {} {} was read but its structure not checked", h.version, h.document, h.control_number),
        ));
        return None;
    };
    let Some(doc) = version.documents.get(&h.document) else {
        let known: Vec<&str> = version.documents.keys().map(|k| k.as_str()).collect();
        out.push(Diagnostic::error(
            Problem::SetNotSupported,
            Location::segment(h.offset, 1, header_id(std)).with_element(if std == Standard::X12 { 1 } else { 2 }),
            format!("document {:?} is not supported in {}; supported: {}", h.document, version.version, known.join(", ")),
        ).with_value(h.document.as_bytes()));
        return None;
    };
    validator.validate(set, &version.dictionary, doc, out);
    Some((version, doc))
}

fn header_id(std: Standard) -> &'static [u8] {
    match std {
        Standard::X12 => b"ST",
        Standard::Edifact => b"UNH",
    }
}
