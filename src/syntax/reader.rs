//! The streaming envelope reader for both standards.
//!
//! [`Reader`] pulls [`Event`]s from any `Read`: interchange start, group start, one whole transaction set
//! (or message) at a time, group end, interchange end. A set's segments are slices of the reader's
//! window, valid until the next call; the window only ever holds the current set, so a file of any size
//! is read in bounded memory. Envelope rules (trailer counts and control numbers, nesting) are checked
//! here and reported as diagnostics on the event they concern; the reader always goes on to the end.

use super::diag::{Diagnostic, Location, Problem};
use super::edifact::envelope as edi_env;
use super::envelope::{GroupHeader, InterchangeHeader, SetHeader, Standard};
use super::scan::{Raw, ScanError, Scanner};
use super::segment::{tag, Delimiters, Segment};
use super::x12::envelope as x12_env;
use std::collections::HashSet;

use std::io::{self, Read};

/// Limits that keep a hostile or broken file from taking the machine.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest transaction set or message (bytes) held in memory at once.
    pub max_set_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_set_bytes: 32 * 1024 * 1024 }
    }
}

/// One step of reading.
#[derive(Debug)]
pub struct Event<'r> {
    pub item: Item<'r>,
    /// Problems found while reading this item (for a set: its envelope problems, not its structure).
    pub diagnostics: &'r [Diagnostic],
    /// The envelope segment this event was read from (ISA/UNB, GS/UNG, GE/UNE, IEA/UNZ), when there is one.
    pub envelope: Option<Segment<'r>>,
}

