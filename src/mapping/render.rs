//! Outbound: canonical documents to EDI segments (`*.out.toml`), and whole interchanges for a partner.
//!
//! An outbound mapping is a list of segments in the document's order. Each segment names its elements'
//! values as paths into the canonical JSON (`order_number`, `item.buyer_part`, `/currency`); a group
//! with `each` repeats its segments for every element of an array (lines, parties, packs). The mapping
//! is compiled against the structure (segment and element positions) and the canonical schema (field
//! paths), so faults are reported with file, line and column before any document is written.

use super::schema::{Kind, Schema};
use super::{element_at, CodeList, DocKind, Layer, Library, MappingError, MappingErrors, Origin, SourceFile, DATE_FORMATS};
use super::path::Position;
use crate::syntax::envelope::Standard;
use crate::syntax::spec::{DocumentSpec, VersionSpec};
use crate::syntax::types::DataType;
use crate::syntax::write::SegmentData;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use toml::de::DeValue;
use toml::Spanned;

/// A compiled outbound mapping.
#[derive(Debug)]
pub struct Outbound {
    pub id: String,
    pub kind: DocKind,
    pub version: &'static VersionSpec,
    pub doc: &'static DocumentSpec,
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Segment(Seg),
    Group(Group),
}

#[derive(Debug)]
struct Seg {
    id: String,
    each: Option<JPath>,
    when: OutWhen,
    elements: Vec<(Position, Val)>,
}

#[derive(Debug)]
struct Group {
    each: Option<JPath>,
    when: OutWhen,
    items: Vec<Item>,
}

#[derive(Debug)]
struct Val {
    src: OutSrc,
    format: Option<String>,
    codes: Option<Arc<CodeList>>,
    xref: Option<Arc<CodeList>>,
    default: Option<String>,
    when: OutWhen,
    ty: DataType,
    /// Used when `from` finds nothing or its code has no translation.
    fallback: Option<Box<Val>>,
    /// Written before the value (`"00"` before an SSCC in MAN*GM).
    prefix: Option<String>,
    /// `BAK03` for messages.
    at: String,
    origin: Origin,
}

#[derive(Debug)]
enum OutSrc {
    Path(JPath),
    Const(String),
    /// Number of elements of the arrays the paths reach (added up).
    Count(Vec<JPath>),
    /// Sum of the numbers the paths (with `[]`) reach.
    Sum(Vec<JPath>),
    /// How many hierarchical ids were given so far (CTT01 of an 856: the number of HL segments).
    HlCount,
    /// The hierarchical id of this level (HL01, CPS01) or of its parent (HL02, CPS02).
    HlId,
    HlParent,
}

/// `when` (any of these fields has a value) and `unless` (none of these has).
#[derive(Debug, Default)]
struct OutWhen {
    any: Vec<JPath>,
    none: Vec<JPath>,
}

impl OutWhen {
    fn holds(&self, root: &Value, scope: &Value) -> bool {
        let has = |p: &JPath| p.first(root, scope).is_some_and(|v| !is_empty(v));
        (self.any.is_empty() || self.any.iter().any(has)) && !self.none.iter().any(has)
    }
}

/// A path into the canonical JSON: `lines[].quantity.value`, `address.lines[0]`, `/currency`.
#[derive(Debug, Clone)]
struct JPath {
    text: String,
    absolute: bool,
    parts: Vec<JPart>,
}

#[derive(Debug, Clone)]
enum JPart {
    Key(String),
    Index(usize),
    All,
}

