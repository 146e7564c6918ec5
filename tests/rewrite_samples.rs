//! Every good sample, read and written back with its own delimiters, gives the same bytes.

use edigate::syntax::write::{SegmentData, SegmentWriter};
use edigate::syntax::{Item, Reader};
use std::path::PathBuf;

mod common;

fn good_samples() -> Vec<PathBuf> {
    common::regular_samples().into_iter().map(|p| common::root().join(p)).collect()
}

/// What follows the segment terminator at `end` in `bytes`: CRLF, LF or nothing.
fn line_end(bytes: &[u8], end: usize) -> &'static [u8] {
    match &bytes[end..(end + 2).min(bytes.len())] {
        [b'\r', b'\n'] => b"\r\n",
        [b'\n', ..] => b"\n",
        _ => b"",
    }
}

fn rewrite(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut reader = Reader::new(bytes);
    let mut writer: Option<SegmentWriter> = None;
    let emit = |out: &mut Vec<u8>, writer: &Option<SegmentWriter>, seg: &edigate::syntax::Segment<'_>| {
        writer.as_ref().unwrap().write(out, &SegmentData::from_segment(seg)).unwrap();
    };
    while let Some(ev) = reader.next_event().unwrap() {
        assert!(ev.diagnostics.iter().all(|d| !d.is_error()), "{:?}", ev.diagnostics);
        if let Item::InterchangeStart(h) = &ev.item {
            let seg = ev.envelope.expect("header segment");
            // Anything before the header (a UNA) is copied as it was.
            out.extend_from_slice(&bytes[out.len()..seg.offset() as usize]);
            let term_at = seg.offset() as usize + seg.as_bytes().len() + 1;
            writer = Some(SegmentWriter::new(h.delimiters, line_end(bytes, term_at)).unwrap());
        }
        match &ev.item {
            Item::Set(set) => {
                for seg in set.segments() {
                    emit(&mut out, &writer, &seg);
                }
            }
            _ => {
                if let Some(seg) = &ev.envelope {
                    emit(&mut out, &writer, seg);
                }
            }
        }
    }
    // Anything after the last segment (a final line break) is copied as it was.
    let written = out.len();
    if written < bytes.len() && bytes[written..].iter().all(|b| b.is_ascii_whitespace()) {
        out.extend_from_slice(&bytes[written..]);
    }
    out
}

#[test]
fn good_samples_rewrite_to_identical_bytes() {
    let mut wrong = vec![];
    for file in good_samples() {
        let bytes = std::fs::read(&file).unwrap();
        let again = rewrite(&bytes);
        if again != bytes {
            let at = again.iter().zip(&bytes).position(|(a, b)| a != b).unwrap_or(again.len().min(bytes.len()));
            wrong.push(format!(
                "{}: differs at byte {at}: wrote {:?}, file has {:?}",
                file.display(),
                String::from_utf8_lossy(&again[at.saturating_sub(20)..(at + 20).min(again.len())]),
                String::from_utf8_lossy(&bytes[at.saturating_sub(20)..(at + 20).min(bytes.len())])
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
