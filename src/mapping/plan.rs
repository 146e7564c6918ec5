//! Evaluation plans: the reads of an object's rules, gathered so that one pass over a scope's
//! segments answers all of them.
//!
//! Most rules read one element of a segment directly in their scope (`PO102`, `REF02[01=PO]`,
//! `PO106..25=BP`). Asked one by one, each such rule scans the scope's segments again, and a rule
//! that finds nothing costs as much as one that does. A plan collects these reads ("probes") for a
//! scope root (the document, and each object made per match of an `each` path) together with every
//! object nested in the same scope; the evaluator fills one slot per probe in a single pass over the
//! scope's segments, in document order, and rules then take their value from the slot. Absolute reads
//! (`/CUR02[01=BY]`) are probes of the document's plan, so a line's currency is found once per set.
//!
//! Only what is planned changes: rules of other shapes (loops, parents, several steps) are walked as
//! before, and so is everything when a mapping trace is recorded.

use super::path::{Position, Test};
use super::{As, Body, Obj, RCond, RPath, RRead, Rule, Src, StepKind, ValueRule, When};
use crate::syntax::types::DataType;
use crate::syntax::spec::{pack_code, CodeMap};

/// The probes of one scope root.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub probes: Vec<Probe>,
    /// Distinct segment tags with the probes that read them.
    pub by_tag: Vec<TagProbes>,
    /// Distinct child loops (name key, trigger tag) with the probes that read their first segment.
    pub by_loop: Vec<(u64, u32, TagProbes)>,
}

/// The probes that read segments with one tag.
#[derive(Debug, Default)]
pub(crate) struct TagProbes {
    pub tag: u32,
    /// Probes asked one by one (element reads, and pair reads with conditions or long codes).
    pub each: Vec<u16>,
    /// Pair reads over the same elements (`PO106..25=BP`, `PO106..25=VP`, ...), answered together
    /// in one pass over the pairs.
    pub pairs: Vec<PairScan>,
    /// Probes whose first condition asks for one of some short codes at one element or component.
    pub keyed: Vec<Keyed>,
}

/// Probes whose first condition asks for one of some short codes at `at` (`QTY01-2[01-1=47]`,
/// `QTY01-2[01-1=46]`, `PIA02-1[02-2=SRV|EN]`, ...): the value there is taken once per segment and
/// only the probes that name it are asked further.
#[derive(Debug)]
pub(crate) struct Keyed {
    pub at: Position,
    /// (a code the condition accepts, as [`pack_code`]; probe index): one entry per code, those
    /// of one code together.
    pub probes: Vec<(u64, u16)>,
    /// Each code's run in `probes` (`QTY01-1`: 47, 46 and 12 for three probes each): a
    /// segment's code is looked up here, then only its run is asked.
    pub codes: CodeMap<(u32, u32)>,
}

impl Keyed {
    /// Puts the probes of one code together, in the order the codes first appear and each
    /// code's in the order added, and lists the codes with their runs.
    fn make_runs(&mut self) {
        let first = |c: u64| self.probes.iter().position(|&(d, _)| d == c).unwrap_or(0);
        let mut order: Vec<(usize, u64, u16)> = self.probes.iter().map(|&(c, k)| (first(c), c, k)).collect();
        order.sort_by_key(|&(f, _, _)| f);
        self.probes = order.iter().map(|&(_, c, k)| (c, k)).collect();
        let mut runs: Vec<(u64, u32, u32)> = Vec::new();
        for (i, &(c, _)) in self.probes.iter().enumerate() {
            match runs.last_mut() {
                Some(last) if last.0 == c => last.2 = i as u32 + 1,
                _ => runs.push((c, i as u32, i as u32 + 1)),
            }
        }
        self.codes = CodeMap::new(runs.into_iter().map(|(c, start, end)| (c, (start, end))));
    }

    /// The probes that name `code`.
    #[inline]
    pub fn naming(&self, code: u64) -> &[(u64, u16)] {
        match self.codes.get(code) {
            Some((start, end)) => &self.probes[start as usize..end as usize],
            None => &[],
        }
    }
}