impl JPath {
    fn parse(s: &str) -> Result<JPath, String> {
        let t = s.trim();
        let (absolute, body) = match t.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, t),
        };
        let mut parts = Vec::new();
        if body == "." {
            // The current element itself (a text in an array of texts).
            return Ok(JPath { text: t.to_string(), absolute: false, parts });
        }
        if body.is_empty() {
            return Err("empty field path".into());
        }
        for seg in body.split('.') {
            let (key, mut rest) = match seg.find('[') {
                Some(i) => (&seg[..i], &seg[i..]),
                None => (seg, ""),
            };
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(format!("{s:?}: {key:?} is not a field name (lowercase, digits, _)"));
            }
            parts.push(JPart::Key(key.to_string()));
            while let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| format!("{s:?}: unclosed ["))?;
                let inner = &r[..end];
                parts.push(if inner.is_empty() { JPart::All } else { JPart::Index(inner.parse().map_err(|_| format!("{s:?}: [{inner}] is not an index"))?) });
                rest = &r[end + 1..];
            }
            if !rest.is_empty() {
                return Err(format!("{s:?}: unexpected {rest:?}"));
            }
        }
        Ok(JPath { text: t.to_string(), absolute, parts })
    }

    /// Checks the path against the schema from `at`; returns the schema it ends on.
    fn check(&self, root: Schema<'static>, at: Schema<'static>) -> Result<Schema<'static>, String> {
        let mut s = if self.absolute { root } else { at };
        for p in &self.parts {
            s = match p {
                JPart::Key(k) => s.field(k).ok_or_else(|| format!("unknown field {k:?} in {:?}; fields here: {}", self.text, s.fields().join(", ")))?,
                JPart::Index(_) | JPart::All => {
                    if s.kind() != Kind::Array {
                        return Err(format!("{:?}: [..] on a field that is not a list", self.text));
                    }
                    s.items().ok_or("list without items")?
                }
            };
        }
        Ok(s)
    }

    /// Every value the path reaches (`[]` fans out).
    fn get<'v>(&self, root: &'v Value, scope: &'v Value, out: &mut Vec<&'v Value>) {
        fn go<'v>(v: &'v Value, parts: &[JPart], out: &mut Vec<&'v Value>) {
            let Some((p, rest)) = parts.split_first() else {
                if !v.is_null() {
                    out.push(v);
                }
                return;
            };
            match p {
                JPart::Key(k) => {
                    if let Some(x) = v.get(k) {
                        go(x, rest, out)
                    }
                }
                JPart::Index(i) => {
                    if let Some(x) = v.get(*i) {
                        go(x, rest, out)
                    }
                }
                JPart::All => {
                    for x in v.as_array().into_iter().flatten() {
                        go(x, rest, out)
                    }
                }
            }
        }
        go(if self.absolute { root } else { scope }, &self.parts, out)
    }

    fn first<'v>(&self, root: &'v Value, scope: &'v Value) -> Option<&'v Value> {
        let mut v = Vec::new();
        self.get(root, scope, &mut v);
        v.into_iter().next()
    }
}

/// A canonical document that cannot be written as this mapping says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RenderError {
    /// The EDI position (`BAK03`).
    pub at: String,
    pub message: String,
    pub rule: Option<Origin>,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        if let Some(o) = &self.rule {
            write!(f, " [rule at {o}]")?;
        }
        Ok(())
    }
}

impl Library {
    /// Compiles an outbound mapping, with a partner's layer on top.
    pub fn outbound(&self, id: &str, layer: Option<&Layer<'_>>) -> Result<Outbound, MappingErrors> {
        let mut errors = Vec::new();
        let mut codes: HashMap<String, Arc<CodeList>> = self.shared_codes(&mut errors).into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        let mut chain = Vec::new();
        let Some(header) = self.resolve_chain(id, &mut chain, &mut errors) else {
            return Err(MappingErrors(errors));
        };
        let merge = |codes: &mut HashMap<String, Arc<CodeList>>, lists: Vec<CodeList>| {
            for l in lists {
                match codes.get_mut(&l.name) {
                    Some(e) => Arc::make_mut(e).extend(l.entries),
                    None => {
                        codes.insert(l.name.clone(), Arc::new(l));
                    }
                }
            }
        };
        for (file, table) in &chain {
            if let Some(t) = table.get_ref().get("codes").and_then(|t| t.get_ref().as_table()) {
                let mut lists = HashMap::new();
                super::read_code_tables(file, t, &mut lists, &mut errors);
                merge(&mut codes, lists.into_values().collect());
            }
        }
        let mut xrefs = HashMap::new();
        if let Some(l) = layer {
            merge(&mut codes, l.codes.clone());
            for x in &l.xrefs {
                xrefs.insert(x.name.clone(), Arc::new(x.clone()));
            }
        }
        let mut c = OutCompiler { header: &header, codes, xrefs, errors: &mut errors };
        let mut items: Option<Vec<Item>> = None;
        for (i, (file, table)) in chain.iter().enumerate() {
            if let Some(s) = table.get_ref().get("segments") {
                if items.is_some() {
                    // This file's segments replace the base's: so do the faults found in those.
                    let earlier: Vec<Arc<str>> = chain[..i].iter().map(|(f, _)| f.path.clone()).collect();
                    c.errors.retain(|e| e.field.is_none() || !earlier.contains(&e.origin.file));
                }
                items = Some(c.items(file, s, header.kind.schema()));
            } else if items.is_none() {
                c.errors.push(file.error(0, "missing [[segments]]: the segments to write, in order"));
            }
            if let Some(o) = table.get_ref().get("overrides") {
                if let Some(items) = items.as_mut() {
                    c.apply(file, o, items);
                }
            }
        }
        if let (Some(l), Some(items)) = (layer, items.as_mut()) {
            if let Some(o) = &l.overrides {
                c.apply(l.file, o, items);
            }
        }
        let top = chain.last().map(|(f, _)| f.path.clone());
        super::note_extended(&mut errors, id, top);
        match items {
            Some(items) if errors.is_empty() => Ok(Outbound { id: id.to_string(), kind: header.kind, version: header.version, doc: header.doc, items }),
            _ => Err(MappingErrors(errors)),
        }
    }
}

