//! Document structures and dictionaries, described as data in `standards/` and compiled once.
//!
//! The TOML files (see `standards/README.md`) are embedded in the binary and parsed on first use into
//! compact tables: segment tags as `u32`, element definitions by index, loops as trees of nodes. The
//! structure validator ([`super::structure`]) walks these tables for every segment, so they hold no
//! strings on the hot path.

use super::envelope::Standard;
use super::segment::tag;
use super::types::DataType;
use nom::branch::alt;
use nom::bytes::complete::{tag as lit, take_while, take_while1};
use nom::character::complete::{digit1, space0, space1};
use nom::combinator::{map, map_res, opt, value};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

/// Whether an element, segment or loop must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Mandatory,
    Optional,
}

impl Usage {
    fn parse(s: &str) -> Option<Usage> {
        match s {
            "M" => Some(Usage::Mandatory),
            "O" | "C" | "X" => Some(Usage::Optional),
            _ => None,
        }
    }
}

/// A data element of the dictionary.
#[derive(Debug)]
pub struct ElementDef {
    pub id: String,
    pub name: String,
    pub data_type: DataType,
    pub min: u16,
    pub max: u16,
    /// Code list (code → description), when the dictionary gives one.
    pub codes: Option<BTreeMap<String, String>>,
    /// True when the code list is known to be incomplete (`partial_codes` in the dictionary): a value
    /// outside it is then a warning, not an error, so a valid code edigate does not list never rejects.
    pub codes_partial: bool,
    /// The same codes as bytes, sorted, for lookups on the hot path.
    code_bytes: Vec<Vec<u8>>,
    /// The codes of up to 7 bytes (nearly all) packed by [`pack_code`] in a hash set: one multiply
    /// and usually one compare per lookup, whatever the size of the list (X12 list 98 has 1,300 codes).
    short_codes: CodeMap<()>,
}

/// Open-addressing map from packed codes ([`pack_code`]) to small values: one multiply and
/// usually one compare per lookup, whatever the number of codes. Used for the dictionaries'
/// code lists, the mappings' code tables and the probes keyed by code.
#[derive(Clone, Debug)]
pub struct CodeMap<V> {
    /// `(0, _)` is an empty place: a packed code is 0 only for the empty code, which the map
    /// never holds (its length byte is 0).
    slots: Vec<(u64, V)>,
    shift: u32,
}

impl<V: Copy + Default> CodeMap<V> {
    /// The map of `entries`; of a code given twice, the first value is kept.
    pub fn new(entries: impl IntoIterator<Item = (u64, V)>) -> CodeMap<V> {
        let entries: Vec<(u64, V)> = entries.into_iter().filter(|e| e.0 != 0).collect();
        let bits = (entries.len() * 2).max(8).next_power_of_two().trailing_zeros();
        let mut map = CodeMap { slots: vec![(0, V::default()); 1 << bits], shift: 64 - bits };
        for (k, v) in entries {
            let mut i = map.home(k);
            while map.slots[i].0 != 0 && map.slots[i].0 != k {
                i = (i + 1) & (map.slots.len() - 1);
            }
            if map.slots[i].0 == 0 {
                map.slots[i] = (k, v);
            }
        }
        map
    }

    #[inline(always)]
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The value of packed code `k`.
    #[inline(always)]
    pub fn get(&self, k: u64) -> Option<V> {
        if k == 0 {
            return None;
        }
        let mut i = self.home(k);
        loop {
            match self.slots[i] {
                (0, _) => return None,
                (s, v) if s == k => return Some(v),
                _ => i = (i + 1) & (self.slots.len() - 1),
            }
        }
    }
}

impl<V: Copy + Default> Default for CodeMap<V> {
    fn default() -> Self {
        CodeMap::new([])
    }
}

/// A value of up to 7 bytes as one integer: the bytes, then the length in the top byte.
#[inline(always)]
pub fn pack_code(v: &[u8]) -> Option<u64> {
    let n = v.len();
    // Two loads that overlap instead of a loop (copying a variable-length prefix would be a
    // `memcpy` call per element): a byte in both is the same byte, so or-ing them is exact.
    let key = match n {
        0 => 0,
        1..=3 => u64::from(v[0]) | u64::from(v[n / 2]) << (8 * (n / 2)) | u64::from(v[n - 1]) << (8 * (n - 1)),
        4..=7 => {
            let lo = u32::from_le_bytes(v[..4].try_into().expect("4 bytes"));
            let hi = u32::from_le_bytes(v[n - 4..].try_into().expect("4 bytes"));
            u64::from(lo) | u64::from(hi) << (8 * (n - 4))
        }
        _ => return None,
    };
    Some(key | (n as u64) << 56)
}

