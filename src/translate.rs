//! Translation: the sets of an input, validated, matched to their partner and mapped to canonical
//! documents. Knows nothing of transports or storage: bytes in, one outcome per set out.

use crate::mapping::eval::{self, MapError, Trace};
use crate::mapping::render::{Outbound, RenderError};
use crate::mapping::{DocKind, Direction, Inbound, Library, MappingErrors};
use crate::syntax::envelope::Standard;
use crate::syntax::write::SegmentData;
use crate::model::{Document, Provenance};
use crate::profiles::{Loaded, Profiles};
use crate::syntax::diag::Diagnostic;
use crate::syntax::reader::TransactionSet;
use crate::syntax::validate::{validate_with, Checked, Options, Report};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read};
use std::rc::Rc;

/// Why a set has no canonical document.
#[derive(Debug, thiserror::Error)]
pub enum SetFailure {
    #[error("rejected by validation: {}", .0.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<Diagnostic>),
    #[error("edigate has no structure for {0}, so it cannot be mapped")]
    Unchecked(String),
    #[error("no mapping {id:?}; available: {available}")]
    NoMapping { id: String, available: String },
    #[error("mapping {id} has errors:\n{errors}")]
    BadMapping { id: String, errors: String },
    #[error("{0}")]
    Map(#[from] MapError),
}

/// What became of one set.
#[derive(Debug)]
pub struct SetOutcome {
    pub provenance: Provenance,
    /// The mapping used (or that would have been).
    pub mapping: Option<String>,
    pub result: Result<Document, SetFailure>,
    /// The mapping trace, when asked for.
    pub trace: Option<Trace>,
    /// Every element of the set with a value, as (segment index, segment id, element, component, value),
    /// when tracing (to list what no rule read).
    pub elements: Vec<(u32, String, u16, Option<u16>, String)>,
}

type Compiled = Rc<Result<Inbound, MappingErrors>>;
/// A mapping id and, when a partner's layer applies, its code and document entry.
type CacheKey = (String, Option<(String, usize)>);

/// Translates inputs with a mapping library and partner profiles; compiled mappings are cached.
pub struct Translator<'a> {
    library: &'a Library,
    profiles: &'a Profiles,
    /// Use this partner for every interchange instead of finding it by sender id.
    pub partner: Option<&'a Loaded>,
    /// Record a trace per set.
    pub trace: bool,
    cache: RefCell<HashMap<CacheKey, Compiled>>,
}

impl<'a> Translator<'a> {
    pub fn new(library: &'a Library, profiles: &'a Profiles) -> Self {
        Translator { library, profiles, partner: None, trace: false, cache: RefCell::new(HashMap::new()) }
    }

    /// Reads `src` and calls `each` with the outcome of every set; returns the validation report.
    pub fn translate<R: Read>(&self, src: R, opts: Options, mut each: impl FnMut(SetOutcome)) -> io::Result<Report> {
        let opts = Options { record_tree: true, ..opts };
        validate_with(src, opts, |_| {}, |set, diags, checked| each(self.translate_set(set, diags, checked)))
    }

