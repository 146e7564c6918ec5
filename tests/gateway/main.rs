//! The gateway as users meet it: `edigate serve` and `edigate dev-erp` as real processes on loopback,
//! a real sled journal on disk, HTTP between them.

mod as2;
mod harness;
mod hostile;
mod intake;
mod notify;
mod reliability;
mod sftp;
mod erp_auth;
