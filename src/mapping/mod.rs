//! Mappings: declarative files (`mappings/`) that turn a transaction set into a canonical document
//! (`*.in.toml`) and a canonical document into a transaction set (`*.out.toml`).
//!
//! A mapping is compiled once against the document's structure (`standards/`) and the canonical
//! document's schema, so a path naming a segment the document does not have, or a field the canonical
//! document does not have, is an error with file, line and column before any document is read. The
//! compiled form is then evaluated per set without re-reading anything: see [`eval`] (inbound) and
//! [`render`] (outbound). The file format is described in `mappings/README.md`.

pub(crate) mod build;
pub mod eval;
pub mod path;
pub(crate) mod plan;
pub mod render;
pub mod schema;

use crate::model;
use crate::syntax::envelope::Standard;
use crate::syntax::spec::{pack_code, standards, CodeMap, DocumentSpec, EntryKind, LoopNode, Node, SegmentNode, VersionSpec};
use crate::syntax::structure::name_key;
use crate::syntax::types::DataType;
use path::{Path as EdiPath, Position, Read, Test};
use schema::{Kind, Schema};
use toml::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};
use toml::de::{DeTable, DeValue};

/// The four canonical documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocKind {
    PurchaseOrder,
    OrderConfirmation,
    ShipNotice,
    Invoice,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [DocKind::PurchaseOrder, DocKind::OrderConfirmation, DocKind::ShipNotice, DocKind::Invoice];

    /// The name used in mapping files and in the JSON `document` tag.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::PurchaseOrder => "purchase_order",
            DocKind::OrderConfirmation => "order_confirmation",
            DocKind::ShipNotice => "ship_notice",
            DocKind::Invoice => "invoice",
        }
    }

    pub fn from_name(s: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The canonical document of an EDI document type (`850`, `DESADV`).
    pub fn for_message(message: &str) -> Option<DocKind> {
        Some(match message {
            "850" | "ORDERS" => DocKind::PurchaseOrder,
            "855" | "ORDRSP" => DocKind::OrderConfirmation,
            "856" | "DESADV" => DocKind::ShipNotice,
            "810" | "INVOIC" => DocKind::Invoice,
            _ => return None,
        })
    }

    pub fn schema(self) -> Schema<'static> {
        static CELL: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
        let all = CELL.get_or_init(|| {
            fn s<T: schemars::JsonSchema>() -> serde_json::Value {
                serde_json::to_value(schemars::schema_for!(T)).expect("schema")
            }
            vec![s::<model::PurchaseOrder>(), s::<model::OrderConfirmation>(), s::<model::ShipNotice>(), s::<model::Invoice>()]
        });
        Schema::root(&all[self as usize])
    }
}

/// Inbound (EDI → canonical) or outbound (canonical → EDI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn suffix(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A place in a file an analyst edits: `mappings/x12/004010/850.in.toml:14:9`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A fault in a mapping or profile: where, which key, what is wrong and what would be right.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct MappingError {
    pub origin: Origin,
    pub message: String,
    /// The canonical field whose rule has the fault, when it is one.
    pub field: Option<String>,
}

/// Everything wrong with one compile, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct MappingErrors(pub Vec<MappingError>);

/// A loaded text file (mapping, code lists or profile), with what turns byte offsets into lines.
#[derive(Debug)]
pub struct SourceFile {
    /// Shown in messages: `mappings/x12/004010/850.in.toml`.
    pub path: Arc<str>,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<Arc<str>>, text: String) -> SourceFile {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        SourceFile { path: path.into(), text, line_starts }
    }

    pub fn origin(&self, offset: usize) -> Origin {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let col = self.text[self.line_starts[line - 1]..offset.min(self.text.len())].chars().count() + 1;
        Origin { file: self.path.clone(), line: line as u32, col: col as u32 }
    }

    pub fn error(&self, offset: usize, message: impl Into<String>) -> MappingError {
        MappingError { origin: self.origin(offset), message: message.into(), field: None }
    }

    /// Parses the file as TOML; a syntax error is reported at its place.
    pub fn parse(&self) -> Result<Spanned<DeTable<'_>>, MappingError> {
        DeTable::parse(&self.text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            self.error(at, format!("not valid TOML: {}", e.message()))
        })
    }
}

/// A translation table: `"00" = "original"` (codes), or `"AC-100" = "4711-001"` (a partner's
/// cross-reference).
#[derive(Debug, Clone)]
pub struct CodeList {
    pub name: String,
    /// Changed through [`CodeList::extend`] once the list may have been looked up (it keeps the
    /// lookup index right).
    pub entries: BTreeMap<String, String>,
    pub origin: Origin,
    /// The entries whose codes are short (up to 7 bytes) by packed code, with their values,
    /// made on the first lookup: a hash lookup of a number instead of string comparisons.
    short: OnceLock<(CodeMap<u32>, Vec<String>)>,
}

impl CodeList {
    pub fn new(name: String, entries: BTreeMap<String, String>, origin: Origin) -> CodeList {
        CodeList { name, entries, origin, short: OnceLock::new() }
    }

    /// Adds or replaces entries (a partner's layer over a list); the lookup index is made anew.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = (String, String)>) {
        self.entries.extend(entries);
        self.short = OnceLock::new();
    }

    /// What `code` translates to.
    #[inline]
    pub fn get(&self, code: &str) -> Option<&str> {
        // (The empty code packs to 0, which the map does not hold.)
        let Some(packed) = pack_code(code.as_bytes()).filter(|&k| k != 0) else {
            return self.entries.get(code).map(String::as_str);
        };
        let (codes, values) = self.short.get_or_init(|| {
            let short: Vec<(u64, &String)> = self.entries.iter().filter_map(|(k, v)| Some((pack_code(k.as_bytes())?, v))).collect();
            let codes = CodeMap::new(short.iter().enumerate().map(|(i, &(k, _))| (k, i as u32)));
            (codes, short.into_iter().map(|(_, v)| v.clone()).collect())
        });
        codes.get(packed).map(|i| values[i as usize].as_str())
    }

    /// The reverse table (canonical value → code), first code winning, for outbound mappings.
    pub fn reversed(&self) -> CodeList {
        let mut entries = BTreeMap::new();
        let mut keys: Vec<(&String, &String)> = self.entries.iter().collect();
        keys.sort();
        for (k, v) in keys {
            entries.entry(v.clone()).or_insert_with(|| k.clone());
        }
        CodeList::new(self.name.clone(), entries, self.origin.clone())
    }
}

/// What a partner adds to a base mapping: overrides of its rules, code-list entries, cross-references.
pub struct Layer<'a> {
    pub file: &'a SourceFile,
    /// The `overrides` table of the profile's document entry.
    pub overrides: Option<Spanned<DeValue<'a>>>,
    /// Code-list entries by list name (merged over the mapping's lists).
    pub codes: Vec<CodeList>,
    /// Cross-references by name.
    pub xrefs: Vec<CodeList>,
}

