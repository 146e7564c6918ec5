//! Shared by both targets: the whole validation path over arbitrary bytes, touching every segment,
//! element, repetition and component of each set, and writing each set back.

use edigate::syntax::segment::{Delimiters, Segment};
use edigate::syntax::validate::{validate_with, Options};
use edigate::syntax::write::{SegmentData, SegmentWriter, WriteError};
use edigate::syntax::Limits;

pub fn run(data: &[u8]) {
    let opts = Options {
        // Small limits keep each run fast and exercise the window-limit paths.
        limits: Limits { max_set_bytes: 64 * 1024 },
        keep_sets: 64,
        keep_diagnostics: 256,
        record_tree: false,
    };
    let mut sink = 0usize;
    let report = validate_with(
        data,
        opts,
        |_| {},
        |set, diags, _checked| {
            sink += diags.len();
            let _ = (set.len(), set.is_empty(), set.standard(), set.complete);
            for seg in set.segments() {
                sink += seg.id().len() + seg.tag() as usize % 7 + seg.offset() as usize % 3;
                let _ = seg.id_str();
                for el in seg.elements() {
                    sink += el.text().len() + el.is_composite() as usize;
                    for rep in el.repetitions() {
                        for comp in rep.components() {
                            sink += comp.text().len() + comp.as_bytes().len();
                        }
                    }
                    let _ = el.component(2);
                }
                let _ = seg.element(3).map(|e| e.text());
                sink += seg.element_count();
            }
            round_trip(set.segments().map(|s| SegmentData::from_segment(&s)).collect(), set.segments().next().map(|s| *s.delimiters()));
        },
    );
    if let Ok(r) = report {
        sink += r.errors_total as usize + r.all_diagnostics().count();
        let _ = r.is_valid();
    }
    std::hint::black_box(sink);
}

/// Writes the segments back with the delimiters they were read with, then reads them again.
fn round_trip(segs: Vec<SegmentData>, delims: Option<Delimiters>) {
    let Some(d) = delims else { return };
    // Hostile headers may declare delimiters the writer refuses (duplicates, letters): nothing to check.
    let Ok(w) = SegmentWriter::new(d, b"") else { return };
    for seg in &segs {
        let mut out = Vec::new();
        match w.write(&mut out, seg) {
            Ok(()) => {
                // Read the written segment back: it must give the same data.
                assert_eq!(out.pop(), Some(d.segment));
                let escaped = d.release.is_some_and(|r| out.contains(&r));
                let again = SegmentData::from_segment(&Segment::new(&out, 0, d, escaped));
                assert_eq!(&again, seg, "written as {:?} with {d:?}", String::from_utf8_lossy(&out));
            }
            // X12 values may contain a delimiter byte (e.g. a repetition separator in a non-repeating
            // position); ids read from garbage may not be valid ids.
            Err(WriteError::Unescapable { .. }) if d.release.is_none() => return,
            Err(WriteError::BadId(_)) => return,
            Err(e) => panic!("writing {seg:?} with {d:?}: {e}"),
        }
    }
}
