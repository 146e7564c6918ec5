//! The little MIME that AS2 needs, over raw bytes so that signed parts are verified and MICs computed
//! over exactly the bytes that were sent: header blocks, `Content-Type` parameters, multipart bodies
//! split at their boundaries (RFC 2046: the line break before a delimiter belongs to it), and transfer
//! encodings (base64, quoted-printable, binary).

use std::fmt;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    #[error("no blank line ends the MIME headers")]
    NoHeaderEnd,
    #[error("multipart body without boundary {0:?}")]
    NoBoundary(String),
    #[error("multipart/signed with {0} parts (2 expected)")]
    SignedParts(usize),
    #[error("bad base64 content: {0}")]
    Base64(String),
}

/// A MIME entity: its headers (unfolded) and its body, both borrowed from the raw bytes.
#[derive(Debug)]
pub struct Entity<'a> {
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl<'a> Entity<'a> {
    /// Parses headers up to the first empty line (CRLF or LF line ends).
    pub fn parse(raw: &'a [u8]) -> Result<Entity<'a>, MimeError> {
        let (head, body) = split_head(raw).ok_or(MimeError::NoHeaderEnd)?;
        Ok(Entity { headers: parse_headers(head), body })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> ContentType {
        ContentType::parse(self.header("content-type").unwrap_or("text/plain"))
    }

    /// The body with its `Content-Transfer-Encoding` undone.
    pub fn decoded(&self) -> Result<Vec<u8>, MimeError> {
        decode(self.header("content-transfer-encoding"), self.body)
    }

    /// `filename` of `Content-Disposition`, when given.
    pub fn filename(&self) -> Option<String> {
        let cd = ContentType::parse(self.header("content-disposition")?);
        cd.param("filename").map(str::to_string)
    }
}

fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    // An entity without headers starts with its blank line.
    if raw.starts_with(b"\r\n") {
        return Some((&raw[..0], &raw[2..]));
    }
    if raw.starts_with(b"\n") {
        return Some((&raw[..0], &raw[1..]));
    }
    let crlf = memchr::memmem::find(raw, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = memchr::memmem::find(raw, b"\n\n").map(|i| (i, i + 2));
    let (end, start) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (a, b) => a.or(b)?,
    };
    Some((&raw[..end], &raw[start..]))
}

/// Header lines, continuation lines unfolded; names as written.
pub fn parse_headers(head: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// `type/subtype; name=value; name="quoted value"`: the type in lower case, parameters by name.
#[derive(Clone, Debug, Default)]
pub struct ContentType {
    pub mime: String,
    pub params: Vec<(String, String)>,
}

impl ContentType {
    pub fn parse(s: &str) -> ContentType {
        let mut parts = split_params(s).into_iter();
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                let v = v.trim();
                let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') { unquote(&v[1..v.len() - 1]) } else { v.to_string() };
                Some((k.trim().to_ascii_lowercase(), v))
            })
            .collect();
        ContentType { mime, params }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is(&self, mime: &str) -> bool {
        self.mime == mime
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mime)?;
        for (k, v) in &self.params {
            write!(f, "; {k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        Ok(())
    }
}

/// Splits at `;` outside quotes.
fn split_params(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                out.last_mut().expect("one").push(c);
                continue;
            }
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("one").push(c);
    }
    out
}

fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

/// The parts of a multipart body, each exactly as sent (headers and body, without the line break
/// that belongs to the next delimiter).
pub fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, MimeError> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    // Delimiter lines: at the start, or after a line break; followed by `--`, spaces or a line break.
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(i) = memchr::memmem::find(&body[at..], d) {
        let pos = at + i;
        let line_start = pos == 0 || body[pos - 1] == b'\n';
        if line_start {
            starts.push(pos);
        }
        at = pos + d.len();
    }
    if starts.len() < 2 {
        return Err(MimeError::NoBoundary(boundary.to_string()));
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let (from, to) = (w[0], w[1]);
        if body[from + d.len()..].starts_with(b"--") {
            break;
        }
        // Skip the rest of the delimiter line.
        let Some(nl) = memchr::memchr(b'\n', &body[from..to]) else { continue };
        let start = from + nl + 1;
        // The line break before the next delimiter is the delimiter's.
        let mut end = to;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push(&body[start..end.max(start)]);
    }
    Ok(parts)
}

/// Undoes a transfer encoding.
pub fn decode(encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, MimeError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        Some("base64") => {
            use base64::Engine;
            let clean: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(&clean).map_err(|e| MimeError::Base64(e.to_string()))
        }
        Some("quoted-printable") => Ok(quoted_printable(body)),
        _ => Ok(body.to_vec()),
    }
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'=' {
            if body[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if body[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(h) = body.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_are_quoted_mime_parameters() {
        let ct = ContentType::parse(r#"multipart/signed; protocol="application/pkcs7-signature"; micalg="sha256"; boundary="===abc;def==""#);
        assert_eq!(ct.mime, "multipart/signed");
        assert_eq!(ct.param("Protocol"), Some("application/pkcs7-signature"));
        assert_eq!(ct.param("boundary"), Some("===abc;def=="));
        assert_eq!(ContentType::parse("Application/EDI-X12").mime, "application/edi-x12");
    }

    #[test]
    fn multipart_parts_are_the_bytes_between_delimiters() {
        let body = b"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nX: y\r\n\r\nworld\r\n\r\n--b--\r\nepilogue";
        let parts = split_multipart(body, "b").unwrap();
        assert_eq!(parts, vec![&b"Content-Type: text/plain\r\n\r\nhello"[..], &b"X: y\r\n\r\nworld\r\n"[..]]);
        let e = Entity::parse(parts[0]).unwrap();
        assert_eq!(e.header("content-type"), Some("text/plain"));
        assert_eq!(e.body, b"hello");
        assert!(split_multipart(b"no parts", "b").is_err());
    }

    #[test]
    fn headers_unfold_and_encodings_decode() {
        let e = Entity::parse(b"Content-Type: application/pkcs7-mime;\r\n\tsmime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n").unwrap();
        assert_eq!(e.content_type().param("smime-type"), Some("enveloped-data"));
        assert_eq!(e.decoded().unwrap(), b"hello");
        assert_eq!(decode(Some("quoted-printable"), b"a=3Db=\r\nc").unwrap(), b"a=bc");
    }
}