    fn translate_set(&self, set: &TransactionSet<'_>, diags: &[Diagnostic], checked: Option<Checked<'_>>) -> SetOutcome {
        let partner = self.partner.or_else(|| self.profiles.sender_of(set.interchange));
        let h = &set.header;
        let provenance = Provenance {
            partner: partner.map(|p| p.profile.code.clone()),
            standard: set.standard().name().to_string(),
            version: h.version.clone(),
            document_type: h.document.clone(),
            interchange_control_number: set.interchange.control_number.clone(),
            group_control_number: set.group.map(|g| g.control_number.clone()),
            set_control_number: h.control_number.clone(),
            raw_id: None,
        };
        let mut out = SetOutcome { provenance, mapping: None, result: Err(SetFailure::Unchecked(String::new())), trace: None, elements: vec![] };
        let errors: Vec<Diagnostic> = diags.iter().filter(|d| d.is_error()).take(5).cloned().collect();
        if !errors.is_empty() {
            out.result = Err(SetFailure::Rejected(errors));
            return out;
        }
        let Some(checked) = checked else {
            out.result = Err(SetFailure::Unchecked(format!("{} {}", h.document, h.version)));
            return out;
        };
        let entry = partner.and_then(|p| p.document_version(&h.document, Direction::In, &checked.version.version).map(|(i, d)| (p, i, d)));
        let id = match entry.map(|(p, _, d)| p.mapping_id(d)) {
            Some(Ok(id)) => id,
            Some(Err(m)) => {
                out.result = Err(SetFailure::BadMapping { id: String::new(), errors: m });
                return out;
            }
            None => Library::id(set.standard(), &checked.version.version, &h.document, Direction::In),
        };
        out.mapping = Some(id.clone());
        if !self.library.files.contains_key(&id) {
            let available = self.library.ids().filter(|i| i.ends_with(".in")).collect::<Vec<_>>().join(", ");
            out.result = Err(SetFailure::NoMapping { id, available });
            return out;
        }
        let key = (id.clone(), entry.map(|(p, i, _)| (p.profile.code.clone(), i)));
        let compiled = self.cache.borrow().get(&key).cloned();
        let compiled = compiled.unwrap_or_else(|| {
            let c = Rc::new(match entry {
                Some((p, i, _)) => match p.layer(i) {
                    Ok(layer) => self.library.inbound(&id, Some(&layer)),
                    Err(e) => Err(MappingErrors(vec![e])),
                },
                None => self.library.inbound(&id, None),
            });
            self.cache.borrow_mut().insert(key, c.clone());
            c
        });
        let map = match compiled.as_ref() {
            Ok(m) => m,
            Err(e) => {
                out.result = Err(SetFailure::BadMapping { id, errors: e.to_string() });
                return out;
            }
        };
        if self.trace {
            let (doc, trace) = eval::translate_traced(map, set, checked.tree, &out.provenance);
            out.result = doc.map_err(SetFailure::Map);
            out.trace = Some(trace);
            for (i, seg) in set.segments().enumerate() {
                for (e, el) in seg.elements().enumerate() {
                    let comps: Vec<_> = el.components().collect();
                    if comps.len() > 1 {
                        for (c, comp) in comps.iter().enumerate() {
                            if !comp.is_empty() {
                                out.elements.push((i as u32, seg.id_str().to_string(), e as u16 + 1, Some(c as u16 + 1), comp.text().into_owned()));
                            }
                        }
                    } else if !el.is_empty() {
                        out.elements.push((i as u32, seg.id_str().to_string(), e as u16 + 1, None, el.text().into_owned()));
                    }
                }
            }
        } else {
            out.result = eval::translate(map, set, checked.tree, &out.provenance).map_err(SetFailure::Map);
        }
        out
    }
}

/// The EDI document type a canonical document is written as, in a standard.
pub fn message_for(kind: DocKind, standard: Standard) -> &'static str {
    match (kind, standard) {
        (DocKind::PurchaseOrder, Standard::X12) => "850",
        (DocKind::OrderConfirmation, Standard::X12) => "855",
        (DocKind::ShipNotice, Standard::X12) => "856",
        (DocKind::Invoice, Standard::X12) => "810",
        (DocKind::PurchaseOrder, Standard::Edifact) => "ORDERS",
        (DocKind::OrderConfirmation, Standard::Edifact) => "ORDRSP",
        (DocKind::ShipNotice, Standard::Edifact) => "DESADV",
        (DocKind::Invoice, Standard::Edifact) => "INVOIC",
    }
}

fn kind_of(d: &Document) -> DocKind {
    match d {
        Document::PurchaseOrder(_) => DocKind::PurchaseOrder,
        Document::OrderConfirmation(_) => DocKind::OrderConfirmation,
        Document::ShipNotice(_) => DocKind::ShipNotice,
        Document::Invoice(_) => DocKind::Invoice,
    }
}

/// Why documents could not be written for a partner.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    #[error("partner {partner} has no X12 or EDIFACT identity to write with")]
    NoIdentity { partner: String },
    #[error("no mapping {id:?}; available: {available}")]
    NoMapping { id: String, available: String },
    #[error("mapping {id} has errors:\n{errors}")]
    BadMapping { id: String, errors: String },
    #[error("document {index} ({document}): {error}")]
    Render { index: usize, document: String, error: RenderError },
    #[error("{0}")]
    Write(#[from] crate::syntax::write::WriteError),
}

