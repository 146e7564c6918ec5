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

/// An AS2 name as a header value: quoted when it holds anything but letters, digits and `-_.@`.
pub fn quote_name(id: &str) -> String {
    if id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
        id.to_string()
    } else {
        format!("\"{}\"", id.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// An AS2 name from a header value, quoted (`"my id"`) or not.
pub fn unquote_name(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_quote_and_unquote() {
        for id in ["edigate", "my id", "a\"b", "x\\y"] {
            assert_eq!(super::unquote_name(&super::quote_name(id)), id);
        }
        assert_eq!(super::quote_name("acme-2.as2@example"), "acme-2.as2@example");
    }
}
