//! Inbound evaluation: a compiled mapping read over one transaction set, straight into the typed
//! canonical document.
//!
//! There is no intermediate tree: [`super::build`] asks for each field's value as it builds the typed
//! document, and values are handed over as borrowed slices of the input wherever no transformation
//! was needed. A value that does not fit its field (a date that is no date, a code with no
//! translation) fails with the canonical field, the segment and element it came from and the mapping
//! rule that read it.

use super::{As, Body, Entry, Inbound, Obj, Origin, RCond, RPath, RRead, Src, StepKind, Unmatched, ValueRule};
use super::plan::{Plan, Probe, ProbeRef, TagProbes};
use crate::syntax::spec::pack_code;
use super::path::Position;
use crate::model::{self, Document, Provenance};
use crate::syntax::reader::TransactionSet;
use crate::syntax::segment::{Element, Segment};
use crate::syntax::structure::Tree;
use crate::syntax::types::DataType;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// A value that could not become part of the canonical document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    /// The canonical field, `lines[2].quantity.value` (empty for the document itself).
    pub field: String,
    pub message: String,
    /// The EDI element the value came from.
    pub source: Option<Box<Hit>>,
    /// The mapping rule that read it.
    pub rule: Option<Origin>,
}

impl std::error::Error for MapError {}

/// Errors inside the evaluator are boxed: results then stay small on the hot path.
pub(super) type Fail = Box<MapError>;

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.field, self.message)?;
        }
        if let Some(h) = &self.source {
            write!(f, " (segment {} {}{} = {:?})", h.segment, h.id, h.position, h.value)?;
        }
        if let Some(o) = &self.rule {
            write!(f, " [rule at {o}]")?;
        }
        Ok(())
    }
}

impl MapError {
    pub(super) fn new(message: impl Into<String>) -> MapError {
        MapError { field: String::new(), message: message.into(), source: None, rule: None }
    }

    /// Prefixes the canonical field (errors bubble up from the leaf).
    pub(super) fn within(mut self, part: &str) -> MapError {
        self.field = if self.field.is_empty() {
            part.to_string()
        } else if self.field.starts_with('[') {
            format!("{part}{}", self.field)
        } else {
            format!("{part}.{}", self.field)
        };
        self
    }
}

impl de::Error for MapError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        MapError::new(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        MapError::new(format!("required field {field:?} is missing")).within(field)
    }
}

/// Where a canonical value came from: segment number (1 = ST/UNH), id, element position, raw value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    pub segment: u32,
    pub id: String,
    /// `03`, `02-1`.
    pub position: String,
    pub value: String,
}

/// One line of a mapping trace: a canonical field and what filled it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceLine {
    pub field: String,
    pub value: String,
    /// None for constants and defaults.
    pub source: Option<Hit>,
    /// The path or constant of the rule.
    pub rule: String,
    pub origin: String,
}

/// What a trace collected: every filled field, and every element read.
#[derive(Default, Debug)]
pub struct Trace {
    pub lines: Vec<TraceLine>,
    /// (segment index, element, component) of every element a rule read or tested.
    pub used: Vec<(u32, u16, Option<u16>)>,
    stack: Vec<String>,
}

/// Evaluation context of one set.
pub(crate) struct Cx<'x> {
    set: &'x TransactionSet<'x>,
    tree: &'x Tree,
    trace: Option<RefCell<Trace>>,
    /// The filled probes of the scope roots being evaluated ([`super::plan`]).
    planned: RefCell<Planned<'x>>,
    /// What absolute paths that are not planned (`/HL[03=S]/TD101`) found, by the path's address:
    /// the same in every scope, so walked once per set.
    absolute: RefCell<Vec<(*const RPath, Option<Found<'x>>)>>,
}

/// The probes' slots of the scope roots being evaluated, innermost last, and per scope root its
/// scope and where its slots start (one cell: a rule's value is one borrow).
#[derive(Default)]
struct Planned<'x> {
    slots: Vec<Option<Found<'x>>>,
    frames: Vec<(Scope, u32)>,
}

/// An element found by a read: its segment, the element, and where in the segment it is.
type Found<'x> = (u32, Element<'x>, Position);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Inst(u32),
    Seg(u32),
}

/// A value ready for the document, with where it came from.
#[derive(Debug)]
pub(crate) struct Got<'x> {
    pub(super) leaf: Leaf<'x>,
    hit: Option<(u32, Position)>,
    rule: &'x ValueRule,
}

#[derive(Debug)]
pub(super) enum Leaf<'x> {
    Text(Cow<'x, str>),
    /// A value edigate wrote (a date, a time, a number with its decimals placed).
    Small(Small),
    /// Boxed: rare, and it would triple the size of every value moved through the evaluator.
    DateTime(Box<DateTimeLeaf<'x>>),
}

#[derive(Debug)]
pub(super) struct DateTimeLeaf<'x> {
    pub(super) date: Small,
    pub(super) time: Option<Small>,
    pub(super) zone: Option<Cow<'x, str>>,
}

impl<'x> Leaf<'x> {
    fn as_text(&self) -> String {
        match self {
            Leaf::Text(t) => t.to_string(),
            Leaf::Small(t) => t.as_str().to_string(),
            Leaf::DateTime(dt) => {
                let DateTimeLeaf { date, time, zone } = &**dt;
                let mut s = date.as_str().to_string();
                if let Some(t) = time {
                    s.push('T');
                    s.push_str(t.as_str());
                }
                if let Some(z) = zone {
                    s.push(' ');
                    s.push_str(z);
                }
                s
            }
        }
    }
}

/// Short ASCII text written by edigate, kept inline (no allocation): ISO dates and times, decimals.
#[derive(Clone, Copy)]
pub(super) struct Small {
    buf: [u8; 30],
    len: u8,
}

impl Small {
    fn new() -> Small {
        Small { buf: [0; 30], len: 0 }
    }

    fn push(&mut self, s: &[u8]) -> Result<(), String> {
        let end = usize::from(self.len) + s.len();
        let Some(dst) = self.buf.get_mut(usize::from(self.len)..end) else {
            return Err(format!("{:?} is too long for a number", String::from_utf8_lossy(s)));
        };
        dst.copy_from_slice(s);
        self.len = end as u8;
        Ok(())
    }