/// Envelope values that change per call: control number, date and time.
pub struct Envelope {
    pub control_number: u32,
    /// CCYYMMDD.
    pub date: String,
    /// HHMM.
    pub time: String,
}

/// Writes canonical documents as one interchange for a partner: the standard, version, identities
/// and delimiters come from its profile; each document through its outbound mapping (with the
/// profile's overrides). Documents of one type share a group.
pub fn render_interchange(library: &Library, partner: &Loaded, docs: &[Document], env: &Envelope) -> Result<Vec<u8>, RenderFailure> {
    let p = &partner.profile;
    // The standard: from the profile's outbound document entries, else its identity.
    let standard = |kind: DocKind| -> Option<Standard> {
        for s in [Standard::X12, Standard::Edifact] {
            if partner.document(message_for(kind, s), Direction::Out).is_some() {
                return Some(s);
            }
        }
        if p.x12.is_some() {
            Some(Standard::X12)
        } else if p.edifact.is_some() {
            Some(Standard::Edifact)
        } else {
            None
        }
    };
    let first = docs.first().map(kind_of).unwrap_or(DocKind::PurchaseOrder);
    let std = standard(first).ok_or_else(|| RenderFailure::NoIdentity { partner: p.code.clone() })?;
    // Compile each document type's mapping once.
    let mut compiled: HashMap<DocKind, Outbound> = HashMap::new();
    for d in docs {
        let kind = kind_of(d);
        if compiled.contains_key(&kind) {
            continue;
        }
        let message = message_for(kind, std);
        let (id, layer) = match partner.document(message, Direction::Out) {
            Some((i, entry)) => (partner.mapping_id(entry).map_err(|m| RenderFailure::BadMapping { id: message.into(), errors: m })?, Some(i)),
            None => {
                let version = match std {
                    Standard::X12 => p.x12.as_ref().map(|x| x.version.clone()),
                    Standard::Edifact => p.edifact.as_ref().map(|e| e.directory.clone()),
                }
                .ok_or_else(|| RenderFailure::NoIdentity { partner: p.code.clone() })?;
                (Library::id(std, &version, message, Direction::Out), None)
            }
        };
        if !library.files.contains_key(&id) {
            let available = library.ids().filter(|i| i.ends_with(".out")).collect::<Vec<_>>().join(", ");
            return Err(RenderFailure::NoMapping { id, available });
        }
        let out = match layer {
            Some(i) => match partner.layer(i) {
                Ok(l) => library.outbound(&id, Some(&l)),
                Err(e) => Err(MappingErrors(vec![e])),
            },
            None => library.outbound(&id, None),
        };
        let out = out.map_err(|e| RenderFailure::BadMapping { id: id.clone(), errors: e.to_string() })?;
        compiled.insert(kind, out);
    }
    // Render every document first: nothing is written when one fails.
    let mut rendered = Vec::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        let kind = kind_of(d);
        let json = serde_json::to_value(d).map_err(|e| RenderFailure::Render {
            index: i,
            document: kind.name().into(),
            error: RenderError { at: String::new(), message: e.to_string(), rule: None },
        })?;
        let segs = compiled[&kind].render(&json).map_err(|error| RenderFailure::Render { index: i, document: kind.name().into(), error })?;
        rendered.push((kind, segs));
    }
    match std {
        Standard::X12 => write_x12(partner, &compiled, &rendered, env),
        Standard::Edifact => write_edifact(partner, &compiled, &rendered, env),
    }
}