struct OutCompiler<'h, 'e> {
    header: &'h super::Header,
    codes: HashMap<String, Arc<CodeList>>,
    xrefs: HashMap<String, Arc<CodeList>>,
    errors: &'e mut Vec<MappingError>,
}

impl OutCompiler<'_, '_> {
    fn err(&mut self, file: &SourceFile, at: usize, m: impl Into<String>) {
        self.errors.push(file.error(at, m));
    }

    /// An error about a segment (`MSG`) or element (`MSG01`): a layer that drops or replaces it
    /// forgets the error.
    fn err_at(&mut self, file: &SourceFile, at: usize, m: impl Into<String>, what: &str) {
        let mut e = file.error(at, m);
        e.field = Some(what.to_string());
        self.errors.push(e);
    }

    fn forget(&mut self, what: &str, whole_segment: bool) {
        self.errors.retain(|e| match &e.field {
            Some(f) if whole_segment => !(f == what || f.strip_prefix(what).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))),
            Some(f) => f != what,
            None => true,
        });
    }

    fn jpath(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, schema: Schema<'static>) -> Option<(JPath, Schema<'static>)> {
        let Some(s) = v.get_ref().as_str() else {
            self.err(file, v.span().start, "expected a canonical field path such as \"lines\" or \"item.buyer_part\"");
            return None;
        };
        let p = match JPath::parse(s) {
            Ok(p) => p,
            Err(e) => {
                self.err(file, v.span().start, e);
                return None;
            }
        };
        match p.check(self.header.kind.schema(), schema) {
            Ok(sc) => Some((p, sc)),
            Err(e) => {
                self.err(file, v.span().start, e);
                None
            }
        }
    }

    /// One field path or a list of them.
    fn jpaths(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, schema: Schema<'static>) -> Vec<JPath> {
        match v.get_ref() {
            DeValue::Array(a) => a.iter().filter_map(|x| self.jpath(file, x, schema).map(|p| p.0)).collect(),
            _ => self.jpath(file, v, schema).map(|p| p.0).into_iter().collect(),
        }
    }

    fn items(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, schema: Schema<'static>) -> Vec<Item> {
        let Some(arr) = v.get_ref().as_array() else {
            self.err(file, v.span().start, "segments must be an array of tables ([[segments]])");
            return vec![];
        };
        arr.iter().filter_map(|t| self.item(file, t, schema)).collect()
    }

    fn item(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, schema: Schema<'static>) -> Option<Item> {
        let at = v.span().start;
        let Some(t) = v.get_ref().as_table() else {
            self.err(file, at, "a segment entry is a table");
            return None;
        };
        let (each, inner) = match t.get("each") {
            Some(e) => {
                let (p, s) = self.jpath(file, e, schema)?;
                if s.kind() != Kind::Array {
                    self.err(file, e.span().start, format!("each = {:?}: not a list", p.text));
                    return None;
                }
                (Some(p), s.items()?)
            }
            None => (None, schema),
        };
        let when = OutWhen {
            any: t.get("when").map(|w| self.jpaths(file, w, inner)).unwrap_or_default(),
            none: t.get("unless").map(|w| self.jpaths(file, w, inner)).unwrap_or_default(),
        };
        if let Some(s) = t.get("segments") {
            if t.contains_key("id") {
                self.err(file, at, "an entry is either a segment (id = ...) or a group (segments = ...), not both");
            }
            let items = self.items(file, s, inner);
            return Some(Item::Group(Group { each, when, items }));
        }
        let Some(id) = t.get("id").and_then(|i| i.get_ref().as_str()) else {
            self.err(file, at, "a segment entry needs `id` (the segment) or `segments` (a group)");
            return None;
        };
        let dict = &self.header.version.dictionary;
        let Some(sidx) = dict.segment_by_tag(crate::syntax::segment::tag(id.as_bytes())) else {
            self.err(file, at, format!("{id} is not a segment of {} {}", self.header.version.standard.name(), self.header.version.version));
            return None;
        };
        if !self.header.doc.tags.contains(&crate::syntax::segment::tag(id.as_bytes())) {
            self.err_at(file, at, format!("{id} is not used in {} {} {}", self.header.version.version, self.header.doc.id, self.header.doc.name), id);
        }
        let sdef = &dict.segments[sidx];
        let mut elements = Vec::new();
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            if matches!(key, "id" | "each" | "when" | "unless") {
                continue;
            }
            let Some(pos) = parse_position(key) else {
                self.err(file, k.span().start, format!("{id}: {key:?} is not an element position (01, 02-1) or id/each/when/segments"));
                continue;
            };
            let Some(e) = element_at(dict, sdef, pos) else {
                self.err_at(file, k.span().start, format!("{id}{pos} does not exist ({id} has {} elements)", sdef.entries.len()), &format!("{id}{pos}"));
                continue;
            };
            if let Some(v) = self.value(file, val, inner, &format!("{id}{pos}"), dict.elements[e].data_type) {
                elements.push((pos, v));
            }
        }
        Some(Item::Segment(Seg { id: id.to_string(), each, when, elements }))
    }

    fn value(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, schema: Schema<'static>, at_name: &str, ty: DataType) -> Option<Val> {
        let at = v.span().start;
        let mut val = Val { src: OutSrc::Const(String::new()), format: None, codes: None, xref: None, default: None, when: OutWhen::default(), fallback: None, prefix: None, ty, at: at_name.to_string(), origin: file.origin(at) };
        match v.get_ref() {
            DeValue::String(_) => {
                val.src = OutSrc::Path(self.jpath(file, v, schema)?.0);
                Some(val)
            }
            DeValue::Table(t) => {
                let mut src = None;
                for (k, x) in t.iter() {
                    let s = x.get_ref().as_str();
                    match k.get_ref().as_ref() {
                        "from" => src = self.jpath(file, x, schema).map(|p| OutSrc::Path(p.0)),
                        "const" => src = s.map(|c| OutSrc::Const(c.to_string())),
                        "count" => src = Some(OutSrc::Count(self.jpaths(file, x, schema))),
                        "sum" => src = Some(OutSrc::Sum(self.jpaths(file, x, schema))),
                        "hl" => {
                            src = match s {
                                Some("id") => Some(OutSrc::HlId),
                                Some("parent") => Some(OutSrc::HlParent),
                                Some("count") => Some(OutSrc::HlCount),
                                _ => {
                                    self.err(file, x.span().start, "`hl` is \"id\" (this level's number), \"parent\" (its parent's) or \"count\" (how many were given)");
                                    None
                                }
                            }
                        }
                        "format" => match s {
                            Some(f) if DATE_FORMATS.contains(&f) => val.format = Some(f.to_string()),
                            _ => self.err(file, x.span().start, format!("`format` is one of: {}", DATE_FORMATS.join(", "))),
                        },
                        "codes" => val.codes = self.codes(file, x),
                        "xref" => {
                            val.xref = s.and_then(|n| self.xrefs.get(n).map(|x| Arc::new(x.reversed())));
                        }
                        "default" => val.default = s.map(str::to_string),
                        "when" => val.when.any = self.jpaths(file, x, schema),
                        "unless" => val.when.none = self.jpaths(file, x, schema),
                        "prefix" => val.prefix = s.map(str::to_string),
                        "else" => val.fallback = self.value(file, x, schema, at_name, ty).map(Box::new),
                        other => self.err(file, k.span().start, format!("{at_name}: unknown key {other:?}; an element takes from, const, count, sum, hl, format, codes, xref, default, when, else, prefix")),
                    }
                }
                match src {
                    Some(s) => val.src = s,
                    None if val.default.is_some() => val.src = OutSrc::Const(val.default.clone().unwrap_or_default()),
                    None => {
                        self.err(file, at, format!("{at_name}: needs `from`, `const`, `count`, `sum` or `hl`"));
                        return None;
                    }
                }
                Some(val)
            }
            _ => {
                self.err(file, at, format!("{at_name}: expected a field path or a table"));
                None
            }
        }
    }

    /// A named code list is read canonical → code (reversed); an inline table is written that way.
    fn codes(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>) -> Option<Arc<CodeList>> {
        match super::codes_value(&self.codes, file, v, "inline") {
            Ok(super::CodesRef::Named(c)) => Some(Arc::new(c.reversed())),
            Ok(super::CodesRef::Inline(c)) => Some(c),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Overrides by position: `BEG05 = { from = "issue_date", format = "YYMMDD" }` changes element 05
    /// of every BEG; `REF = false` drops every REF.
    fn apply(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, items: &mut Vec<Item>) {
        let Some(t) = v.get_ref().as_table() else {
            self.err(file, v.span().start, "overrides must be a table: SEGnn = value, or SEG = false");
            return;
        };
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            // `PO106` is PO1 + 06: the longest segment id the dictionary has wins.
            let dict = &self.header.version.dictionary;
            let (id, pos) = [3usize, 2]
                .into_iter()
                .filter(|&n| key.len() > n && key.is_char_boundary(n))
                .find_map(|n| {
                    let pos = parse_position(&key[n..])?;
                    dict.segment(&key.as_bytes()[..n]).map(|_| (&key[..n], Some(pos)))
                })
                .unwrap_or((key, None));
            let mut hits = 0;
            match pos {
                None => self.forget(id, true),
                Some(p) => self.forget(&format!("{id}{p}"), false),
            }
            match (pos, val.get_ref()) {
                (None, DeValue::Boolean(false)) => remove_segments(items, id, &mut hits),
                (Some(pos), _) => {
                    let dict = &self.header.version.dictionary;
                    let ty = dict.segment(id.as_bytes()).and_then(|s| element_at(dict, s, pos)).map(|e| dict.elements[e].data_type).unwrap_or(DataType::Alphanumeric);
                    let schema = self.header.kind.schema();
                    // Paths in overrides are relative to the segment's `each` scope, as in the mapping.
                    let mut targets = Vec::new();
                    collect_segments(items, id, schema, &mut targets);
                    for (seg, sc) in targets {
                        hits += 1;
                        let name = format!("{id}{pos}");
                        let Some(v) = self.value(file, val, sc, &name, ty) else { continue };
                        seg.elements.retain(|(p, _)| *p != pos);
                        seg.elements.push((pos, v));
                    }
                }
                (None, _) => {
                    self.err(file, k.span().start, format!("override {key:?}: write SEGnn = value (an element) or SEG = false (drop the segment)"));
                    continue;
                }
            }
            if hits == 0 {
                self.err(file, k.span().start, format!("override {key:?}: the mapping writes no {id} segment"));
            }
        }
    }
}

