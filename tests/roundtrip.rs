//! Property tests of the syntax layer: what the writers write, the reader reads back unchanged (and
//! writing it again gives the same bytes); the reader never panics and always ends on arbitrary bytes;
//! and reading through a `Read` that hands out one byte per call gives exactly what reading a slice
//! gives (the streaming window logic).

use edigate::syntax::edifact::writer::{EdifactWriter, InterchangeParams as EdiParams};
use edigate::syntax::reader::{Item, Reader};
use edigate::syntax::segment::{Charset, Delimiters};
use edigate::syntax::write::SegmentData;
use edigate::syntax::x12::writer::{InterchangeParams as X12Params, X12Writer};
use edigate::syntax::PartyId;
use proptest::prelude::*;
use std::io::{self, Read};

// ---------------------------------------------------------------------------------------------------
// The model: interchanges of groups of sets of segments, as the writers take them.

#[derive(Clone, Debug)]
struct Set {
    document: &'static str,
    control: String,
    body: Vec<SegmentData>,
}

#[derive(Clone, Debug)]
struct Group {
    control: u32,
    sets: Vec<Set>,
}

#[derive(Clone, Debug)]
enum Interchange {
    X12 { delimiters: Delimiters, line_end: &'static [u8], version: &'static str, control: u32, groups: Vec<Group> },
    /// `groups: None` writes the messages without UNG/UNE (then `sets` of the single group are used).
    Edifact { delimiters: Delimiters, line_end: &'static [u8], una: bool, syntax_version: &'static str, control: u32, ung: bool, groups: Vec<Group> },
}

impl Interchange {
    fn groups(&self) -> &[Group] {
        match self {
            Interchange::X12 { groups, .. } | Interchange::Edifact { groups, .. } => groups,
        }
    }

    fn delimiters(&self) -> Delimiters {
        match self {
            Interchange::X12 { delimiters, .. } | Interchange::Edifact { delimiters, .. } => *delimiters,
        }
    }

    /// The same interchange with other set bodies (in order) and delimiters.
    fn with_bodies(&self, delimiters: Delimiters, bodies: &mut impl Iterator<Item = Vec<SegmentData>>) -> Interchange {
        let mut ic = self.clone();
        let (d, groups) = match &mut ic {
            Interchange::X12 { delimiters, groups, .. } | Interchange::Edifact { delimiters, groups, .. } => (delimiters, groups),
        };
        *d = delimiters;
        for g in groups {
            for s in &mut g.sets {
                s.body = bodies.next().expect("a body per set");
            }
        }
        ic
    }

