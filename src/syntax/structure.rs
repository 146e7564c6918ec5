//! Structure validation of one transaction set or message against its [`DocumentSpec`]: segment order,
//! loops and repeats, mandatory segments, element types, lengths and codes, syntax rules, hierarchies.
//!
//! The walk keeps a stack of open loops. Each segment is looked for forward from the current position of
//! the innermost loop, then of each enclosing loop; a loop's first segment (its trigger) found again starts
//! a new iteration. A segment that cannot be placed is reported and skipped without changing the state,
//! so one stray segment gives one error, not a cascade.

use super::diag::{Diagnostic, Location, Problem};
use super::envelope::Standard;
use super::reader::{all_printable_ascii, unprintable_mask, TransactionSet};
use super::segment::{byte_mask, find_byte, nth_part, Element, Segment};
use super::spec::{CompositeDef, Dictionary, DocumentSpec, ElementDef, Entry, EntryKind, LoopNode, Node, SegmentDef, Usage, tag_bit};
use super::types::{self, DataType};
use std::collections::HashMap;

#[derive(Clone, Copy)]
struct Frame<'s> {
    node: &'s LoopNode,
    /// The loop instance this frame is filling, in [`Tree`].
    inst: u32,
    /// Index of the current child.
    idx: usize,
    /// Uses of the current child (segment repeats or loop iterations); 0 before the first.
    count: u32,
}

/// Reusable validator (keeps its buffers between sets).
#[derive(Default)]
pub struct Validator {
    hl_levels: HierarchyIds,
    tree: Tree,
    rules: RulesMemo,
    /// Where the quick check found each segment's element separators (kept: zeroing it per
    /// segment was 16 instructions).
    ends: Vec<u32>,
    /// Record each set's [`Tree`] (segment owners, tags, element spans) for the mappings.
    record: bool,
    /// Check every segment the long way, describing as it goes (tests compare this with the
    /// usual quick decision that a segment is fine).
    #[cfg(test)]
    in_full: bool,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// A validator that also records each set's [`Tree`] (about a tenth more work per set).
    pub fn recording() -> Self {
        Validator { record: true, ..Self::default() }
    }

    /// The loop instances of the set last validated.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Validates every segment of `set` against `doc`, appending problems to `out`.
    pub fn validate(
        &mut self,
        set: &TransactionSet<'_>,
        dict: &Dictionary,
        doc: &DocumentSpec,
        out: &mut Vec<Diagnostic>,
    ) {
        self.hl_levels.clear();
        self.rules.clear();
        self.ends.resize(MAX_QUICK, 0);
        self.tree.clear(set.len());
        let mut stack: Vec<Frame<'_>> =
            vec![Frame { node: &doc.root, idx: 0, count: 0, inst: 0 }];
        let mut last_offset = 0;
        for (i, seg) in set.segments().enumerate() {
            let number = i as u32 + 1;
            last_offset = seg.offset();
            let t = seg.tag();
            if self.record {
                self.tree.tags.push(t);
                self.tree.elem_start[i] = self.tree.elems.len() as u32;
            }
            let before = out.len();
            let later = |tag: u32| set.segments().skip(i + 1).any(|s| s.tag() == tag);
            let placed = place(&mut stack, t, &seg, number, &later, &mut self.tree, out);
            if placed.is_some() && self.record {
                self.tree.owner[i] = stack.last().expect("root").inst;
            }
            match placed {
                Some(def) => {
                    let sdef = &dict.segments[def];
                    let spans = if self.record { Some(&mut self.tree.elems) } else { None };
                    #[cfg(test)]
                    let in_full = self.in_full;
                    #[cfg(not(test))]
                    let in_full = false;
                    if in_full {
                        check_elements_in_full(dict, sdef, &seg, number, doc.standard, spans, out);
                    } else if check_elements(dict, sdef, &seg, number, doc.standard, spans, &mut self.rules, &mut self.ends, out) && self.record {
                        self.tree.plain[i] = true;
                    }
                    if t == doc.hierarchy_tag && t != 0 {
                        // Recording, the segment's element spans are the last ones pushed.
                        let spans = self.record.then(|| self.tree.elem_start[i] as usize);
                        self.check_hierarchy(doc, &seg, number, spans, out);
                    }
                }
                None => {
                    let id = seg.id();
                    let problem = if dict.segment_by_tag(t).is_none() {
                        Problem::UnrecognizedSegment
                    } else if !doc.tags.contains(&t) {
                        Problem::SegmentNotInSet
                    } else {
                        Problem::SegmentOutOfSequence
                    };
                    let what = match problem {
                        Problem::UnrecognizedSegment => "is not a segment of this version".to_string(),
                        Problem::SegmentNotInSet => format!("is not used in {} {}", doc.id, doc.name),
                        _ => format!("is not allowed here: {}", expected_here(&stack)),
                    };
                    out.push(Diagnostic::error(
                        problem,
                        Location::segment(seg.offset(), number, id),
                        format!("segment {} {what}", seg.id_str()),
                    ));
                }
            }
            // Name the loop the segment sits in (AK303/IK303) on what was found about it.
            let loop_name = &stack.last().expect("root").node.name;
            if !loop_name.is_empty() {
                for d in out[before..].iter_mut().filter(|d| d.location.loop_id.is_none() && d.location.offset == seg.offset()) {
                    d.location.loop_id = Some(loop_name.clone());
                }
            }
        }
        // Whatever is still open must have its mandatory parts.
        let n = set.len() as u32;
        while let Some(f) = stack.pop() {
            missing_after(&f, f.node.children.len(), last_offset, n, out);
        }
        // Segments that were not placed have no spans: their range is empty.
        if self.record {
            let total = self.tree.elems.len() as u32;
            if let Some(last) = self.tree.elem_start.last_mut() {
                *last = total;
            }
            self.tree.finish();
        }
    }