    pub(super) fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Small {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Small {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Translates one set with a compiled inbound mapping.
pub fn translate(map: &Inbound, set: &TransactionSet<'_>, tree: &Tree, provenance: &Provenance) -> Result<Document, MapError> {
    let cx = Cx { set, tree, trace: None, planned: RefCell::default(), absolute: RefCell::default() };
    cx.document(map, provenance)
}

/// Translates one set and records, for every canonical field, the element that filled it.
///
/// Traced evaluation walks every path (no plan), so `used` lists exactly what the rules read.
pub fn translate_traced(map: &Inbound, set: &TransactionSet<'_>, tree: &Tree, provenance: &Provenance) -> (Result<Document, MapError>, Trace) {
    let cx = Cx { set, tree, trace: Some(RefCell::new(Trace::default())), planned: RefCell::default(), absolute: RefCell::default() };
    let doc = cx.document(map, provenance);
    (doc, cx.trace.expect("tracing").into_inner())
}

impl<'x> Cx<'x> {
    /// Element or component `at` of segment `seg`, where the validator found it.
    #[inline]
    fn element_at(&self, seg: u32, at: Position) -> Option<Element<'x>> {
        element_in(&self.seg(seg), self.tree.element_spans(seg), at)
    }

    fn document(&self, map: &'x Inbound, provenance: &'x Provenance) -> Result<Document, MapError> {
        use super::build::document as doc;
        use super::DocKind::*;
        let (root, p) = (&map.root, provenance);
        Ok(match map.kind {
            PurchaseOrder => Document::PurchaseOrder(doc(self, root, p, |d: &mut model::PurchaseOrder, p| d.provenance = p)?),
            OrderConfirmation => Document::OrderConfirmation(doc(self, root, p, |d: &mut model::OrderConfirmation, p| d.provenance = p)?),
            ShipNotice => Document::ShipNotice(doc(self, root, p, |d: &mut model::ShipNotice, p| d.provenance = p)?),
            Invoice => Document::Invoice(doc(self, root, p, |d: &mut model::Invoice, p| d.provenance = p)?),
        })
    }

    /// Segment `i`, marked plain when the validator's quick check found it so.
    #[inline]
    fn seg(&self, i: u32) -> Segment<'x> {
        let s = self.set.segment(i as usize);
        if self.tree.plain(i) {
            s.known_plain()
        } else {
            s
        }
    }

    /// Starts evaluating a scope root: fills its plan's slots in one pass over the scope's segments.
    /// False when nothing was entered (tracing, or a segment scope), and then every path is walked.
    pub(super) fn enter(&self, plan: &Plan, scope: Scope) -> bool {
        let Scope::Inst(i) = scope else { return false };
        if self.trace.is_some() {
            return false;
        }
        let mut planned = self.planned.borrow_mut();
        let Planned { slots, frames } = &mut *planned;
        let base = slots.len();
        slots.resize(base + plan.probes.len(), None);
        let slots = &mut slots[base..];
        // Bit g: group g has probed a segment in this scope (until then its slots are empty).
        let mut probed = 0u64;
        if !plan.by_tag.is_empty() {
            for &seg in self.tree.segments(i) {
                let tag = self.tree.tag(seg);
                if let Some(g) = plan.by_tag.iter().position(|t| t.tag == tag) {
                    self.probe(plan, &plan.by_tag[g], seg, slots, first_time(&mut probed, g));
                }
            }
        }
        if !plan.by_loop.is_empty() {
            probed = 0;
            for &c in self.tree.children(i) {
                let inst = self.tree.instance(c);
                let tag = self.tree.tag(inst.first);
                if let Some(g) = plan.by_loop.iter().position(|(k, t, _)| *k == inst.name && *t == tag) {
                    self.probe(plan, &plan.by_loop[g].2, inst.first, slots, first_time(&mut probed, g));
                }
            }
        }
        frames.push((scope, base as u32));
        true
    }

    /// Fills the still empty slots of `probes` that segment `seg` answers (`fresh`: all of them
    /// are empty, no segment of the tag came before).
    fn probe(&self, plan: &Plan, probes: &TagProbes, seg: u32, slots: &mut [Option<Found<'x>>], fresh: bool) {
        // The segment and its element spans once for all its probes.
        let s = self.seg(seg);
        let bytes = s.as_bytes();
        let spans = self.tree.element_spans(seg);
        let mut view = SegView::new(s, spans);
        for &k in &probes.each {
            let slot = &mut slots[usize::from(k)];
            if slot.is_some() {
                continue;
            }
            let p = &plan.probes[usize::from(k)];
            let holds = p.conds.iter().all(|c| c.test.accepts(view.value_at(c.at)));
            if !holds {
                continue;
            }
            self.read_into(p, &mut view, seg, slot);
        }
        for group in &probes.keyed {
            // The first condition of each probe here: one of its codes at `group.at`.
            let Some(code) = pack_code(view.value_at(group.at)) else { continue };
            for &(_, k) in group.naming(code) {
                let slot = &mut slots[usize::from(k)];
                if slot.is_some() {
                    continue;
                }
                let p = &plan.probes[usize::from(k)];
                if p.conds[1..].iter().all(|c| c.test.accepts(view.value_at(c.at))) {
                    self.read_into(p, &mut view, seg, slot);
                }
            }
        }
        for scan in &probes.pairs {
            // Bit n: probe n of the scan is answered (filled before, or its qualifier seen here:
            // the first pair with the qualifier decides, as in `read`).
            let mut done = 0u64;
            if !fresh {
                for (n, &k) in scan.probes.iter().enumerate() {
                    if slots[usize::from(k)].is_some() {
                        done |= 1 << n;
                    }
                }
            }
            let all = if scan.probes.len() == 64 { u64::MAX } else { (1u64 << scan.probes.len()) - 1 };
            let mut q = usize::from(scan.first);
            while done != all && q < usize::from(scan.last) && q < spans.len() {
                let (o, l) = spans[q - 1];
                if let Some(c) = pack_code(trim_bytes(&bytes[o as usize..(o + l) as usize])) {
                    // Each probe of the scan asks for its own qualifier: at most one is this one.
                    if let Some(n) = scan.codes.iter().position(|&want| want == c) {
                        if done & (1 << n) == 0 {
                            done |= 1 << n;
                            let el = s.element_span(spans[q].0, spans[q].1);
                            if !trim_bytes(el.as_bytes()).is_empty() {
                                slots[usize::from(scan.probes[n])] = Some((seg, el, Position { element: q as u16 + 1, component: None }));
                            }
                        }
                    }
                }
                q += 2;
            }
        }
    }

    /// Fills the empty `slot` with what probe `p` reads in `view` (segment `seg`), when that is
    /// a value (a value of spaces only is none).
    #[inline(always)]
    fn read_into(&self, p: &Probe, view: &mut SegView<'x>, seg: u32, slot: &mut Option<Found<'x>>) {
        match &p.read {
            RRead::Element { at, .. } => {
                // From the span, not a returned `Element`: that one was built on the stack and
                // copied, a load of what was just stored in pieces (a store-forwarding stall).
                if let Some((off, len)) = view.span(*at) {
                    if !trim_bytes(view.bytes(off, len)).is_empty() {
                        *slot = Some((seg, view.s.element_span(off, len), *at));
                    }
                }
            }
            read => *slot = self.read_apart(read, seg),
        }
    }

    /// A probe's read other than one element (pairs with conditions): out of the probing loop.
    #[inline(never)]
    fn read_apart(&self, read: &RRead, seg: u32) -> Option<Found<'x>> {
        self.read(read, seg).map(|(el, at)| (seg, el, at))
    }

    pub(super) fn leave(&self) {
        let mut planned = self.planned.borrow_mut();
        if let Some((_, base)) = planned.frames.pop() {
            planned.slots.truncate(base as usize);
        }
    }

    /// A planned path's value in `scope`, when its slot is filled for that scope: `Some(found)`.
    /// `None` when the path is not planned here (it is walked instead).
    #[inline]
    fn planned(&self, p: &RPath, scope: Scope) -> Option<Option<Found<'x>>> {
        let planned = self.planned.borrow();
        let i = slot_of(&planned.frames, p, scope)?;
        Some(planned.slots[i])
    }