/// One pass over the qualifier/value pairs at elements `first`, `first + 2`, ... before `last`,
/// for every probe that looks for a qualifier there.
#[derive(Debug)]
pub(crate) struct PairScan {
    pub first: u16,
    pub last: u16,
    /// The qualifiers as [`pack_code`], and the probe of each; at most 64.
    pub codes: Vec<u64>,
    pub probes: Vec<u16>,
}

/// Where a probe looks in its scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Segments with this tag directly in the scope (`PO102`).
    Segment(u32),
    /// The first segment of child loops with this name (`MOA01-2` in SG25 reads SG26's MOA).
    Loop(u64, u32),
}

/// One planned read: the first segment at `place` in the scope, in document order, that passes
/// `conds` and whose element at `read` has a value.
#[derive(Debug)]
pub(crate) struct Probe {
    pub place: Place,
    pub conds: Vec<RCond>,
    pub read: RRead,
    /// The path as written, to merge identical reads.
    text: String,
}

/// Where a planned path's value is: a probe of the current scope root, or of the document's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeRef {
    Scope(u16),
    Document(u16),
}

/// Plans the compiled mapping whose root object is `root`.
pub(crate) fn plan(root: &mut Obj) {
    let mut doc = Plan::default();
    walk_obj(root, &mut doc, None);
    finish(&mut doc);
    root.plan = Some(Box::new(doc));
}

/// Plans `obj`, an object made per match of an `each` path, into a plan of its own.
fn plan_root(obj: &mut Obj, doc: &mut Plan) {
    let mut own = Plan::default();
    walk_obj(obj, &mut own, Some(doc));
    finish(&mut own);
    obj.plan = Some(Box::new(own));
}

/// Assigns probes to the planned paths of `obj` and of the objects nested in its scope. `doc` is
/// the document's plan (None while planning the document itself, whose plan is `own`).
fn walk_obj(obj: &mut Obj, own: &mut Plan, mut doc: Option<&mut Plan>) {
    plan_when(&mut obj.when, own, doc.as_deref_mut());
    for f in &mut obj.fields {
        match &mut f.rule {
            Rule::Value(v) => plan_value(v, own, doc.as_deref_mut()),
            Rule::Object(o) => walk_obj(o, own, doc.as_deref_mut()),
            Rule::Array(entries) => {
                for e in entries {
                    match (&e.each, &mut e.body) {
                        // A new scope per match: its own plan, sharing the document's.
                        (Some(_), Body::Object(o)) => match doc.as_deref_mut() {
                            Some(d) => plan_root(o, d),
                            None => plan_root(o, own),
                        },
                        // One element from this scope: same scope, same plan.
                        (None, Body::Object(o)) => {
                            plan_when(&mut e.when, own, doc.as_deref_mut());
                            walk_obj(o, own, doc.as_deref_mut())
                        }
                        // Values from this scope: their probes tell whether there is any match
                        // (every match is then walked).
                        (None, Body::Value(v)) => {
                            plan_when(&mut e.when, own, doc.as_deref_mut());
                            plan_value(v, own, doc.as_deref_mut())
                        }
                        // Values per match of `each`: walked.
                        (Some(_), Body::Value(_)) => {}
                    }
                }
            }
        }
    }
}

fn plan_value(v: &mut ValueRule, own: &mut Plan, mut doc: Option<&mut Plan>) {
    plan_when(&mut v.when, own, doc.as_deref_mut());
    // Joined and `all` lists take every source: they stay walked.
    if v.join.is_some() || v.all {
        return;
    }
    let mut paths: Vec<&mut RPath> = v.sources.iter_mut().filter_map(|s| if let Src::Path(p) = s { Some(p) } else { None }).collect();
    paths.extend(v.time.iter_mut());
    paths.extend(v.zone.iter_mut());
    for p in paths {
        plan_path(p, own, doc.as_deref_mut());
    }
    v.direct = is_direct(v);
    v.probes = own_probes(v);
}

/// The probes of the scope's own plan that answer every source of `v`, when `v` yields nothing
/// else (no condition, default or join): then `v` surely yields nothing when they found nothing.
fn own_probes(v: &ValueRule) -> Option<Box<[u16]>> {
    if !v.when.any.is_empty() || !v.when.none.is_empty() || v.default.is_some() || v.join.is_some() {
        return None;
    }
    v.sources.iter().map(|s| match s {
        Src::Path(RPath { probe: Some(ProbeRef::Scope(k)), .. }) => Some(*k),
        _ => None,
    }).collect()
}

