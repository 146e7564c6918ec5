//! `edigate translate FILE [--partner P] [--format json|xml]`

use crate::syntax::validate::Options;
use crate::translate::Translator;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, partner: Option<&str>, format: &str, dirs: &super::Dirs) -> anyhow::Result<ExitCode> {
    let (library, profiles) = dirs.load()?;
    let mut t = Translator::new(&library, &profiles);
    if let Some(code) = partner {
        t.partner = Some(profiles.get(code).ok_or_else(|| anyhow::anyhow!("unknown partner {code:?}; profiles: {}", profiles.codes().join(", ")))?);
    }
    let (src, _) = super::open(file)?;
    let mut docs = Vec::new();
    let mut failed = 0;
    let report = t.translate(src, Options::default(), |o| match o.result {
        Ok(d) => docs.push(d),
        Err(e) => {
            failed += 1;
            let p = &o.provenance;
            eprintln!("{}: {} {} (interchange {}, set {}): {e}", file.display(), p.document_type, p.version, p.interchange_control_number, p.set_control_number);
        }
    })?;
    let mut out = std::io::stdout().lock();
    match format {
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?,
        "xml" => {
            out.write_all(&crate::model::xml::to_xml(&docs)?)?;
            writeln!(out)?;
        }
        other => anyhow::bail!("unknown format {other:?}; json or xml"),
    }
    let _ = report;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
