//! edigate: an EDI/B2B partner gateway.
//!
//! The pipeline, module by module: [`syntax`] reads, validates and writes X12 and EDIFACT and produces
//! functional acknowledgments; [`model`], [`mapping`], [`profiles`] and [`translate`] turn sets into
//! canonical documents and back; [`journal`] keeps everything; [`pipeline`] takes inputs in;
//! [`listeners`] are the channels that feed it; [`delivery`] hands documents to the ERP; [`api`] is
//! the operator API; [`server`] assembles the gateway; [`cli`] is the command line. See
//! `ARCHITECTURE.md`.

pub mod api;
pub mod as2;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dev_erp;
pub mod journal;
pub mod listeners;
pub mod mapping;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod profiles;
pub mod server;
pub mod syntax;
pub mod tls;
pub mod translate;