/// A rule whose value is the trimmed text of the first source that has one, with at most its
/// prefix removed and a table's translation, else its default: the evaluator takes it straight
/// from the slots while the sources are planned ([`super::eval::Cx::direct`]).
fn is_direct(v: &ValueRule) -> bool {
    // A default is taken as written when no source has a value (as `finish` does for text and numbers).
    let plain = v.when.any.is_empty() && v.when.none.is_empty();
    // Decimals with implied places (X12 Nn) are rewritten, not checked; a translated value is
    // not the number that was read.
    let as_read = |p: &RPath| match (v.as_, &p.read) {
        (As::Text, _) => true,
        (As::Decimal, _) if v.codes.is_some() || v.xref.is_some() => false,
        (As::Decimal, RRead::Element { ty, .. }) => !matches!(ty, DataType::Numeric(n) if *n > 0),
        (As::Decimal, RRead::Pair { .. }) => true,
        _ => false,
    };
    // The first source must be planned; a later one that is not sends the rule the general way
    // when the sources before it have nothing.
    plain
        && matches!(v.sources.first(), Some(Src::Path(p)) if p.probe.is_some())
        && v.sources.iter().all(|s| matches!(s, Src::Path(p) if as_read(p)))
}

/// `when` / `unless` paths that read an element hold when the element has a value: a probe answers.
fn plan_when(w: &mut When, own: &mut Plan, mut doc: Option<&mut Plan>) {
    for p in w.any.iter_mut().chain(w.none.iter_mut()) {
        plan_path(p, own, doc.as_deref_mut());
    }
}

fn plan_path(p: &mut RPath, own: &mut Plan, doc: Option<&mut Plan>) {
    let Some(place) = simple(p) else { return };
    p.probe = Some(if p.absolute {
        ProbeRef::Document(add(doc.unwrap_or(own), place, p))
    } else {
        ProbeRef::Scope(add(own, place, p))
    });
}

/// Where a path that reads one element with one step looks.
fn simple(p: &RPath) -> Option<Place> {
    match (p.steps.as_slice(), &p.read) {
        (_, RRead::Nothing) => None,
        ([step], _) => match step.kind {
            StepKind::Segment(tag) => Some(Place::Segment(tag)),
            StepKind::Trigger(key, tag) => Some(Place::Loop(key, tag)),
            _ => None,
        },
        _ => None,
    }
}

fn add(plan: &mut Plan, place: Place, p: &RPath) -> u16 {
    let text = p.text.trim_start_matches('/');
    if let Some(i) = plan.probes.iter().position(|q| q.text == text) {
        return i as u16;
    }
    plan.probes.push(Probe { place, conds: p.steps[0].conds.clone(), read: p.read.clone(), text: text.to_string() });
    plan.probes.len() as u16 - 1
}

fn finish(plan: &mut Plan) {
    plan.by_tag.clear();
    plan.by_loop.clear();
    for (i, p) in plan.probes.iter().enumerate() {
        let i = i as u16;
        let group = match p.place {
            Place::Segment(tag) => match plan.by_tag.iter().position(|t| t.tag == tag) {
                Some(g) => &mut plan.by_tag[g],
                None => {
                    plan.by_tag.push(TagProbes { tag, ..TagProbes::default() });
                    plan.by_tag.last_mut().expect("just pushed")
                }
            },
            Place::Loop(key, tag) => match plan.by_loop.iter().position(|(k, t, _)| *k == key && *t == tag) {
                Some(g) => &mut plan.by_loop[g].2,
                None => {
                    plan.by_loop.push((key, tag, TagProbes { tag, ..TagProbes::default() }));
                    &mut plan.by_loop.last_mut().expect("just pushed").2
                }
            },
        };
        add_to(group, i, p);
    }
    // Probes that test the same element or component come one after the other, so that the value
    // tested last is reused (`PIA02-1[02-2=SRV|EN]`, `PIA02-1[02-2=SA]`, ...). A segment's probes
    // fill their own slots, so their order does not matter otherwise.
    let key = |k: &u16| plan.probes[usize::from(*k)].conds.first().map(|c| (c.at.element, c.at.component));
    for group in plan.by_tag.iter_mut().chain(plan.by_loop.iter_mut().map(|(_, _, g)| g)) {
        group.each.sort_by_key(key);
        group.keyed.iter_mut().for_each(Keyed::make_runs);
    }
}

