//! `edigate translate FILE [--partner P] [--format json|xml]`
//!
//! Documents are written as they come (a JSON array, or XML), so memory stays bounded by one set
//! whatever the size of the input.

use crate::model::xml::XmlWriter;
use crate::model::Document;
use crate::syntax::validate::Options;
use crate::translate::Translator;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

/// Where documents go, one at a time.
enum Sink<W: Write> {
    /// A pretty JSON array, written element by element.
    Json { out: W, first: bool },
    Xml(XmlWriter<W>),
}

impl<W: Write> Sink<W> {
    fn write(&mut self, d: &Document) -> io::Result<()> {
        match self {
            Sink::Json { out, first } => {
                out.write_all(if *first { b"[\n" } else { b",\n" })?;
                *first = false;
                let text = serde_json::to_string_pretty(d)?;
                for (i, line) in text.lines().enumerate() {
                    if i > 0 {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(b"  ")?;
                    out.write_all(line.as_bytes())?;
                }
                Ok(())
            }
            Sink::Xml(x) => x.write(d),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Json { mut out, first } => {
                out.write_all(if first { b"[]\n" } else { b"\n]\n" })?;
                out.flush()
            }
            Sink::Xml(x) => {
                let mut out = x.finish()?;
                out.write_all(b"\n")?;
                out.flush()
            }
        }
    }
}

pub fn run(file: &Path, partner: Option<&str>, format: &str, dirs: &super::Dirs) -> anyhow::Result<ExitCode> {
    let (library, profiles) = dirs.load()?;
    let mut t = Translator::new(&library, &profiles);
    if let Some(code) = partner {
        t.partner = Some(profiles.get(code).ok_or_else(|| anyhow::anyhow!("unknown partner {code:?}; profiles: {}", profiles.codes().join(", ")))?);
    }
    let out = BufWriter::new(io::stdout().lock());
    let mut sink = match format {
        "json" => Sink::Json { out, first: true },
        "xml" => Sink::Xml(XmlWriter::new(out)?),
        other => anyhow::bail!("unknown format {other:?}; json or xml"),
    };
    let (src, _) = super::open(file)?;
    let mut failed = 0;
    let mut write_error = None;
    t.translate(src, Options { keep_sets: 0, ..Options::default() }, |o| match o.result {
        Ok(d) => {
            if write_error.is_none() {
                write_error = sink.write(&d).err();
            }
        }
        Err(e) => {
            failed += 1;
            let p = &o.provenance;
            eprintln!("{}: {} {} (interchange {}, set {}): {e}", file.display(), p.document_type, p.version, p.interchange_control_number, p.set_control_number);
        }
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    sink.finish()?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
