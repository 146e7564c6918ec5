//! edigate: an EDI/B2B partner gateway.
//!
//! The pipeline, module by module: [`syntax`] reads, validates and writes X12 and EDIFACT and produces
//! functional acknowledgments; [`cli`] is the command line around it. See `ARCHITECTURE.md`.

pub mod cli;
pub mod mapping;
pub mod model;
pub mod profiles;
pub mod translate;
pub mod syntax;