    fn note_used(&self, seg: u32, at: Position) {
        if let Some(t) = &self.trace {
            t.borrow_mut().used.push((seg, at.element, at.component));
        }
    }

    fn cond_ok(&self, seg: u32, conds: &[RCond]) -> bool {
        if conds.is_empty() {
            return true;
        }
        conds.iter().all(|c| {
            self.note_used(seg, c.at);
            c.test.accepts(self.element_at(seg, c.at).map_or(&b""[..], |e| trim_bytes(e.as_bytes())))
        })
    }

    /// Calls `f` on each scope the path's steps reach from `scope`, in document order, until it
    /// returns true (then returns true).
    fn walk(&self, steps: &[super::RStep], scope: Scope, f: &mut dyn FnMut(Scope) -> bool) -> bool {
        let Some((step, rest)) = steps.split_first() else { return f(scope) };
        match (step.kind, scope) {
            (StepKind::This, Scope::Seg(s)) => self.cond_ok(s, &step.conds) && self.walk(rest, scope, f),
            (StepKind::Parent, Scope::Inst(i)) => {
                let p = self.tree.instance(i).parent;
                p != crate::syntax::structure::NONE && self.walk(rest, Scope::Inst(p), f)
            }
            (StepKind::Parent, Scope::Seg(s)) => {
                let p = self.tree.owner(s as usize);
                p != crate::syntax::structure::NONE && self.walk(rest, Scope::Inst(p), f)
            }
            (StepKind::Loop(key), Scope::Inst(i)) => {
                for &c in self.tree.children(i) {
                    let inst = self.tree.instance(c);
                    if inst.name == key && self.cond_ok(inst.first, &step.conds) && self.walk(rest, Scope::Inst(c), f) {
                        return true;
                    }
                }
                false
            }
            (StepKind::Segment(tag), Scope::Inst(i)) => {
                for &s in self.tree.segments(i) {
                    if self.tree.tag(s) == tag && self.cond_ok(s, &step.conds) && self.walk(rest, Scope::Seg(s), f) {
                        return true;
                    }
                }
                false
            }
            (StepKind::Trigger(key, tag), Scope::Inst(i)) => {
                for &c in self.tree.children(i) {
                    let inst = self.tree.instance(c);
                    if inst.name == key && self.tree.tag(inst.first) == tag && self.cond_ok(inst.first, &step.conds) && self.walk(rest, Scope::Seg(inst.first), f) {
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }

    fn start(&self, p: &RPath, scope: Scope) -> Scope {
        if p.absolute {
            Scope::Inst(0)
        } else {
            scope
        }
    }

    fn exists(&self, p: &RPath, scope: Scope) -> bool {
        if let Some(found) = self.planned(p, scope) {
            return found.is_some();
        }
        self.walk(&p.steps, self.start(p, scope), &mut |s| match (&p.read, s) {
            (RRead::Nothing, _) => true,
            (_, Scope::Seg(seg)) => self.read(&p.read, seg).is_some(),
            _ => false,
        })
    }

    /// The element a path reads in segment `seg`, when present and non-empty.
    fn read(&self, read: &RRead, seg: u32) -> Option<(Element<'x>, Position)> {
        let (el, at) = match read {
            RRead::Nothing => return None,
            RRead::Element { at, .. } => (self.element_at(seg, *at)?, *at),
            RRead::Pair { first, last, qualifier } => {
                // One pass over the pairs: qualifiers at first, first + 2, ... up to last.
                let q = qualifier.as_bytes();
                let s = self.seg(seg);
                let bytes = s.as_bytes();
                let spans = self.tree.element_spans(seg);
                let mut k = usize::from(*first);
                let mut found = None;
                while k < usize::from(*last) && k < spans.len() {
                    let (o, l) = spans[k - 1];
                    if trim_bytes(&bytes[o as usize..(o + l) as usize]) == q {
                        found = Some((k as u16, s.element_span(spans[k].0, spans[k].1)));
                        break;
                    }
                    k += 2;
                }
                let (k, el) = found?;
                self.note_used(seg, Position { element: k, component: None });
                (el, Position { element: k + 1, component: None })
            }
        };
        self.note_used(seg, at);
        if trim_bytes(el.as_bytes()).is_empty() {
            return None;
        }
        Some((el, at))
    }

    fn first(&self, p: &RPath, scope: Scope) -> Option<(u32, Element<'x>, Position)> {
        if let Some(found) = self.planned(p, scope) {
            return found;
        }
        if p.absolute && self.trace.is_none() {
            let key: *const RPath = p;
            if let Some((_, found)) = self.absolute.borrow().iter().find(|(k, _)| *k == key) {
                return *found;
            }
            let found = self.first_walked(p, scope);
            self.absolute.borrow_mut().push((key, found));
            return found;
        }
        self.first_walked(p, scope)
    }

    /// The first element path `p` reads from `scope`, found by walking.
    fn first_walked(&self, p: &RPath, scope: Scope) -> Option<(u32, Element<'x>, Position)> {
        // Most rules read a segment directly in their scope (`PO102`, `REF02[01=PO]`): no walk needed.
        if let ([step], Scope::Inst(i), false) = (p.steps.as_slice(), scope, p.absolute) {
            if let StepKind::Segment(tag) = step.kind {
                for &seg in self.tree.segments(i) {
                    if self.tree.tag(seg) == tag && self.cond_ok(seg, &step.conds) {
                        if let Some((el, at)) = self.read(&p.read, seg) {
                            return Some((seg, el, at));
                        }
                    }
                }
                return None;
            }
        }
        let mut found = None;
        self.walk(&p.steps, self.start(p, scope), &mut |s| {
            if let Scope::Seg(seg) = s {
                if let Some((el, at)) = self.read(&p.read, seg) {
                    found = Some((seg, el, at));
                    return true;
                }
            }
            false
        });
        found
    }

    /// The text of a [`ValueRule::direct`] rule in `scope`, taken straight from its slots: the first
    /// source with a value gives it, its prefix removed and translated by the rule's tables; with
    /// none, the rule's default as written.
    /// [`Direct::General`] when the general path must decide (a path not planned in this scope,
    /// release characters, text not as sent, a number to rewrite, a code the tables do not have
    /// and the rule does not keep).
    #[inline(always)]
    pub(super) fn direct(&self, rule: &'x ValueRule, scope: Scope) -> Direct<'x> {
        let planned = self.planned.borrow();
        let (frames, slots) = (&planned.frames, &planned.slots);
        for src in &rule.sources {
            let Src::Path(p) = src else { return Direct::General };
            match slot_of(frames, p, scope).map(|i| &slots[i]) {
                None => return Direct::General,
                Some(None) => continue,
                Some(Some((_, el, _))) => {
                    let Some(t) = el.plain_text() else { return Direct::General };
                    let mut t = trim_str(t);
                    if let Some(pre) = &rule.prefix {
                        t = t.strip_prefix(pre.as_str()).unwrap_or(t);
                    }
                    // Most rules have neither table: skip making the pair and its iterator.
                    if rule.codes.is_some() || rule.xref.is_some() {
                        for table in [&rule.codes, &rule.xref].into_iter().flatten() {
                            match table.get(t) {
                                Some(m) => t = m,
                                None if rule.unmatched == Unmatched::Keep || table.entries.is_empty() => {}
                                None => return Direct::General,
                            }
                        }
                    }
                    if rule.as_ == As::Decimal {
                        // A number is taken as it is only with `.` as the decimal mark.
                        return if el.decimal_mark() == b'.' { Direct::Number(t) } else { Direct::General };
                    }
                    return Direct::Text(t);
                }
            }
        }
        match &rule.default {
            Some(d) => Direct::Text(d),
            None => Direct::Nothing,
        }
    }

    /// Whether value rule `v` surely yields nothing in `scope`: no condition, join or default, and
    /// every source a planned path whose probe found nothing.
    pub(super) fn yields_nothing(&self, v: &ValueRule, scope: Scope) -> bool {
        v.probes.is_some() && self.own_slots(scope, |slots| found_nothing(v, slots))
    }

    /// `f` of the slots of `scope`'s own plan; false when `scope` is not the innermost entered
    /// (then its own probes are not filled).
    #[inline]
    fn own_slots(&self, scope: Scope, f: impl FnOnce(&[Option<Found<'x>>]) -> bool) -> bool {
        let planned = self.planned.borrow();
        match planned.frames.last() {
            Some(&(s, base)) if s == scope => f(&planned.slots[base as usize..]),
            _ => false,
        }
    }

    /// Whether list entry `e` surely gives no member in `scope`: a value read without `each` or
    /// conditions that [`Cx::yields_nothing`].
    #[inline]
    pub(super) fn entry_yields_nothing(&self, e: &Entry, scope: Scope) -> bool {
        plain_value(e).is_some_and(|v| self.yields_nothing(v, scope))
    }

    /// Whether a list of `entries` is surely empty in `scope` (every entry yields nothing).
    pub(super) fn surely_empty(&self, entries: &[Entry], scope: Scope) -> bool {
        self.own_slots(scope, |slots| entries.iter().all(|e| plain_value(e).is_some_and(|v| found_nothing(v, slots))))
    }

    /// Whether a `when`/`unless` condition holds in `scope`.
    pub(super) fn holds(&self, w: &super::When, scope: Scope) -> bool {
        (w.any.is_empty() || w.any.iter().any(|p| self.exists(p, scope))) && !w.none.iter().any(|p| self.exists(p, scope))
    }

    pub(super) fn value(&self, rule: &'x ValueRule, scope: Scope) -> Result<Option<Got<'x>>, Fail> {
        if !self.holds(&rule.when, scope) {
            return Ok(None);
        }
        if let Some(sep) = &rule.join {
            // Every source's value, joined: free texts split over components.
            let mut parts: Vec<String> = Vec::new();
            for src in &rule.sources {
                match src {
                    Src::Const(c) => parts.push(c.clone()),
                    Src::Path(p) => {
                        if let Some((_, el, _)) = self.first(p, scope) {
                            parts.push(trim_cow(el.text()).into_owned());
                        }
                    }
                }
            }
            if parts.is_empty() {
                return Ok(rule.default.as_deref().map(|d| Got { leaf: Leaf::Text(Cow::Borrowed(d)), hit: None, rule }));
            }
            return Ok(Some(Got { leaf: Leaf::Text(Cow::Owned(parts.join(sep))), hit: None, rule }));
        }
        for src in &rule.sources {
            match src {
                Src::Const(c) => return self.finish(rule, Cow::Borrowed(c.as_str()), None, scope).map(Some),
                Src::Path(p) => {
                    if let Some((seg, el, at)) = self.first(p, scope) {
                        return self.read_value(rule, p, seg, el, at, scope);
                    }
                }
            }
        }
        match &rule.default {
            Some(d) => self.finish(rule, Cow::Borrowed(d.as_str()), None, scope).map(Some),
            None => Ok(None),
        }
    }

    /// Calls `f` with every value a rule yields in `scope` (arrays of scalars): every match of the
    /// first source that has any, or one value per source for `all` lists.
    fn values(&self, rule: &'x ValueRule, scope: Scope, f: &mut dyn FnMut(Got<'x>) -> Result<(), Fail>) -> Result<(), Fail> {
        if !self.holds(&rule.when, scope) {
            return Ok(());
        }
        if rule.join.is_some() {
            if let Some(g) = self.value(rule, scope)? {
                f(g)?;
            }
            return Ok(());
        }
        if rule.all {
            // Each source's value in this scope, in the order the sources are written.
            for src in &rule.sources {
                match src {
                    Src::Const(c) => f(self.finish(rule, Cow::Borrowed(c.as_str()), None, scope)?)?,
                    Src::Path(p) => {
                        if let Some((seg, el, at)) = self.first(p, scope) {
                            if let Some(g) = self.read_value(rule, p, seg, el, at, scope)? {
                                f(g)?;
                            }
                        }
                    }
                }
            }
            return Ok(());
        }
        // The first source that yields anything gives the list.
        let mut yielded = 0usize;
        for src in &rule.sources {
            if yielded > 0 {
                break;
            }
            match src {
                Src::Const(c) => {
                    f(self.finish(rule, Cow::Borrowed(c.as_str()), None, scope)?)?;
                    yielded += 1;
                }
                Src::Path(p) => match self.planned(p, scope) {
                    // A planned path whose probe found nothing has no match at all.
                    Some(None) => {}
                    // One whose probe's segment is the last with its tag in the scope has that
                    // one match only.
                    Some(Some((seg, el, at))) if self.last_of_tag(p, scope, seg) => {
                        if let Some(g) = self.read_value(rule, p, seg, el, at, scope)? {
                            yielded += 1;
                            f(g)?;
                        }
                    }
                    _ => {
                        let mut failed = None;
                        self.walk(&p.steps, self.start(p, scope), &mut |s| {
                            let Scope::Seg(seg) = s else { return false };
                            let Some((el, at)) = self.read(&p.read, seg) else { return false };
                            let done = match self.read_value(rule, p, seg, el, at, scope) {
                                Ok(Some(g)) => {
                                    yielded += 1;
                                    f(g)
                                }
                                Ok(None) => Ok(()),
                                Err(e) => Err(e),
                            };
                            done.map_err(|e| failed = Some(e)).is_err()
                        });
                        if let Some(e) = failed {
                            return Err(e);
                        }
                    }
                },
            }
        }
        if yielded == 0 {
            if let Some(d) = &rule.default {
                f(self.finish(rule, Cow::Borrowed(d.as_str()), None, scope)?)?;
            }
        }
        Ok(())
    }

    /// Whether segment `seg`, which path `p` (one step to a segment, relative) reads in `scope`, is
    /// the last segment with its tag there: no other can match the path.
    fn last_of_tag(&self, p: &RPath, scope: Scope, seg: u32) -> bool {
        let (Scope::Inst(i), [step], false) = (scope, p.steps.as_slice(), p.absolute) else { return false };
        let StepKind::Segment(tag) = step.kind else { return false };
        !self.tree.segments(i).iter().rev().take_while(|&&s| s != seg).any(|&s| self.tree.tag(s) == tag)
    }

    /// At most how many members `entries` give in `scope`, when that is quick to tell (one step
    /// over child loops or segments per entry); else 0. Lists reserve it. (Walking longer paths
    /// twice costs more than regrowing the list.)
    pub(super) fn members_hint(&self, entries: &[Entry], scope: Scope) -> usize {
        let (Scope::Inst(i), false) = (scope, self.tracing()) else { return 0 };
        let mut n = 0;
        for e in entries {
            let Some(p) = &e.each else { return 0 };
            let ([step], false) = (p.steps.as_slice(), p.absolute) else { return 0 };
            n += match step.kind {
                // At most: the conditions are not tested (that costs more than a larger list).
                StepKind::Loop(key) => self.tree.children(i).iter().filter(|&&c| self.tree.instance(c).name == key).count(),
                StepKind::Segment(tag) => self.tree.segments(i).iter().filter(|&&s| self.tree.tag(s) == tag).count(),
                _ => return 0,
            };
        }
        n
    }

    /// Calls `f` on each scope path `p` matches from `scope`, in document order.
    fn each_match(&self, p: &RPath, scope: Scope, f: &mut dyn FnMut(Scope) -> Result<(), Fail>) -> Result<(), Fail> {
        // The usual `each`, one step to child loops (`HL[03=I]`, `SG25`): no walk.
        if let ([step], false, Scope::Inst(i)) = (p.steps.as_slice(), p.absolute, scope) {
            if let StepKind::Loop(key) = step.kind {
                for &c in self.tree.children(i) {
                    let inst = self.tree.instance(c);
                    if inst.name == key && self.cond_ok(inst.first, &step.conds) {
                        f(Scope::Inst(c))?;
                    }
                }
                return Ok(());
            }
        }
        let mut failed = None;
        self.walk(&p.steps, self.start(p, scope), &mut |s| f(s).map_err(|e| failed = Some(e)).is_err());
        failed.map_or(Ok(()), Err)
    }

    fn read_value(&self, rule: &'x ValueRule, p: &RPath, seg: u32, el: Element<'x>, at: Position, scope: Scope) -> Result<Option<Got<'x>>, Fail> {
        // Most values are plain text without release characters: trim and borrow them.
        let mut sent = match el.plain_text() {
            Some(t) => Cow::Borrowed(trim_str(t)),
            None => trim_cow(el.text()),
        };
        if let Some(pre) = rule.prefix.as_deref().filter(|pre| sent.starts_with(pre)) {
            sent = match sent {
                Cow::Borrowed(t) => Cow::Borrowed(&t[pre.len()..]),
                Cow::Owned(t) => Cow::Owned(t[pre.len()..].to_string()),
            };
        }
        // Codes and cross-references first; the value as sent is kept for messages.
        let mut mapped: Option<&'x str> = None;
        for table in [&rule.codes, &rule.xref].into_iter().flatten() {
            let key = mapped.unwrap_or(&sent);
            match table.get(key) {
                Some(v) => mapped = Some(v),
                None => match rule.unmatched {
                    _ if table.entries.is_empty() => {}
                    Unmatched::Error if rule.default.is_some() => mapped = rule.default.as_deref(),
                    Unmatched::Keep => {}
                    Unmatched::Drop => return Ok(None),
                    Unmatched::Error => return Err(self.error_at(rule, seg, at, &sent, unmatched(rule, table, key))),
                },
            }
        }
        let text = mapped.unwrap_or(&sent);
        let fail = |m: String| Err(self.error_at(rule, seg, at, &sent, m));
        let leaf = match rule.as_ {
            As::Text => None,
            As::Decimal => {
                let ty = match &p.read {
                    RRead::Element { ty, .. } => Some(*ty),
                    _ => None,
                };
                match decimal(text, ty, self.set_decimal_mark()) {
                    Ok(Num::AsIs) => None,
                    Ok(Num::Placed(d)) => Some(Leaf::Small(d)),
                    Ok(Num::Written(d)) => Some(Leaf::Text(Cow::Owned(d))),
                    Err(m) => return fail(m),
                }
            }
            As::Date | As::Time | As::DateTime => {
                // EDIFACT DTM: the format is C507's third component when the rule names none.
                let dtm_format = match &p.read {
                    RRead::Element { dtm: true, .. } if rule.format.is_none() => {
                        self.element_at(seg, Position { element: 1, component: Some(3) }).map(|e| std::str::from_utf8(e.as_bytes()).unwrap_or("\u{fffd}"))
                    }
                    _ => None,
                };
                let format = rule.format.as_deref().or(dtm_format);
                match rule.as_ {
                    As::Date => match date(text, format) {
                        Ok((d, _)) => Some(Leaf::Small(d)),
                        Err(m) => return fail(m),
                    },
                    As::Time => match time(text) {
                        Ok(t) => Some(Leaf::Small(t)),
                        Err(m) => return fail(m),
                    },
                    _ => {
                        let (d, mut t) = match date(text, format) {
                            Ok(x) => x,
                            Err(m) => return fail(m),
                        };
                        if let Some(tp) = &rule.time {
                            if let Some((ts, tel, tat)) = self.first(tp, scope) {
                                let tt = trim_cow(tel.text());
                                match time(&tt) {
                                    Ok(x) => t = Some(x),
                                    Err(m) => return Err(self.error_at(rule, ts, tat, &tt, m)),
                                }
                            }
                        }
                        let zone = rule.zone.as_ref().and_then(|zp| self.first(zp, scope)).map(|(_, z, _)| trim_cow(z.text()));
                        Some(Leaf::DateTime(Box::new(DateTimeLeaf { date: d, time: t, zone })))
                    }
                }
            }
        };
        // The text itself: a translation from a table, or the value as sent.
        let leaf = match (leaf, mapped) {
            (Some(leaf), _) => leaf,
            (None, Some(m)) => Leaf::Text(Cow::Borrowed(m)),
            (None, None) => Leaf::Text(sent),
        };
        Ok(Some(Got { leaf, hit: Some((seg, at)), rule }))
    }

    fn set_decimal_mark(&self) -> u8 {
        self.set.segment(0).delimiters().decimal
    }

    /// A constant or default, transformed like a read value (so `const = "20240101"` with `as = "date"` works).
    fn finish(&self, rule: &'x ValueRule, text: Cow<'x, str>, _hit: Option<(u32, Position)>, _scope: Scope) -> Result<Got<'x>, Fail> {
        let leaf = match rule.as_ {
            As::Date => Leaf::Small(date(&text, rule.format.as_deref()).map_err(|m| self.rule_error(rule, m))?.0),
            As::Time => Leaf::Small(time(&text).map_err(|m| self.rule_error(rule, m))?),
            As::DateTime => {
                let (date, time) = date(&text, rule.format.as_deref()).map_err(|m| self.rule_error(rule, m))?;
                Leaf::DateTime(Box::new(DateTimeLeaf { date, time, zone: None }))
            }
            _ => Leaf::Text(text),
        };
        Ok(Got { leaf, hit: None, rule })
    }

    #[cold]
    fn rule_error(&self, rule: &ValueRule, m: String) -> Fail {
        Box::new(MapError { field: String::new(), message: m, source: None, rule: Some(rule.origin.clone()) })
    }

    fn hit(&self, seg: u32, at: Position, value: &str) -> Hit {
        let s = self.seg(seg);
        Hit { segment: seg + 1, id: s.id_str().to_string(), position: at.to_string(), value: value.to_string() }
    }

    #[cold]
    fn error_at(&self, rule: &ValueRule, seg: u32, at: Position, value: &str, m: String) -> Fail {
        Box::new(MapError { field: String::new(), message: m, source: Some(Box::new(self.hit(seg, at, value))), rule: Some(rule.origin.clone()) })
    }

    pub(super) fn record(&self, got: &Got<'x>) {
        let Some(t) = &self.trace else { return };
        let mut t = t.borrow_mut();
        let field = t.stack.join(".").replace(".[", "[");
        let value = got.leaf.as_text();
        let source = got.hit.map(|(seg, at)| {
            let raw = self.element_at(seg, at).map(|e| trim_cow(e.text()).into_owned()).unwrap_or_default();
            self.hit(seg, at, &raw)
        });
        let rule = got
            .rule
            .sources
            .iter()
            .map(|s| match s {
                Src::Path(p) => p.text.clone(),
                Src::Const(c) => format!("const {c:?}"),
            })
            .collect::<Vec<_>>()
            .join(" | ");
        t.lines.push(TraceLine { field, value, source, rule, origin: got.rule.origin.to_string() });
    }

    /// Whether a mapping trace is being recorded.
    #[inline]
    pub(super) fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    pub(super) fn push(&self, part: String) {
        if let Some(t) = &self.trace {
            t.borrow_mut().stack.push(part);
        }
    }

    pub(super) fn pop(&self) {
        if let Some(t) = &self.trace {
            t.borrow_mut().stack.pop();
        }
    }
}

/// One segment as the probes of its tag ask for its elements and components.
struct SegView<'x> {
    s: Segment<'x>,
    spans: &'x [(u32, u32)],
    /// The element whose components were split last (0: none yet): EDIFACT probes test one
    /// component of an element and read another (`PIA02-1[02-2=SA]`).
    split_at: u16,
    /// How many components it has (0: the element is absent; `usize::MAX`: too many to keep, or
    /// release characters: [`Element::component`] cuts them) and where, as (offset, length) in
    /// the segment.
    split_n: usize,
    parts: [(u32, u32); 8],
    /// The value tested last, trimmed: probes of one tag mostly test the same qualifier
    /// (`QTY01-2[01-1=21]`, `[01-1=12]`).
    tested: Option<(Position, &'x [u8])>,
}

impl<'x> SegView<'x> {
    fn new(s: Segment<'x>, spans: &'x [(u32, u32)]) -> Self {
        SegView { s, spans, split_at: 0, split_n: 0, parts: [(0, 0); 8], tested: None }
    }

    /// Where element or component `at` is in the segment (offset, length), as [`element_in`]
    /// finds it.
    #[inline(always)]
    fn span(&mut self, at: Position) -> Option<(u32, u32)> {
        let Some(c) = at.component else { return self.spans.get(usize::from(at.element).checked_sub(1)?).copied() };
        if self.split_at != at.element {
            self.split(at.element);
        }
        let c = usize::from(c).checked_sub(1)?;
        match self.split_n {
            usize::MAX => element_in(&self.s, self.spans, at).map(|el| span_in(&self.s, &el)),
            n => (c < n).then(|| self.parts[c]),
        }
    }

    /// The segment's bytes at `off..off + len`.
    #[inline(always)]
    fn bytes(&self, off: u32, len: u32) -> &'x [u8] {
        &self.s.as_bytes()[off as usize..(off + len) as usize]
    }

    /// Splits element `element` into its components.
    #[inline(never)]
    fn split(&mut self, element: u16) {
        self.split_at = element;
        let Some(&(off, len)) = usize::from(element).checked_sub(1).and_then(|i| self.spans.get(i)) else {
            self.split_n = 0;
            return;
        };
        self.split_n = self.s.component_spans(off, len, &mut self.parts).unwrap_or(usize::MAX);
    }

    /// The trimmed value at `at` (empty when absent), for conditions.
    #[inline(always)]
    fn value_at(&mut self, at: Position) -> &'x [u8] {
        match self.tested {
            Some((p, v)) if p == at => v,
            _ => {
                let v = self.span(at).map_or(&b""[..], |(off, len)| trim_bytes(self.bytes(off, len)));
                self.tested = Some((at, v));
                v
            }
        }
    }
}

/// Whether group `g` is met for the first time (bit g of `seen`, then set); groups past 64 are
/// never taken as first.
#[inline]
fn first_time(seen: &mut u64, g: usize) -> bool {
    let Some(bit) = 1u64.checked_shl(g as u32) else { return false };
    let first = *seen & bit == 0;
    *seen |= bit;
    first
}

/// The value rule of list entry `e` when it is one value read, without `each` or conditions.
#[inline]
fn plain_value(e: &Entry) -> Option<&ValueRule> {
    match (&e.each, &e.body) {
        (None, Body::Value(v)) if e.when.any.is_empty() && e.when.none.is_empty() => Some(v),
        _ => None,
    }
}

/// Whether value rule `v` surely yields nothing when its scope's own slots are `slots`: it has
/// probes ([`ValueRule::probes`]) and none found anything.
#[inline]
fn found_nothing(v: &ValueRule, slots: &[Option<Found<'_>>]) -> bool {
    v.probes.as_ref().is_some_and(|ks| ks.iter().all(|&k| slots[usize::from(k)].is_none()))
}

/// Where a planned path's slot is among `frames`' slots, when the path is planned for `scope`.
#[inline]
fn slot_of(frames: &[(Scope, u32)], p: &RPath, scope: Scope) -> Option<usize> {
    let (k, frame) = match p.probe? {
        ProbeRef::Document(k) => (k, frames.first()),
        ProbeRef::Scope(k) => (k, frames.last().filter(|f| f.0 == scope)),
    };
    Some(frame?.1 as usize + usize::from(k))
}

/// Where element `el` of segment `s` is: (offset in the segment's bytes, length).
#[inline]
fn span_in(s: &Segment<'_>, el: &Element<'_>) -> (u32, u32) {
    let off = el.as_bytes().as_ptr() as usize - s.as_bytes().as_ptr() as usize;
    (off as u32, el.as_bytes().len() as u32)
}

/// Element or component `at` (1-based) of segment `s`, whose element spans are `spans`.
#[inline]
fn element_in<'x>(s: &Segment<'x>, spans: &[(u32, u32)], at: Position) -> Option<Element<'x>> {
    let &(off, len) = spans.get(usize::from(at.element).checked_sub(1)?)?;
    let el = s.element_span(off, len);
    match at.component {
        None => Some(el),
        Some(c) => el.component(usize::from(c)),
    }
}

/// Spaces off both ends, byte-wise ([`trim_bytes`]; `str::trim_matches` goes char by char).
#[inline]
fn trim_str(s: &str) -> &str {
    let t = trim_bytes(s.as_bytes());
    let start = t.as_ptr() as usize - s.as_ptr() as usize;
    // Only spaces (ASCII) are cut: both ends are char boundaries.
    &s[start..start + t.len()]
}

#[inline]
fn trim_bytes(b: &[u8]) -> &[u8] {
    // Nearly every value has no space at either end.
    if let (Some(&first), Some(&last)) = (b.first(), b.last()) {
        if first != b' ' && last != b' ' {
            return b;
        }
    }
    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    let start = b[..end].iter().position(|&c| c != b' ').unwrap_or(end);
    &b[start..end]
}

fn trim_cow(c: Cow<'_, str>) -> Cow<'_, str> {
    match c {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim_matches(' ')),
        Cow::Owned(s) if s.starts_with(' ') || s.ends_with(' ') => Cow::Owned(s.trim_matches(' ').to_string()),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// A direct rule's value ([`Cx::direct`]).
pub(super) enum Direct<'x> {
    Text(&'x str),
    /// Text to be a number (`as = "decimal"`): taken only when it is one as written
    /// ([`plain_number`]); else the general path decides.
    Number(&'x str),
    /// No source has a value.
    Nothing,
    /// Evaluate the rule the general way.
    General,
}

/// `-?digits(.digits)?`: a number the canonical document takes as it is.
pub(super) fn plain_number(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let mut dot = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {}
            b'.' if !dot && i > 0 && i + 1 < b.len() => dot = true,
            _ => return false,
        }
    }
    !b.is_empty()
}

/// A number as the canonical document writes it.
enum Num {
    /// The value as sent (`-?digits(.digits)?` with `.` as the mark).
    AsIs,
    /// Implied decimals placed (X12 Nn).
    Placed(Small),
    /// Written anew: `,` as mark, a `+` sign, a leading or trailing mark.
    Written(String),
}

/// A number as the canonical document writes it: `.` as decimal mark, implied decimals (X12 Nn) placed.
fn decimal(t: &str, ty: Option<DataType>, mark: u8) -> Result<Num, String> {
    match ty {
        Some(DataType::Numeric(n)) if n > 0 => {
            let (neg, digits) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{t:?} is not a whole number (implied {n} decimals)"));
            }
            let n = n as usize;
            // Zeros in front so that one digit stands before the mark: 5 with N2 is 0.05.
            let mut padded = Small::new();
            for _ in digits.len()..n + 1 {
                padded.push(b"0")?;
            }
            padded.push(digits.as_bytes())?;
            let p = &padded.buf[..usize::from(padded.len)];
            let (int, frac) = p.split_at(p.len() - n);
            let mut out = Small::new();
            if neg {
                out.push(b"-")?;
            }
            out.push(int)?;
            out.push(b".")?;
            out.push(frac)?;
            Ok(Num::Placed(out))
        }
        _ if mark == b'.' && plain_number(t) => Ok(Num::AsIs),
        _ => {
            let mut s: String = t.chars().map(|c| if c == ',' && mark == b',' { '.' } else { c }).collect();
            if let Some(rest) = s.strip_prefix('+') {
                s = rest.to_string();
            }
            if s.ends_with('.') {
                s.pop();
            }
            if s.starts_with('.') || s.starts_with("-.") {
                s = s.replacen('.', "0.", 1);
            }
            if !plain_number(&s) {
                return Err(format!("{t:?} is not a decimal number"));
            }
            Ok(Num::Written(s))
        }
    }
}

/// Why a value is not in a code list or cross-reference, with what the table has.
#[cold]
fn unmatched(rule: &ValueRule, table: &super::CodeList, value: &str) -> String {
    let mut known: Vec<&String> = table.entries.keys().collect();
    known.sort();
    let shown = if known.len() > 20 { format!("{} entries", known.len()) } else { known.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") };
    let what = if rule.codes.as_deref().is_some_and(|c| std::ptr::eq(c, table)) { "code list" } else { "cross-reference" };
    format!("{value:?} is not in {what} {:?} (defined at {}; it has {shown})", table.name, table.origin)
}

/// A date (and the time the same value holds) as ISO 8601 text.
fn date(t: &str, format: Option<&str>) -> Result<(Small, Option<Small>), String> {
    // Every date format is digits only; checked first, so the slicing below is on ASCII.
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{t:?} is not a date (digits only)"));
    }
    let fmt = match format {
        Some(f) => f,
        None => match t.len() {
            6 => "YYMMDD",
            8 => "CCYYMMDD",
            12 => "203",
            14 => "204",
            _ => return Err(format!("{t:?} is not a date (expected CCYYMMDD, YYMMDD or CCYYMMDDHHMM)")),
        },
    };
    // CCYYMMDD in `d` (digits, checked above).
    let mut d = [0u8; 8];
    let rest = match fmt {
        "CCYYMMDD" | "102" if t.len() == 8 => {
            d.copy_from_slice(t.as_bytes());
            None
        }
        "YYMMDD" | "101" if t.len() == 6 => {
            // The X12 century window: 00-49 → 20xx, 50-99 → 19xx.
            d[..2].copy_from_slice(if t.as_bytes()[0] < b'5' { b"20" } else { b"19" });
            d[2..].copy_from_slice(t.as_bytes());
            None
        }
        "203" if t.len() == 12 => {
            d.copy_from_slice(&t.as_bytes()[..8]);
            Some(&t[8..])
        }
        "204" if t.len() == 14 => {
            d.copy_from_slice(&t.as_bytes()[..8]);
            Some(&t[8..])
        }
        _ => return Err(format!("{t:?} does not match date format {fmt}")),
    };
    let num = |b: &[u8]| b.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
    let (y, m, dd) = (num(&d[..4]) as i32, num(&d[4..6]), num(&d[6..8]));
    if chrono::NaiveDate::from_ymd_opt(y, m, dd).is_none() {
        return Err(format!("{t:?} is not a calendar date"));
    }
    let time = match rest {
        Some(r) => Some(time(r)?),
        None => None,
    };
    let mut out = Small::new();
    for part in [&d[..4], b"-", &d[4..6], b"-", &d[6..8]] {
        out.push(part)?;
    }
    Ok((out, time))
}

/// `HHMM`, `HHMMSS`, `HHMMSSd..` as `HH:MM:SS`.
fn time(t: &str) -> Result<Small, String> {
    if t.len() < 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{t:?} is not a time (HHMM or HHMMSS)"));
    }
    let (h, m) = (&t[..2], &t[2..4]);
    let s = if t.len() >= 6 { &t[4..6] } else { "00" };
    if h > "23" || m > "59" || s > "59" {
        return Err(format!("{t:?} is not a time of day"));
    }
    let mut out = Small::new();
    for part in [h, ":", m, ":", s] {
        out.push(part.as_bytes())?;
    }
    Ok(out)
}

// ---- serde: values the builder does not convert itself ----

/// A value that is there: an `Option` gets `Some`, everything else goes to `deserialize_any`.
macro_rules! present_value {
    () => {
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MapError> {
            visitor.visit_some(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    };
}

pub(super) enum Member<'x> {
    /// An object in its scope; optional: left out when nothing in it has a value.
    Obj(&'x Obj, Scope, bool),
    Leaf(Got<'x>),
}

/// Calls `f` with each member an array's entries give in `scope`: entry by entry, each entry's
/// matches in document order.
pub(super) fn members<'x>(cx: &Cx<'x>, entries: &'x [Entry], scope: Scope, f: &mut dyn FnMut(Member<'x>) -> Result<(), Fail>) -> Result<(), Fail> {
    for e in entries {
        // Lists of many reads of which few are there (a DESADV item's lots: PIA NB, GIN BX, ...).
        if cx.entry_yields_nothing(e, scope) {
            continue;
        }
        let mut one = |s: Scope| -> Result<(), Fail> {
            if !cx.holds(&e.when, s) {
                return Ok(());
            }
            match &e.body {
                // One object per match; or one from this scope, when it has anything.
                Body::Object(o) if e.each.is_some() => f(Member::Obj(o, s, false)),
                Body::Object(o) if cx.holds(&o.when, s) => f(Member::Obj(o, s, true)),
                Body::Object(_) => Ok(()),
                Body::Value(v) => cx.values(v, s, &mut |g| f(Member::Leaf(g))),
            }
        };
        match &e.each {
            Some(p) => cx.each_match(p, scope, &mut one)?,
            None => one(scope)?,
        }
    }
    Ok(())
}

/// Whole numbers arrive as text: each integer type parses it.
macro_rules! integers {
    ($($name:ident)*) => {
        $(fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, MapError> {
            self.integer(v)
        })*
    };
}

pub(super) struct LeafDe<'c, 'x> {
    got: Got<'x>,
    cx: &'c Cx<'x>,
}

impl<'c, 'x> LeafDe<'c, 'x> {
    pub(super) fn new(got: Got<'x>, cx: &'c Cx<'x>) -> Self {
        LeafDe { got, cx }
    }

    /// Puts the source and rule on an error a visitor raised about this value.
    fn locate(&self, e: MapError) -> MapError {
        if e.source.is_some() || e.rule.is_some() {
            return e;
        }
        let value = self.got.leaf.as_text();
        let source = self.got.hit.map(|(seg, at)| Box::new(self.cx.hit(seg, at, &value)));
        let message = if source.is_none() { format!("{} (value {value:?})", e.message) } else { e.message };
        MapError { message, source, rule: Some(self.got.rule.origin.clone()), ..e }
    }

    fn text(&self) -> &str {
        match &self.got.leaf {
            Leaf::Text(t) => t,
            Leaf::Small(t) => t.as_str(),
            Leaf::DateTime(dt) => dt.date.as_str(),
        }
    }

    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MapError> {
        match self.text().parse::<i64>() {
            Ok(n) if n >= 0 => visitor.visit_u64(n as u64).map_err(|e| self.locate(e)),
            Ok(n) => visitor.visit_i64(n).map_err(|e| self.locate(e)),
            Err(_) => Err(self.locate(MapError::new(format!("{:?} is not a whole number", self.text())))),
        }
    }
}

impl<'de, 'c, 'x> de::Deserializer<'de> for LeafDe<'c, 'x> {
    type Error = MapError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MapError> {
        let r = match &self.got.leaf {
            Leaf::Text(t) => visitor.visit_str(t),
            Leaf::Small(t) => visitor.visit_str(t.as_str()),
            Leaf::DateTime(dt) => {
                let DateTimeLeaf { date, time, zone } = &**dt;
                let mut fields = Pairs::default();
                fields.push("date", date.as_str());
                if let Some(t) = time {
                    fields.push("time", t.as_str());
                }
                if let Some(z) = zone {
                    fields.push("zone", z);
                }
                visitor.visit_map(fields)
            }
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MapError> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _name: &'static str, variants: &'static [&'static str], visitor: V) -> Result<V::Value, MapError> {
        let t = self.text();
        visitor
            .visit_enum(t.into_deserializer())
            .map_err(|_: MapError| self.locate(MapError::new(format!("{t:?} is not one of {}", variants.join(", ")))))
    }

    integers!(deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_i32 deserialize_i64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MapError> {
        match self.text() {
            "true" | "Y" | "y" | "1" => visitor.visit_bool(true),
            "false" | "N" | "n" | "0" => visitor.visit_bool(false),
            t => Err(self.locate(MapError::new(format!("{t:?} is not true or false")))),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// A small fixed map of text values (a DateTime's parts, the provenance), borrowed.
#[derive(Default)]
struct Pairs<'a> {
    fields: [(&'static str, &'a str); 8],
    len: usize,
    next: usize,
}

impl<'a> Pairs<'a> {
    fn push(&mut self, key: &'static str, value: &'a str) {
        self.fields[self.len] = (key, value);
        self.len += 1;
    }
}

impl<'de, 'a> MapAccess<'de> for Pairs<'a> {
    type Error = MapError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, MapError> {
        if self.next == self.len {
            return Ok(None);
        }
        self.next += 1;
        seed.deserialize(self.fields[self.next - 1].0.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, MapError> {
        seed.deserialize(TextDe(self.fields[self.next - 1].1))
    }
}

/// A plain text value (for options, it is `Some`).
struct TextDe<'a>(&'a str);

impl<'de, 'a> de::Deserializer<'de> for TextDe<'a> {
    type Error = MapError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MapError> {
        visitor.visit_str(self.0)
    }

    present_value!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_times_decimals() {
        assert_eq!(date("20240311", None).unwrap().0, "2024-03-11");
        assert_eq!(date("240311", None).unwrap().0, "2024-03-11");
        assert_eq!(date("990311", Some("YYMMDD")).unwrap().0, "1999-03-11");
        assert_eq!(date("490311", Some("YYMMDD")).unwrap().0, "2049-03-11");
        let (d, t) = date("202403190615", Some("203")).unwrap();
        assert_eq!((d.as_str(), t.as_ref().map(Small::as_str)), ("2024-03-19", Some("06:15:00")));
        assert!(date("20240230", None).unwrap_err().contains("calendar"));
        assert!(date("2024031", None).is_err());
        // Found by fuzzing: non-ASCII bytes where digits belong.
        assert!(date("2024051\u{cc}\u{c5}", None).unwrap_err().contains("digits only"));
        assert!(date("2024051\u{cc}", Some("102")).is_err());
        assert!(time("09\u{e9}5").is_err());
        assert_eq!(time("0915").unwrap(), "09:15:00");
        assert!(time("2561").is_err());
        let d = |s: &str, t, m| {
            decimal(s, t, m).map(|n| match n {
                Num::AsIs => s.to_string(),
                Num::Placed(p) => p.as_str().to_string(),
                Num::Written(w) => w,
            })
        };
        assert_eq!(d("12345", Some(DataType::Numeric(2)), b'.').unwrap(), "123.45");
        assert_eq!(d("-5", Some(DataType::Numeric(2)), b'.').unwrap(), "-0.05");
        assert_eq!(d("5", Some(DataType::Numeric(3)), b'.').unwrap(), "0.005");
        assert_eq!(d("120", Some(DataType::Numeric(2)), b'.').unwrap(), "1.20");
        assert_eq!(d("7", Some(DataType::Numeric(0)), b'.').unwrap(), "7");
        assert_eq!(d("12,5", Some(DataType::Number), b',').unwrap(), "12.5");
        assert_eq!(d("12.", Some(DataType::Decimal), b'.').unwrap(), "12");
        assert_eq!(d(".5", Some(DataType::Decimal), b'.').unwrap(), "0.5");
        assert!(d("1.2.3", Some(DataType::Decimal), b'.').is_err());
    }
}