impl ElementDef {
    #[inline]
    pub fn has_code(&self, v: &[u8]) -> bool {
        match pack_code(v) {
            Some(key) => self.short_codes.get(key).is_some(),
            None => self.has_long_code(v),
        }
    }

    /// [`ElementDef::has_code`] for codes of more than 7 bytes (few lists have them).
    #[inline(never)]
    fn has_long_code(&self, v: &[u8]) -> bool {
        self.code_bytes.binary_search_by(|c| c.as_slice().cmp(v)).is_ok()
    }

    pub fn has_codes(&self) -> bool {
        !self.code_bytes.is_empty()
    }
}

/// What an entry of a segment or composite refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Element(usize),
    Composite(usize),
}

/// One position in a segment (or composite).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub kind: EntryKind,
    pub usage: Usage,
    /// Maximum repetitions (X12 005010 repeating elements); 1 otherwise.
    pub repeat: u16,
}

#[derive(Debug)]
pub struct CompositeDef {
    pub id: String,
    pub name: String,
    pub components: Vec<Entry>,
    /// How many leading components hold every mandatory one (see [`SegmentDef::required`]).
    pub required: usize,
}

/// X12 syntax note on a segment: P (paired), R (required: at least one), E (exclusion),
/// C (conditional: if first then all), L (list conditional: if first then at least one other).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub kind: u8,
    /// 1-based element positions.
    pub positions: Vec<u16>,
    pub text: String,
    /// The positions as bits (bit `p - 1`), for checking a segment's present elements in one step.
    pub mask: u64,
    /// The first position's bit, and the number of positions: the rule decided from bits alone.
    pub first: u64,
    pub total: u32,
}

#[derive(Debug)]
pub struct SegmentDef {
    pub id: String,
    pub name: String,
    pub entries: Vec<Entry>,
    pub rules: Vec<Rule>,
    /// How many leading entries hold every mandatory one: a segment that gives at least this many
    /// elements has none missing at its end.
    pub required: usize,
}

/// How many leading `entries` hold every mandatory one.
fn required(entries: &[Entry]) -> usize {
    entries.iter().rposition(|e| e.usage == Usage::Mandatory).map_or(0, |i| i + 1)
}

/// All data elements, composites, segments and code lists of one version or directory.
#[derive(Debug, Default)]
pub struct Dictionary {
    pub elements: Vec<ElementDef>,
    pub composites: Vec<CompositeDef>,
    pub segments: Vec<SegmentDef>,
    element_index: HashMap<String, usize>,
    composite_index: HashMap<String, usize>,
    segment_index: HashMap<u32, usize>,
}

impl Dictionary {
    pub fn segment(&self, id: &[u8]) -> Option<&SegmentDef> {
        self.segment_index.get(&tag(id)).map(|&i| &self.segments[i])
    }

    pub fn segment_by_tag(&self, t: u32) -> Option<usize> {
        self.segment_index.get(&t).copied()
    }

    pub fn element(&self, id: &str) -> Option<&ElementDef> {
        self.element_index.get(id).map(|&i| &self.elements[i])
    }

    pub fn composite(&self, id: &str) -> Option<&CompositeDef> {
        self.composite_index.get(id).map(|&i| &self.composites[i])
    }

    /// Name of the entry at a 1-based position of a segment, e.g. `BEG03` → "Purchase Order Number".
    pub fn entry_name(&self, seg: &SegmentDef, position: usize) -> Option<(&str, &str)> {
        let e = seg.entries.get(position.checked_sub(1)?)?;
        Some(match e.kind {
            EntryKind::Element(i) => (&self.elements[i].id, &self.elements[i].name),
            EntryKind::Composite(i) => (&self.composites[i].id, &self.composites[i].name),
        })
    }
}

/// A node of a document structure: a segment position or a loop (segment group).
#[derive(Debug)]
pub enum Node {
    Segment(SegmentNode),
    Loop(LoopNode),
}