#[derive(Debug)]
pub enum Item<'r> {
    InterchangeStart(&'r InterchangeHeader),
    GroupStart(&'r GroupHeader),
    Set(TransactionSet<'r>),
    /// GE/UNE read (or found missing: `trailer` is false).
    GroupEnd { header: &'r GroupHeader, sets: u32, trailer: bool },
    /// IEA/UNZ read (or found missing: `trailer` is false).
    InterchangeEnd { header: &'r InterchangeHeader, groups: u32, sets: u32, trailer: bool },
    /// Bytes that are no interchange (garbage, a broken header); the diagnostics say what.
    Unreadable { offset: u64 },
}

/// A transaction set (ST..SE) or message (UNH..UNT), all its segments in memory.
#[derive(Clone, Copy, Debug)]
pub struct TransactionSet<'r> {
    pub header: &'r SetHeader,
    pub interchange: &'r InterchangeHeader,
    pub group: Option<&'r GroupHeader>,
    /// False when the trailer was missing (the set ended early).
    pub complete: bool,
    segs: &'r [Raw],
    window: &'r [u8],
    base: u64,
    delims: Delimiters,
}

impl<'r> TransactionSet<'r> {
    #[inline]
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Segment at a 0-based index (index 0 is ST/UNH).
    #[inline]
    pub fn segment(&self, i: usize) -> Segment<'r> {
        let r = &self.segs[i];
        let s = (r.offset - self.base) as usize;
        Segment::with_id_len(&self.window[s..s + r.len as usize], r.offset, self.delims, r.escaped, r.id_len)
    }

    #[inline]
    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'r>> + '_ {
        (0..self.segs.len()).map(move |i| self.segment(i))
    }

    #[inline]
    pub fn standard(&self) -> Standard {
        self.interchange.standard
    }
}

/// Segment tags of one standard's envelope.
struct Tags {
    interchange: u32,
    group: u32,
    set: u32,
    set_end: u32,
    group_end: u32,
    interchange_end: u32,
    service_advice: u32,
}

const X12_TAGS: fn() -> Tags = || Tags {
    interchange: tag(b"ISA"),
    group: tag(b"GS"),
    set: tag(b"ST"),
    set_end: tag(b"SE"),
    group_end: tag(b"GE"),
    interchange_end: tag(b"IEA"),
    service_advice: u32::MAX,
};

const EDIFACT_TAGS: fn() -> Tags = || Tags {
    interchange: tag(b"UNB"),
    group: tag(b"UNG"),
    set: tag(b"UNH"),
    set_end: tag(b"UNT"),
    group_end: tag(b"UNE"),
    interchange_end: tag(b"UNZ"),
    service_advice: tag(b"UNA"),
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Outside,
    Interchange,
    Group,
}

/// What a step produced, before borrowing it out as an [`Item`].
enum Step {
    InterchangeStart,
    GroupStart,
    Set(bool),
    GroupEnd(bool),
    InterchangeEnd(bool),
    Unreadable(u64),
}

/// Pull reader over X12 and EDIFACT interchanges (detected per interchange).
pub struct Reader<R> {
    scan: Scanner<R>,
    state: State,
    tags: Tags,
    delims: Delimiters,
    repertoire: edi_env::Repertoire,
    interchange: Option<InterchangeHeader>,
    group: Option<GroupHeader>,
    set: SetHeader,
    segs: Vec<Raw>,
    diags: Vec<Diagnostic>,
    /// Groups and sets (outside groups) seen in the current interchange.
    groups: u32,
    bare_sets: u32,
    /// X12 TA1 segments read between ISA and the first GS (an interchange of TA1s only is not empty).
    ta1s: u32,
    /// Sets in the current group.
    group_sets: u32,
    /// Segment number within the interchange (ISA/UNB = 1).
    seg_no: u32,
    set_controls: HashSet<String>,
    interchanges: u32,
    segments_read: u64,
    /// The premature end of the current interchange was reported already.
    ended: bool,
    /// The envelope segment of the current event.
    envelope: Option<Raw>,
}

// The internal steps return a `Diagnostic` as their error: it is content for the report, not a
// failure, and the path is cold; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
impl<R: Read> Reader<R> {
    pub fn new(src: R) -> Self {
        Self::with_limits(src, Limits::default())
    }

    pub fn with_limits(src: R, limits: Limits) -> Self {
        Reader {
            scan: Scanner::new(src, limits.max_set_bytes),
            state: State::Outside,
            tags: X12_TAGS(),
            delims: Delimiters::X12,
            repertoire: edi_env::Repertoire::Any,
            interchange: None,
            group: None,
            set: SetHeader::default(),
            segs: Vec::with_capacity(256),
            diags: Vec::new(),
            groups: 0,
            bare_sets: 0,
            ta1s: 0,
            group_sets: 0,
            seg_no: 0,
            set_controls: HashSet::new(),
            interchanges: 0,
            segments_read: 0,
            ended: false,
            envelope: None,
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn position(&self) -> u64 {
        self.scan.position()
    }

    /// Bytes the reader's window holds (grows only with the largest transaction set).
    pub fn buffer_capacity(&self) -> usize {
        self.scan.capacity()
    }

    /// Segments read so far.
    pub fn segments_read(&self) -> u64 {
        self.segments_read
    }

    /// The next event, `None` at end of input. Only I/O failures are errors; everything wrong with the
    /// content is a diagnostic.
    pub fn next_event(&mut self) -> io::Result<Option<Event<'_>>> {
        self.diags.clear();
        self.segs.clear();
        self.envelope = None;
        self.scan.release();
        let step = loop {
            let step = match self.state {
                State::Outside => self.start_interchange()?,
                State::Interchange | State::Group => self.envelope_step()?,
            };
            match step {
                Some(s) => break s,
                None if self.state == State::Outside && self.at_end()? => {
                    if self.diags.is_empty() {
                        return Ok(None);
                    }
                    break Step::Unreadable(self.scan.position());
                }
                None => continue,
            }
        };
        Ok(Some(self.event(step)))
    }

    fn at_end(&mut self) -> io::Result<bool> {
        Ok(!self.scan.skip_interchange_filler().map_err(scan_io)?)
    }

    fn event(&self, step: Step) -> Event<'_> {
        let ih = self.interchange.as_ref();
        let item = match step {
            Step::InterchangeStart => Item::InterchangeStart(ih.expect("interchange")),
            Step::GroupStart => Item::GroupStart(self.group.as_ref().expect("group")),
            Step::Set(complete) => {
                let (window, base) = self.scan.window();
                Item::Set(TransactionSet {
                    header: &self.set,
                    interchange: ih.expect("interchange"),
                    group: self.group.as_ref(),
                    complete,
                    segs: &self.segs,
                    window,
                    base,
                    delims: self.delims,
                })
            }
            Step::GroupEnd(trailer) => Item::GroupEnd {
                header: self.group.as_ref().expect("group"),
                sets: self.group_sets,
                trailer,
            },
            Step::InterchangeEnd(trailer) => Item::InterchangeEnd {
                header: ih.expect("interchange"),
                groups: self.groups,
                sets: self.bare_sets,
                trailer,
            },
            Step::Unreadable(offset) => Item::Unreadable { offset },
        };
        let envelope = self.envelope.as_ref().map(|r| self.seg(r));
        Event { item, diagnostics: &self.diags, envelope }
    }

    fn interchange_loc(&self, offset: u64, id: &[u8]) -> Location {
        Location::segment(offset, self.seg_no, id)
    }

    /// Outside any interchange: find and read the next ISA or UNA/UNB.
    fn start_interchange(&mut self) -> io::Result<Option<Step>> {
        if !self.scan.skip_interchange_filler().map_err(scan_io)? {
            if self.scan.saw_ctrl_z {
                self.scan.saw_ctrl_z = false;
                self.diags.push(Diagnostic::warning(
                    Problem::TrailingGarbage,
                    Location::segment(self.scan.position(), 0, b""),
                    "end-of-file marker 0x1A (Ctrl-Z) after the last interchange ignored",
                ));
            }
            return Ok(None);
        }
        let offset = self.scan.position();
        let head = self.scan.peek(512).map_err(scan_io)?;
        let result = if head.starts_with(b"ISA") {
            self.begin_x12(offset)
        } else if head.starts_with(b"UNA") || head.starts_with(b"UNB") {
            self.begin_edifact(offset)
        } else {
            let what = if self.interchanges == 0 { Problem::NoInterchange } else { Problem::TrailingGarbage };
            let shown: String = String::from_utf8_lossy(&head[..head.len().min(20)]).escape_debug().collect();
            Err(Diagnostic::error(
                what,
                Location::segment(offset, 0, b""),
                format!("expected an interchange header (ISA, UNA or UNB), found \"{shown}\""),
            ))
        };
        match result {
            Ok(step) => {
                self.interchanges += 1;
                Ok(Some(step))
            }
            Err(d) => {
                // Skip to the next thing that looks like an interchange.
                self.diags.push(d);
                // A header cut off by the end of input has consumed everything: nothing left to skip.
                if !self.scan.peek(1).map_err(scan_io)?.is_empty() {
                    self.scan.advance(1);
                }
                self.scan.skip_to_any(&[b"ISA", b"UNA", b"UNB"]).map_err(scan_io)?;
                Ok(Some(Step::Unreadable(offset)))
            }
        }
    }

    fn begin_x12(&mut self, offset: u64) -> Result<Step, Diagnostic> {
        let head = self.scan.peek(512).map_err(|e| io_diag(e, offset))?;
        let shape = x12_env::isa_shape(&head[..head.len().min(400)])
            .map_err(|m| Diagnostic::error(Problem::InvalidInterchangeHeader, Location::segment(offset, 1, b"ISA"), m))?;
        self.delims = shape.delimiters;
        self.tags = X12_TAGS();
        self.repertoire = edi_env::Repertoire::Any;
        let raw = self.next_raw().map_err(|d| *d)?.ok_or_else(|| premature(offset, "ISA"))?;
        self.envelope = Some(raw);
        self.seg_no = 1;
        let seg = seg_at(&self.scan, self.delims, &raw);
        let mut diags = std::mem::take(&mut self.diags);
        let header = x12_env::interchange_header(&seg, &shape, &mut diags);
        self.diags = diags;
        self.open_interchange(header);
        Ok(Step::InterchangeStart)
    }

    fn begin_edifact(&mut self, offset: u64) -> Result<Step, Diagnostic> {
        // `peek` gives whatever is buffered, at least 16 bytes when there are: look at 16 only,
        // or what is searched below would depend on how the input arrives.
        let head = self.scan.peek(16).map_err(|e| io_diag(e, offset))?;
        let head = &head[..head.len().min(16)];
        let (delims, skip) = if head.starts_with(b"UNA") {
            match edi_env::service_string(head) {
                Ok(found) => found,
                Err(m) => {
                    // The interchange is rejected for its UNA, but read on with the default service
                    // characters when a UNB follows, so the acknowledgment can name it.
                    let d = Diagnostic::error(Problem::InvalidServiceString, Location::segment(offset, 0, b"UNA"), m);
                    let unb = memchr::memmem::find(&head[3..], b"UNB").map(|i| i + 3).ok_or_else(|| d.clone())?;
                    self.diags.push(d);
                    (Delimiters::EDIFACT, unb)
                }
            }
        } else if head.get(3) == Some(&edi_env::UNOB_DEFAULTS.element) {
            (edi_env::UNOB_DEFAULTS, 0)
        } else {
            (Delimiters::EDIFACT, 0)
        };
        self.scan.advance(skip);
        self.delims = delims;
        self.tags = EDIFACT_TAGS();
        let raw = self.next_raw().map_err(|d| *d)?.ok_or_else(|| premature(offset, "UNB"))?;
        self.envelope = Some(raw);
        self.seg_no = 1;
        let seg = seg_at(&self.scan, self.delims, &raw);
        if seg.tag() != self.tags.interchange {
            return Err(Diagnostic::error(
                Problem::InvalidInterchangeHeader,
                Location::segment(raw.offset, 1, seg.id()),
                format!("expected UNB after the service string advice, found {}", seg.id_str()),
            ));
        }
        let mut diags = std::mem::take(&mut self.diags);
        let mut header = edi_env::interchange_header(&seg, &mut diags);
        // Syntax version 4 without UNA: the repetition separator defaults to '*'.
        if skip == 0 && header.version == "4" && self.delims.repetition.is_none() {
            self.delims.repetition = Some(b'*');
            header.delimiters = self.delims;
        }
        self.diags = diags;
        let syntax = header.syntax_identifier.as_deref().unwrap_or("");
        self.repertoire = edi_env::Repertoire::for_syntax(syntax);
        self.delims.charset = super::segment::Charset::for_syntax(syntax);
        header.delimiters = self.delims;
        self.check_repertoire(&raw);
        self.open_interchange(header);
        Ok(Step::InterchangeStart)
    }

    fn open_interchange(&mut self, header: InterchangeHeader) {
        self.interchange = Some(header);
        self.group = None;
        self.groups = 0;
        self.bare_sets = 0;
        self.ta1s = 0;
        self.set_controls.clear();
        self.ended = false;
        self.state = State::Interchange;
    }

    /// Whether the current interchange is X12 (else EDIFACT).
    fn is_x12(&self) -> bool {
        self.tags.interchange == tag(b"ISA")
    }

    fn seg(&self, raw: &Raw) -> Segment<'_> {
        seg_at(&self.scan, self.delims, raw)
    }

    #[inline]
    fn check_repertoire(&mut self, raw: &Raw) {
        if self.repertoire != edi_env::Repertoire::Any {
            self.check_restricted_repertoire(raw);
        }
    }

    /// UNOA/UNOB: every byte of the segment must be in the level's repertoire (or a service character).
    fn check_restricted_repertoire(&mut self, raw: &Raw) {
        // Fast path for the usual clean segment. Level B is printable ASCII; for level A, a segment with
        // anything else is looked at by the full check.
        let printable = all_printable_ascii(self.scan.bytes(raw));
        let delims = self.delims;
        let clean = printable
            && (self.repertoire == edi_env::Repertoire::B
                || self.scan.bytes(raw).iter().all(|&b| self.repertoire.allows(b) || delims.is_service(b)));
        if clean {
            return;
        }
        let syntax = self.interchange.as_ref().and_then(|h| h.syntax_identifier.clone()).unwrap_or_else(|| "UNOA".into());
        let number = if self.segs.is_empty() { self.seg_no } else { self.segs.len() as u32 };
        if let Some(d) = edi_env::check_repertoire(self.repertoire, &self.seg(raw), number, &syntax) {
            self.diags.push(d);
        }
    }

    /// Cuts the next segment; a truncated one becomes a diagnostic and `None`.
    /// (The error is boxed: this runs for every segment, and a small `Result` stays in registers.)
    fn next_raw(&mut self) -> Result<Option<Raw>, Box<Diagnostic>> {
        // Inside a set, segments count from its header; outside, from the interchange header.
        let number = if self.segs.is_empty() { self.seg_no + 1 } else { self.segs.len() as u32 + 1 };
        match self.scan.next_segment(&self.delims) {
            Ok(Some(raw)) => {
                self.segments_read += 1;
                if raw.wrapped {
                    let seg = seg_at(&self.scan, self.delims, &raw);
                    let loc = Location::segment(raw.offset, number, seg.id());
                    self.diags.push(Diagnostic::warning(
                        Problem::WrappedSegment,
                        loc,
                        "line breaks inside the segment (a wrapped file) were removed",
                    ));
                }
                Ok(Some(raw))
            }
            Ok(None) => Ok(None),
            Err(ScanError::Truncated { offset }) => Err(Box::new(Diagnostic::error(
                Problem::PrematureEnd,
                Location::segment(offset, number, b""),
                format!(
                    "input ends inside a segment that starts at byte {offset}: no segment terminator {}",
                    super::segment::show_byte(self.delims.segment)
                ),
            ))),
            Err(ScanError::TooLarge { offset, limit }) => Err(Box::new(Diagnostic::error(
                Problem::SegmentTooLarge,
                Location::segment(offset, number, b""),
                format!("a transaction set or segment starting near byte {offset} exceeds the {limit}-byte limit"),
            ))),
            Err(ScanError::Io(e)) => Err(Box::new(io_diag(ScanError::Io(e), 0))),
        }
    }

    /// Inside an interchange: read envelope segments until something is complete.
    fn envelope_step(&mut self) -> io::Result<Option<Step>> {
        let raw = match self.next_raw() {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok(Some(self.cut_short(None))),
            Err(d) => return Ok(Some(self.cut_short(Some(*d)))),
        };
        self.seg_no += 1;
        let t = self.seg(&raw).tag();
        let in_group = self.state == State::Group;
        if t == self.tags.set {
            if !in_group && self.is_x12() {
                self.diags.push(Diagnostic::error(
                    Problem::InvalidControlStructure,
                    self.interchange_loc(raw.offset, b"ST"),
                    "ST outside a functional group: a GS segment must come first",
                ));
            }
            return self.read_set(raw).map(Some);
        }
        self.check_repertoire(&raw);
        if t == self.tags.group {
            if in_group {
                return Ok(Some(self.missing_group_trailer(&raw)));
            }
            let seg = seg_at(&self.scan, self.delims, &raw);
            let mut diags = std::mem::take(&mut self.diags);
            let header = if self.is_x12() {
                x12_env::group_header(&seg, self.seg_no, &mut diags)
            } else {
                edi_env::group_header(&seg)
            };
            self.diags = diags;
            self.group = Some(header);
            self.envelope = Some(raw);
            self.group_sets = 0;
            self.groups += 1;
            self.set_controls.clear();
            self.state = State::Group;
            return Ok(Some(Step::GroupStart));
        }
        if t == self.tags.group_end {
            if !in_group {
                let id = self.seg(&raw).id_str().to_string();
                self.diags.push(Diagnostic::error(
                    Problem::InvalidControlStructure,
                    self.interchange_loc(raw.offset, id.as_bytes()),
                    format!("{id} without a group header"),
                ));
                return Ok(None);
            }
            self.check_trailer(&raw, self.group_sets as u64, TrailerKind::Group);
            self.envelope = Some(raw);
            self.state = State::Interchange;
            return Ok(Some(Step::GroupEnd(true)));
        }
        if t == self.tags.interchange_end {
            if in_group {
                return Ok(Some(self.missing_group_trailer(&raw)));
            }
            let count = if self.groups > 0 { self.groups + self.bare_sets } else { self.bare_sets };
            self.check_trailer(&raw, count as u64, TrailerKind::Interchange);
            if self.groups == 0 && self.bare_sets == 0 && self.ta1s == 0 {
                self.diags.push(Diagnostic::error(
                    Problem::EmptyInterchange,
                    self.interchange_loc(raw.offset, self.seg(&raw).id()),
                    "the interchange contains no groups or messages",
                ));
            }
            self.envelope = Some(raw);
            self.state = State::Outside;
            return Ok(Some(Step::InterchangeEnd(true)));
        }
        if t == self.tags.interchange || t == self.tags.service_advice {
            return Ok(Some(self.missing_interchange_trailer(&raw)));
        }
        // TA1 (interchange acknowledgment) sits between ISA and the first GS.
        if t == tag(b"TA1") && self.is_x12() && !in_group && self.groups == 0 {
            self.ta1s += 1;
            return Ok(None);
        }
        let seg = seg_at(&self.scan, self.delims, &raw);
        let id = seg.id_str().to_string();
        let what = if t == self.tags.set_end { "a trailer without its header" } else { "a segment outside any transaction set" };
        self.diags.push(Diagnostic::error(
            Problem::InvalidControlStructure,
            self.interchange_loc(raw.offset, id.as_bytes()),
            format!("{id} is {what}; skipped"),
        ));
        Ok(None)
    }

    fn missing_group_trailer(&mut self, next: &Raw) -> Step {
        let (ge, gs) = if self.is_x12() { ("GE", "GS") } else { ("UNE", "UNG") };
        let id = self.seg(next).id_str().to_string();
        self.diags.push(Diagnostic::error(
            Problem::GroupTrailerMissing,
            self.interchange_loc(next.offset, id.as_bytes()),
            format!("{ge} missing: {id} found before the {gs} group was closed"),
        ));
        self.scan.unread(next);
        self.seg_no -= 1;
        self.state = State::Interchange;
        Step::GroupEnd(false)
    }

    fn missing_interchange_trailer(&mut self, next: &Raw) -> Step {
        let iea = if self.is_x12() { "IEA" } else { "UNZ" };
        self.diags.push(Diagnostic::error(
            Problem::InterchangeTrailerMissing,
            self.interchange_loc(next.offset, self.seg(next).id()),
            format!("{iea} missing: a new interchange starts before this one was closed"),
        ));
        self.scan.unread(next);
        self.state = State::Outside;
        Step::InterchangeEnd(false)
    }

    /// Input ended (or a segment was cut off) inside an interchange.
    fn cut_short(&mut self, problem: Option<Diagnostic>) -> Step {
        let x12 = self.is_x12();
        let (iea, ge) = if x12 { ("IEA", "GE") } else { ("UNZ", "UNE") };
        if let Some(d) = problem {
            self.diags.push(d);
            self.ended = true;
        }
        if self.state == State::Group {
            self.diags.push(Diagnostic::error(
                Problem::GroupTrailerMissing,
                Location::segment(self.scan.position(), self.seg_no + 1, ge.as_bytes()),
                format!("{ge} missing: input ended inside the group"),
            ));
            self.state = State::Interchange;
            return Step::GroupEnd(false);
        }
        if !self.ended {
            self.diags.push(Diagnostic::error(
                Problem::PrematureEnd,
                Location::segment(self.scan.position(), self.seg_no + 1, iea.as_bytes()),
                format!("input ended before the interchange trailer {iea}"),
            ));
        }
        self.state = State::Outside;
        Step::InterchangeEnd(false)
    }

    /// Reads a whole transaction set or message, starting with its header segment.
    fn read_set(&mut self, first: Raw) -> io::Result<Step> {
        self.scan.keep_from(first.offset);
        self.segs.push(first);
        let seg = self.seg(&first);
        self.set = if self.is_x12() {
            x12_env::set_header(&seg, self.group.as_ref())
        } else {
            let mut h = edi_env::set_header(&seg);
            if h.version.is_empty() {
                h.version = self.group.as_ref().map(|g| g.version.clone()).unwrap_or_default();
            }
            h
        };
        self.check_repertoire(&first);
        let (header_id, trailer_id) = if self.is_x12() { ("ST", "SE") } else { ("UNH", "UNT") };
        if self.set.control_number.is_empty() {
            self.diags.push(Diagnostic::error(
                Problem::InvalidSetHeader,
                Location::segment(first.offset, 1, header_id.as_bytes()).with_element(if header_id == "ST" { 2 } else { 1 }),
                format!("{header_id} control number is missing"),
            ));
        }
        if self.state == State::Group {
            self.group_sets += 1;
        } else {
            self.bare_sets += 1;
        }
        if !self.set_controls.insert(self.set.control_number.clone()) {
            self.diags.push(Diagnostic::error(
                Problem::DuplicateSetControl,
                Location::segment(first.offset, 1, header_id.as_bytes()).with_element(if header_id == "ST" { 2 } else { 1 }),
                format!("control number {:?} is used by an earlier set in this group", self.set.control_number),
            ));
        }
        loop {
            let next = self.next_raw();
            let raw = match next {
                Ok(Some(raw)) => raw,
                Ok(None) | Err(_) => {
                    if let Err(d) = next {
                        self.diags.push(*d);
                        self.ended = true;
                    }
                    self.seg_no += self.segs.len() as u32 - 1;
                    let (pos, n) = (self.scan.position(), self.segs.len() as u32 + 1);
                    self.diags.push(Diagnostic::error(
                        Problem::SetTrailerMissing,
                        Location::segment(pos, n, trailer_id.as_bytes()),
                        format!("{trailer_id} missing: input ended inside {header_id} {}", self.set.control_number),
                    ));
                    return Ok(Step::Set(false));
                }
            };
            let t = self.seg(&raw).tag();
            if t == self.tags.set_end {
                self.segs.push(raw);
                self.seg_no += self.segs.len() as u32 - 1;
                self.check_repertoire(&raw);
                self.check_trailer(&raw, self.segs.len() as u64, TrailerKind::Set);
                return Ok(Step::Set(true));
            }
            if t == self.tags.set
                || t == self.tags.group
                || t == self.tags.group_end
                || t == self.tags.interchange_end
                || t == self.tags.interchange
            {
                let id = self.seg(&raw).id_str().to_string();
                self.diags.push(Diagnostic::error(
                    Problem::SetTrailerMissing,
                    Location::segment(raw.offset, self.segs.len() as u32 + 1, id.as_bytes()),
                    format!("{trailer_id} missing: {id} found before {header_id} {} was closed", self.set.control_number),
                ));
                self.seg_no += self.segs.len() as u32 - 1;
                self.scan.unread(&raw);
                return Ok(Step::Set(false));
            }
            self.segs.push(raw);
            self.check_repertoire(&raw);
        }
    }

    /// Checks a trailer's count (element 1) and control reference (element 2).
    fn check_trailer(&mut self, raw: &Raw, actual: u64, kind: TrailerKind) {
        let seg = seg_at(&self.scan, self.delims, raw);
        let id = seg.id_str().to_string();
        let (number, expected_ref, what, count_problem, ref_problem) = match kind {
            TrailerKind::Set => (
                self.segs.len() as u32,
                self.set.control_number.clone(),
                "segments in the set (header and trailer included)",
                Problem::SegmentCountMismatch,
                Problem::SetControlMismatch,
            ),
            TrailerKind::Group => (
                self.seg_no,
                self.group.as_ref().map(|g| g.control_number.clone()).unwrap_or_default(),
                "sets in the group",
                Problem::GroupCountMismatch,
                Problem::GroupControlMismatch,
            ),
            TrailerKind::Interchange => (
                self.seg_no,
                self.interchange.as_ref().map(|h| h.control_number.clone()).unwrap_or_default(),
                if self.is_x12() || self.groups > 0 { "groups in the interchange" } else { "messages in the interchange" },
                Problem::InterchangeCountMismatch,
                Problem::InterchangeControlMismatch,
            ),
        };
        let header_ref = match (kind, self.is_x12()) {
            (TrailerKind::Set, true) => "ST02",
            (TrailerKind::Set, false) => "UNH 0062",
            (TrailerKind::Group, true) => "GS06",
            (TrailerKind::Group, false) => "UNG 0048",
            (TrailerKind::Interchange, true) => "ISA13",
            (TrailerKind::Interchange, false) => "UNB 0020",
        };
        let loc = |e: u16| Location::segment(raw.offset, number, seg.id()).with_element(e);
        let count = seg.element(1).map(|e| e.text().trim().to_string()).unwrap_or_default();
        match count.parse::<u64>() {
            Ok(n) if n == actual => {}
            Ok(n) => self.diags.push(
                Diagnostic::error(count_problem, loc(1), format!("{id}01 says {n} but there are {actual} {what}"))
                    .with_value(count.as_bytes()),
            ),
            Err(_) => self.diags.push(
                Diagnostic::error(count_problem, loc(1), format!("{id}01 must be the number of {what} ({actual}), found {count:?}"))
                    .with_value(count.as_bytes()),
            ),
        }
        let reference = seg.element(2).map(|e| e.text().trim().to_string()).unwrap_or_default();
        if reference != expected_ref {
            self.diags.push(
                Diagnostic::error(
                    ref_problem,
                    loc(2),
                    format!("{id}02 is {reference:?} but {header_ref} is {expected_ref:?}; they must match"),
                )
                .with_value(reference.as_bytes()),
            );
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TrailerKind {
    Set,
    Group,
    Interchange,
}

/// True when every byte is in 0x20..=0x7E: 8 bytes per step ([`unprintable_mask`]). Out of
/// line: the validator asks on a rare path, and inlined there it cost its loop registers.
#[inline(never)]
pub(super) fn all_printable_ascii(bytes: &[u8]) -> bool {
    let Some(from) = bytes.len().checked_sub(8) else {
        return bytes.iter().all(|b| (0x20..0x7f).contains(b));
    };
    // Eight bytes a step, and the last eight (overlapping the words before: a byte looked at
    // twice is the same byte) instead of the rest one by one.
    let word = |w: &[u8]| unprintable_mask(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    let bad = bytes.chunks_exact(8).fold(0, |bad, w| bad | word(w));
    (bad | word(&bytes[from..])) == 0
}

/// Non-zero when a byte of `w` is outside 0x20..=0x7E. Only zero / non-zero is exact (the "has
/// less" / "has more" word tricks answer for the whole word without false positives when the
/// limits are below 128), not which byte.
#[inline]
pub(super) fn unprintable_mask(w: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    // Adding 1 (127 - 0x7E) to each byte sets the high bit of 0x7F and above.
    let above_tilde = (w.wrapping_add(LO) | w) & HI;
    below_space | above_tilde
}

fn seg_at<'a, R: Read>(scan: &'a Scanner<R>, delims: Delimiters, raw: &Raw) -> Segment<'a> {
    Segment::with_id_len(scan.bytes(raw), raw.offset, delims, raw.escaped, raw.id_len)
}

fn scan_io(e: ScanError) -> io::Error {
    match e {
        ScanError::Io(e) => e,
        ScanError::Truncated { offset } => io::Error::new(io::ErrorKind::UnexpectedEof, format!("truncated at {offset}")),
        ScanError::TooLarge { offset, limit } => {
            io::Error::new(io::ErrorKind::InvalidData, format!("segment at {offset} exceeds {limit} bytes"))
        }
    }
}

fn io_diag(e: ScanError, offset: u64) -> Diagnostic {
    Diagnostic::error(Problem::PrematureEnd, Location::segment(offset, 0, b""), scan_io(e).to_string())
}

fn premature(offset: u64, what: &str) -> Diagnostic {
    Diagnostic::error(Problem::PrematureEnd, Location::segment(offset, 1, what.as_bytes()), format!("input ended inside {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(input: &[u8]) -> Vec<String> {
        let mut r = Reader::new(input);
        let mut out = vec![];
        while let Some(ev) = r.next_event().unwrap() {
            out.push(format!("{:?}", ev.item));
            out.extend(ev.diagnostics.iter().map(|d| format!("{:?}", d.problem)));
        }
        out
    }

    /// Found by fuzzing: a header whose segment runs into the end of input left the recovery skipping
    /// one byte past the end of the window (slice index panic).
    #[test]
    fn repertoire_faults_are_found_far_into_a_clean_stretch() {
        for (syntax, bad) in [("UNOB", "caf\u{e9}"), ("UNOA", "lower")] {
            let mut text = format!("UNB+{syntax}:3+SENDER+RECEIVER+240101:1200+1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'");
            for i in 0..2000 {
                text.push_str(&format!("FTX+AAA+++LINE {i} OK'\n"));
            }
            text.push_str(&format!("FTX+AAA+++{bad}'UNT+2004+1'UNZ+1+1'"));
            let mut r = Reader::new(text.as_bytes());
            let mut found = vec![];
            while let Some(ev) = r.next_event().unwrap() {
                found.extend(ev.diagnostics.iter().filter(|d| d.problem == Problem::InvalidCharacterSet).map(|d| d.location.segment_number));
            }
            assert_eq!(found, [2003], "{syntax}");
        }
    }

    #[test]
    fn printable_check_is_exact() {
        for b in 0..=255u8 {
            let mut bytes = *b"ABCDEFGHIJKLMNOPQ";
            for i in [0, 7, 8, 16] {
                bytes[i] = b;
                assert_eq!(all_printable_ascii(&bytes), (0x20..0x7f).contains(&b), "byte {b} at {i}");
                bytes[i] = b'A';
            }
        }
    }

    #[test]
    fn header_cut_off_by_end_of_input_is_unreadable() {
        let ev = drain(b"UNA:+.? '\nUNB+UNB+");
        assert!(ev.iter().any(|e| e.starts_with("Unreadable")), "{ev:?}");
        let ev = drain(b"UNB+UNOA:3+X+Y+240101:1200+1");
        assert!(ev.iter().any(|e| e.starts_with("Unreadable")), "{ev:?}");
    }
}