    /// HL / CPS: ids unique, parents exist and are of an allowed level.
    /// `spans`: where the segment's element spans start in the tree, when they were recorded.
    /// Out of line: inlined, it took registers from the loop every segment goes through.
    #[inline(never)]
    fn check_hierarchy(&mut self, doc: &DocumentSpec, seg: &Segment<'_>, number: u32, spans: Option<usize>, out: &mut Vec<Diagnostic>) {
        let Some(h) = &doc.hierarchy else { return };
        // The three elements (0 is no element: the level is optional): from the spans when
        // recorded, else in one pass over the elements.
        let positions = [h.id, h.parent, h.level.unwrap_or(0)];
        let [id, parent, level] = match spans {
            Some(from) => {
                let spans = &self.tree.elems[from..];
                let bytes = seg.as_bytes();
                positions.map(|p| p.checked_sub(1).and_then(|k| spans.get(k)).map_or(&b""[..], |&(o, l)| &bytes[o as usize..(o + l) as usize]))
            }
            None => seg.get_each(positions),
        };
        let loc = |e: usize| Location::segment(seg.offset(), number, seg.id()).with_element(e as u16);
        // The segment's id as text, for messages only.
        let sid = || seg.id_str();
        let inst = self.tree.instances.len() as u32 - 1;
        if self.hl_levels.get(id).is_some() {
            out.push(
                Diagnostic::error(Problem::InvalidHierarchy, loc(h.id), format!("{}{:02} id {:?} is used twice", sid(), h.id, lossy(id)))
                    .with_value(id),
            );
        }
        let parent_level = if parent.is_empty() {
            Some(LevelCode { bytes: [0; 4], len: 0, inst: NONE })
        } else {
            match self.hl_levels.get(parent) {
                Some(l) => {
                    // The mapping sees the hierarchy nested: this level under its parent's instance.
                    let this = &mut self.tree.instances[inst as usize];
                    if this.first + 1 == number && l.inst != NONE {
                        this.parent = l.inst;
                    }
                    Some(l)
                }
                None => {
                    out.push(
                        Diagnostic::error(
                            Problem::InvalidHierarchy,
                            loc(h.parent),
                            format!("{sid}{:02} parent {:?} is not the id of an earlier {sid}", h.parent, lossy(parent), sid = sid()),
                        )
                        .with_value(parent),
                    );
                    None
                }
            }
        };
        if let (Some(pl), Some(lpos)) = (parent_level, h.level) {
            let pl = pl.as_bytes();
            if h.allows(level, pl) == Some(false) {
                if let Some(allowed) = h.parents.get(lossy(level).as_str()) {
                    let shown = if pl.is_empty() { "the top level".to_string() } else { format!("level {:?}", lossy(pl)) };
                    out.push(
                        Diagnostic::error(
                            Problem::InvalidHierarchy,
                            loc(lpos),
                            format!(
                                "{} level {:?} cannot sit under {shown}; its parent must be {}",
                                sid(),
                                lossy(level),
                                allowed.iter().map(|a| if a.is_empty() { "top level".to_string() } else { a.clone() }).collect::<Vec<_>>().join(" or ")
                            ),
                        )
                        .with_value(level),
                    );
                }
            }
        }
        let own = if self.tree.instances[inst as usize].first + 1 == number { inst } else { NONE };
        self.hl_levels.insert(id, level, own);
    }
}

/// The ids of a set's hierarchy (HL01, CPS01) with their level codes. Ids are nearly always 1, 2, 3, ...:
/// those index a vector; any other id goes to a map. No allocation per segment either way once warm.
#[derive(Default)]
struct HierarchyIds {
    numbered: Vec<Option<LevelCode>>,
    named: HashMap<Vec<u8>, LevelCode>,
}

/// A level code (735 is 1 or 2 characters; longer ones, already reported as too long, are cut to 4).
#[derive(Clone, Copy)]
struct LevelCode {
    bytes: [u8; 4],
    len: u8,
    /// The loop instance the level's segment opened ([`NONE`] when it opened none).
    inst: u32,
}

impl LevelCode {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl HierarchyIds {
    /// `Some(n)` for a plain number without leading zeros ("01" and "1" are different ids).
    fn number(id: &[u8]) -> Option<usize> {
        if id.is_empty() || id.len() > 6 || id[0] == b'0' || !id.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(id.iter().fold(0, |n, &d| n * 10 + usize::from(d - b'0')))
    }

    fn clear(&mut self) {
        self.numbered.clear();
        self.named.clear();
    }

    fn get(&self, id: &[u8]) -> Option<LevelCode> {
        match Self::number(id) {
            Some(n) => self.numbered.get(n).copied().flatten(),
            None => self.named.get(id).copied(),
        }
    }

    fn insert(&mut self, id: &[u8], level: &[u8], inst: u32) {
        let len = level.len().min(4);
        let mut code = LevelCode { bytes: [0; 4], len: len as u8, inst };
        for (d, s) in code.bytes.iter_mut().zip(level) {
            *d = *s;
        }
        match Self::number(id) {
            Some(n) => {
                if self.numbered.len() <= n {
                    self.numbered.resize(n + 1, None);
                }
                self.numbered[n] = Some(code);
            }
            None => {
                self.named.insert(id.to_vec(), code);
            }
        }
    }
}

/// No instance.
pub const NONE: u32 = u32::MAX;

/// The loop instances of one set as the validator placed its segments: the shape mappings walk.
///
/// Instance 0 is the set itself. Each later instance is one iteration of a loop, with its parent; a
/// hierarchy (856 HL, DESADV CPS) is nested by its parent ids, so an order's HL sits under its
/// shipment's. Segments that could not be placed belong to no instance.
#[derive(Debug, Default)]
pub struct Tree {
    instances: Vec<Instance>,
    owner: Vec<u32>,
    /// Each segment's tag ([`crate::syntax::segment::tag`]), so walks compare numbers.
    tags: Vec<u32>,
    /// Whether the quick element check passed the segment: printable ASCII, no release characters.
    plain: Vec<bool>,
    /// Each placed segment's elements as (offset in the segment, length): `elems[elem_start[i]..elem_start[i + 1]]`.
    elem_start: Vec<u32>,
    elems: Vec<(u32, u32)>,
    /// Children and segments of each instance, in order (offsets into `children` / `segs`).
    child_start: Vec<u32>,
    children: Vec<u32>,
    seg_start: Vec<u32>,
    segs: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
pub struct Instance {
    /// The loop's name packed by [`name_key`] (`N1`, `HL`, `SG2`).
    pub name: u64,
    pub parent: u32,
    /// Index of the loop's first segment in the set.
    pub first: u32,
}

/// A loop name (up to 8 bytes) as one comparable number.
pub fn name_key(name: &str) -> u64 {
    name.bytes().take(8).fold(0u64, |k, b| (k << 8) | u64::from(b))
}

impl Tree {
    fn clear(&mut self, segments: usize) {
        self.instances.clear();
        self.instances.push(Instance { name: 0, parent: NONE, first: 0 });
        self.owner.clear();
        self.owner.resize(segments, NONE);
        self.tags.clear();
        self.tags.reserve(segments);
        self.plain.clear();
        self.plain.resize(segments, false);
        self.elems.clear();
        self.elem_start.clear();
        self.elem_start.resize(segments + 1, 0);
    }