#[derive(Debug)]
pub struct SegmentNode {
    pub id: String,
    pub tag: u32,
    pub usage: Usage,
    pub max: u32,
    /// Index into [`Dictionary::segments`].
    pub def: usize,
}

#[derive(Debug)]
pub struct LoopNode {
    /// Loop id: the trigger segment's id in X12 (`N1`), the group name in EDIFACT (`SG2`).
    pub name: String,
    pub usage: Usage,
    pub max: u32,
    pub children: Vec<Node>,
    /// Each child's trigger tag ([`Node::trigger`]), side by side for the validator's searches.
    pub(crate) triggers: Vec<u32>,
    /// [`tag_bit`] of every trigger after the first: a tag whose bit is not here is not among
    /// them, and the validator looks one level up without searching.
    pub(crate) later: u64,
    /// Indexes of the mandatory children, ascending.
    pub(crate) mandatory: Vec<usize>,
    /// The same as bits (bit k: child k), for the first 64 children; every child past 64 is
    /// taken as mandatory here, so only the list decides for those.
    pub(crate) mandatory_bits: u64,
}

/// One of 64 bits for a segment tag (a multiplicative hash), for [`LoopNode::later`].
#[inline]
pub(crate) fn tag_bit(tag: u32) -> u64 {
    1 << (tag.wrapping_mul(0x9E37_79B1) >> 26)
}

impl LoopNode {
    pub fn new(name: String, usage: Usage, max: u32, children: Vec<Node>) -> LoopNode {
        let triggers: Vec<u32> = children.iter().map(Node::trigger).collect();
        let later = triggers.iter().skip(1).fold(0, |m, &t| m | tag_bit(t));
        let mandatory: Vec<usize> = (0..children.len()).filter(|&i| children[i].usage() == Usage::Mandatory).collect();
        let mandatory_bits = mandatory.iter().fold(if children.len() > 64 { 1 << 63 } else { 0 }, |m, &i| m | 1u64.checked_shl(i as u32).unwrap_or(1 << 63));
        LoopNode { name, usage, max, children, triggers, later, mandatory, mandatory_bits }
    }
}

impl Node {
    /// The tag that opens this node (a loop's first segment).
    pub fn trigger(&self) -> u32 {
        match self {
            Node::Segment(s) => s.tag,
            Node::Loop(l) => l.children.first().map(|c| c.trigger()).unwrap_or(0),
        }
    }

    pub fn usage(&self) -> Usage {
        match self {
            Node::Segment(s) => s.usage,
            Node::Loop(l) => l.usage,
        }
    }

    pub fn max(&self) -> u32 {
        match self {
            Node::Segment(s) => s.max,
            Node::Loop(l) => l.max,
        }
    }

    /// Segment id, or the loop's trigger id.
    pub fn id(&self) -> &str {
        match self {
            Node::Segment(s) => &s.id,
            Node::Loop(l) => l.children.first().map(|c| c.id()).unwrap_or(""),
        }
    }
}

/// How a hierarchy (856 HL, DESADV CPS) links its levels.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hierarchy {
    pub segment: String,
    pub id: usize,
    pub parent: usize,
    pub level: Option<usize>,
    /// Level code → level codes its parent may have (`""`: top level).
    #[serde(default)]
    pub parents: BTreeMap<String, Vec<String>>,
    /// `parents` with the codes packed ([`pack_code`]), made on first use (`None`: a level code
    /// too long to pack).
    #[serde(skip)]
    packed: OnceLock<Option<Vec<PackedLevel>>>,
}

/// A level code and the codes its parent may have, packed.
type PackedLevel = (u64, Vec<u64>);

impl Hierarchy {
    /// Whether a level `level` may sit under a parent of level `parent` (`""`: the top);
    /// `None` when the level names no parents.
    pub fn allows(&self, level: &[u8], parent: &[u8]) -> Option<bool> {
        let packed = self.packed.get_or_init(|| {
            let pack = |c: &String| pack_code(c.as_bytes());
            // A parent code too long to pack is no level's code either (they are cut to four bytes).
            self.parents.iter().map(|(l, ps)| Some((pack(l)?, ps.iter().filter_map(pack).collect()))).collect()
        });
        match (packed, pack_code(level), pack_code(parent)) {
            (Some(packed), Some(l), Some(p)) => packed.iter().find(|(k, _)| *k == l).map(|(_, ps)| ps.contains(&p)),
            _ => self.parents.get(String::from_utf8_lossy(level).as_ref()).map(|ps| ps.iter().any(|a| a.as_bytes() == parent)),
        }
    }
}