/// Puts probe `i` in its tag's group: in a pair scan when it can be answered by one, else alone.
fn add_to(group: &mut TagProbes, i: u16, p: &Probe) {
    if let (RRead::Pair { first, last, qualifier }, true) = (&p.read, p.conds.is_empty()) {
        // A scan answers one probe per qualifier; the same read written another way is asked alone.
        let dup = |c: u64| group.pairs.iter().any(|s| s.first == *first && s.last == *last && s.codes.contains(&c));
        if let Some(c) = pack_code(qualifier.as_bytes()).filter(|&c| !dup(c)) {
            match group.pairs.iter_mut().find(|s| s.first == *first && s.last == *last && s.probes.len() < 64) {
                Some(s) => {
                    s.codes.push(c);
                    s.probes.push(i);
                }
                None => group.pairs.push(PairScan { first: *first, last: *last, codes: vec![c], probes: vec![i] }),
            }
            return;
        }
    }
    if let Some(RCond { at, test: Test::OneOf(codes) }) = p.conds.first() {
        let packed: Option<Vec<u64>> = codes.iter().map(|c| pack_code(c.as_bytes())).collect();
        if let Some(packed) = packed {
            let keyed = match group.keyed.iter().position(|g| g.at == *at) {
                Some(g) => &mut group.keyed[g],
                None => {
                    group.keyed.push(Keyed { at: *at, probes: vec![], codes: CodeMap::default() });
                    group.keyed.last_mut().expect("just pushed")
                }
            };
            keyed.probes.extend(packed.into_iter().map(|c| (c, i)));
            return;
        }
    }
    group.each.push(i);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Library;

    /// A segment's code asks the probes that name it, each once, and no other.
    #[test]
    fn keyed_probes_by_code() {
        let at = Position { element: 1, component: Some(1) };
        let (q47, q46, q12) = (pack_code(b"47").unwrap(), pack_code(b"46").unwrap(), pack_code(b"12").unwrap());
        let mut keyed = Keyed { at, probes: vec![(q47, 0), (q46, 1), (q47, 2), (q12, 3), (q46, 4), (q47, 5)], codes: CodeMap::default() };
        keyed.make_runs();
        let asked = |code: u64| keyed.naming(code).iter().map(|&(c, k)| { assert_eq!(c, code); k }).collect::<Vec<_>>();
        assert_eq!((asked(q47), asked(q46), asked(q12)), (vec![0, 2, 5], vec![1, 4], vec![3]));
        assert_eq!(asked(pack_code(b"21").unwrap()), Vec::<u16>::new());
    }

    /// Every base mapping plans; a line's own reads are probes of the line, the order currency one
    /// of the document, and the same read written twice is one probe.
    #[test]
    fn base_mappings_plan() {
        let lib = Library::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings"))).expect("mappings");
        let m = lib.inbound("x12/004010/850.in", None).expect("850");
        let doc = m.root.plan.as_ref().expect("document plan");
        assert!(doc.probes.iter().any(|p| p.text == "CUR02[01=BY]"), "{:?}", doc.probes);
        let lines = m.root.fields.iter().find(|f| f.name == "lines").expect("lines");
        let Rule::Array(entries) = &lines.rule else { panic!("lines is an array") };
        let Body::Object(line) = &entries[0].body else { panic!("lines are objects") };
        let plan = line.plan.as_ref().expect("line plan");
        let texts: Vec<&str> = plan.probes.iter().map(|p| p.text.as_str()).collect();
        for t in ["PO101", "PO102", "PO103", "PO106..25=BP", "PO106..25=VP", "PO106..25=VN"] {
            assert!(texts.contains(&t), "{t} not in {texts:?}");
        }
        assert_eq!(texts.iter().filter(|t| **t == "PO103").count(), 1, "{texts:?}");
        for id in lib.ids().filter(|i| i.ends_with(".in")).map(str::to_string).collect::<Vec<_>>() {
            let m = lib.inbound(&id, None).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(m.root.plan.is_some(), "{id}");
        }
    }
}
