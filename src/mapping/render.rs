//! Outbound: canonical documents to EDI (in progress).
use super::{Layer, Library, MappingErrors};

pub struct Outbound;

impl Library {
    pub fn outbound(&self, _id: &str, _layer: Option<&Layer<'_>>) -> Result<Outbound, MappingErrors> {
        Err(MappingErrors(vec![]))
    }
}
