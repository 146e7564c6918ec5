//! Inbound channels. Each one authenticates a partner and hands its bytes to the pipeline; none
//! of them reads EDI.
//!
//! - [`http`]: `POST /api/v1/inbound` with the partner's bearer token.
//! - [`dir`]: a watched directory per partner (`DATA/inbound/PARTNER/`), for files dropped by
//!   scripts and file shares.
//!
//! SFTP and AS2 follow, on the same [`crate::pipeline::Pipeline`].

pub mod dir;
pub mod http;
pub mod as2;
pub mod sftp;