fn remove_segments(items: &mut Vec<Item>, id: &str, hits: &mut usize) {
    items.retain(|i| match i {
        Item::Segment(s) if s.id == id => {
            *hits += 1;
            false
        }
        _ => true,
    });
    for i in items.iter_mut() {
        if let Item::Group(g) = i {
            remove_segments(&mut g.items, id, hits);
        }
    }
}

fn collect_segments<'a>(items: &'a mut [Item], id: &str, schema: Schema<'static>, out: &mut Vec<(&'a mut Seg, Schema<'static>)>) {
    for i in items.iter_mut() {
        match i {
            Item::Segment(s) => {
                if s.id == id {
                    let sc = match &s.each {
                        Some(p) => p.check(schema, schema).ok().and_then(|x| x.items()).unwrap_or(schema),
                        None => schema,
                    };
                    out.push((s, sc));
                }
            }
            Item::Group(g) => {
                let sc = match &g.each {
                    Some(p) => p.check(schema, schema).ok().and_then(|x| x.items()).unwrap_or(schema),
                    None => schema,
                };
                collect_segments(&mut g.items, id, sc, out);
            }
        }
    }
}

/// `01`, `02-1`.
fn parse_position(s: &str) -> Option<Position> {
    let (e, c) = match s.split_once('-') {
        Some((e, c)) => (e, Some(c)),
        None => (s, None),
    };
    if e.len() != 2 || !e.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let element = e.parse().ok()?;
    let component = match c {
        Some(c) if !c.is_empty() && c.len() <= 2 && c.bytes().all(|b| b.is_ascii_digit()) => Some(c.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    (element > 0).then_some(Position { element, component })
}

/// Hierarchical numbering (856 HL, DESADV CPS) while rendering.
#[derive(Default)]
struct Hl {
    next: u32,
    /// The id given at each open group level (the document is level 0).
    levels: Vec<Option<u32>>,
}

impl Outbound {
    /// The segments of one set for a canonical document (without ST/SE or UNH/UNT).
    pub fn render(&self, doc: &Value) -> Result<Vec<SegmentData>, RenderError> {
        let mut out = Vec::new();
        let mut hl = Hl { next: 1, levels: vec![None] };
        render_items(&self.items, doc, doc, &mut hl, &mut out)?;
        Ok(out)
    }

    pub fn standard(&self) -> Standard {
        self.version.standard
    }
}

fn render_items(items: &[Item], root: &Value, scope: &Value, hl: &mut Hl, out: &mut Vec<SegmentData>) -> Result<(), RenderError> {
    for item in items {
        match item {
            Item::Segment(s) => {
                for el in scopes(&s.each, root, scope) {
                    if !s.when.holds(root, el) {
                        continue;
                    }
                    if let Some(seg) = render_segment(s, root, el, hl)? {
                        out.push(seg);
                    }
                }
            }
            Item::Group(g) => {
                for el in scopes(&g.each, root, scope) {
                    if !g.when.holds(root, el) {
                        continue;
                    }
                    hl.levels.push(None);
                    let r = render_items(&g.items, root, el, hl, out);
                    hl.levels.pop();
                    r?;
                }
            }
        }
    }
    Ok(())
}

fn scopes<'v>(each: &Option<JPath>, root: &'v Value, scope: &'v Value) -> Vec<&'v Value> {
    match each {
        None => vec![scope],
        Some(p) => {
            let mut v = Vec::new();
            p.get(root, scope, &mut v);
            v.into_iter().flat_map(|x| x.as_array().map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_else(|| vec![x])).collect()
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Builds one segment; `None` when its field-sourced elements are all empty.
fn render_segment(s: &Seg, root: &Value, scope: &Value, hl: &mut Hl) -> Result<Option<SegmentData>, RenderError> {
    // (position, text, hl role: 0 none, 1 id, 2 parent)
    let mut values: Vec<(Position, String, u8)> = Vec::with_capacity(s.elements.len());
    let mut sourced = false;
    let mut found = false;
    let mut wants_hl = false;
    for (pos, v) in &s.elements {
        if !v.when.holds(root, scope) {
            continue;
        }
        let text = match &v.src {
            OutSrc::Const(c) => Some(c.clone()),
            OutSrc::Path(_) => {
                sourced = true;
                let t = value_text(v, root, scope)?;
                found |= t.is_some();
                t
            }
            OutSrc::Count(paths) => {
                let mut all = Vec::new();
                for p in paths {
                    p.get(root, scope, &mut all);
                }
                Some(all.iter().map(|x| x.as_array().map_or(1, |a| a.len())).sum::<usize>().to_string())
            }
            OutSrc::Sum(paths) => {
                let mut total = rust_decimal::Decimal::ZERO;
                for p in paths {
                    let mut all = Vec::new();
                    p.get(root, scope, &mut all);
                    for x in all {
                        let t = x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string());
                        total += t.parse::<rust_decimal::Decimal>().map_err(|_| err(v, format!("{t:?} in {} is not a number to sum", p.text)))?;
                    }
                }
                Some(total.to_string())
            }
            OutSrc::HlCount => Some((hl.next - 1).to_string()),
            OutSrc::HlId | OutSrc::HlParent => {
                wants_hl = true;
                Some(String::new())
            }
        };
        let role = match v.src {
            OutSrc::HlId => 1,
            OutSrc::HlParent => 2,
            _ => 0,
        };
        if let Some(t) = text {
            values.push((*pos, t, role));
        }
    }
    if sourced && !found {
        return Ok(None);
    }
    if wants_hl {
        let parent = hl.levels[..hl.levels.len() - 1].iter().rev().find_map(|x| *x);
        let id = hl.next;
        hl.next += 1;
        *hl.levels.last_mut().expect("level") = Some(id);
        for (_, t, role) in values.iter_mut() {
            match role {
                1 => *t = id.to_string(),
                2 => *t = parent.map(|p| p.to_string()).unwrap_or_default(),
                _ => {}
            }
        }
    }
    let mut seg = SegmentData { id: s.id.clone(), elements: Vec::new() };
    for (pos, t, _) in values {
        let e = usize::from(pos.element) - 1;
        while seg.elements.len() <= e {
            seg.elements.push(vec![vec![String::new()]]);
        }
        let comps = &mut seg.elements[e][0];
        let c = usize::from(pos.component.unwrap_or(1)) - 1;
        while comps.len() <= c {
            comps.push(String::new());
        }
        comps[c] = t;
    }
    Ok(Some(seg.trimmed()))
}

/// A path value's text, trying `else` when it has none (or no code), then `default`.
fn value_text(v: &Val, root: &Value, scope: &Value) -> Result<Option<String>, RenderError> {
    let got = match &v.src {
        OutSrc::Path(p) => match p.first(root, scope) {
            Some(x) => match to_text(x, v) {
                Ok(t) => t,
                Err(e) if v.fallback.is_some() && e.message.contains("has no code") => None,
                Err(e) => return Err(e),
            },
            None => None,
        },
        OutSrc::Const(c) => Some(c.clone()),
        _ => None,
    };
    match (got, &v.fallback) {
        (Some(t), _) => Ok(Some(match &v.prefix {
            Some(p) if !matches!(v.src, OutSrc::Const(_)) => format!("{p}{t}"),
            _ => t,
        })),
        (None, Some(f)) => value_text(f, root, scope),
        (None, None) => Ok(v.default.clone()),
    }
}

fn err(v: &Val, message: String) -> RenderError {
    RenderError { at: v.at.clone(), message, rule: Some(v.origin.clone()) }
}

/// A canonical value as the element's text: codes translated, dates formatted, implied decimals applied.
fn to_text(x: &Value, v: &Val) -> Result<Option<String>, RenderError> {
    let raw = match x {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(o) if o.contains_key("date") => {
            // A DateTime: the format says which part.
            let date = o.get("date").and_then(Value::as_str).unwrap_or_default();
            let time = o.get("time").and_then(Value::as_str);
            let f = v.format.as_deref().unwrap_or("CCYYMMDD");
            return Ok(Some(format_datetime(date, time, f).map_err(|m| err(v, m))?));
        }
        Value::Null => return Ok(None),
        other => return Err(err(v, format!("{other} is not a single value; name one of its fields"))),
    };
    if raw.is_empty() {
        return Ok(None);
    }
    let mut text = raw;
    for table in [&v.xref, &v.codes].into_iter().flatten() {
        match table.get(&text) {
            Some(c) => text = c.to_string(),
            None if v.default.is_some() && v.fallback.is_none() => text = v.default.clone().unwrap_or_default(),
            None if table.name == "inline" || !table.entries.is_empty() => {
                let mut known: Vec<&String> = table.entries.keys().collect();
                known.sort();
                return Err(err(v, format!("{text:?} has no code in {:?}; it has: {}", table.name, known.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))));
            }
            None => {}
        }
    }
    if let Some(f) = &v.format {
        return format_datetime(&text, None, f).map(Some).map_err(|m| err(v, m));
    }
    if let DataType::Numeric(n) = v.ty {
        return implied(&text, n).map(Some).map_err(|m| err(v, m));
    }
    if v.ty == DataType::Date && text.len() == 10 && text.as_bytes()[4] == b'-' {
        return Ok(Some(text.replace('-', "")));
    }
    Ok(Some(text))
}

/// `123.45` with 2 implied decimals → `12345`.
fn implied(t: &str, n: u8) -> Result<String, String> {
    let d: rust_decimal::Decimal = t.parse().map_err(|_| format!("{t:?} is not a number"))?;
    let scaled = d * rust_decimal::Decimal::from(10u64.pow(u32::from(n)));
    if scaled.fract() != rust_decimal::Decimal::ZERO {
        return Err(format!("{t} has more than {n} decimals"));
    }
    Ok(scaled.trunc().normalize().to_string())
}

/// ISO date (and `HH:MM:SS` time) in an EDI format.
fn format_datetime(date: &str, time: Option<&str>, f: &str) -> Result<String, String> {
    // `HH:MM` or `HH:MM:SS` → its digits (6, seconds 00 when absent).
    let clock = |t: &str| -> Result<String, String> {
        let b = t.as_bytes();
        let ok = (b.len() == 5 || b.len() >= 8)
            && b[2] == b':'
            && b[..2].iter().chain(&b[3..5]).all(u8::is_ascii_digit)
            && (b.len() == 5 || (b[5] == b':' && b[6..8].iter().all(u8::is_ascii_digit)));
        if !ok {
            return Err(format!("{t:?} is not a time (HH:MM:SS)"));
        }
        Ok(if b.len() == 5 { format!("{}{}00", &t[..2], &t[3..5]) } else { format!("{}{}{}", &t[..2], &t[3..5], &t[6..8]) })
    };
    if matches!(f, "HHMM" | "HHMMSS" | "401") {
        // Formatting a time: `date` may hold it when the field is a time.
        let digits = clock(time.unwrap_or(date))?;
        return Ok(if f == "HHMMSS" { digits } else { digits[..4].to_string() });
    }
    let b = date.as_bytes();
    let iso = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !iso {
        return Err(format!("{date:?} is not an ISO date (YYYY-MM-DD)"));
    }
    let d = date.replace('-', "");
    let hhmmss = || clock(time.unwrap_or("00:00:00"));
    Ok(match f {
        "CCYYMMDD" | "102" => d,
        "YYMMDD" | "101" => d[2..].to_string(),
        "203" => format!("{d}{}", &hhmmss()?[..4]),
        "204" => format!("{d}{}", hhmmss()?),
        other => return Err(format!("format {other} cannot write a date")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_datetime("2024-03-11", None, "CCYYMMDD").unwrap(), "20240311");
        assert_eq!(format_datetime("2024-03-11", None, "YYMMDD").unwrap(), "240311");
        assert_eq!(format_datetime("2024-03-11", Some("09:15:00"), "203").unwrap(), "202403110915");
        assert_eq!(format_datetime("2024-03-11", Some("09:15:30"), "HHMM").unwrap(), "0915");
        assert_eq!(format_datetime("2024-03-11", Some("09:15"), "204").unwrap(), "20240311091500");
        // What a hand-written canonical document may hold: an error, never a panic.
        assert!(format_datetime("2024-03-1\u{e9}", None, "YYMMDD").is_err());
        assert!(format_datetime("2024-03-11", Some("1"), "203").is_err());
        assert!(format_datetime("x", Some("\u{e9}\u{e9}:00"), "HHMM").is_err());
        assert_eq!(implied("123.45", 2).unwrap(), "12345");
        assert_eq!(implied("-0.5", 2).unwrap(), "-50");
        assert_eq!(implied("7", 2).unwrap(), "700");
        assert!(implied("1.234", 2).is_err());
        assert!(parse_position("02-1").is_some());
        assert!(parse_position("2").is_none());
        let p = JPath::parse("lines[].quantity.value").unwrap();
        assert_eq!(p.parts.len(), 4);
        assert!(JPath::parse("Lines").is_err());
    }
}