    fn write(&self) -> Vec<u8> {
        match self {
            Interchange::X12 { delimiters, line_end, version, control, groups } => {
                let p = X12Params {
                    sender: PartyId { qualifier: "ZZ".into(), id: "ACMEMFG".into() },
                    receiver: PartyId { qualifier: "ZZ".into(), id: "GLOBEX".into() },
                    control_number: *control,
                    date: "240115".into(),
                    time: "1030".into(),
                    version: version.to_string(),
                    ack_requested: false,
                    test: false,
                };
                let gs_version = if *version == "00401" { "004010" } else { "005010" };
                let mut w = X12Writer::new(*delimiters, line_end, &p).expect("X12 writer");
                for g in groups {
                    w.begin_group("PO", "ACMEMFG", "GLOBEX", "20240115", "1030", g.control, gs_version).unwrap();
                    for s in &g.sets {
                        w.begin_set(s.document, &s.control, None).unwrap();
                        for seg in &s.body {
                            w.segment(seg).unwrap();
                        }
                        w.end_set().unwrap();
                    }
                    w.end_group().unwrap();
                }
                w.finish().unwrap()
            }
            Interchange::Edifact { delimiters, line_end, una, syntax_version, control, ung, groups } => {
                let p = EdiParams {
                    syntax_identifier: "UNOC".into(),
                    syntax_version: syntax_version.to_string(),
                    sender: PartyId { qualifier: "14".into(), id: "4012345000009".into() },
                    receiver: PartyId { qualifier: "ZZZ".into(), id: "INITECH".into() },
                    date: "240115".into(),
                    time: "1030".into(),
                    control_reference: control.to_string(),
                    ack_requested: false,
                    test: false,
                    una: *una,
                };
                let mut w = EdifactWriter::new(*delimiters, line_end, &p).expect("EDIFACT writer");
                for g in groups {
                    if *ung {
                        w.begin_group("ORDERS", "ACME", "INITECH", "240115", "1030", &g.control.to_string(), "D", "96A").unwrap();
                    }
                    for s in &g.sets {
                        w.begin_message(&s.control, s.document, "D", "96A", "UN", None).unwrap();
                        for seg in &s.body {
                            w.segment(seg).unwrap();
                        }
                        w.end_message().unwrap();
                    }
                    if *ung {
                        w.end_group().unwrap();
                    }
                }
                w.finish().unwrap()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Generators.

/// Punctuation usable as a delimiter (no letters, digits, space, `.` or `,`).
const DELIMITER_POOL: &[u8] = b"*:^~+'?|!@#$%&;<=>\\/{}[]_`\"-()";

const X12_IDS: &[&str] = &["BEG", "REF", "PER", "DTM", "N1", "N3", "N4", "PO1", "PID", "CTT", "HL", "LIN", "SN1", "TD5", "IT1", "TDS", "BSN", "MSG", "AMT"];
const EDIFACT_IDS: &[&str] = &["BGM", "DTM", "NAD", "RFF", "LIN", "QTY", "PRI", "FTX", "CUX", "MOA", "TAX", "CPS", "PAC", "UNS", "CNT", "PIA", "IMD", "ALC", "LOC"];

/// EDIFACT (UNOC, ISO 8859-1) may also use upper-half bytes: `§` and `¦`, which values contain too.
const EDIFACT_EXTRA_DELIMITERS: &[u8] = &[0xA7, 0xA6];

/// `n` distinct delimiters from the pool (plus `extra`).
fn distinct(n: usize, extra: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    Just([DELIMITER_POOL, extra].concat()).prop_shuffle().prop_map(move |v| v[..n].to_vec())
}

fn x12_delimiters() -> impl Strategy<Value = (Delimiters, &'static [u8], &'static str)> {
    (distinct(4, &[]), any::<bool>(), any::<bool>(), prop::sample::select(vec![&b""[..], b"\n", b"\r\n"])).prop_map(
        |(d, v5010, newline_term, line_end)| {
            let version = if v5010 { "00501" } else { "00401" };
            // ISA11 is the repetition separator only from 00402 on.
            let repetition = v5010.then_some(d[2]);
            let segment = if newline_term { b'\n' } else { d[3] };
            let line_end = if newline_term { &b""[..] } else { line_end };
            (Delimiters { element: d[0], component: d[1], repetition, segment, release: None, decimal: b'.', charset: Charset::Utf8 }, line_end, version)
        },
    )
}

/// Delimiters, line end, UNA written, syntax version.
fn edifact_delimiters() -> impl Strategy<Value = (Delimiters, &'static [u8], bool, &'static str)> {
    (distinct(5, EDIFACT_EXTRA_DELIMITERS), any::<bool>(), any::<bool>(), any::<bool>(), prop::sample::select(vec![&b""[..], b"\n", b"\r\n"])).prop_map(
        |(d, defaults, v4, comma, line_end)| {
            if defaults {
                // No UNA: the syntax 3 defaults.
                return (Delimiters { charset: Charset::Latin1, ..Delimiters::EDIFACT }, line_end, false, "3");
            }
            let delimiters = Delimiters {
                component: d[0],
                element: d[1],
                release: Some(d[2]),
                repetition: v4.then_some(d[3]),
                segment: d[4],
                decimal: if comma { b',' } else { b'.' },
                // UNOC: ISO 8859-1.
                charset: Charset::Latin1,
            };
            (delimiters, line_end, true, if v4 { "4" } else { "3" })
        },
    )
}

/// A printable value: ASCII (service characters included) and a few non-ASCII letters.
fn value() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        8 => (0x20u8..0x7F).prop_map(char::from),
        1 => prop::sample::select(vec!['é', 'ß', 'Ø', 'ÿ', '\u{A0}', '§', '¦']),
    ];
    prop::collection::vec(ch, 0..8).prop_map(|v| v.into_iter().collect())
}

/// A segment's elements: up to 3 repetitions (when there is a repetition separator) of up to 3
/// components each.
fn elements(repeats: bool) -> impl Strategy<Value = Vec<Vec<Vec<String>>>> {
    let max_reps = if repeats { 3 } else { 1 };
    let rep = prop::collection::vec(value(), 1..=3);
    prop::collection::vec(prop::collection::vec(rep, 1..=max_reps), 0..6)
}

/// Values without characters X12 cannot carry (it has no release character) and without line breaks.
fn x12_clean(mut seg: SegmentData, d: &Delimiters) -> SegmentData {
    for el in &mut seg.elements {
        for rep in el.iter_mut() {
            for c in rep.iter_mut() {
                *c = c.chars().filter(|&ch| !(ch.is_ascii() && d.is_service(ch as u8))).collect();
            }
        }
    }
    seg
}

fn body(ids: &'static [&'static str], repeats: bool) -> impl Strategy<Value = Vec<SegmentData>> {
    prop::collection::vec(
        (prop::sample::select(ids), elements(repeats)).prop_map(|(id, elements)| SegmentData { id: id.to_string(), elements }),
        0..6,
    )
}

fn groups(ids: &'static [&'static str], docs: &'static [&'static str], repeats: bool, max_groups: usize) -> impl Strategy<Value = Vec<Group>> {
    let set = (prop::sample::select(docs), 1u32..99999, body(ids, repeats));
    let group = (1u32..999_999_999, prop::collection::vec(set, 1..4));
    prop::collection::vec(group, 1..=max_groups).prop_map(|gs| {
        let mut n = 0;
        gs.into_iter()
            .map(|(control, sets)| Group {
                control,
                sets: sets
                    .into_iter()
                    .map(|(document, _, body)| {
                        // Control numbers unique within the interchange.
                        n += 1;
                        Set { document, control: format!("{n:04}"), body }
                    })
                    .collect(),
            })
            .collect()
    })
}

