//! Translation: the sets of an input, validated, matched to their partner and mapped to canonical
//! documents. Knows nothing of transports or storage: bytes in, one outcome per set out.

use crate::mapping::eval::{self, MapError, Trace};
use crate::mapping::{Direction, Inbound, Library, MappingErrors};
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

/// Translates inputs with a mapping library and partner profiles; compiled mappings are cached.
pub struct Translator<'a> {
    library: &'a Library,
    profiles: &'a Profiles,
    /// Use this partner for every interchange instead of finding it by sender id.
    pub partner: Option<&'a Loaded>,
    /// Record a trace per set.
    pub trace: bool,
    cache: RefCell<HashMap<(String, Option<(String, usize)>), Compiled>>,
}

impl<'a> Translator<'a> {
    pub fn new(library: &'a Library, profiles: &'a Profiles) -> Self {
        Translator { library, profiles, partner: None, trace: false, cache: RefCell::new(HashMap::new()) }
    }

    /// Reads `src` and calls `each` with the outcome of every set; returns the validation report.
    pub fn translate<R: Read>(&self, src: R, opts: Options, mut each: impl FnMut(SetOutcome)) -> io::Result<Report> {
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
        let entry = partner.and_then(|p| p.document(&h.document, Direction::In).map(|(i, d)| (p, i, d)));
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
