//! `edigate profiles check` and `edigate profiles test PARTNER FILE`.

use crate::mapping::{Library, MappingError, Origin};
use crate::profiles::Profiles;
use crate::syntax::validate::Options;
use crate::translate::Translator;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Compiles every mapping, and every profile's document entries with their overrides; prints each fault
/// as `file:line:col: message`.
pub fn check(dirs: &super::Dirs) -> anyhow::Result<ExitCode> {
    let library = Library::load(&dirs.mappings)?;
    let mut errors: Vec<MappingError> = Vec::new();
    let mut warnings: Vec<MappingError> = Vec::new();
    for id in library.ids() {
        if id.ends_with(".in") {
            match library.inbound(id, None) {
                Ok(m) => warnings.extend(m.warnings),
                Err(e) => errors.extend(e.0),
            }
        } else if let Err(e) = library.outbound(id, None) {
            errors.extend(e.0);
        }
    }
    let (profiles, load_errors) = Profiles::load_all(&dirs.profiles);
    errors.extend(load_errors);
    errors.extend(profiles.check(&library));
    let profiles = Some(profiles);
    // The same fault reached through several profiles is shown once.
    let mut seen = HashSet::new();
    errors.retain(|e| seen.insert(e.to_string()));
    errors.sort_by_key(|e| order(&e.origin));
    let mut out = std::io::stdout().lock();
    for e in &errors {
        writeln!(out, "{e}")?;
    }
    let mut seen = HashSet::new();
    warnings.retain(|w| seen.insert(w.to_string()));
    warnings.sort_by_key(|e| order(&e.origin));
    for w in &warnings {
        writeln!(out, "warning: {w}")?;
    }
    let n_profiles = profiles.as_ref().map_or(0, |p| p.partners.len());
    if errors.is_empty() {
        writeln!(out, "{} mappings and {n_profiles} partner profiles: no problems", library.files.len())?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "{} problems in {} mappings and {n_profiles} partner profiles", errors.len(), library.files.len())?;
        Ok(ExitCode::from(1))
    }
}

fn order(o: &Origin) -> (String, u32, u32) {
    (o.file.to_string(), o.line, o.col)
}

/// The mapping trace of a file with a partner's profile: each canonical field with the element that
/// filled it, then the elements no rule read.
pub fn test(partner: &str, file: &Path, dirs: &super::Dirs) -> anyhow::Result<ExitCode> {
    let (library, profiles) = dirs.load()?;
    let mut t = Translator::new(&library, &profiles);
    t.partner = Some(profiles.get(partner).ok_or_else(|| anyhow::anyhow!("unknown partner {partner:?}; profiles: {}", profiles.codes().join(", ")))?);
    t.trace = true;
    let (src, _) = super::open(file)?;
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    let mut sets = Vec::new();
    t.translate(src, Options::default(), |o| sets.push(o))?;
    for o in sets {
        let p = &o.provenance;
        writeln!(out, "== {} {} set {} (interchange {}) with {}", p.document_type, p.version, p.set_control_number, p.interchange_control_number, o.mapping.as_deref().unwrap_or("no mapping"))?;
        if let Some(trace) = &o.trace {
            let width = trace.lines.iter().map(|l| l.field.len()).max().unwrap_or(0).min(48);
            for l in &trace.lines {
                let from = match &l.source {
                    Some(h) => format!("segment {:>3} {}{} {:?}", h.segment, h.id, h.position, h.value),
                    None => "(constant or default)".to_string(),
                };
                writeln!(out, "  {:<width$} = {:<28} <- {from}   [{} @ {}]", l.field, format!("{:?}", l.value), l.rule, l.origin)?;
            }
            let used: HashSet<(u32, u16, Option<u16>)> = trace.used.iter().copied().collect();
            let unused: Vec<_> = o
                .elements
                .iter()
                .filter(|(seg, _, e, c, _)| {
                    // A first component read as the whole element (or the reverse) counts as read.
                    let read = used.contains(&(*seg, *e, *c))
                        || (c == &Some(1) && used.contains(&(*seg, *e, None)))
                        || (c.is_none() && used.contains(&(*seg, *e, Some(1))));
                    !read
                })
                .filter(|(seg, id, ..)| *seg > 0 && !matches!(id.as_str(), "SE" | "UNT" | "CTT" | "CNT"))
                .collect();
            if unused.is_empty() {
                writeln!(out, "  every element was read by a rule")?;
            } else {
                writeln!(out, "  not read by any rule:")?;
                for (seg, id, e, c, v) in unused {
                    let pos = match c {
                        Some(c) => format!("{e:02}-{c}"),
                        None => format!("{e:02}"),
                    };
                    writeln!(out, "    segment {:>3} {id}{pos} {v:?}", seg + 1)?;
                }
            }
        }
        if let Err(e) = &o.result {
            failed = true;
            writeln!(out, "  FAILED: {e}")?;
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