fn x12_interchange() -> impl Strategy<Value = Interchange> {
    x12_delimiters().prop_flat_map(|(delimiters, line_end, version)| {
        (groups(X12_IDS, &["850", "855", "856", "810"], delimiters.repetition.is_some(), 3), 1u32..999_999_999).prop_map(
            move |(groups, control)| {
                let groups = groups
                    .into_iter()
                    .map(|mut g| {
                        for s in &mut g.sets {
                            s.body = s.body.drain(..).map(|seg| x12_clean(seg, &delimiters).trimmed()).collect();
                        }
                        g
                    })
                    .collect();
                Interchange::X12 { delimiters, line_end, version, control, groups }
            },
        )
    })
}

fn edifact_interchange() -> impl Strategy<Value = Interchange> {
    (edifact_delimiters(), any::<bool>()).prop_flat_map(|((delimiters, line_end, una, syntax_version), ung)| {
        let max_groups = if ung { 3 } else { 1 };
        (groups(EDIFACT_IDS, &["ORDERS", "ORDRSP", "DESADV", "INVOIC"], delimiters.repetition.is_some(), max_groups), 1u32..99_999_999)
            .prop_map(move |(groups, control)| {
                let groups = groups
                    .into_iter()
                    .map(|mut g| {
                        for s in &mut g.sets {
                            s.body = s.body.drain(..).map(SegmentData::trimmed).collect();
                        }
                        g
                    })
                    .collect();
                Interchange::Edifact { delimiters, line_end, una, syntax_version, control, ung, groups }
            })
    })
}

fn interchanges() -> impl Strategy<Value = Vec<Interchange>> {
    prop::collection::vec(prop_oneof![x12_interchange(), edifact_interchange()], 1..=3)
}

// ---------------------------------------------------------------------------------------------------
// Reading.

/// One byte per `read` call.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(out)) => {
                *out = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// What a reader reports, as comparable text (a set shows its segments, not the reader's window);