/// One document (transaction set or message) of one version.
#[derive(Debug)]
pub struct DocumentSpec {
    pub standard: Standard,
    pub version: String,
    pub id: String,
    pub name: String,
    pub functional_group: Option<String>,
    pub agency: Option<String>,
    /// The whole structure as a loop without trigger: ST/UNH ... SE/UNT.
    pub root: LoopNode,
    pub hierarchy: Option<Hierarchy>,
    pub hierarchy_tag: u32,
    /// Every segment tag the structure uses.
    pub tags: HashSet<u32>,
}

/// One version (X12 `004010`) or directory (EDIFACT `D96A`) with its documents.
#[derive(Debug)]
pub struct VersionSpec {
    pub standard: Standard,
    pub version: String,
    pub dictionary: Dictionary,
    pub documents: BTreeMap<String, DocumentSpec>,
}

/// Everything in `standards/`.
#[derive(Debug, Default)]
pub struct Standards {
    pub versions: Vec<VersionSpec>,
}

/// A fault in a standards file: which file, which line, what.
#[derive(Debug, thiserror::Error)]
#[error("standards/{file}:{line}: {message}")]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../standards/", $path)))),*]
    };
}

/// The standards files compiled into the binary.
pub const EMBEDDED: &[(&str, &str)] = embedded!(
    "x12/004010/segments.toml",
    "x12/004010/850.toml",
    "x12/004010/855.toml",
    "x12/004010/856.toml",
    "x12/004010/810.toml",
    "x12/005010/segments.toml",
    "x12/005010/850.toml",
    "x12/005010/855.toml",
    "x12/005010/856.toml",
    "x12/005010/810.toml",
    "edifact/D96A/segments.toml",
    "edifact/D96A/ORDERS.toml",
    "edifact/D96A/ORDRSP.toml",
    "edifact/D96A/DESADV.toml",
    "edifact/D96A/INVOIC.toml",
    "edifact/D01B/segments.toml",
    "edifact/D01B/ORDERS.toml",
    "edifact/D01B/ORDRSP.toml",
    "edifact/D01B/DESADV.toml",
    "edifact/D01B/INVOIC.toml",
);

/// The embedded standards, compiled on first use.
pub fn standards() -> &'static Standards {
    static CELL: OnceLock<Standards> = OnceLock::new();
    CELL.get_or_init(|| match Standards::load(EMBEDDED) {
        Ok(s) => s,
        Err(e) => panic!("embedded standards are invalid (a build-time fault): {e}"),
    })
}

impl Standards {
    /// Compiles standards from `(path, content)` pairs; paths are `x12/004010/850.toml` style.
    pub fn load(files: &[(&str, &str)]) -> Result<Standards, SpecError> {
        let mut out = Standards::default();
        // Dictionaries first, then documents.
        for (path, text) in files.iter().filter(|(p, _)| p.ends_with("/segments.toml")) {
            let (standard, version) = split_path(path)?;
            let dictionary = load_dictionary(path, text)?;
            out.versions.push(VersionSpec { standard, version, dictionary, documents: BTreeMap::new() });
        }
        for (path, text) in files.iter().filter(|(p, _)| !p.ends_with("/segments.toml")) {
            let (standard, version) = split_path(path)?;
            let vs = out
                .versions
                .iter_mut()
                .find(|v| v.standard == standard && v.version == version)
                .ok_or_else(|| err(path, 0, "no segments.toml for this version".into()))?;
            let doc = load_document(path, text, standard, &version, &vs.dictionary)?;
            vs.documents.insert(doc.id.clone(), doc);
        }
        Ok(out)
    }

    /// The version spec for an X12 GS08/ST03 (`004010`, `005010X...`) or EDIFACT directory (`D96A`).
    pub fn version(&self, standard: Standard, version: &str) -> Option<&VersionSpec> {
        self.versions.iter().find(|v| {
            v.standard == standard
                && match standard {
                    Standard::X12 => version.starts_with(&v.version),
                    Standard::Edifact => version == v.version,
                }
        })
    }