fn write_x12(partner: &Loaded, compiled: &HashMap<DocKind, Outbound>, docs: &[(DocKind, Vec<SegmentData>)], env: &Envelope) -> Result<Vec<u8>, RenderFailure> {
    use crate::syntax::segment::Delimiters;
    use crate::syntax::x12::writer::{InterchangeParams, X12Writer};
    let p = &partner.profile;
    let x = p.x12.as_ref().ok_or_else(|| RenderFailure::NoIdentity { partner: p.code.clone() })?;
    let d = &x.delimiters;
    let byte = |c: char| u8::try_from(c as u32).unwrap_or(b'?');
    let delims = Delimiters { element: byte(d.element), component: byte(d.component), repetition: Some(byte(d.repetition)), segment: byte(d.segment), ..Delimiters::X12 };
    let isa12 = if x.version.as_str() >= "005010" { "00501" } else { "00401" };
    let params = InterchangeParams {
        sender: crate::syntax::envelope::PartyId { qualifier: x.our_qualifier.clone(), id: x.our_id.clone() },
        receiver: crate::syntax::envelope::PartyId { qualifier: x.qualifier.clone(), id: x.id.clone() },
        control_number: env.control_number,
        date: env.date.get(2..).unwrap_or_default().to_string(),
        time: env.time.clone(),
        version: isa12.to_string(),
        ack_requested: false,
        test: x.usage == "T",
    };
    let mut w = X12Writer::new(delims, d.suffix.as_bytes(), &params)?;
    let mut group = 0;
    // One group per document type, in the order the types first appear.
    let mut kinds: Vec<DocKind> = Vec::new();
    for (k, _) in docs {
        if !kinds.contains(k) {
            kinds.push(*k);
        }
    }
    for kind in kinds {
        let out = &compiled[&kind];
        group += 1;
        let fg = out.doc.functional_group.as_deref().unwrap_or("PO");
        let gs_version = out.doc.version.clone();
        let our = x.our_gs_id.as_deref().unwrap_or(&x.our_id);
        let their = x.gs_id.as_deref().unwrap_or(&x.id);
        w.begin_group(fg, our, their, &env.date, &env.time, env.control_number * 100 + group, &gs_version)?;
        for (n, (_, segs)) in docs.iter().filter(|(k, _)| *k == kind).enumerate() {
            let control = format!("{:04}", n + 1);
            let st03 = (gs_version.as_str() >= "005010").then_some(gs_version.as_str());
            w.begin_set(&out.doc.id, &control, st03)?;
            for s in segs {
                w.segment(s)?;
            }
            w.end_set()?;
        }
        w.end_group()?;
    }
    Ok(w.finish()?)
}

fn write_edifact(partner: &Loaded, compiled: &HashMap<DocKind, Outbound>, docs: &[(DocKind, Vec<SegmentData>)], env: &Envelope) -> Result<Vec<u8>, RenderFailure> {
    use crate::syntax::edifact::writer::{EdifactWriter, InterchangeParams};
    use crate::syntax::segment::{Charset, Delimiters};
    let p = &partner.profile;
    let e = p.edifact.as_ref().ok_or_else(|| RenderFailure::NoIdentity { partner: p.code.clone() })?;
    let delims = Delimiters { charset: Charset::for_syntax(&e.syntax), ..Delimiters::EDIFACT };
    let params = InterchangeParams {
        syntax_identifier: e.syntax.clone(),
        syntax_version: e.syntax_version.to_string(),
        sender: crate::syntax::envelope::PartyId { qualifier: e.our_qualifier.clone().unwrap_or_default(), id: e.our_id.clone() },
        receiver: crate::syntax::envelope::PartyId { qualifier: e.qualifier.clone().unwrap_or_default(), id: e.id.clone() },
        date: if e.syntax_version >= 4 { env.date.clone() } else { env.date.get(2..).unwrap_or_default().to_string() },
        time: env.time.clone(),
        control_reference: env.control_number.to_string(),
        ack_requested: false,
        test: false,
        una: e.una,
    };
    let mut w = EdifactWriter::new(delims, e.suffix.as_bytes(), &params)?;
    for (n, (kind, segs)) in docs.iter().enumerate() {
        let out = &compiled[kind];
        let dir = &out.version.version; // D96A
        let (version, release) = dir.split_at(1);
        w.begin_message(&format!("{}{:04}", env.control_number, n + 1), &out.doc.id, version, release, "UN", e.association.as_deref())?;
        for s in segs {
            w.segment(s)?;
        }
        w.end_message()?;
    }
    Ok(w.finish()?)
}

