//! EDIFACT envelope: the UNA service string advice, the UNB, UNG and UNH headers, and the character
//! repertoires of the syntax identifiers.

use crate::syntax::diag::{Diagnostic, Location, Problem};
use crate::syntax::envelope::{GroupHeader, InterchangeHeader, PartyId, SetHeader, Standard};
use crate::syntax::segment::{show_byte, Charset, Delimiters, Segment};
use crate::syntax::types;
use nom::bytes::complete::{tag, take};
use nom::{IResult, Parser};

/// Delimiters of an interchange without UNA whose syntax identifier is UNOB: information separators.
pub const UNOB_DEFAULTS: Delimiters = Delimiters {
    element: 0x1D,
    component: 0x1F,
    repetition: Some(0x19),
    segment: 0x1C,
    release: None,
    decimal: b'.',
    charset: Charset::Utf8,
};

fn una(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, _) = tag(&b"UNA"[..]).parse(i)?;
    take(6usize).parse(i)
}

/// Reads `UNA:+.? '`. Returns the delimiters and the number of bytes the UNA takes.
pub fn service_string(bytes: &[u8]) -> Result<(Delimiters, usize), String> {
    let (_, chars) = una(bytes).map_err(|_| {
        format!(
            "UNA service string advice is incomplete: it needs 6 service characters after 'UNA', found {}",
            bytes.len().saturating_sub(3).min(6)
        )
    })?;
    if let Some(p) = chars.iter().position(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "UNA service string advice is malformed: service character {} is {}; expected 6 non-alphanumeric characters (component, element, decimal mark, release, repetition/reserved, terminator) after 'UNA', found {:?}",
            p + 1,
            show_byte(chars[p]),
            String::from_utf8_lossy(chars)
        ));
    }
    // The classic mistake `UNA:+.?'` + line break: five characters, the line break taken as the sixth.
    if matches!(chars[5], b'\r' | b'\n') && chars[4] != b' ' {
        return Err(format!(
            "UNA service string advice is malformed: it has only 5 service characters ({:?}) before the line break; expected 6 (component, element, decimal mark, release, repetition or space, terminator)",
            String::from_utf8_lossy(&chars[..5])
        ));
    }
    let decimal = chars[2];
    if decimal != b'.' && decimal != b',' {
        return Err(format!("UNA decimal mark must be '.' or ',', found {}", show_byte(decimal)));
    }
    let release = (chars[3] != b' ').then_some(chars[3]);
    let repetition = (chars[4] != b' ').then_some(chars[4]);
    let d = Delimiters { component: chars[0], element: chars[1], decimal, release, repetition, segment: chars[5], charset: Charset::Utf8 };
    d.check().map_err(|e| format!("UNA delimiters unusable: {e}"))?;
    Ok((d, 9))
}

/// Which bytes a syntax identifier allows (UNOA and UNOB are restricted; C and later are 8-bit sets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repertoire {
    /// Level A: upper case letters, digits, space and `.,-()/='+:?!"%&*;<>`.
    A,
    /// Level B: level A plus lower case letters and `#@[]_{}\|~^` and the other printable ASCII.
    B,
    /// Anything (UNOC..UNOY: ISO 8859 parts, UTF-8, ...).
    Any,
}

impl Repertoire {
    pub fn for_syntax(id: &str) -> Repertoire {
        match id {
            "UNOA" => Repertoire::A,
            "UNOB" => Repertoire::B,
            _ => Repertoire::Any,
        }
    }

    pub fn allows(self, b: u8) -> bool {
        match self {
            Repertoire::A => {
                b.is_ascii_uppercase() || b.is_ascii_digit() || b" .,-()/='+:?!\"%&*;<>".contains(&b)
            }
            Repertoire::B => (0x20..0x7f).contains(&b),
            Repertoire::Any => true,
        }
    }
}

/// Finds the first byte of a segment outside the repertoire (service characters are always allowed).
pub fn check_repertoire(
    rep: Repertoire,
    seg: &Segment<'_>,
    number: u32,
    syntax: &str,
) -> Option<Diagnostic> {
    if rep == Repertoire::Any {
        return None;
    }
    let d = seg.delimiters();
    let bytes = seg.as_bytes();
    let bad = bytes.iter().position(|&b| !rep.allows(b) && !d.is_service(b))?;
    let element = bytes[..bad].iter().filter(|&&b| b == d.element).count() as u16;
    let mut loc = Location::segment(seg.offset(), number, seg.id());
    if element > 0 {
        loc = loc.with_element(element);
    }
    Some(Diagnostic::error(
        Problem::InvalidCharacterSet,
        loc,
        format!(
            "character {} at byte {} is not in the {syntax} character set{}",
            show_byte(bytes[bad]),
            seg.offset() + bad as u64,
            if rep == Repertoire::A { " (level A: upper case letters, digits, space and . , - ( ) / = ' + : ? ! \" % & * ; < >)" } else { "" }
        ),
    ))
}

fn text(seg: &Segment<'_>, e: usize, c: usize) -> String {
    seg.element(e).and_then(|el| el.component(c)).map(|v| v.text().trim().to_string()).unwrap_or_default()
}