/// panics when the reader does not end within a bound proportional to the input.
fn events<R: Read>(src: R, input_len: usize) -> Vec<String> {
    let mut r = Reader::new(src);
    let mut out = vec![];
    let bound = 8 * input_len + 16;
    loop {
        let ev = match r.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                out.push(format!("io error: {e}"));
                break;
            }
        };
        let item = match &ev.item {
            Item::Set(s) => {
                let segs: Vec<String> = s.segments().map(|g| format!("{}@{}", String::from_utf8_lossy(g.as_bytes()), g.offset())).collect();
                format!("Set {:?} complete={} group={:?} {segs:?}", s.header, s.complete, s.group.map(|g| &g.control_number))
            }
            other => format!("{other:?}"),
        };
        out.push(item);
        out.extend(ev.diagnostics.iter().map(|d| format!("  {d:?}")));
        assert!(out.len() <= bound, "the reader does not end: {} events from {input_len} bytes", out.len());
    }
    out.push(format!("position {} segments {}", r.position(), r.segments_read()));
    out
}

/// What was read: per interchange, its delimiters and the bodies of its sets (header and trailer
/// left out), plus the (document, control) of each set; and every diagnostic.
/// (document, control number, body) of a set read.
type ReadSet = (String, String, Vec<SegmentData>);

struct ReadBack {
    interchanges: Vec<(Delimiters, Vec<ReadSet>)>,
    diagnostics: Vec<String>,
    ends: Vec<String>,
}

fn read_back(bytes: &[u8]) -> ReadBack {
    let mut r = Reader::new(bytes);
    let mut got = ReadBack { interchanges: vec![], diagnostics: vec![], ends: vec![] };
    while let Some(ev) = r.next_event().unwrap() {
        got.diagnostics.extend(ev.diagnostics.iter().map(|d| format!("{d:?}")));
        match ev.item {
            Item::InterchangeStart(h) => got.interchanges.push((h.delimiters, vec![])),
            Item::Set(s) => {
                assert!(s.complete);
                let segs: Vec<SegmentData> = s.segments().map(|g| SegmentData::from_segment(&g)).collect();
                let ic = got.interchanges.last_mut().expect("set inside an interchange");
                ic.0 = *s.segment(0).delimiters();
                ic.1.push((s.header.document.clone(), s.header.control_number.clone(), segs[1..segs.len() - 1].to_vec()));
            }
            Item::GroupEnd { trailer, .. } => got.ends.push(format!("GroupEnd trailer={trailer}")),
            Item::InterchangeEnd { trailer, .. } => got.ends.push(format!("InterchangeEnd trailer={trailer}")),
            Item::GroupStart(_) => {}
            Item::Unreadable { offset } => got.diagnostics.push(format!("unreadable at {offset}")),
        }
    }
    got
}

fn write_all(ics: &[Interchange]) -> Vec<u8> {
    ics.iter().flat_map(Interchange::write).collect()
}

// ---------------------------------------------------------------------------------------------------
// Properties.