/// All mapping files of a directory and the shared code lists (`codes.toml`).
#[derive(Debug)]
pub struct Library {
    /// By id: `x12/004010/850.in`.
    pub files: BTreeMap<String, SourceFile>,
    pub codes: Option<SourceFile>,
}

impl Library {
    /// Reads `dir` (usually `mappings/`): every `*.in.toml` / `*.out.toml` below it and `codes.toml`.
    pub fn load(dir: &std::path::Path) -> anyhow::Result<Library> {
        use anyhow::Context;
        let mut files = BTreeMap::new();
        let mut codes = None;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).with_context(|| format!("reading mapping directory {}", d.display()))?;
            for e in entries {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                let shown = format!("{}/{rel}", dir.display()).replace("//", "/");
                if rel == "codes.toml" {
                    codes = Some(SourceFile::new(shown, std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?));
                } else if let Some(id) = rel.strip_suffix(".toml").filter(|id| id.ends_with(".in") || id.ends_with(".out")) {
                    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
                    files.insert(id.to_string(), SourceFile::new(shown, text));
                }
            }
        }
        Ok(Library { files, codes })
    }

    /// The mapping id for a document: `x12/004010/850.in`.
    pub fn id(standard: Standard, version: &str, message: &str, direction: Direction) -> String {
        let std = match standard {
            Standard::X12 => "x12",
            Standard::Edifact => "edifact",
        };
        let version = if standard == Standard::X12 { version.get(..6).unwrap_or(version) } else { version };
        format!("{std}/{version}/{message}.{}", direction.suffix())
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The names of every code list: shared (`codes.toml`) and those of the mapping files (`[codes.NAME]`).
    pub fn code_list_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        if let Some(Ok(t)) = self.codes.as_ref().map(|f| f.parse()) {
            names.extend(t.get_ref().keys().map(|k| k.get_ref().to_string()));
        }
        for f in self.files.values() {
            if let Ok(t) = f.parse() {
                if let Some(c) = t.get_ref().get("codes").and_then(|c| c.get_ref().as_table()) {
                    names.extend(c.keys().map(|k| k.get_ref().to_string()));
                }
            }
        }
        names
    }

    /// The shared code lists from `codes.toml`.
    fn shared_codes(&self, errors: &mut Vec<MappingError>) -> HashMap<String, CodeList> {
        let mut out = HashMap::new();
        if let Some(f) = &self.codes {
            match f.parse() {
                Ok(t) => read_code_tables(f, t.get_ref(), &mut out, errors),
                Err(e) => errors.push(e),
            }
        }
        out
    }

    /// Compiles an inbound mapping, with a partner's layer on top.
    pub fn inbound(&self, id: &str, layer: Option<&Layer<'_>>) -> Result<Inbound, MappingErrors> {
        let mut errors = Vec::new();
        let codes = self.shared_codes(&mut errors);
        let mut chain = Vec::new();
        let out = self.resolve_chain(id, &mut chain, &mut errors).and_then(|header| {
            let mut c = Compiler::new(header.version, header.doc, codes, &mut errors);
            // Code lists and cross-references: shared, then each file from the base up, then the partner.
            for (file, table) in &chain {
                if let Some(t) = table.get_ref().get("codes") {
                    c.add_codes(file, t);
                }
            }
            if let Some(l) = layer {
                c.merge_codes(&l.codes);
                for x in &l.xrefs {
                    c.xrefs.insert(x.name.clone(), Arc::new(x.clone()));
                }
            }
            let mut root: Option<Obj> = None;
            for (file, table) in &chain {
                let Some(map) = table.get_ref().get("map") else {
                    if root.is_none() {
                        c.errors.push(file.error(table.span().start, "missing [map] table: the rules that fill the canonical document"));
                    }
                    continue;
                };
                match &mut root {
                    None => root = c.object_of(file, map, header.kind.schema(), SScope::Loop(&header.doc.root), ""),
                    Some(r) => c.apply(file, map, r, header.kind.schema(), ""),
                }
            }
            if let (Some(l), Some(r)) = (layer, root.as_mut()) {
                if let Some(o) = &l.overrides {
                    c.apply(l.file, o, r, header.kind.schema(), "");
                }
            }
            let warnings = std::mem::take(&mut c.warnings);
            if let Some(r) = root.as_mut() {
                plan::plan(r);
            }
            root.map(|root| Inbound { id: id.to_string(), kind: header.kind, version: header.version, doc: header.doc, root, warnings })
        });
        note_extended(&mut errors, id, chain.last().map(|(f, _)| f.path.clone()));
        match out {
            Some(m) if errors.is_empty() => Ok(m),
            _ => Err(MappingErrors(errors)),
        }
    }

    /// Reads a mapping file and the files it extends, base first.
    fn resolve_chain<'l>(
        &'l self,
        id: &str,
        chain: &mut Vec<(&'l SourceFile, Spanned<DeTable<'l>>)>,
        errors: &mut Vec<MappingError>,
    ) -> Option<Header> {
        let mut seen = Vec::new();
        let mut next = id.to_string();
        let mut at: Option<(&SourceFile, usize)> = None;
        loop {
            let Some(file) = self.files.get(&next) else {
                let msg = format!("unknown mapping {next:?}; available: {}", self.ids().collect::<Vec<_>>().join(", "));
                match at {
                    Some((f, off)) => errors.push(f.error(off, msg)),
                    None => errors.push(MappingError { origin: Origin { file: "mappings".into(), line: 0, col: 0 }, message: msg, field: None }),
                }
                return None;
            };
            if seen.contains(&next) {
                errors.push(file.error(0, format!("`extends` goes round in a circle: {}", seen.join(" → "))));
                return None;
            }
            seen.push(next.clone());
            let table = match file.parse() {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    return None;
                }
            };
            let ext = table.get_ref().get("extends").map(|v| (v.span().start, v.get_ref().as_str().map(str::to_string)));
            chain.insert(0, (file, table));
            match ext {
                Some((off, Some(base))) => {
                    at = Some((file, off));
                    next = base;
                }
                Some((off, None)) => {
                    errors.push(file.error(off, "`extends` must be a mapping id such as \"x12/004010/850.in\""));
                    return None;
                }
                None => break,
            }
        }
        let header = header_of(id, chain.last().map(|(f, t)| (*f, t)), errors)?;
        // The base must be of the same direction and document.
        for (f, t) in chain.iter() {
            if let Some(d) = t.get_ref().get("document") {
                if d.get_ref().as_str() != Some(header.kind.name()) {
                    errors.push(f.error(d.span().start, format!("document must be {:?} for {id}", header.kind.name())));
                }
            }
        }
        Some(header)
    }
}

/// A `codes` value as written: the name of a list, or an inline table.
pub(crate) enum CodesRef {
    Named(Arc<CodeList>),
    Inline(Arc<CodeList>),
}

