//! AS2 (RFC 4130): S/MIME messages over HTTP, answered with MDN receipts.
//!
//! - [`mime`]: headers, parameters, multipart bodies over raw bytes (signatures and MICs are over
//!   exactly the bytes sent).
//! - [`smime`]: CMS with RustCrypto: decrypt/encrypt, verify/sign (detached), decompress/compress.
//! - [`message`]: an inbound message unwrapped layer by layer; the MDN that answers it.
//!
//! None of them does I/O; the listener is `listeners::as2`.

pub mod message;
pub mod mime;
pub mod smime;