    fn open(&mut self, node: &LoopNode, parent: u32, first: u32) -> u32 {
        self.instances.push(Instance { name: name_key(&node.name), parent, first });
        self.instances.len() as u32 - 1
    }

    /// Builds the child and segment lists (a counting sort each).
    fn finish(&mut self) {
        let n = self.instances.len();
        fill_csr(n, self.instances.iter().skip(1).map(|i| i.parent), &mut self.child_start, &mut self.children, 1);
        fill_csr(n, self.owner.iter().copied(), &mut self.seg_start, &mut self.segs, 0);
    }

    pub fn instance(&self, i: u32) -> &Instance {
        &self.instances[i as usize]
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The loop instances directly inside instance `i`, in order.
    #[inline]
    pub fn children(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.children[self.child_start[i] as usize..self.child_start[i + 1] as usize]
    }

    /// Indexes of the segments directly inside instance `i` (not in its child loops), in order.
    #[inline]
    pub fn segments(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.segs[self.seg_start[i] as usize..self.seg_start[i + 1] as usize]
    }

    /// The tag of segment `segment` of the set.
    #[inline]
    pub fn tag(&self, segment: u32) -> u32 {
        self.tags[segment as usize]
    }

    /// Whether segment `segment` is known to be printable ASCII without release characters.
    #[inline]
    pub fn plain(&self, segment: u32) -> bool {
        self.plain.get(segment as usize).copied().unwrap_or(false)
    }

    /// The elements of a placed segment as (offset in the segment's bytes, length); empty for a
    /// segment that could not be placed.
    #[inline]
    pub fn element_spans(&self, segment: u32) -> &[(u32, u32)] {
        let i = segment as usize;
        &self.elems[self.elem_start[i] as usize..self.elem_start[i + 1] as usize]
    }

    /// The instance a segment was placed in.
    pub fn owner(&self, segment: usize) -> u32 {
        self.owner.get(segment).copied().unwrap_or(NONE)
    }
}

/// Groups `items` (the key of each; `NONE` skipped) by key into `start`/`out`: the items of key k are
/// `out[start[k]..start[k + 1]]`, as indexes (plus `base`) in their original order.
fn fill_csr(keys: usize, items: impl Iterator<Item = u32> + Clone, start: &mut Vec<u32>, out: &mut Vec<u32>, base: u32) {
    start.clear();
    start.resize(keys + 1, 0);
    for k in items.clone().filter(|&k| k != NONE) {
        start[k as usize + 1] += 1;
    }
    for k in 0..keys {
        start[k + 1] += start[k];
    }
    out.clear();
    out.resize(start[keys] as usize, 0);
    let mut next = start.clone();
    for (i, k) in items.enumerate() {
        if k != NONE {
            out[next[k as usize] as usize] = i as u32 + base;
            next[k as usize] += 1;
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What could come next, for the error message.
fn expected_here(stack: &[Frame<'_>]) -> String {
    let f = stack.last().expect("root");
    let from = if f.count == 0 { f.idx } else { f.idx + 1 };
    let next: Vec<&str> = f.node.children[from.min(f.node.children.len())..].iter().take(4).map(|c| c.id()).collect();
    if next.is_empty() {
        "the enclosing loop ends here".to_string()
    } else {
        format!("expected one of {} or the end of the loop", next.join(", "))
    }
}

/// Finds where segment tag `t` belongs, updates the stack and returns its dictionary index.
///
/// When placing the segment at the top level would skip a mandatory segment that comes later in the set,
/// the segment itself is out of sequence (CNT before UNS), and nothing is skipped.
fn place(
    stack: &mut Vec<Frame<'_>>,
    t: u32,
    seg: &Segment<'_>,
    number: u32,
    later: &dyn Fn(u32) -> bool,
    tree: &mut Tree,
    out: &mut Vec<Diagnostic>,
) -> Option<usize> {
    let mut found = None;
    'levels: for level in (0..stack.len()).rev() {
        let f = &stack[level];
        // Inside a loop, its trigger (child 0) found again means a new iteration, decided one level up.
        let from = if level > 0 { f.idx.max(1) } else { f.idx };
        if from > 0 && f.node.later & tag_bit(t) == 0 {
            continue;
        }
        if let Some(k) = find_trigger(&f.node.triggers, from, t) {
            found = Some((level, k));
            break 'levels;
        }
    }
    let (level, j) = found?;
    if level == 0 {
        let f = &stack[0];
        let from = if f.count == 0 { f.idx } else { f.idx + 1 };
        let skips_later = f.node.children[from.min(j)..j]
            .iter()
            .any(|c| c.usage() == Usage::Mandatory && later(c.trigger()));
        if skips_later {
            return None;
        }
    }
    while stack.len() > level + 1 {
        let f = stack.pop().expect("frame");
        missing_after(&f, f.node.children.len(), seg.offset(), number, out);
    }
    let f = stack.last_mut().expect("frame");
    if j == f.idx && f.count > 0 {
        f.count += 1;
    } else {
        missing_after(f, j, seg.offset(), number, out);
        f.idx = j;
        f.count = 1;
    }
    let (count, child) = (f.count, &f.node.children[j]);
    if count > child.max() {
        let (problem, what) = match child {
            Node::Segment(_) => (Problem::SegmentOverMax, "segment"),
            Node::Loop(_) => (Problem::LoopOverMax, "loop"),
        };
        out.push(Diagnostic::error(
            problem,
            Location::segment(seg.offset(), number, seg.id()),
            format!("{what} {} occurs {count} times here; at most {} allowed", child.id(), child.max()),
        ));
    }
    match child {
        Node::Segment(s) => Some(s.def),
        Node::Loop(l) => {
            let parent = stack.last().expect("frame").inst;
            let inst = tree.open(l, parent, number - 1);
            stack.push(Frame { node: l, idx: 0, count: 1, inst });
            match &l.children[0] {
                Node::Segment(s) => Some(s.def),
                Node::Loop(_) => None,
            }
        }
    }
}

/// The first child at or after `from` whose trigger is `t`: the next few one by one (most
/// segments are near the last), then eight a step.
#[inline]
fn find_trigger(triggers: &[u32], from: usize, t: u32) -> Option<usize> {
    let rest = triggers.get(from..)?;
    let near = rest.len().min(4);
    if let Some(k) = rest[..near].iter().position(|&x| x == t) {
        return Some(from + k);
    }
    let mut chunks = rest[near..].chunks_exact(8);
    let mut at = from + near;
    for chunk in &mut chunks {
        let chunk: &[u32; 8] = chunk.try_into().expect("eight");
        let mut hits = 0u32;
        for (i, &x) in chunk.iter().enumerate() {
            hits |= u32::from(x == t) << i;
        }
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&x| x == t).map(|k| at + k)
}

/// Reports mandatory children of `f` after its current position and before `until`.
#[inline]
fn missing_after(f: &Frame<'_>, until: usize, offset: u64, number: u32, out: &mut Vec<Diagnostic>) {
    let from = if f.count == 0 { f.idx } else { f.idx + 1 };
    // Usually nothing mandatory lies between: one look at the bits.
    if from >= until || (from < 64 && f.node.mandatory_bits & (u64::MAX << from) & (u64::MAX >> (64 - until.min(64))) == 0) {
        return;
    }
    for &k in f.node.mandatory.iter().filter(|&&k| k >= from && k < until) {
        report_missing(f, k, offset, number, out);
    }
}

/// Mandatory child `k` of `f` is missing before segment `number`.
#[cold]
fn report_missing(f: &Frame<'_>, k: usize, offset: u64, number: u32, out: &mut Vec<Diagnostic>) {
    let c = &f.node.children[k];
    let (what, id) = match c {
        Node::Segment(s) => ("segment", s.id.as_str()),
        Node::Loop(l) => ("loop", l.name.as_str()),
    };
    let in_loop = if f.node.name.is_empty() { String::new() } else { format!(" in loop {}", f.node.name) };
    let mut loc = Location::segment(offset, number, c.id().as_bytes());
    loc.segment_id = c.id().to_string();
    out.push(Diagnostic::error(
        Problem::MandatorySegmentMissing,
        loc,
        format!("mandatory {what} {id}{in_loop} is missing before segment {number}"),
    ));
}

/// Checks each element of a segment against its definition. True when the quick check passed it
/// (then it is printable ASCII without release characters).
#[allow(clippy::too_many_arguments)]
fn check_elements(
    dict: &Dictionary,
    def: &SegmentDef,
    seg: &Segment<'_>,
    number: u32,
    standard: Standard,
    mut spans: Option<&mut Vec<(u32, u32)>>,
    rules: &mut RulesMemo,
    ends: &mut [u32],
    out: &mut Vec<Diagnostic>,
) -> bool {
    // Nearly every segment is fine: that is decided first, without building any message. Only a
    // segment with a problem (or release characters, or bytes outside printable ASCII) is walked
    // again below, where each problem is described.
    let before = spans.as_deref().map_or(0, Vec::len);
    if elements_fine(dict, def, seg, spans.as_deref_mut(), ends).is_some_and(|present| rules.hold(def, present)) {
        if standard == Standard::Edifact && def.id == "DTM" {
            check_edifact_date(seg, number, out);
        }
        return true;
    }
    if let Some(spans) = spans.as_deref_mut() {
        spans.truncate(before);
    }
    check_elements_in_full(dict, def, seg, number, standard, spans, out);
    false
}

/// The present elements of `seg` (bit `p - 1` for position `p`) when every element is valid by
/// `def` (the segment's syntax rules and the EDIFACT date check aside: [`RulesMemo::hold`] decides
/// the rules from the bits). Pushes the element spans as it goes. `None` when something is wrong
/// or the segment is not plain (release characters, bytes outside printable ASCII, repetitions):
/// then [`check_elements_in_full`] decides.
#[inline]
fn elements_fine(dict: &Dictionary, def: &SegmentDef, seg: &Segment<'_>, spans: Option<&mut Vec<(u32, u32)>>, ends: &mut [u32]) -> Option<u64> {
    let bytes = seg.as_bytes();
    if seg.is_escaped() {
        return None;
    }
    let d = seg.delimiters();
    let Some(body) = seg.body() else {
        return (def.required == 0 && all_printable_ascii(bytes)).then_some(0);
    };
    let base = bytes.len() - body.len();
    // The id matched the definition's tag, so an id of up to three bytes is the definition's own
    // (printable); only the separator after it is left to look at.
    let head_printable = if base <= 4 { (0x20..0x7f).contains(&d.element) } else { all_printable_ascii(&bytes[..base]) };
    if !head_printable {
        return None;
    }
    // One pass over the segment finds the element separators and tells whether any component or
    // repetition separator is there: without one no element is a composite, without the other
    // none repeats. The last place of `ends` is kept for the end of the segment (at most 63
    // elements here); more elements than the definition has are the full check's to report.
    let Marks { n, components, repetitions, printable } = marks(bytes, base, d, &mut ends[..MAX_QUICK - 1])?;
    if repetitions || !printable || n >= def.entries.len() {
        return None;
    }
    ends[n] = body.len() as u32;
    let ends = &ends[..=n];
    // X12 simple elements must not contain the component separator (EDIFACT's have a release
    // character to write one).
    let simple_has_no_component = d.release.is_none() && components;
    let mut present = 0u64;
    let mut from = 0usize;
    // Each element ends at a separator, the last at the end of the segment.
    for (i, (&end, entry)) in ends.iter().zip(&def.entries).enumerate() {
        let end = end as usize;
        let v = &body[from..end];
        from = end + 1;
        if v.is_empty() {
            if entry.usage == Usage::Mandatory {
                return None;
            }
            continue;
        }
        present |= 1 << i;
        let fine = match entry.kind {
            EntryKind::Element(e) => !(simple_has_no_component && find_byte(d.component, v).is_some()) && value_fine(&dict.elements[e], v, d.decimal),
            EntryKind::Composite(c) => composite_fine(dict, &dict.composites[c], v, d.component, d.decimal),
        };
        if !fine {
            return None;
        }
    }
    if let Some(spans) = spans {
        spans.reserve(ends.len());
        let mut from = 0u32;
        for &end in ends {
            spans.push((base as u32 + from, end - from));
            from = end + 1;
        }
    }
    // `n + 1` elements were given.
    (n + 1 >= def.required).then_some(present)
}

/// Whether segments' syntax rules hold, remembering per segment definition the last set of present
/// elements that passed: the segments of one kind in a set mostly give the same elements, and the
/// rules depend on nothing else. (Checking each rule was ~180 instructions per segment.)
/// Cleared for every set: within one set the dictionary is borrowed, so an address names one
/// definition.
#[derive(Default)]
struct RulesMemo {
    /// Direct-mapped by the definition's address: (address, present elements that passed).
    seen: Vec<(usize, u64)>,
}

impl RulesMemo {
    const SLOTS: usize = 64;

    fn clear(&mut self) {
        self.seen.clear();
        self.seen.resize(Self::SLOTS, (0, 0));
    }

    #[inline]
    fn hold(&mut self, def: &SegmentDef, present: u64) -> bool {
        if def.rules.is_empty() {
            return true;
        }
        let key = def as *const SegmentDef as usize;
        let slot = &mut self.seen[(key / std::mem::size_of::<SegmentDef>()) % Self::SLOTS];
        if *slot == (key, present) {
            return true;
        }
        let holds = def.rules.iter().all(|r| rule_holds(r, present));
        if holds {
            *slot = (key, present);
        }
        holds
    }
}

/// Element separators the quick check keeps track of in one segment (more: the full check).
const MAX_QUICK: usize = 64;

/// What one pass over a segment's elements found.
struct Marks {
    /// Element separators, their positions in `ends`.
    n: usize,
    components: bool,
    repetitions: bool,
    /// Every byte is printable ASCII.
    printable: bool,
}

/// Finds the element separators of the body `bytes[start..]` (into `ends`, from the body's start),
/// whether it has component or repetition separators, and whether all of it is printable ASCII,
/// eight bytes a step. `None` when there are more separators than `ends` holds.
#[inline]
fn marks(bytes: &[u8], start: usize, d: &super::segment::Delimiters, ends: &mut [u32]) -> Option<Marks> {
    const HI: u64 = 0x8080_8080_8080_8080;
    let body = &bytes[start..];
    let (mut n, mut comp, mut rep, mut odd) = (0usize, 0u64, 0u64, 0u64);
    let mut chunks = body.chunks_exact(8);
    let mut at = 0u32;
    let mut word = |w: u64, valid: u64, at: u32, n: &mut usize| -> Option<()> {
        let mut m = byte_mask(w, d.element) & valid;
        odd |= unprintable_mask(w) & valid;
        comp |= byte_mask(w, d.component) & valid;
        if let Some(r) = d.repetition {
            rep |= byte_mask(w, r) & valid;
        }
        while m != 0 {
            *ends.get_mut(*n)? = at + m.trailing_zeros() / 8;
            *n += 1;
            m &= m - 1;
        }
        Some(())
    };
    for chunk in &mut chunks {
        word(u64::from_le_bytes(chunk.try_into().expect("8 bytes")), HI, at, &mut n)?;
        at += 8;
    }
    let k = chunks.remainder().len();
    if k > 0 {
        // The last k bytes as the low bytes of one word: the segment's last eight bytes shifted
        // down (the id is in front of the body), or byte by byte for a segment shorter than that.
        let w = match bytes.len().checked_sub(8) {
            Some(from) => u64::from_le_bytes(bytes[from..].try_into().expect("8 bytes")) >> (8 * (8 - k)),
            None => chunks.remainder().iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b)),
        };
        // Only the low k bytes count: `byte_mask` is exact per byte, and `unprintable_mask`'s
        // carries and borrows run upwards, so the bytes above cannot change the low ones.
        word(w, HI >> (8 * (8 - k)), at, &mut n)?;
    }
    Some(Marks { n, components: comp != 0, repetitions: rep != 0, printable: odd == 0 })
}

/// The components of a composite (no release characters) valid by their entries.
#[inline]
fn composite_fine(dict: &Dictionary, def: &CompositeDef, v: &[u8], sep: u8, mark: u8) -> bool {
    let entries = &def.components;
    let mut k = 0;
    let mut from = 0;
    loop {
        let rest = &v[from..];
        let len = nth_part(rest, sep, 0).map_or(rest.len(), |(_, end)| end);
        let part = &rest[..len];
        let Some(entry) = entries.get(k) else { return false };
        if part.is_empty() {
            if entry.usage == Usage::Mandatory {
                return false;
            }
        } else if let EntryKind::Element(e) = entry.kind {
            if !value_fine(&dict.elements[e], part, mark) {
                return false;
            }
        }
        k += 1;
        from += len + 1;
        if from > v.len() {
            break;
        }
    }
    k >= def.required
}

/// A value (printable ASCII, no release characters) valid by its element definition: what
/// [`check_value`] accepts.
#[inline(always)]
fn value_fine(def: &ElementDef, v: &[u8], mark: u8) -> bool {
    let len = types::measured_len(def.data_type, v);
    if len < usize::from(def.min) || len > usize::from(def.max) || (def.has_codes() && !def.has_code(v)) {
        return false;
    }
    match def.data_type {
        DataType::Date => types::valid_date(v),
        DataType::Time => types::valid_time(v),
        DataType::Decimal => types::valid_decimal(v, b'.'),
        DataType::Number => types::valid_decimal(v, mark),
        DataType::Numeric(_) => types::valid_integer(v),
        DataType::Alpha => types::valid_alpha(v),
        DataType::Alphanumeric | DataType::Id => true,
    }
}

/// Whether a syntax rule holds over the present elements (bit `p - 1` for position `p`).
#[inline]
fn rule_holds(rule: &super::spec::Rule, present: u64) -> bool {
    let n = (present & rule.mask).count_ones();
    let total = rule.total;
    let first = present & rule.first != 0;
    match rule.kind {
        b'P' => n == 0 || n == total,
        b'R' => n > 0,
        b'E' => n <= 1,
        b'C' => !first || n == total,
        b'L' => !first || n > 1,
        _ => true,
    }
}

/// Checks each element of a segment against its definition, describing every problem.
fn check_elements_in_full(
    dict: &Dictionary,
    def: &SegmentDef,
    seg: &Segment<'_>,
    number: u32,
    standard: Standard,
    mut spans: Option<&mut Vec<(u32, u32)>>,
    out: &mut Vec<Diagnostic>,
) {
    let mut present: u64 = 0;
    let mut n = 0;
    let base = seg.as_bytes().as_ptr() as usize;
    // One screen of the whole segment (the reader's printable-ASCII test, 8 bytes a step): values
    // are searched one by one for control characters only when it fails (a control or non-ASCII
    // byte, or a control character as delimiter).
    let clean = all_printable_ascii(seg.as_bytes());
    for (i, el) in seg.elements().enumerate() {
        n = i + 1;
        // Where each element is, for the mappings that read this set after (no second split).
        if let Some(spans) = spans.as_deref_mut() {
            spans.push(((el.as_bytes().as_ptr() as usize - base) as u32, el.as_bytes().len() as u32));
        }
        let Some(entry) = def.entries.get(i) else {
            out.push(Diagnostic::error(
                Problem::TooManyElements,
                Location::segment(seg.offset(), number, seg.id()).with_element(n as u16),
                format!("{} has at most {} elements; element {n} is one too many", def.id, def.entries.len()),
            ));
            break;
        };
        if el.is_empty() {
            if entry.usage == Usage::Mandatory {
                out.push(missing(seg, number, n, None, dict, entry, def));
            }
            continue;
        }
        if i < 64 {
            present |= 1 << i;
        }
        let loc = || Location::segment(seg.offset(), number, seg.id()).with_element(n as u16);
        let reps = seg.delimiters().repetition.filter(|_| entry.repeat > 1 || standard == Standard::X12);
        if let (Some(_), true) = (reps, entry.repeat > 1) {
            let mut r = 0;
            for rep in el.repetitions() {
                r += 1;
                if r > entry.repeat {
                    out.push(Diagnostic::error(
                        Problem::TooManyRepetitions,
                        loc(),
                        format!("{}{n:02} repeats {r} times; at most {}", def.id, entry.repeat),
                    ));
                    break;
                }
                check_entry(dict, entry, rep, seg, number, n, clean, out);
            }
        } else {
            check_entry(dict, entry, el, seg, number, n, clean, out);
        }
    }
    for (i, entry) in def.entries.iter().enumerate().skip(n) {
        if entry.usage == Usage::Mandatory {
            out.push(missing(seg, number, i + 1, None, dict, entry, def));
        }
    }
    for rule in &def.rules {
        check_rule(rule, present, seg, number, def, out);
    }
    if standard == Standard::Edifact && def.id == "DTM" {
        check_edifact_date(seg, number, out);
    }
}

fn entry_name<'d>(dict: &'d Dictionary, entry: &Entry) -> (&'d str, &'d str) {
    match entry.kind {
        EntryKind::Element(i) => (&dict.elements[i].id, &dict.elements[i].name),
        EntryKind::Composite(i) => (&dict.composites[i].id, &dict.composites[i].name),
    }
}

fn missing(seg: &Segment<'_>, number: u32, pos: usize, comp: Option<usize>, dict: &Dictionary, entry: &Entry, def: &SegmentDef) -> Diagnostic {
    let (id, name) = entry_name(dict, entry);
    let at = match comp {
        Some(c) => format!("{}{pos:02}-{c}", def.id),
        None => format!("{}{pos:02}", def.id),
    };
    Diagnostic::error(
        Problem::MandatoryElementMissing,
        Location::segment(seg.offset(), number, seg.id()).with_element(pos as u16).with_component(comp.map(|c| c as u16)),
        format!("mandatory {at} ({id} {name}) is missing"),
    )
}

#[allow(clippy::too_many_arguments)]
fn check_entry(dict: &Dictionary, entry: &Entry, el: Element<'_>, seg: &Segment<'_>, number: u32, pos: usize, clean: bool, out: &mut Vec<Diagnostic>) {
    match entry.kind {
        EntryKind::Element(e) => {
            if seg.delimiters().release.is_none() && el.is_composite() {
                out.push(Diagnostic::error(
                    Problem::TooManyComponents,
                    Location::segment(seg.offset(), number, seg.id()).with_element(pos as u16),
                    format!("{}{pos:02} is a simple element but contains the component separator", lossy(seg.id())),
                ).with_value(el.as_bytes()));
                return;
            }
            check_value(dict, e, el, seg, number, pos, None, clean, out)
        }
        EntryKind::Composite(c) => {
            let comp = &dict.composites[c];
            let mut k = 0;
            for (ci, part) in el.components().enumerate() {
                k = ci + 1;
                let Some(centry) = comp.components.get(ci) else {
                    out.push(Diagnostic::error(
                        Problem::TooManyComponents,
                        Location::segment(seg.offset(), number, seg.id()).with_element(pos as u16).with_component(Some(k as u16)),
                        format!("composite {} has {} components; component {k} is one too many", comp.id, comp.components.len()),
                    ));
                    break;
                };
                if part.is_empty() {
                    if centry.usage == Usage::Mandatory {
                        out.push(component_missing(dict, centry, seg, number, pos, k));
                    }
                    continue;
                }
                if let EntryKind::Element(e) = centry.kind {
                    check_value(dict, e, part, seg, number, pos, Some(k), clean, out);
                }
            }
            for (ci, centry) in comp.components.iter().enumerate().skip(k) {
                if centry.usage == Usage::Mandatory {
                    out.push(component_missing(dict, centry, seg, number, pos, ci + 1));
                }
            }
        }
    }
}

fn component_missing(dict: &Dictionary, entry: &Entry, seg: &Segment<'_>, number: u32, pos: usize, comp: usize) -> Diagnostic {
    let (id, name) = entry_name(dict, entry);
    Diagnostic::error(
        Problem::MandatoryElementMissing,
        Location::segment(seg.offset(), number, seg.id()).with_element(pos as u16).with_component(Some(comp as u16)),
        format!("mandatory component {}{pos:02}-{comp} ({id} {name}) is missing", lossy(seg.id())),
    )
}

/// `clean`: the segment is printable ASCII, so it holds no control character.
#[allow(clippy::too_many_arguments)]
fn check_value(dict: &Dictionary, e: usize, el: Element<'_>, seg: &Segment<'_>, number: u32, pos: usize, comp: Option<usize>, clean: bool, out: &mut Vec<Diagnostic>) {
    let def = &dict.elements[e];
    let text;
    // Only a segment that had release characters can need unescaping (and X12 has none).
    let release = seg.delimiters().release.filter(|_| el.is_escaped());
    let v: &[u8] = if release.is_some_and(|r| el.as_bytes().contains(&r)) {
        text = el.text().into_owned();
        text.as_bytes()
    } else {
        el.as_bytes()
    };
    let len = types::measured_len(def.data_type, v);
    let decimal = seg.delimiters().decimal;
    // No standard's character set has control characters (NUL, BEL, ESC ...) in data.
    let control = if clean { None } else { v.iter().position(|&b| b < 0x20 || b == 0x7f) };
    let problem = if let Some(i) = control {
        Some((Problem::InvalidCharacter, format!("has the control character 0x{:02X} at character {}", v[i], i + 1)))
    } else if len < def.min as usize {
        Some((Problem::ElementTooShort, format!("is {len} characters; minimum {}", def.min)))
    } else if len > def.max as usize {
        Some((Problem::ElementTooLong, format!("is {len} characters; maximum {}", def.max)))
    } else {
        match def.data_type {
            // X12 ID elements, and EDIFACT coded elements (typed an/a/n in the directories).
            _ if def.has_codes() && !def.has_code(v) => {
                let codes: Vec<&str> = def.codes.iter().flat_map(|c| c.keys()).map(|s| s.as_str()).collect();
                let known = if codes.len() <= 24 { format!("expected one of {}", codes.join(", ")) } else { format!("list {} has {} codes", def.id, codes.len()) };
                Some((Problem::InvalidCode, format!("{:?} is not a code of {} ({known})", lossy(v), def.name)))
            }
            DataType::Date if !types::valid_date(v) => Some((Problem::InvalidDate, format!("{:?} is not a valid date (CCYYMMDD)", lossy(v)))),
            DataType::Time if !types::valid_time(v) => Some((Problem::InvalidTime, format!("{:?} is not a valid time (HHMM[SS])", lossy(v)))),
            DataType::Decimal if !types::valid_decimal(v, b'.') => Some((Problem::InvalidCharacter, format!("{:?} is not a decimal number", lossy(v)))),
            DataType::Number if !types::valid_decimal(v, decimal) => Some((Problem::InvalidCharacter, format!("{:?} is not a number", lossy(v)))),
            DataType::Numeric(_) if !types::valid_integer(v) => Some((Problem::InvalidCharacter, format!("{:?} is not a whole number", lossy(v)))),
            DataType::Alpha if !types::valid_alpha(v) => Some((Problem::InvalidCharacter, format!("{:?} must not contain digits", lossy(v)))),
            _ => None,
        }
    };
    if let Some((problem, why)) = problem {
        let partial = problem == Problem::InvalidCode && def.codes_partial;
        let at = match comp {
            Some(c) => format!("{}{pos:02}-{c}", lossy(seg.id())),
            None => format!("{}{pos:02}", lossy(seg.id())),
        };
        let loc = Location::segment(seg.offset(), number, seg.id()).with_element(pos as u16).with_component(comp.map(|c| c as u16));
        let d = if partial {
            Diagnostic::warning(problem, loc, format!("{at} ({} {}) {why}; edigate's list is partial, so this is only a warning: check the code, or add it under [codes.{}] in standards/", def.id, def.name, def.id))
        } else {
            Diagnostic::error(problem, loc, format!("{at} ({} {}) {why}", def.id, def.name))
        };
        out.push(d.with_value(v));
    }
}

/// X12 syntax notes: P, R, E, C, L over element presence.
fn check_rule(rule: &super::spec::Rule, present: u64, seg: &Segment<'_>, number: u32, def: &SegmentDef, out: &mut Vec<Diagnostic>) {
    let has = |p: u16| (1..=64).contains(&p) && present & (1 << (p - 1)) != 0;
    let n = (present & rule.mask).count_ones() as usize;
    let total = rule.positions.len();
    let first = has(rule.positions[0]);
    if rule_holds(rule, present) {
        return;
    }
    let names = || rule.positions.iter().map(|p| format!("{}{p:02}", def.id)).collect::<Vec<_>>().join(", ");
    let (problem, msg, at) = match rule.kind {
        b'P' if n != 0 && n != total => {
            let absent = rule.positions.iter().copied().find(|&p| !has(p)).unwrap_or(rule.positions[0]);
            (Problem::ConditionalElementMissing, format!("{}: if any of {} is present, all must be", rule.text, names()), absent)
        }
        b'R' if n == 0 => (Problem::ConditionalElementMissing, format!("{}: at least one of {} is required", rule.text, names()), rule.positions[0]),
        b'E' if n > 1 => {
            let second = rule.positions.iter().copied().filter(|&p| has(p)).nth(1).unwrap_or(rule.positions[0]);
            (Problem::ExclusionViolated, format!("{}: only one of {} may be present", rule.text, names()), second)
        }
        b'C' if first && n != total => {
            let absent = rule.positions.iter().copied().find(|&p| !has(p)).unwrap_or(rule.positions[0]);
            (Problem::ConditionalElementMissing, format!("{}: when {}{:02} is present, {} must be too", rule.text, def.id, rule.positions[0], names()), absent)
        }
        b'L' if first && n == 1 => (Problem::ConditionalElementMissing, format!("{}: when {}{:02} is present, at least one of the others in {} must be", rule.text, def.id, rule.positions[0], names()), rule.positions[1]),
        _ => return,
    };
    out.push(Diagnostic::error(problem, Location::segment(seg.offset(), number, seg.id()).with_element(at), msg));
}

/// EDIFACT DTM: the value in C507 must match its format qualifier (2379).
fn check_edifact_date(seg: &Segment<'_>, number: u32, out: &mut Vec<Diagnostic>) {
    let Some(c507) = seg.element(1) else { return };
    let (value, format) = if seg.is_escaped() {
        let part = |n| c507.component(n).map_or(&b""[..], |v| v.as_bytes());
        (part(2), part(3))
    } else {
        // Without release characters the separators are all there is to cut at: one pass.
        let mut parts = c507.as_bytes().split(|&b| b == seg.delimiters().component).skip(1);
        (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""))
    };
    if value.is_empty() {
        return;
    }
    let digits = value.iter().all(|b| b.is_ascii_digit());
    let ok = match format {
        b"102" => value.len() == 8 && types::valid_date(value),
        b"101" => value.len() == 6 && types::valid_date(value),
        b"203" => value.len() == 12 && digits && types::valid_date(&value[..8]) && types::valid_time(&value[8..]),
        b"204" => value.len() == 14 && digits && types::valid_date(&value[..8]) && types::valid_time(&value[8..]),
        b"718" => value.len() == 17 && types::valid_date(&value[..8]) && value[8] == b'-' && types::valid_date(&value[9..]),
        _ => true,
    };
    if !ok {
        out.push(
            Diagnostic::error(
                Problem::InvalidDate,
                Location::segment(seg.offset(), number, seg.id()).with_element(1).with_component(Some(2)),
                format!("DTM01-2 {:?} is not a valid date/time in format {}", lossy(value), lossy(format)),
            )
            .with_value(value),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::reader::{Item, Reader};
    use crate::syntax::validate::check_structure;

    /// The trigger search finds what a search one by one finds, near and far, at every start.
    #[test]
    fn trigger_search_finds_the_first_from_a_start() {
        let triggers: Vec<u32> = (0..40u32).map(|i| [7, 3, 9, 3, 1, 5][(i as usize * 7) % 6] + i / 13).collect();
        for from in 0..=triggers.len() + 1 {
            for t in 0..12 {
                let expected = triggers.get(from..).and_then(|ts| ts.iter().position(|&x| x == t)).map(|k| from + k);
                assert_eq!(find_trigger(&triggers, from, t), expected, "from {from}, tag {t}");
            }
        }
    }

    /// The quick decision that a segment is fine never lets through what the full check reports:
    /// every sample, with thousands of single-byte changes (separators, release characters,
    /// controls, non-ASCII, digits, letters, deletions), gets the same diagnostics both ways.
    #[test]
    fn quick_and_full_element_checks_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut files = vec![];
        for dir in ["x12/004010", "x12/005010", "edifact/D96A", "edifact/D01B"] {
            for f in std::fs::read_dir(root.join(dir)).expect("samples") {
                files.push(std::fs::read(f.expect("entry").path()).expect("sample"));
            }
        }
        assert!(files.len() >= 16, "{} samples", files.len());
        let bytes = b"0123456789AZaz.,-+ *:^>~?'\x01\x7f\xe9\xc3";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut compared = 0;
        for (n, file) in files.iter().enumerate() {
            for round in 0..400 {
                let mut data = file.clone();
                // The first round is the sample itself.
                if round > 0 {
                    // Past the interchange header, so that the sets are read.
                    let at = 120 + (next() as usize) % (data.len() - 120);
                    match next() % 8 {
                        0 => {
                            data.remove(at);
                        }
                        _ => data[at] = bytes[(next() as usize) % bytes.len()],
                    }
                }
                let (mut quick, mut full) = (Validator::recording(), Validator { in_full: true, ..Validator::recording() });
                // Not recording (hierarchy ids are then read without the spans): the same diagnostics.
                let mut unrecorded = Validator::new();
                let mut reader = Reader::new(&data[..]);
                while let Ok(Some(ev)) = reader.next_event() {
                    let Item::Set(set) = ev.item else { continue };
                    let (mut a, mut b, mut c) = (vec![], vec![], vec![]);
                    let checked = check_structure(&set, &mut quick, &mut a).is_some();
                    check_structure(&set, &mut full, &mut b);
                    check_structure(&set, &mut unrecorded, &mut c);
                    let text = |d: &[Diagnostic]| d.iter().map(|d| format!("{:?} {}", d.severity, d.message)).collect::<Vec<_>>();
                    assert_eq!(text(&a), text(&b), "sample {n}, round {round}");
                    assert_eq!(text(&a), text(&c), "sample {n}, round {round}: recording changes nothing");
                    if checked {
                        let spans = |v: &Validator| (0..set.len() as u32).map(|i| v.tree().element_spans(i).to_vec()).collect::<Vec<_>>();
                        assert_eq!(spans(&quick), spans(&full), "sample {n}, round {round}");
                        // What the mapping takes as text unchecked: printable ASCII, nothing escaped.
                        for i in 0..set.len() as u32 {
                            let seg = set.segment(i as usize);
                            let plain = !seg.is_escaped() && seg.as_bytes().iter().all(|b| (0x20..0x7f).contains(b));
                            assert!(plain || !quick.tree().plain(i), "sample {n}, round {round}: segment {} is not plain", i + 1);
                        }
                    }
                    compared += 1;
                }
            }
        }
        assert!(compared > 6000, "{compared} sets compared");
    }

    /// The rules memo only remembers elements that passed: a PO1 that breaks P0809 after PO1s
    /// that kept it (and a second one like it) are each reported, in one set and across sets.
    #[test]
    fn syntax_rules_are_checked_for_every_segment() {
        let sample = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/x12/004010/850-globex-three-lines.edi")).expect("sample");
        // Line 2 and line 3 lose PO109 (the vendor part number after its qualifier VP).
        let broken = sample.replace("*VP*GX-5120-B*", "*VP**").replace("*VP*GX-TP-0750*", "*VP**");
        assert_ne!(broken, sample);
        for data in [sample.clone(), broken.clone(), format!("{sample}{broken}")] {
            let report = crate::syntax::validate::validate(data.as_bytes(), Default::default()).expect("reading");
            let p0809 = report.all_diagnostics().filter(|(_, d)| d.message.contains("P0809")).count();
            let expected = data.matches("*VP**").count();
            assert_eq!(p0809, expected, "{:#?}", report.all_diagnostics().map(|(_, d)| &d.message).collect::<Vec<_>>());
        }
    }
}
