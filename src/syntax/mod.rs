//! The syntax core: reading, validating and writing X12 and EDIFACT, and their acknowledgments.
//!
//! Knows nothing of networks, storage or async runtimes: bytes in, events and diagnostics out.
//!
//! - [`reader`]: streaming envelope reader (one transaction set at a time, bounded memory).
//! - [`segment`]: zero-copy segment, element, component and repetition views.
//! - [`spec`] and [`structure`]: document structures described as data (`standards/`) and the validator.
//! - [`mod@validate`]: the whole check of a file, producing a [`validate::Report`].
//! - [`x12`], [`edifact`]: standard-specific envelopes, writers and acknowledgments.

pub mod ack;
pub mod diag;
pub mod edifact;
pub mod envelope;
pub mod reader;
pub(crate) mod scan;
pub mod segment;
pub mod types;
pub mod x12;

pub use validate::{validate, Report};
pub use diag::{Diagnostic, Location, Problem, Severity};
pub use envelope::{GroupHeader, InterchangeHeader, PartyId, SetHeader, Standard};
pub use reader::{Event, Item, Limits, Reader, TransactionSet};
pub use segment::{Delimiters, Element, Segment};
pub mod spec;
pub mod structure;
pub mod validate;
pub mod write;