/// Reads a `codes` value (shared by inbound and outbound mappings).
pub(crate) fn codes_value(lists: &HashMap<String, Arc<CodeList>>, file: &SourceFile, v: &Spanned<DeValue<'_>>, inline_name: &str) -> Result<CodesRef, MappingError> {
    match v.get_ref() {
        DeValue::String(n) => lists.get(n.as_ref()).map(|c| CodesRef::Named(c.clone())).ok_or_else(|| {
            let mut known: Vec<&str> = lists.keys().map(String::as_str).collect();
            known.sort();
            file.error(v.span().start, format!("unknown code list {n:?}; available: {}", known.join(", ")))
        }),
        DeValue::Table(t) => {
            let mut entries = BTreeMap::new();
            for (k, val) in t.iter() {
                match val.get_ref().as_str() {
                    Some(s) => {
                        entries.insert(k.get_ref().to_string(), s.to_string());
                    }
                    None => return Err(file.error(val.span().start, "a code translates to a string")),
                }
            }
            Ok(CodesRef::Inline(Arc::new(CodeList::new(inline_name.to_string(), entries, file.origin(v.span().start)))))
        }
        _ => Err(file.error(v.span().start, "`codes` is the name of a code list or an inline table { \"00\" = \"original\" }")),
    }
}

/// A fault found in a base file while compiling a mapping that extends it says so.
pub(crate) fn note_extended(errors: &mut [MappingError], id: &str, top: Option<Arc<str>>) {
    let Some(top) = top else { return };
    for e in errors.iter_mut() {
        if e.origin.file != top && e.origin.file.starts_with("mappings") && !e.message.contains("which extends") {
            e.message.push_str(&format!(" (while compiling {id}, which extends this file)"));
        }
    }
}

/// What a mapping's id and `document` key say.
pub(crate) struct Header {
    pub version: &'static VersionSpec,
    pub doc: &'static DocumentSpec,
    pub kind: DocKind,
}