/// The UNB header, with problems found in it.
pub fn interchange_header(seg: &Segment<'_>, diags: &mut Vec<Diagnostic>) -> InterchangeHeader {
    let at = |e: u16, c: Option<u16>| Location::segment(seg.offset(), 1, b"UNB").with_element(e).with_component(c);
    let syntax = text(seg, 1, 1);
    let version = text(seg, 1, 2);
    let valid_id = syntax.len() == 4 && syntax.starts_with("UNO") && (b'A'..=b'Y').contains(&syntax.as_bytes()[3]);
    if !valid_id {
        diags.push(Diagnostic::error(
            Problem::UnsupportedSyntax,
            at(1, Some(1)),
            format!("UNB syntax identifier {syntax:?} is not one of UNOA to UNOY"),
        ));
    }
    match version.as_str() {
        "3" | "4" => {}
        "1" | "2" => diags.push(Diagnostic::warning(
            Problem::UnsupportedVersion,
            at(1, Some(2)),
            format!("syntax version {version} is old; read with the version 3 rules"),
        )),
        _ => diags.push(
            Diagnostic::error(
                Problem::UnsupportedVersion,
                at(1, Some(2)),
                format!("syntax version number {version:?} is not supported; expected 3 or 4"),
            )
            .with_value(version.as_bytes()),
        ),
    }
    let date = text(seg, 4, 1);
    let time = text(seg, 4, 2);
    if !types::valid_date(date.as_bytes()) {
        diags.push(Diagnostic::error(
            Problem::InvalidInterchangeDate,
            at(4, Some(1)),
            format!("UNB date {date:?} is not a valid YYMMDD or CCYYMMDD"),
        ));
    }
    if !types::valid_time(time.as_bytes()) {
        diags.push(Diagnostic::error(
            Problem::InvalidInterchangeDate,
            at(4, Some(2)),
            format!("UNB time {time:?} is not a valid HHMM"),
        ));
    }
    let control = text(seg, 5, 1);
    if control.is_empty() || control.len() > 14 {
        diags.push(Diagnostic::error(
            Problem::InvalidControlNumber,
            at(5, None),
            format!("UNB interchange control reference must be 1 to 14 characters, found {control:?}"),
        ));
    }
    for (e, name) in [(2, "sender"), (3, "recipient")] {
        if text(seg, e, 1).is_empty() {
            diags.push(Diagnostic::error(
                Problem::InvalidInterchangeHeader,
                at(e as u16, Some(1)),
                format!("UNB interchange {name} identification is missing"),
            ));
        }
    }
    InterchangeHeader {
        standard: Standard::Edifact,
        offset: seg.offset(),
        sender: PartyId { qualifier: text(seg, 2, 2), id: text(seg, 2, 1) },
        receiver: PartyId { qualifier: text(seg, 3, 2), id: text(seg, 3, 1) },
        control_number: control,
        date,
        time,
        version,
        syntax_identifier: Some(syntax),
        ack_requested: text(seg, 9, 1) == "1",
        test: text(seg, 11, 1) == "1",
        delimiters: *seg.delimiters(),
    }
}

/// The UNG header.
pub fn group_header(seg: &Segment<'_>) -> GroupHeader {
    GroupHeader {
        offset: seg.offset(),
        functional_id: text(seg, 1, 1),
        sender: text(seg, 2, 1),
        receiver: text(seg, 3, 1),
        date: text(seg, 4, 1),
        time: text(seg, 4, 2),
        control_number: text(seg, 5, 1),
        agency: text(seg, 6, 1),
        version: format!("{}{}", text(seg, 7, 1), text(seg, 7, 2)),
    }
}

/// The UNH header: message reference and S009 message identifier.
pub fn set_header(seg: &Segment<'_>) -> SetHeader {
    SetHeader {
        offset: seg.offset(),
        document: text(seg, 2, 1),
        control_number: text(seg, 1, 1),
        version: format!("{}{}", text(seg, 2, 2), text(seg, 2, 3)),
        implementation: text(seg, 2, 5),
        agency: text(seg, 2, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_una() {
        let (d, n) = service_string(b"UNA:+.? 'UNB+").unwrap();
        assert_eq!((d.component, d.element, d.decimal, d.release, d.repetition, d.segment), (b':', b'+', b'.', Some(b'?'), None, b'\'', ));
        assert_eq!(n, 9);
        let (d, _) = service_string(b"UNA|^,? !UNB").unwrap();
        assert_eq!((d.component, d.element, d.decimal, d.segment), (b'|', b'^', b',', b'!'));
    }

    #[test]
    fn rejects_short_una() {
        let e = service_string(b"UNA:+.?'\nUNB+UNOC:3").unwrap_err();
        assert!(e.contains("only 5 service characters"), "{e}");
        let e = service_string(b"UNA:+.?'UNB+UNOC:3").unwrap_err();
        assert!(e.contains("malformed"), "{e}");
        assert!(service_string(b"UNA:+").is_err());
    }

    #[test]
    fn repertoire_a() {
        assert!(Repertoire::A.allows(b'Z'));
        assert!(!Repertoire::A.allows(b'z'));
        assert!(Repertoire::B.allows(b'z'));
    }
}