/// A damaged service string advice (`UNB` become `UNAB`) with another interchange's UNB further
/// on: the next interchanges are read the same whether the input comes at once or a byte at a
/// time (found by `damaged_interchanges_never_panic`: the slice reader looked for a UNB in all it
/// had buffered, and took the third interchange's for the first one's).
#[test]
fn a_damaged_una_reads_the_same_trickled() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let first = std::fs::read(root.join("edifact/D96A/ORDERS-initech-two-lines.edi")).expect("sample");
    assert!(first.starts_with(b"UNB+"), "the sample starts with its UNB");
    let mut bytes = [&b"UNA"[..], &first[2..]].concat();
    bytes.extend(std::fs::read(root.join("x12/004010/850-globex-three-lines.edi")).expect("sample"));
    bytes.extend(std::fs::read(root.join("edifact/D96A/DESADV-initech-parcels.edi")).expect("sample"));
    let (trickled, at_once) = (events(Trickle(&bytes), bytes.len()), events(&bytes[..], bytes.len()));
    assert_eq!(trickled, at_once);
    let starts = at_once.iter().filter(|e| e.starts_with("InterchangeStart")).count();
    assert_eq!(starts, 2, "the X12 and the second EDIFACT interchange are read: {at_once:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// read(write(x)) == x, and write(read(write(x))) == write(x).
    #[test]
    fn written_interchanges_read_back_unchanged(ics in interchanges()) {
        let bytes = write_all(&ics);
        let got = read_back(&bytes);
        prop_assert!(got.diagnostics.is_empty(), "diagnostics {:#?}\nin {}", got.diagnostics, String::from_utf8_lossy(&bytes));
        prop_assert_eq!(got.interchanges.len(), ics.len());
        let mut bodies = vec![];
        for (ic, (delims, sets)) in ics.iter().zip(&got.interchanges) {
            prop_assert_eq!(*delims, ic.delimiters());
            let want: Vec<&Set> = ic.groups().iter().flat_map(|g| &g.sets).collect();
            prop_assert_eq!(sets.len(), want.len());
            for (w, (doc, control, body)) in want.iter().zip(sets) {
                prop_assert_eq!(doc.as_str(), w.document);
                prop_assert_eq!(control, &w.control);
                let trimmed: Vec<SegmentData> = body.iter().cloned().map(SegmentData::trimmed).collect();
                prop_assert_eq!(&trimmed, &w.body, "in {}", String::from_utf8_lossy(&bytes));
                prop_assert_eq!(body, &w.body);
            }
            bodies.extend(sets.iter().map(|s| s.2.clone()));
        }
        // Every group and interchange closed by its trailer.
        prop_assert!(got.ends.iter().all(|e| e.ends_with("trailer=true")), "{:?}", got.ends);
        // Writing what was read, with the delimiters read, gives the same bytes.
        let mut bodies = bodies.into_iter();
        let again: Vec<Interchange> = ics.iter().zip(&got.interchanges).map(|(ic, (d, _))| ic.with_bodies(*d, &mut bodies)).collect();
        prop_assert_eq!(write_all(&again), bytes);
    }

    /// Reading one byte per `read` call gives what reading the slice gives, on written interchanges.
    #[test]
    fn trickled_interchanges_read_the_same(ics in interchanges()) {
        let bytes = write_all(&ics);
        prop_assert_eq!(events(Trickle(&bytes), bytes.len()), events(&bytes[..], bytes.len()));
    }

    /// Damaged interchanges (cut, bytes changed, inserted or removed): no panic, an end, and the same
    /// result when trickled.
    #[test]
    fn damaged_interchanges_never_panic(
        ics in interchanges(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = write_all(&ics);
        for (at, kind, b) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = b,
                1 => bytes.insert(i, b),
                2 => { bytes.remove(i); }
                // A delimiter-looking or envelope-looking byte.
                _ => {
                    let pool = b"~'+*:?\r\nISAUNBUNAGSSTSEUNHUNT\x1a";
                    bytes.insert(i, pool[b as usize % pool.len()]);
                }
            }
        }
        if do_cut && !bytes.is_empty() {
            bytes.truncate(cut.index(bytes.len()));
        }
        prop_assert_eq!(events(Trickle(&bytes), bytes.len()), events(&bytes[..], bytes.len()));
    }

    /// Arbitrary bytes (biased toward envelope tags and delimiters): no panic, an end, and the same
    /// result when trickled.
    #[test]
    fn arbitrary_bytes_never_panic(parts in prop::collection::vec(prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::sample::select(vec![
            b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~".to_vec(),
            b"UNA:+.? '".to_vec(), b"UNB+UNOC:3+A+B+240101:1200+1'".to_vec(), b"UNH+1+ORDERS:D:96A:UN'".to_vec(),
            b"UNT+2+1'".to_vec(), b"UNZ+1+1'".to_vec(), b"GS*PO*A*B*20240101*1200*1*X*005010~".to_vec(),
            b"ST*850*0001~".to_vec(), b"SE*2*0001~".to_vec(), b"GE*1*1~".to_vec(), b"IEA*1*000000001~".to_vec(),
            b"UNG+ORDERS+A+B+240101:1200+1+UN+D:96A'".to_vec(), b"UNE+1+1'".to_vec(), b"?".to_vec(), b"\r\n".to_vec(),
        ]),
    ], 0..24)) {
        let bytes: Vec<u8> = parts.concat();
        prop_assert_eq!(events(Trickle(&bytes), bytes.len()), events(&bytes[..], bytes.len()));
    }
}