fn header_of(id: &str, top: Option<(&SourceFile, &Spanned<DeTable<'_>>)>, errors: &mut Vec<MappingError>) -> Option<Header> {
    let (file, table) = top?;
    let mut parts = id.split('/');
    let (std, version, rest) = (parts.next()?, parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let standard = match std {
        "x12" => Standard::X12,
        "edifact" => Standard::Edifact,
        _ => {
            errors.push(file.error(0, format!("mapping {id:?} must sit under mappings/x12/ or mappings/edifact/")));
            return None;
        }
    };
    let message = rest.rsplit_once('.').map(|(m, _)| m).unwrap_or(rest);
    let Some((vs, doc)) = standards().document(standard, version, message) else {
        errors.push(file.error(0, format!("mapping {id:?}: edigate has no structure for {std} {version} {message}")));
        return None;
    };
    let Some(kind) = DocKind::for_message(message) else {
        errors.push(file.error(0, format!("{message} has no canonical document")));
        return None;
    };
    match table.get_ref().get("document") {
        Some(d) if d.get_ref().as_str() == Some(kind.name()) => {}
        Some(d) => errors.push(file.error(d.span().start, format!("document = {:?} does not match {message}, which is {:?}", d.get_ref().as_str().unwrap_or("?"), kind.name()))),
        None => errors.push(file.error(0, format!("missing `document = {:?}`", kind.name()))),
    }
    Some(Header { version: vs, doc, kind })
}

fn read_code_tables(file: &SourceFile, table: &DeTable<'_>, out: &mut HashMap<String, CodeList>, errors: &mut Vec<MappingError>) {
    for (name, v) in table.iter() {
        let Some(t) = v.get_ref().as_table() else {
            errors.push(file.error(v.span().start, format!("code list {:?} must be a table of code = value", name.get_ref())));
            continue;
        };
        let list = out.entry(name.get_ref().to_string()).or_insert_with(|| CodeList::new(name.get_ref().to_string(), BTreeMap::new(), file.origin(name.span().start)));
        for (k, val) in t.iter() {
            match val.get_ref().as_str() {
                Some(s) => {
                    list.entries.insert(k.get_ref().to_string(), s.to_string());
                }
                None => errors.push(file.error(val.span().start, format!("{}.{}: a code translates to a string", name.get_ref(), k.get_ref()))),
            }
        }
    }
}

/// A compiled inbound mapping.
#[derive(Debug)]
pub struct Inbound {
    pub id: String,
    pub kind: DocKind,
    pub version: &'static VersionSpec,
    pub doc: &'static DocumentSpec,
    pub(crate) root: Obj,
    /// What compiles but may fail documents.
    pub warnings: Vec<MappingError>,
}

/// Where a compiled rule is evaluated: a loop instance or one segment.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SScope {
    Loop(&'static LoopNode),
    Segment(&'static SegmentNode),
}

impl SScope {
    fn describe(&self) -> String {
        match self {
            SScope::Loop(l) if l.name.is_empty() => "the set".to_string(),
            SScope::Loop(l) => format!("loop {}", l.name),
            SScope::Segment(s) => format!("segment {}", s.id),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Obj {
    pub fields: Vec<Field>,
    pub scope: SScope,
    /// The object exists only where this holds (`when = "N1[01=ST]"`).
    pub when: When,
    /// For a scope root (the document, an object per `each` match): what one pass over the scope
    /// reads for it and the objects nested in its scope ([`plan`]).
    pub plan: Option<Box<plan::Plan>>,
    /// Each field's position in the canonical struct's field list (`u32::MAX`: not there), worked
    /// out the first time the object is built ([`build`]).
    pub keys: std::sync::OnceLock<Box<[u32]>>,
}

/// A condition on the scope: `when` (one path, or a list: any of them) and `unless` (none of them).
#[derive(Debug, Default)]
pub(crate) struct When {
    pub any: Vec<RPath>,
    pub none: Vec<RPath>,
}


#[derive(Debug)]
pub(crate) struct Field {
    pub name: String,
    pub rule: Rule,
    pub origin: Origin,
}

#[derive(Debug)]
pub(crate) enum Rule {
    Value(Box<ValueRule>),
    Object(Obj),
    Array(Vec<Entry>),
}

/// One source of an array's elements.
#[derive(Debug)]
pub(crate) struct Entry {
    /// One element per match (loop instance or segment); without it, one element from the scope.
    pub each: Option<RPath>,
    pub when: When,
    pub body: Body,
}

#[derive(Debug)]
pub(crate) enum Body {
    Object(Obj),
    /// Scalars: every match of the value's path.
    Value(Box<ValueRule>),
}

/// How a value is read and turned into canonical text.
#[derive(Debug)]
pub(crate) struct ValueRule {
    pub sources: Vec<Src>,
    pub as_: As,
    /// Date/time format (`CCYYMMDD`, `YYMMDD`, `102`, `203`); by the value's length when absent.
    pub format: Option<String>,
    /// For `as = "datetime"`: where the time is (X12 DTM03), when not in the date's value.
    pub time: Option<RPath>,
    /// For `as = "datetime"`: the time zone code (X12 DTM04).
    pub zone: Option<RPath>,
    pub codes: Option<Arc<CodeList>>,
    pub xref: Option<Arc<CodeList>>,
    pub unmatched: Unmatched,
    pub default: Option<String>,
    pub when: When,
    /// Joins the values of every source with this separator, instead of taking the first.
    pub join: Option<String>,
    /// In a text list: every source's value, in source order (not the first that has one).
    pub all: bool,
    /// Removed from the front of the value when there (`"00"` before an SSCC in MAN*GM).
    pub prefix: Option<String>,
    /// The value is the trimmed text of the first source that has one (its prefix removed, a
    /// table's translation; a decimal only checked), and the first source is planned: its text is
    /// taken straight from the slots ([`plan`], [`eval::Cx::direct`]).
    pub direct: bool,
    /// When the rule yields a value only from its sources and each is planned in the scope's own
    /// plan: their probes, so that "nothing found" is a look at the slots ([`plan`]).
    pub probes: Option<Box<[u16]>>,
    pub origin: Origin,
    /// The canonical field it fills (`lines.quantity.unit`).
    pub target: String,
}

#[derive(Debug)]
pub(crate) enum Src {
    Path(RPath),
    Const(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum As {
    Text,
    Date,
    Time,
    DateTime,
    Decimal,
}

/// What to do with a value a code list or cross-reference does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unmatched {
    Error,
    Keep,
    Drop,
}

/// A path resolved against the document's structure.
#[derive(Debug, Clone)]
pub(crate) struct RPath {
    pub text: String,
    pub absolute: bool,
    pub steps: Vec<RStep>,
    pub read: RRead,
    /// The slot that holds this path's first value, when it is planned ([`plan`]).
    pub probe: Option<plan::ProbeRef>,
}

#[derive(Debug, Clone)]
pub(crate) struct RStep {
    pub kind: StepKind,
    pub conds: Vec<RCond>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum StepKind {
    /// Child loop instances with this name.
    Loop(u64),
    /// Segments directly in the scope.
    Segment(u32),
    /// The first segment of child loop instances (the loop is named by its trigger: `PID05` in PO1).
    Trigger(u64, u32),
    /// The scope's own segment.
    This,
    /// The enclosing loop instance (`..`).
    Parent,
}

#[derive(Debug, Clone)]
pub(crate) struct RCond {
    pub at: Position,
    pub test: Test,
}

#[derive(Debug, Clone)]
pub(crate) enum RRead {
    Nothing,
    Element { at: Position, ty: DataType, dtm: bool },
    Pair { first: u16, last: u16, qualifier: String },
}

/// Turns TOML tables into compiled rules, collecting every fault.
pub(crate) struct Compiler<'e> {
    pub version: &'static VersionSpec,
    pub doc: &'static DocumentSpec,
    pub codes: HashMap<String, Arc<CodeList>>,
    pub xrefs: HashMap<String, Arc<CodeList>>,
    pub errors: &'e mut Vec<MappingError>,
    /// What compiles but may fail documents (a code list that does not cover its element's codes).
    pub warnings: Vec<MappingError>,
    /// The field being compiled, put on its errors (so a layer that replaces the rule drops them).
    current: String,
}

/// Keys a value table may have (anything else in a table makes it a nested object).
const VALUE_KEYS: &[&str] = &["from", "const", "as", "format", "time", "zone", "codes", "xref", "unmatched", "default", "when", "unless", "join", "all", "prefix", "each"];

fn is_value_table(t: &DeTable<'_>) -> bool {
    t.contains_key("from") || t.contains_key("const")
}

impl<'e> Compiler<'e> {
    pub fn new(
        version: &'static VersionSpec,
        doc: &'static DocumentSpec,
        codes: HashMap<String, CodeList>,
        errors: &'e mut Vec<MappingError>,
    ) -> Self {
        let codes = codes.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        Compiler { version, doc, codes, xrefs: HashMap::new(), errors, warnings: Vec::new(), current: String::new() }
    }

    fn add_codes(&mut self, file: &SourceFile, t: &Spanned<DeValue<'_>>) {
        let Some(table) = t.get_ref().as_table() else {
            self.errors.push(file.error(t.span().start, "[codes] must hold one table per code list"));
            return;
        };
        let mut lists = HashMap::new();
        read_code_tables(file, table, &mut lists, self.errors);
        self.merge_codes(&lists.into_values().collect::<Vec<_>>());
    }

    fn merge_codes(&mut self, lists: &[CodeList]) {
        for l in lists {
            match self.codes.get_mut(&l.name) {
                Some(existing) => {
                    Arc::make_mut(existing).extend(l.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                None => {
                    self.codes.insert(l.name.clone(), Arc::new(l.clone()));
                }
            }
        }
    }

    fn err(&mut self, file: &SourceFile, at: usize, msg: impl Into<String>) {
        let mut e = file.error(at, msg);
        e.field = Some(self.current.clone()).filter(|c| !c.is_empty());
        self.errors.push(e);
    }

    /// Forgets faults of rules a layer replaces: an extending mapping may fix what its base cannot do
    /// in this version.
    fn forget(&mut self, full: &str) {
        self.errors.retain(|e| match &e.field {
            Some(f) => !(f == full || f.strip_prefix(full).is_some_and(|r| r.starts_with('.'))),
            None => true,
        });
    }

    /// A table of fields → an object in `scope`.
    fn object_of(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, schema: Schema<'static>, scope: SScope, target: &str) -> Option<Obj> {
        let Some(t) = v.get_ref().as_table() else {
            self.err(file, v.span().start, format!("{}: expected a table of fields", show_target(target)));
            return None;
        };
        let mut obj = Obj { fields: Vec::new(), scope, when: When::default(), plan: None, keys: Default::default() };
        for (k, val) in t.iter() {
            let name = k.get_ref().as_ref();
            if name == "each" {
                continue;
            }
            if name == "when" || name == "unless" {
                let paths = self.paths(file, val, scope);
                if name == "when" { obj.when.any = paths } else { obj.when.none = paths }
                continue;
            }
            self.set_field(file, &mut obj, name, k.span().start, val, schema, target);
        }
        Some(obj)
    }

    /// Compiles `name = val` into `obj`, replacing any rule it had (`false` removes it).
    #[allow(clippy::too_many_arguments)]
    fn set_field(&mut self, file: &SourceFile, obj: &mut Obj, name: &str, at: usize, val: &Spanned<DeValue<'_>>, schema: Schema<'static>, target: &str) {
        let full = join(target, name);
        let Some(fs) = schema.field(name) else {
            let fields = schema.fields();
            self.err(file, at, format!("{}: unknown field {name:?}; fields here: {}", show_target(target), fields.join(", ")));
            return;
        };
        if name == "provenance" {
            self.err(file, at, "provenance is filled by edigate from the envelope, not by mappings");
            return;
        }
        if let DeValue::Boolean(false) = val.get_ref() {
            obj.fields.retain(|f| f.name != name);
            return;
        }
        let origin = file.origin(at);
        let prev = std::mem::replace(&mut self.current, full.clone());
        let rule = self.rule(file, val, fs, obj.scope, &full);
        self.current = prev;
        let Some(rule) = rule else { return };
        match obj.fields.iter_mut().find(|f| f.name == name) {
            Some(f) => {
                f.rule = rule;
                f.origin = origin;
            }
            None => obj.fields.push(Field { name: name.to_string(), rule, origin }),
        }
    }

    fn rule(&mut self, file: &SourceFile, val: &Spanned<DeValue<'_>>, fs: Schema<'static>, scope: SScope, target: &str) -> Option<Rule> {
        let at = val.span().start;
        match (fs.kind(), val.get_ref()) {
            (Kind::Array, DeValue::Array(items)) => {
                let item_schema = fs.items()?;
                let mut entries = Vec::new();
                for item in items.iter() {
                    if let Some(e) = self.entry(file, item, item_schema, scope, target) {
                        entries.push(e);
                    }
                }
                Some(Rule::Array(entries))
            }
            (Kind::Array, _) => {
                let item_schema = fs.items()?;
                self.entry(file, val, item_schema, scope, target).map(|e| Rule::Array(vec![e]))
            }
            (Kind::Object, DeValue::Table(t)) if !is_value_table(t) => self.object_of(file, val, fs, scope, target).map(Rule::Object),
            (Kind::Object, _) if fs.fields().contains(&"date") && fs.fields().contains(&"zone") => {
                // A DateTime filled from one value: `{ from = "DTM02[01=002]", as = "datetime" }`.
                self.value(file, val, fs, scope, target, Some(As::DateTime)).map(|v| Rule::Value(Box::new(v)))
            }
            (Kind::Object, _) => {
                self.err(file, at, format!("{}: is an object ({}); write a table of its fields", show_target(target), fs.fields().join(", ")));
                None
            }
            (Kind::Scalar, DeValue::Table(t)) if !is_value_table(t) => {
                self.err(file, at, format!("{}: is a single value; write a path (\"BEG03\") or {{ from = ..., ... }} / {{ const = ... }}", show_target(target)));
                None
            }
            (Kind::Scalar, DeValue::Array(_)) => {
                self.err(file, at, format!("{}: is a single value, not a list; for alternatives write {{ from = [\"A\", \"B\"] }}", show_target(target)));
                None
            }
            (Kind::Scalar, _) => self.value(file, val, fs, scope, target, None).map(|v| Rule::Value(Box::new(v))),
        }
    }

    fn entry(&mut self, file: &SourceFile, val: &Spanned<DeValue<'_>>, item: Schema<'static>, scope: SScope, target: &str) -> Option<Entry> {
        if item.kind() == Kind::Object && !val.get_ref().as_table().is_some_and(is_value_table) {
            let t = val.get_ref().as_table();
            let (each, inner) = match t.and_then(|t| t.get("each")) {
                Some(e) => {
                    let p = self.path_value(file, e, scope)?;
                    let inner = p.1;
                    (Some(p.0), inner)
                }
                None => (None, scope),
            };
            let mut obj = self.object_of(file, val, item, inner, target)?;
            let when = std::mem::take(&mut obj.when);
            return Some(Entry { each, when, body: Body::Object(obj) });
        }
        // A text list element per match: `{ each = "FTX[01=AAI]", from = ["FTX04-1", "FTX04-2"], join = " " }`.
        let (each, inner) = match val.get_ref().as_table().and_then(|t| t.get("each")) {
            Some(e) => {
                let (p, sc) = self.path_value(file, e, scope)?;
                (Some(p), sc)
            }
            None => (None, scope),
        };
        let v = self.value(file, val, item, inner, target, None)?;
        Some(Entry { each, when: When::default(), body: Body::Value(Box::new(v)) })
    }

    /// One path or a list of paths.
    fn paths(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, scope: SScope) -> Vec<RPath> {
        match v.get_ref() {
            DeValue::Array(a) => a.iter().filter_map(|p| self.path_value(file, p, scope).map(|x| x.0)).collect(),
            _ => self.path_value(file, v, scope).map(|x| x.0).into_iter().collect(),
        }
    }

    fn path_value(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, scope: SScope) -> Option<(RPath, SScope)> {
        match v.get_ref().as_str() {
            Some(s) => self.path(file, v.span().start, s, scope),
            None => {
                self.err(file, v.span().start, "expected a path such as \"N1[01=ST]\"");
                None
            }
        }
    }

    /// A value rule: a path string or a table of `from`/`const` and transformations.
    fn value(&mut self, file: &SourceFile, val: &Spanned<DeValue<'_>>, fs: Schema<'static>, scope: SScope, target: &str, forced: Option<As>) -> Option<ValueRule> {
        let at = val.span().start;
        let origin = file.origin(at);
        let mut rule = ValueRule {
            sources: vec![],
            as_: forced.unwrap_or(match fs.format() {
                "date" => As::Date,
                "time" => As::Time,
                "decimal" => As::Decimal,
                _ => As::Text,
            }),
            format: None,
            time: None,
            zone: None,
            codes: None,
            xref: None,
            unmatched: Unmatched::Error,
            default: None,
            when: When::default(),
            join: None,
            all: false,
            prefix: None,
            direct: false,
            probes: None,
            origin,
            target: target.to_string(),
        };
        let table = match val.get_ref() {
            DeValue::String(s) => {
                rule.sources.push(Src::Path(self.path(file, at, s, scope)?.0));
                None
            }
            DeValue::Table(t) => Some(t),
            _ => {
                self.err(file, at, format!("{}: expected a path string or a table with `from` or `const`", show_target(target)));
                return None;
            }
        };
        if let Some(t) = table {
            for (k, v) in t.iter() {
                let key = k.get_ref().as_ref();
                let kat = k.span().start;
                let vat = v.span().start;
                let s = v.get_ref().as_str();
                match key {
                    "from" => match v.get_ref() {
                        DeValue::String(p) => rule.sources.push(Src::Path(self.path(file, vat, p, scope)?.0)),
                        DeValue::Array(a) => {
                            for p in a.iter() {
                                match p.get_ref().as_str() {
                                    Some(ps) => {
                                        if let Some((rp, _)) = self.path(file, p.span().start, ps, scope) {
                                            rule.sources.push(Src::Path(rp));
                                        }
                                    }
                                    None => self.err(file, p.span().start, "`from` alternatives must be path strings"),
                                }
                            }
                        }
                        _ => self.err(file, vat, "`from` is a path or a list of paths (the first that has a value wins)"),
                    },
                    "const" => match s {
                        Some(c) => rule.sources.push(Src::Const(c.to_string())),
                        None => self.err(file, vat, "`const` must be a string"),
                    },
                    "as" => {
                        rule.as_ = match s {
                            Some("text") => As::Text,
                            Some("date") => As::Date,
                            Some("time") => As::Time,
                            Some("datetime") => As::DateTime,
                            Some("decimal") => As::Decimal,
                            _ => {
                                self.err(file, vat, "`as` is one of: text, date, time, datetime, decimal");
                                As::Text
                            }
                        }
                    }
                    "format" => match s {
                        Some(f) if DATE_FORMATS.contains(&f) => rule.format = Some(f.to_string()),
                        _ => self.err(file, vat, format!("`format` is one of: {}", DATE_FORMATS.join(", "))),
                    },
                    "when" => rule.when.any = self.paths(file, v, scope),
                    "unless" => rule.when.none = self.paths(file, v, scope),
                    "each" => {} // an array entry's; read by `entry`
                    "all" => match v.get_ref() {
                        DeValue::Boolean(b) => rule.all = *b,
                        _ => self.err(file, vat, "`all` is true or false"),
                    },
                    "join" => match s {
                        Some(j) => rule.join = Some(j.to_string()),
                        None => self.err(file, vat, "`join` is the separator text"),
                    },
                    "time" | "zone" => match s {
                        Some(p) => {
                            let rp = self.path(file, vat, p, scope).map(|x| x.0);
                            match key {
                                "time" => rule.time = rp,
                                _ => rule.zone = rp,
                            }
                        }
                        None => self.err(file, vat, format!("`{key}` must be a path")),
                    },
                    "codes" => rule.codes = self.code_list(file, v, &format!("{target}.codes")),
                    "xref" => match s {
                        Some(name) => match self.xrefs.get(name) {
                            Some(x) => rule.xref = Some(x.clone()),
                            None => {
                                // A base mapping may name a cross-reference that partners fill; without one the value passes.
                                rule.xref = None;
                            }
                        },
                        None => self.err(file, vat, "`xref` is the name of a cross-reference table of the partner profile"),
                    },
                    "unmatched" => {
                        rule.unmatched = match s {
                            Some("error") => Unmatched::Error,
                            Some("keep") => Unmatched::Keep,
                            Some("drop") => Unmatched::Drop,
                            _ => {
                                self.err(file, vat, "`unmatched` is one of: error, keep, drop");
                                Unmatched::Error
                            }
                        }
                    }
                    "default" => match s {
                        Some(d) => rule.default = Some(d.to_string()),
                        None => self.err(file, vat, "`default` must be a string"),
                    },
                    "prefix" => match s {
                        Some(d) => rule.prefix = Some(d.to_string()),
                        None => self.err(file, vat, "`prefix` must be a string"),
                    },
                    _ => self.err(file, kat, format!("{}: unknown key {key:?}; a value takes: {}", show_target(target), VALUE_KEYS.join(", "))),
                }
            }
        }
        if rule.sources.is_empty() && rule.default.is_none() {
            self.err(file, at, format!("{}: needs `from` (a path) or `const`", show_target(target)));
            return None;
        }
        // Codes translated into an enumerated field must land on its choices.
        if let Some(choices) = fs.choices() {
            let bad: Vec<String> = rule
                .codes
                .iter()
                .flat_map(|c| c.entries.values())
                .chain(rule.sources.iter().filter_map(|s| if let Src::Const(c) = s { Some(c) } else { None }))
                .chain(rule.default.iter())
                .filter(|v| !choices.contains(&v.as_str()))
                .cloned()
                .collect();
            if !bad.is_empty() {
                self.err(file, at, format!("{}: {} not among its values: {}", show_target(target), quote_list(&bad), choices.join(", ")));
            }
            let has_codes_key = val.get_ref().as_table().is_some_and(|t| t.contains_key("codes"));
            if rule.codes.is_none() && !has_codes_key && rule.sources.iter().any(|s| matches!(s, Src::Path(_))) {
                self.err(file, at, format!("{}: takes one of {}; translate the EDI code with `codes`", show_target(target), choices.join(", ")));
            }
        }
        self.check_codes_complete(file, at, &rule);
        Some(rule)
    }

    /// A `codes` table translating an element with a complete code list must cover it, or say what
    /// happens to the rest (`unmatched` / `default`); its keys must be codes of that list.
    fn check_codes_complete(&mut self, file: &SourceFile, at: usize, rule: &ValueRule) {
        let Some(codes) = &rule.codes else { return };
        for src in &rule.sources {
            let Src::Path(p) = src else { continue };
            let Some(def) = self.element_def(p) else { continue };
            let Some(list) = &def.codes else { continue };
            let unknown: Vec<String> = codes.entries.keys().filter(|k| !list.contains_key(k.as_str())).cloned().collect();
            if !unknown.is_empty() && !def.codes_partial {
                self.err(file, at, format!("{}: code list {:?} translates {} that {} ({}) does not have", show_target(&rule.target), codes.name, quote_list(&unknown), def.id, def.name));
            }
            // A complete list tells what else may come: codes without a translation fail documents.
            if !def.codes_partial && rule.unmatched == Unmatched::Error && rule.default.is_none() {
                let missing: Vec<&str> = list.keys().map(String::as_str).filter(|k| !codes.entries.contains_key(*k)).collect();
                if !missing.is_empty() {
                    let shown: Vec<&str> = missing.iter().copied().take(8).collect();
                    let more = if missing.len() > shown.len() { ", ..." } else { "" };
                    self.warnings.push(file.error(
                        at,
                        format!(
                            "{}: {} of the {} codes of {} ({}) have no translation in {:?} ({}{more}): a document with one of them fails; add them, or a `default`, or `unmatched = \"keep\"`",
                            show_target(&rule.target),
                            missing.len(),
                            list.len(),
                            def.id,
                            def.name,
                            codes.name,
                            shown.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    fn element_def(&self, p: &RPath) -> Option<&'static crate::syntax::spec::ElementDef> {
        let RRead::Element { at, .. } = &p.read else { return None };
        let last = p.steps.last()?;
        let tag = match last.kind {
            StepKind::Segment(t) | StepKind::Trigger(_, t) => t,
            _ => return None,
        };
        let dict = &self.version.dictionary;
        let sdef = &dict.segments[dict.segment_by_tag(tag)?];
        element_at(dict, sdef, *at).map(|i| &dict.elements[i])
    }

    fn code_list(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, name: &str) -> Option<Arc<CodeList>> {
        match codes_value(&self.codes, file, v, name) {
            Ok(CodesRef::Named(c) | CodesRef::Inline(c)) => Some(c),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Parses and resolves a path in `scope`; returns it with the scope it ends in.
    pub(crate) fn path(&mut self, file: &SourceFile, at: usize, text: &str, scope: SScope) -> Option<(RPath, SScope)> {
        let p = match EdiPath::parse(text) {
            Ok(p) => p,
            Err(e) => {
                self.err(file, at, e);
                return None;
            }
        };
        match resolve(self.version, self.doc, &p, scope) {
            Ok(r) => Some(r),
            Err(e) => {
                self.err(file, at, format!("path {text:?}: {e}"));
                None
            }
        }
    }

    /// Layers `table` over `obj`: each key replaces the rule of that field; a table for an object or
    /// array-of-objects field goes one level down (in every entry of an array). Dotted keys work too.
    pub(crate) fn apply(&mut self, file: &SourceFile, v: &Spanned<DeValue<'_>>, obj: &mut Obj, schema: Schema<'static>, target: &str) {
        let Some(t) = v.get_ref().as_table() else {
            self.err(file, v.span().start, "overrides must be a table of canonical fields");
            return;
        };
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            let (name, rest) = match key.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (key, None),
            };
            let full = join(target, name);
            let Some(fs) = schema.field(name) else {
                self.err(file, k.span().start, format!("{}: unknown field {name:?}; fields here: {}", show_target(target), schema.fields().join(", ")));
                continue;
            };
            let nested = val.get_ref().as_table().is_some_and(|t| !is_value_table(t));
            if rest.is_none() && !nested {
                self.forget(&full);
            }
            let descend = rest.is_some() || val.get_ref().as_table().is_some_and(|t| !is_value_table(t) && fs.kind() != Kind::Scalar);
            let existing = obj.fields.iter_mut().find(|f| f.name == name);
            if !descend || existing.is_none() {
                if let Some(rest) = rest {
                    self.err(file, k.span().start, format!("{}: the base mapping has no rule for {name:?} to change {rest:?} in; give the whole field", show_target(target)));
                    continue;
                }
                self.set_field(file, obj, name, k.span().start, val, schema, target);
                continue;
            }
            let f = existing.expect("checked");
            // Build a one-key table for the dotted rest, or use the table itself.
            let owned;
            let sub: &Spanned<DeValue<'_>> = match rest {
                Some(rest) => {
                    let mut inner = DeTable::new();
                    inner.insert(Spanned::new(k.span(), std::borrow::Cow::Owned(rest.to_string())), val.clone());
                    owned = Spanned::new(k.span(), DeValue::Table(inner));
                    &owned
                }
                None => val,
            };
            match &mut f.rule {
                Rule::Object(o) => self.apply(file, sub, o, fs, &full),
                Rule::Array(entries) => {
                    let Some(item) = fs.items() else { continue };
                    for e in entries.iter_mut() {
                        if let Body::Object(o) = &mut e.body {
                            self.apply(file, sub, o, item, &full);
                        }
                    }
                }
                Rule::Value(_) => self.set_field(file, obj, name, k.span().start, val, schema, target),
            }
        }
    }
}

pub(crate) const DATE_FORMATS: &[&str] = &["CCYYMMDD", "YYMMDD", "HHMM", "HHMMSS", "102", "101", "203", "204", "401"];

/// Index into the dictionary's elements of the element at a position (component included).
pub(crate) fn element_at(dict: &crate::syntax::spec::Dictionary, sdef: &crate::syntax::spec::SegmentDef, at: Position) -> Option<usize> {
    let entry = sdef.entries.get(usize::from(at.element).checked_sub(1)?)?;
    match entry.kind {
        EntryKind::Element(i) => match at.component {
            None | Some(1) => Some(i),
            Some(_) => None,
        },
        EntryKind::Composite(c) => {
            let comp = &dict.composites[c];
            let ce = comp.components.get(usize::from(at.component.unwrap_or(1)).checked_sub(1)?)?;
            match ce.kind {
                EntryKind::Element(i) => Some(i),
                EntryKind::Composite(_) => None,
            }
        }
    }
}

fn join(target: &str, name: &str) -> String {
    if target.is_empty() {
        name.to_string()
    } else {
        format!("{target}.{name}")
    }
}

fn show_target(target: &str) -> String {
    if target.is_empty() {
        "the document".to_string()
    } else {
        target.to_string()
    }
}

fn quote_list(v: &[String]) -> String {
    v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

/// Resolves a parsed path against the structure, from `scope`.
pub(crate) fn resolve(version: &'static VersionSpec, doc: &'static DocumentSpec, p: &EdiPath, scope: SScope) -> Result<(RPath, SScope), String> {
    let dict = &version.dictionary;
    let mut cur = if p.absolute { SScope::Loop(&doc.root) } else { scope };
    let mut steps = Vec::with_capacity(p.steps.len());
    let hier_loop = doc.hierarchy.as_ref().map(|h| h.segment.as_str());
    let n_steps = p.steps.len();
    for (si, step) in p.steps.iter().enumerate() {
        let name = step.name.as_str();
        // The step an element is read from is a segment: `PID05` in PO1 is the PID loop's first segment.
        let reads = si + 1 == n_steps && !matches!(p.read, Read::Nothing);
        if name == ".." {
            let up = match cur {
                // A hierarchy level's parent is another level of the same loop (or the set).
                SScope::Loop(l) if hier_loop.is_some_and(|h| l.children.first().map(|c| c.id()) == Some(h)) => SScope::Loop(l),
                SScope::Loop(l) => SScope::Loop(parent_of(&doc.root, l).ok_or("the whole set has no enclosing loop")?),
                SScope::Segment(s) => SScope::Loop(loop_of(&doc.root, s).ok_or("segment outside any loop")?),
            };
            steps.push(RStep { kind: StepKind::Parent, conds: vec![] });
            cur = up;
            continue;
        }
        let (kind, next) = match cur {
            SScope::Segment(s) if s.id == name => (StepKind::This, cur),
            SScope::Segment(s) => return Err(format!("{name} is not inside segment {}; only {}'s own elements can be read here", s.id, s.id)),
            SScope::Loop(l) => {
                let child_loop = l.children.iter().find_map(|c| match c {
                    Node::Loop(cl) if cl.name == name => Some(cl),
                    _ => None,
                });
                let child_seg = l.children.iter().find_map(|c| match c {
                    Node::Segment(s) if s.id == name => Some(s),
                    _ => None,
                });
                // A hierarchy loop (856 HL, DESADV CPS group) holds its lower levels.
                let recursive = hier_loop.is_some_and(|h| l.children.first().map(|c| c.id()) == Some(h) && l.name == name);
                let trigger_of = |cl: &'static LoopNode| match cl.children.first() {
                    Some(Node::Segment(s)) if s.id == name => Some(s),
                    _ => None,
                };
                if reads && child_seg.is_none() && child_loop.and_then(trigger_of).is_some() {
                    let cl = child_loop.expect("checked");
                    let s = trigger_of(cl).expect("checked");
                    (StepKind::Trigger(name_key(&cl.name), s.tag), SScope::Segment(s))
                } else if reads && child_seg.is_some() {
                    let s = child_seg.expect("checked");
                    (StepKind::Segment(s.tag), SScope::Segment(s))
                } else if recursive {
                    (StepKind::Loop(name_key(name)), cur)
                } else if let Some(cl) = child_loop {
                    (StepKind::Loop(name_key(&cl.name)), SScope::Loop(cl))
                } else if let Some(s) = child_seg {
                    (StepKind::Segment(s.tag), SScope::Segment(s))
                } else if let Some((cl, s)) = l.children.iter().find_map(|c| match c {
                    Node::Loop(cl) => match cl.children.first() {
                        Some(Node::Segment(s)) if s.id == name => Some((cl, s)),
                        _ => None,
                    },
                    _ => None,
                }) {
                    (StepKind::Trigger(name_key(&cl.name), s.tag), SScope::Segment(s))
                } else {
                    let places = where_is(&doc.root, name, "");
                    let here = SScope::Loop(l).describe();
                    return Err(if places.is_empty() {
                        format!("{name} is not a segment or loop of {} {} {}", doc.version, doc.id, doc.name)
                    } else {
                        format!("{name} is not in {here}; in {} {} it is at: {}", doc.version, doc.id, places.join(", "))
                    });
                }
            }
        };
        let seg_for_conds = match next {
            SScope::Segment(s) => Some(s),
            SScope::Loop(l) => match l.children.first() {
                Some(Node::Segment(s)) => Some(s),
                _ => None,
            },
        };
        let mut conds = Vec::new();
        for c in &step.conditions {
            let Some(s) = seg_for_conds else { return Err(format!("{name} has no first segment to test")) };
            let sdef = &dict.segments[s.def];
            if element_at(dict, sdef, c.at).is_none() {
                return Err(format!("condition [{}]: {} has no element {}", c.at, s.id, c.at));
            }
            let composite = matches!(sdef.entries[usize::from(c.at.element) - 1].kind, EntryKind::Composite(_));
            let at = Position { element: c.at.element, component: if composite { Some(c.at.component.unwrap_or(1)) } else { None } };
            conds.push(RCond { at, test: c.test.clone() });
        }
        steps.push(RStep { kind, conds });
        cur = next;
    }
    let read = match &p.read {
        Read::Nothing => RRead::Nothing,
        Read::Element(_) | Read::Pair { .. } if !matches!(cur, SScope::Segment(_)) => {
            return Err("an element can only be read from a segment".to_string());
        }
        Read::Element(at) => {
            let SScope::Segment(s) = cur else { unreachable!() };
            let sdef = &dict.segments[s.def];
            let Some(e) = element_at(dict, sdef, *at) else {
                let n = sdef.entries.len();
                return Err(format!("{}{} does not exist: {} has {n} elements{}", s.id, at, s.id, composite_hint(dict, sdef, *at)));
            };
            let dtm = doc.standard == Standard::Edifact && s.id == "DTM" && at.element == 1 && at.component == Some(2);
            // A composite read without a component reads its first; a simple element is read whole
            // (no component split at evaluation).
            let composite = matches!(sdef.entries[usize::from(at.element) - 1].kind, EntryKind::Composite(_));
            let at = Position { element: at.element, component: if composite { Some(at.component.unwrap_or(1)) } else { None } };
            RRead::Element { at, ty: dict.elements[e].data_type, dtm }
        }
        Read::Pair { first, last, qualifier } => {
            let SScope::Segment(s) = cur else { unreachable!() };
            let sdef = &dict.segments[s.def];
            if usize::from(*last) > sdef.entries.len() || first >= last {
                return Err(format!("pairs {first:02}..{last:02} do not fit {} ({} elements)", s.id, sdef.entries.len()));
            }
            RRead::Pair { first: *first, last: *last, qualifier: qualifier.clone() }
        }
    };
    Ok((RPath { text: p.to_string(), absolute: p.absolute, steps, read, probe: None }, cur))
}

/// The loop that directly holds loop `target`.
fn parent_of(l: &'static LoopNode, target: &LoopNode) -> Option<&'static LoopNode> {
    for c in &l.children {
        if let Node::Loop(cl) = c {
            if std::ptr::eq(cl, target) {
                return Some(l);
            }
            if let Some(p) = parent_of(cl, target) {
                return Some(p);
            }
        }
    }
    None
}

/// The loop that directly holds segment position `target`.
fn loop_of(l: &'static LoopNode, target: &SegmentNode) -> Option<&'static LoopNode> {
    for c in &l.children {
        match c {
            Node::Segment(s) if std::ptr::eq(s, target) => return Some(l),
            Node::Loop(cl) => {
                if let Some(p) = loop_of(cl, target) {
                    return Some(p);
                }
            }
            _ => {}
        }
    }
    None
}

fn composite_hint(dict: &crate::syntax::spec::Dictionary, sdef: &crate::syntax::spec::SegmentDef, at: Position) -> String {
    match sdef.entries.get(usize::from(at.element).saturating_sub(1)).map(|e| e.kind) {
        Some(EntryKind::Composite(c)) => format!("; {}{:02} is composite {} with {} components", sdef.id, at.element, dict.composites[c].id, dict.composites[c].components.len()),
        Some(EntryKind::Element(_)) => format!("; {}{:02} is a simple element (no components)", sdef.id, at.element),
        None => String::new(),
    }
}

/// Where a segment or loop appears in a structure (`N1`, `PO1/N1`), for error messages.
fn where_is(l: &LoopNode, name: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in &l.children {
        match c {
            Node::Segment(s) if s.id == name => out.push(if prefix.is_empty() { "the set's top level".to_string() } else { prefix.to_string() }),
            Node::Loop(cl) => {
                let p = if prefix.is_empty() { cl.name.clone() } else { format!("{prefix}/{}", cl.name) };
                if cl.name == name {
                    out.push(format!("loop {p}"));
                } else {
                    out.extend(where_is(cl, name, &p));
                }
            }
            _ => {}
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short codes are found through the packed index, long ones in the map; a list extended after
    /// a lookup finds the new entries, and its clone taken before keeps the old ones.
    #[test]
    fn code_list_lookups() {
        let origin = Origin { file: Arc::from("t.toml"), line: 1, col: 1 };
        let entries: BTreeMap<String, String> =
            [("EA", "each"), ("PC", "piece"), ("", "empty"), ("ABCDEFGH", "long"), ("ABCDEFG", "seven")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let list = CodeList::new("units".into(), entries, origin);
        assert_eq!(list.get("EA"), Some("each"));
        assert_eq!(list.get("PC"), Some("piece"));
        assert_eq!(list.get(""), Some("empty"));
        assert_eq!(list.get("ABCDEFG"), Some("seven"));
        assert_eq!(list.get("ABCDEFGH"), Some("long"));
        assert_eq!(list.get("E"), None);
        assert_eq!(list.get("EAX"), None);
        assert_eq!(list.get("ABCDEFGHI"), None);
        let before = list.clone();
        let mut changed = list;
        changed.extend([("KG".to_string(), "kilogram".to_string()), ("EA".to_string(), "unit".to_string())]);
        assert_eq!(changed.get("KG"), Some("kilogram"));
        assert_eq!(changed.get("EA"), Some("unit"));
        assert_eq!(before.get("KG"), None);
        assert_eq!(before.get("EA"), Some("each"));
    }
}