    pub fn document(&self, standard: Standard, version: &str, id: &str) -> Option<(&VersionSpec, &DocumentSpec)> {
        let v = self.version(standard, version)?;
        Some((v, v.documents.get(id)?))
    }
}

fn err(file: &str, line: usize, message: String) -> SpecError {
    SpecError { file: file.to_string(), line, message }
}

fn split_path(path: &str) -> Result<(Standard, String), SpecError> {
    let mut parts = path.split('/');
    let standard = match parts.next() {
        Some("x12") => Standard::X12,
        Some("edifact") => Standard::Edifact,
        _ => return Err(err(path, 0, "path must start with x12/ or edifact/".into())),
    };
    let version = parts.next().ok_or_else(|| err(path, 0, "missing version directory".into()))?;
    Ok((standard, version.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictFile {
    elements: BTreeMap<String, ElementFile>,
    #[serde(default)]
    composites: BTreeMap<String, CompositeFile>,
    segments: BTreeMap<String, SegmentFile>,
    #[serde(default)]
    codes: BTreeMap<String, BTreeMap<String, String>>,
    /// Elements whose code list above is known to be incomplete.
    #[serde(default)]
    partial_codes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementFile {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    min: u16,
    max: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompositeFile {
    name: String,
    components: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentFile {
    name: String,
    #[serde(default)]
    elements: Vec<String>,
    #[serde(default)]
    rules: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocFile {
    id: String,
    name: String,
    functional_group: Option<String>,
    agency: Option<String>,
    structure: String,
    hierarchy: Option<Hierarchy>,
}

fn toml_error(path: &str, text: &str, e: toml::de::Error) -> SpecError {
    let line = e.span().map(|s| text[..s.start].lines().count().max(1)).unwrap_or(0);
    err(path, line, e.message().to_string())
}

fn load_dictionary(path: &str, text: &str) -> Result<Dictionary, SpecError> {
    let file: DictFile = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
    let mut d = Dictionary::default();
    for (id, e) in &file.elements {
        let data_type = DataType::parse(&e.data_type)
            .ok_or_else(|| err(path, 0, format!("element {id}: unknown type {:?}", e.data_type)))?;
        let codes = file.codes.get(id).cloned();
        let mut code_bytes: Vec<Vec<u8>> =
            codes.iter().flat_map(|c| c.keys().map(|k| k.as_bytes().to_vec())).collect();
        code_bytes.sort();
        let packed: Vec<u64> = code_bytes.iter().filter_map(|c| pack_code(c)).collect();
        let short_codes = CodeMap::new(packed.iter().map(|&k| (k, ())));
        d.element_index.insert(id.clone(), d.elements.len());
        d.elements.push(ElementDef {
            id: id.clone(),
            name: e.name.clone(),
            data_type,
            min: e.min,
            max: e.max,
            codes,
            codes_partial: file.partial_codes.contains(id),
            code_bytes,
            short_codes,
        });
    }
    for id in file.codes.keys().chain(file.partial_codes.iter()) {
        if !d.element_index.contains_key(id) {
            return Err(err(path, 0, format!("code list for unknown element {id}")));
        }
    }
    for (id, c) in &file.composites {
        let components = c
            .components
            .iter()
            .map(|s| entry(path, &d, s, false))
            .collect::<Result<Vec<_>, _>>()?;
        d.composite_index.insert(id.clone(), d.composites.len());
        d.composites.push(CompositeDef { id: id.clone(), name: c.name.clone(), required: required(&components), components });
    }
    for (id, s) in &file.segments {
        let entries =
            s.elements.iter().map(|e| entry(path, &d, e, true)).collect::<Result<Vec<_>, _>>()?;
        let rules = s.rules.iter().map(|r| rule(path, id, r)).collect::<Result<Vec<_>, _>>()?;
        d.segment_index.insert(tag(id.as_bytes()), d.segments.len());
        d.segments.push(SegmentDef { id: id.clone(), name: s.name.clone(), required: required(&entries), entries, rules });
    }
    Ok(d)
}

/// `"353 M"`, `"C040 O"`, `"1271 O 99"`.
fn entry(path: &str, d: &Dictionary, s: &str, composites: bool) -> Result<Entry, SpecError> {
    let mut parts = s.split_whitespace();
    let id = parts.next().unwrap_or("");
    let usage = parts.next().and_then(Usage::parse);
    let repeat = match parts.next() {
        None => 1,
        Some(r) => r.parse().map_err(|_| err(path, 0, format!("{s:?}: repeat count {r:?} is not a number")))?,
    };
    let usage = usage.ok_or_else(|| err(path, 0, format!("{s:?}: expected \"ID USAGE\" with USAGE M, O, X or C")))?;
    let kind = if let Some(&i) = d.element_index.get(id) {
        EntryKind::Element(i)
    } else if let (true, Some(&i)) = (composites, d.composite_index.get(id)) {
        EntryKind::Composite(i)
    } else {
        return Err(err(path, 0, format!("{s:?}: no element{} {id}", if composites { " or composite" } else { "" })));
    };
    Ok(Entry { kind, usage, repeat })
}

/// `P0102`, `R020304`, `C0302`, `E0102`, `L010203`.
fn rule(path: &str, seg: &str, s: &str) -> Result<Rule, SpecError> {
    let bytes = s.as_bytes();
    let ok = bytes.len() >= 5
        && b"PRECL".contains(&bytes[0])
        && (bytes.len() - 1).is_multiple_of(2)
        && bytes[1..].iter().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(err(path, 0, format!("segment {seg}: rule {s:?} must look like P0102 (P, R, E, C or L and 2-digit positions)")));
    }
    let positions = bytes[1..].chunks(2).map(|c| ((c[0] - b'0') * 10 + (c[1] - b'0')) as u16).collect();
    let positions: Vec<u16> = positions;
    if positions.iter().any(|&p| p == 0 || p > 64) {
        return Err(err(path, 0, format!("segment {seg}: rule {s:?} names a position outside 1..64")));
    }
    let mask = positions.iter().fold(0u64, |m, &p| m | 1 << (p - 1));
    let (first, total) = (1 << (positions[0] - 1), positions.len() as u32);
    Ok(Rule { kind: bytes[0], positions, text: s.to_string(), mask, first, total })
}

/// One line of a structure: `  LOOP N1 O 200` or `  BEG M 1`.
#[derive(Debug, Clone, PartialEq)]
struct Line<'a> {
    indent: usize,
    is_loop: bool,
    name: &'a str,
    usage: &'a str,
    max: u32,
}

fn max_repeat(i: &str) -> IResult<&str, u32> {
    alt((value(u32::MAX, lit(">1")), map_res(digit1, |d: &str| d.parse::<u32>()))).parse(i)
}

fn structure_line(i: &str) -> IResult<&str, Line<'_>> {
    let (i, indent) = map(take_while(|c| c == ' '), |s: &str| s.len()).parse(i)?;
    let (i, is_loop) = map(opt(preceded(lit("LOOP"), space1)), |o| o.is_some()).parse(i)?;
    let (i, name) = take_while1(|c: char| c.is_ascii_alphanumeric()).parse(i)?;
    let (i, _) = space1(i)?;
    let (i, usage) = take_while1(|c: char| c.is_ascii_uppercase()).parse(i)?;
    let (i, _) = space1(i)?;
    let (i, max) = max_repeat(i)?;
    let (i, _) = space0(i)?;
    Ok((i, Line { indent, is_loop, name, usage, max }))
}

fn load_document(
    path: &str,
    text: &str,
    standard: Standard,
    version: &str,
    dict: &Dictionary,
) -> Result<DocumentSpec, SpecError> {
    let file: DocFile = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
    // Line numbers in errors count from the `structure = """` line.
    let base_line = text.lines().position(|l| l.trim_start().starts_with("structure")).unwrap_or(0) + 1;
    let mut lines = vec![];
    for (n, raw) in file.structure.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("").trim_end();
        if content.trim().is_empty() {
            continue;
        }
        let line_no = base_line + n + usize::from(!file.structure.starts_with('\n'));
        let (rest, line) = structure_line(content)
            .map_err(|_| err(path, line_no, format!("cannot read {content:?}: expected `SEGMENT USAGE MAX` or `LOOP NAME USAGE MAX`")))?;
        if !rest.is_empty() {
            return Err(err(path, line_no, format!("unexpected {rest:?} after the repeat count")));
        }
        if line.indent % 2 != 0 {
            return Err(err(path, line_no, "indent loop bodies by two spaces".into()));
        }
        lines.push((line_no, line));
    }
    let mut tags = HashSet::new();
    let mut it = lines.into_iter().peekable();
    let children = build_children(path, &mut it, 0, dict, &mut tags)?;
    if let Some((n, l)) = it.next() {
        return Err(err(path, n, format!("{} is indented deeper than the loop above it allows", l.name)));
    }
    let hierarchy_tag = file.hierarchy.as_ref().map(|h| tag(h.segment.as_bytes())).unwrap_or(0);
    if let Some(h) = &file.hierarchy {
        if !tags.contains(&hierarchy_tag) {
            return Err(err(path, 0, format!("hierarchy segment {} is not in the structure", h.segment)));
        }
    }
    Ok(DocumentSpec {
        standard,
        version: version.to_string(),
        id: file.id,
        name: file.name,
        functional_group: file.functional_group,
        agency: file.agency,
        root: LoopNode::new(String::new(), Usage::Mandatory, 1, children),
        hierarchy: file.hierarchy,
        hierarchy_tag,
        tags,
    })
}

type Lines<'a> = std::iter::Peekable<std::vec::IntoIter<(usize, Line<'a>)>>;

fn build_children(
    path: &str,
    it: &mut Lines<'_>,
    indent: usize,
    dict: &Dictionary,
    tags: &mut HashSet<u32>,
) -> Result<Vec<Node>, SpecError> {
    let mut nodes = vec![];
    while let Some((n, line)) = it.peek().cloned() {
        if line.indent < indent {
            break;
        }
        if line.indent > indent {
            return Err(err(path, n, format!("{} is indented but does not follow a LOOP line", line.name)));
        }
        it.next();
        let usage = Usage::parse(line.usage)
            .ok_or_else(|| err(path, n, format!("usage {:?} must be M, O or C", line.usage)))?;
        if line.is_loop {
            let children = build_children(path, it, indent + 2, dict, tags)?;
            match children.first() {
                None => return Err(err(path, n, format!("loop {} is empty", line.name))),
                Some(Node::Segment(s)) if s.usage != Usage::Mandatory => {
                    return Err(err(path, n + 1, format!("loop {}: its first segment {} opens the loop and must be M", line.name, s.id)))
                }
                Some(Node::Loop(_)) => {
                    return Err(err(path, n + 1, format!("loop {} must start with a segment", line.name)))
                }
                _ => {}
            }
            nodes.push(Node::Loop(LoopNode::new(line.name.to_string(), usage, line.max, children)));
        } else {
            let t = tag(line.name.as_bytes());
            let def = dict
                .segment_by_tag(t)
                .ok_or_else(|| err(path, n, format!("segment {} is not defined in segments.toml", line.name)))?;
            tags.insert(t);
            nodes.push(Node::Segment(SegmentNode { id: line.name.to_string(), tag: t, usage, max: line.max, def }));
        }
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlapping loads give each byte at its place, for every length.
    #[test]
    fn packed_codes_are_the_bytes_and_the_length() {
        let bytes = b"\x01A9z~ \xff\x80";
        for n in 0..=bytes.len() {
            let v = &bytes[..n];
            let want = (n <= 7).then(|| v.iter().enumerate().fold(0u64, |k, (i, &b)| k | u64::from(b) << (8 * i)) | (n as u64) << 56);
            assert_eq!(pack_code(v), want, "{n} bytes");
        }
        assert_ne!(pack_code(b"AB"), pack_code(b"BA"));
        assert_ne!(pack_code(b"A"), pack_code(b"A\0"));
    }

    #[test]
    fn structure_lines() {
        let (_, l) = structure_line("  LOOP N1 O 200").unwrap();
        assert_eq!(l, Line { indent: 2, is_loop: true, name: "N1", usage: "O", max: 200 });
        let (_, l) = structure_line("REF      O >1").unwrap();
        assert_eq!((l.name, l.max), ("REF", u32::MAX));
    }

    #[test]
    fn embedded_standards_compile() {
        let s = standards();
        for (std, v, d) in [
            (Standard::X12, "004010", "850"),
            (Standard::X12, "005010X", "856"),
            (Standard::Edifact, "D96A", "ORDERS"),
            (Standard::Edifact, "D01B", "DESADV"),
        ] {
            assert!(s.document(std, v, d).is_some(), "{v} {d}");
        }
    }
}
