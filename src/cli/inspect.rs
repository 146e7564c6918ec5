//! `edigate inspect FILE`: the file as a tree, every element named from the dictionaries, problems shown
//! under the segment they concern.

use crate::syntax::segment::show_byte;
use crate::syntax::spec::{standards, Dictionary, EntryKind};
use crate::syntax::structure::Validator;
use crate::syntax::validate::check_structure;
use crate::syntax::{Diagnostic, Item, Reader, Segment, Standard, TransactionSet};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let (src, _) = super::open(file)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let valid = inspect(src, &mut out)?;
    out.flush()?;
    Ok(if valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes the tree of `src` to `out`; returns whether the input had no errors.
pub fn inspect(src: impl io::Read, out: &mut impl Write) -> anyhow::Result<bool> {
    let mut reader = Reader::new(src);
    let mut validator = Validator::new();
    let mut diags = Vec::new();
    let mut valid = true;
    while let Some(ev) = reader.next_event()? {
        valid &= !ev.diagnostics.iter().any(Diagnostic::is_error);
        match ev.item {
            Item::InterchangeStart(h) => {
                let d = h.delimiters;
                writeln!(
                    out,
                    "interchange {} ({} {}{}) at byte {}: {}:{} -> {}:{}, {} {}{}",
                    h.control_number,
                    h.standard.name(),
                    h.syntax_identifier.as_deref().map(|s| format!("{s} ")).unwrap_or_default(),
                    h.version,
                    h.offset,
                    h.sender.qualifier,
                    h.sender.id,
                    h.receiver.qualifier,
                    h.receiver.id,
                    h.date,
                    h.time,
                    if h.test { ", test" } else { "" }
                )?;
                writeln!(
                    out,
                    "  delimiters: element {}, component {}, repetition {}, terminator {}{}",
                    show_byte(d.element),
                    show_byte(d.component),
                    d.repetition.map(show_byte).unwrap_or_else(|| "none".into()),
                    show_byte(d.segment),
                    d.release.map(|r| format!(", release {}", show_byte(r))).unwrap_or_default()
                )?;
                problems(out, "  ", ev.diagnostics)?;
            }
            Item::GroupStart(g) => {
                writeln!(out, "  group {} ({}) {} -> {}, version {}", g.control_number, g.functional_id, g.sender, g.receiver, g.version)?;
                problems(out, "    ", ev.diagnostics)?;
            }
            Item::Set(set) => {
                diags.clear();
                diags.extend_from_slice(ev.diagnostics);
                check_structure(&set, &mut validator, &mut diags);
                valid &= !diags.iter().any(Diagnostic::is_error);
                write_set(out, &set, &diags)?;
            }
            Item::GroupEnd { header, sets, trailer } => {
                let how = if trailer { "closed" } else { "NOT closed" };
                writeln!(out, "  end of group {} ({how}, {sets} set(s))", header.control_number)?;
                problems(out, "    ", ev.diagnostics)?;
            }
            Item::InterchangeEnd { header, groups, sets, trailer } => {
                let how = if trailer { "closed" } else { "NOT closed" };
                let what = if groups > 0 { format!("{groups} group(s)") } else { format!("{sets} message(s)") };
                writeln!(out, "end of interchange {} ({how}, {what})", header.control_number)?;
                problems(out, "  ", ev.diagnostics)?;
            }
            Item::Unreadable { offset } => {
                writeln!(out, "unreadable input at byte {offset}")?;
                problems(out, "  ", ev.diagnostics)?;
            }
        }
    }
    Ok(valid)
}

fn problems(out: &mut impl Write, indent: &str, diags: &[Diagnostic]) -> io::Result<()> {
    for d in diags {
        writeln!(out, "{indent}! {d}")?;
    }
    Ok(())
}

fn write_set(out: &mut impl Write, set: &TransactionSet<'_>, diags: &[Diagnostic]) -> io::Result<()> {
    let h = set.header;
    let found = standards().document(set.standard(), &h.version, &h.document);
    let name = found.map(|(_, d)| d.name.as_str()).unwrap_or("(unknown document)");
    let complete = if set.complete { "" } else { ", NOT closed" };
    writeln!(out, "    set {} {} {name} (version {}, {} segments{complete})", h.control_number, h.document, h.version, set.len())?;
    let dict = found.map(|(v, _)| &v.dictionary);
    // Problems by segment number; those without one (or past the end) come last.
    let mut shown = vec![false; diags.len()];
    for (i, seg) in set.segments().enumerate() {
        let number = i as u32 + 1;
        write_segment(out, number, &seg, dict, set.standard())?;
        for (k, d) in diags.iter().enumerate() {
            if !shown[k] && d.location.segment_number == number && d.location.offset == seg.offset() {
                writeln!(out, "          ! {d}")?;
                shown[k] = true;
            }
        }
    }
    for (k, d) in diags.iter().enumerate() {
        if !shown[k] {
            writeln!(out, "          ! {d}")?;
        }
    }
    Ok(())
}

fn write_segment(out: &mut impl Write, number: u32, seg: &Segment<'_>, dict: Option<&Dictionary>, standard: Standard) -> io::Result<()> {
    let def = dict.and_then(|d| d.segment(seg.id()));
    let name = def.map(|d| d.name.as_str()).unwrap_or("");
    writeln!(out, "      {number:>4} {:<4} {name} @{}", seg.id_str(), seg.offset())?;
    for (i, el) in seg.elements().enumerate() {
        if el.is_empty() {
            continue;
        }
        let pos = i + 1;
        let kind = def.and_then(|s| s.entries.get(i)).map(|e| e.kind);
        let composite = matches!(kind, Some(EntryKind::Composite(_)));
        if composite && el.is_composite() || (standard == Standard::Edifact && el.is_composite()) {
            writeln!(out, "             {}{pos:02}  {}", seg.id_str(), label(dict, kind))?;
            let parts = match (dict, kind) {
                (Some(d), Some(EntryKind::Composite(x))) => Some(&d.composites[x].components),
                _ => None,
            };
            for (c, part) in el.components().enumerate() {
                if part.is_empty() {
                    continue;
                }
                let ckind = parts.and_then(|p| p.get(c)).map(|e| e.kind);
                writeln!(out, "               -{} {:<44} {}", c + 1, label(dict, ckind), value(dict, ckind, &part.text()))?;
            }
        } else {
            writeln!(out, "             {}{pos:02}  {:<44} {}", seg.id_str(), label(dict, kind), value(dict, kind, &el.text()))?;
        }
    }
    Ok(())
}

/// `373 Date`, `C040 Reference Identifier`: the dictionary's id and name of an entry.
fn label(dict: Option<&Dictionary>, kind: Option<EntryKind>) -> String {
    match (dict, kind) {
        (Some(d), Some(EntryKind::Element(x))) => format!("{} {}", d.elements[x].id, d.elements[x].name),
        (Some(d), Some(EntryKind::Composite(x))) => format!("{} {}", d.composites[x].id, d.composites[x].name),
        _ => String::new(),
    }
}

/// The value, with the code's meaning when the dictionary has one (`ST (Ship To)`).
fn value(dict: Option<&Dictionary>, kind: Option<EntryKind>, text: &str) -> String {
    let meaning = match (dict, kind) {
        (Some(d), Some(EntryKind::Element(x))) => d.elements[x].codes.as_ref().and_then(|c| c.get(text)).filter(|m| !m.is_empty()),
        _ => None,
    };
    match meaning {
        Some(m) => format!("{text} ({m})"),
        None => text.to_string(),
    }
}
