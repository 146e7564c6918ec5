//! X12 envelope: delimiters from the ISA header, and the ISA, GS and ST headers.

use crate::syntax::diag::{Diagnostic, Location, Problem};
use crate::syntax::envelope::{GroupHeader, InterchangeHeader, PartyId, SetHeader, Standard};
use crate::syntax::segment::{show_byte, Charset, Delimiters, Segment};
use crate::syntax::types;

/// Widths of ISA01..ISA16, fixed by the standard.
pub const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];

/// Control versions (ISA12) and group versions (GS08) edigate validates against.
pub const KNOWN_VERSIONS: [&str; 2] = ["00401", "00501"];
pub const KNOWN_GROUP_VERSIONS: [&str; 2] = ["004010", "005010"];

/// Delimiters read from the start of an ISA segment, and warnings about its shape.
#[derive(Debug)]
pub struct IsaShape {
    pub delimiters: Delimiters,
    /// Field widths that differ from the standard: (position, found width).
    pub odd_widths: Vec<(usize, usize)>,
}

/// Reads the delimiters from the first bytes of an interchange, which start with `ISA`.
///
/// The element separator is the byte after `ISA`; ISA16 (one byte after the 16th separator) is the
/// component separator and the byte after it the segment terminator. Field widths are not trusted
/// (a 107-character ISA still reads); line breaks inside the ISA (wrapped files) are skipped.
pub fn isa_shape(bytes: &[u8]) -> Result<IsaShape, String> {
    if bytes.len() < 4 || &bytes[..3] != b"ISA" {
        return Err("expected an ISA segment".into());
    }
    let sep = bytes[3];
    if sep.is_ascii_alphanumeric() || sep == b' ' || sep == b'\r' || sep == b'\n' {
        return Err(format!("element separator {} after ISA is not usable", show_byte(sep)));
    }
    let mut seps = 0;
    let mut width = 0;
    let mut odd_widths = vec![];
    let mut i = 4;
    let mut wrapped = false;
    while i < bytes.len() && seps < 15 {
        let b = bytes[i];
        if b == sep {
            if width != ISA_WIDTHS[seps] {
                odd_widths.push((seps + 1, width));
            }
            seps += 1;
            width = 0;
        } else if b == b'\r' || b == b'\n' {
            wrapped = true;
        } else {
            width += 1;
        }
        i += 1;
    }
    if seps < 15 {
        return Err(format!(
            "ISA segment is incomplete: found {} of 16 elements in {} bytes; an ISA is 106 characters",
            seps + 1,
            bytes.len()
        ));
    }
    // The fields are fixed width: 16 elements far beyond 106 characters mean the ISA is cut short and the
    // separators counted belong to the segments after it.
    let span = i - usize::from(wrapped) * bytes[..i].iter().filter(|b| **b == b'\r' || **b == b'\n').count();
    if span > 106 + 16 {
        return Err(format!(
            "ISA segment is incomplete: an ISA has 16 fixed-width elements in 106 characters, but the 16th element starts at byte {span}; the ISA is cut short or a field is far too long"
        ));
    }
    // ISA12 (version), ISA14 and ISA15 are never padded differently: if they are not 5, 1 and 1 characters,
    // the separators counted belong to the segments after a cut-short ISA.
    if let Some(&(pos, width)) = odd_widths.iter().find(|(p, _)| matches!(p, 12 | 14 | 15)) {
        return Err(format!(
            "ISA segment is incomplete or malformed: ISA{pos:02} spans {width} characters where the standard fixes {}; an ISA has 16 fixed-width elements in 106 characters",
            ISA_WIDTHS[pos - 1]
        ));
    }
    // ISA16, then the terminator (line breaks from wrapping may sit in between).
    // (15 separators were counted after the one that follows "ISA".)
    let mut rest = bytes[i..].iter().copied().filter(|b| !(wrapped && (*b == b'\r' || *b == b'\n')));
    let component = rest.next().ok_or("ISA segment ends before ISA16 (component separator)")?;
    let segment = rest.next().ok_or("ISA segment ends before its segment terminator")?;
    let isa11 = field(bytes, sep, 11);
    let repetition = match isa11.first() {
        Some(&r) if !r.is_ascii_alphanumeric() && r != b' ' && isa11.len() == 1 => Some(r),
        _ => None,
    };
    let delimiters = Delimiters { element: sep, component, repetition, segment, release: None, decimal: b'.', charset: Charset::Utf8 };
    delimiters.check().map_err(|e| format!("ISA delimiters unusable: {e}"))?;
    Ok(IsaShape { delimiters, odd_widths })
}

/// Raw field `n` (1-based) of an ISA in `bytes`.
fn field(bytes: &[u8], sep: u8, n: usize) -> &[u8] {
    bytes.split(|b| *b == sep).nth(n).unwrap_or(b"")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// The ISA header, with problems found in its fields.
pub fn interchange_header(
    seg: &Segment<'_>,
    shape: &IsaShape,
    diags: &mut Vec<Diagnostic>,
) -> InterchangeHeader {
    let at = |e: usize| Location::segment(seg.offset(), 1, b"ISA").with_element(e as u16);
    for &(pos, width) in &shape.odd_widths {
        if pos == 16 {
            continue;
        }
        diags.push(Diagnostic::warning(
            Problem::InvalidInterchangeHeader,
            at(pos),
            format!("ISA{pos:02} is {width} characters wide; the standard fixes it at {}", ISA_WIDTHS[pos - 1]),
        ));
    }
    let version = text(seg.get(12));
    if !KNOWN_VERSIONS.contains(&version.as_str()) {
        diags.push(Diagnostic::warning(
            Problem::UnsupportedVersion,
            at(12),
            format!(
                "control version {version:?} is not one edigate validates ({}); read with the 00501 rules",
                KNOWN_VERSIONS.join(", ")
            ),
        ));
    }
    let control = text(seg.get(13));
    if control.len() != 9 || !control.bytes().all(|b| b.is_ascii_digit()) {
        diags.push(
            Diagnostic::error(
                Problem::InvalidControlNumber,
                at(13),
                format!("ISA13 interchange control number must be 9 digits, found {control:?}"),
            )
            .with_value(control.as_bytes()),
        );
    }
    let date = text(seg.get(9));
    if !types::valid_date(date.as_bytes()) {
        diags.push(
            Diagnostic::error(Problem::InvalidInterchangeDate, at(9), format!("ISA09 date {date:?} is not a valid YYMMDD"))
                .with_value(date.as_bytes()),
        );
    }
    let time = text(seg.get(10));
    if !types::valid_time(time.as_bytes()) {
        diags.push(
            Diagnostic::error(Problem::InvalidInterchangeDate, at(10), format!("ISA10 time {time:?} is not a valid HHMM"))
                .with_value(time.as_bytes()),
        );
    }
    let ack = seg.get(14);
    if ack != b"0" && ack != b"1" {
        diags.push(Diagnostic::error(
            Problem::InvalidInterchangeHeader,
            at(14),
            format!("ISA14 acknowledgment requested must be 0 or 1, found {:?}", text(ack)),
        ));
    }
    let usage = seg.get(15);
    if !matches!(usage, b"P" | b"T" | b"I") {
        diags.push(Diagnostic::error(
            Problem::InvalidInterchangeHeader,
            at(15),
            format!("ISA15 usage indicator must be P, T or I, found {:?}", text(usage)),
        ));
    }
    InterchangeHeader {
        standard: Standard::X12,
        offset: seg.offset(),
        sender: PartyId { qualifier: text(seg.get(5)), id: text(seg.get(6)) },
        receiver: PartyId { qualifier: text(seg.get(7)), id: text(seg.get(8)) },
        control_number: control,
        date,
        time,
        version,
        syntax_identifier: None,
        ack_requested: ack == b"1",
        test: usage == b"T",
        delimiters: *seg.delimiters(),
    }
}

/// The GS header.
pub fn group_header(seg: &Segment<'_>, number: u32, diags: &mut Vec<Diagnostic>) -> GroupHeader {
    let version = text(seg.get(8));
    if !KNOWN_GROUP_VERSIONS.iter().any(|v| version.starts_with(v)) {
        diags.push(Diagnostic::warning(
            Problem::UnsupportedVersion,
            Location::segment(seg.offset(), number, b"GS").with_element(8),
            format!(
                "GS08 version {version:?} is not one edigate validates ({}); segments are read but not checked against a structure",
                KNOWN_GROUP_VERSIONS.join(", ")
            ),
        ));
    }
    for (e, name) in [(1, "functional identifier code"), (6, "group control number")] {
        if seg.get(e).is_empty() {
            diags.push(Diagnostic::error(
                Problem::InvalidControlStructure,
                Location::segment(seg.offset(), number, b"GS").with_element(e as u16),
                format!("GS{e:02} ({name}) is missing"),
            ));
        }
    }
    GroupHeader {
        offset: seg.offset(),
        functional_id: text(seg.get(1)),
        sender: text(seg.get(2)),
        receiver: text(seg.get(3)),
        date: text(seg.get(4)),
        time: text(seg.get(5)),
        control_number: text(seg.get(6)),
        agency: text(seg.get(7)),
        version,
    }
}

/// The ST header. The version is ST03 when given, else GS08.
pub fn set_header(seg: &Segment<'_>, group: Option<&GroupHeader>) -> SetHeader {
    let implementation = text(seg.get(3));
    let group_version = group.map(|g| g.version.clone()).unwrap_or_default();
    SetHeader {
        offset: seg.offset(),
        document: text(seg.get(1)),
        control_number: text(seg.get(2)),
        version: if group_version.is_empty() { implementation.clone() } else { group_version },
        implementation,
        agency: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &[u8] = b"ISA*00*          *00*          *ZZ*GLOBEX         *ZZ*ACMEMFG        *240115*1030*^*00501*000000001*0*P*>~";

    #[test]
    fn reads_delimiters_from_isa() {
        let s = isa_shape(ISA).unwrap();
        assert_eq!(s.delimiters.element, b'*');
        assert_eq!(s.delimiters.component, b'>');
        assert_eq!(s.delimiters.segment, b'~');
        assert_eq!(s.delimiters.repetition, Some(b'^'));
        assert!(s.odd_widths.is_empty());
        assert_eq!(ISA.len(), 106);
    }

    #[test]
    fn tolerates_wide_fields_and_wrapping() {
        let wide = String::from_utf8(ISA.to_vec()).unwrap().replace("GLOBEX         ", "GLOBEX          ");
        let s = isa_shape(wide.as_bytes()).unwrap();
        assert_eq!(s.odd_widths, vec![(6, 16)]);
        let mut wrapped = ISA[..80].to_vec();
        wrapped.extend_from_slice(b"\r\n");
        wrapped.extend_from_slice(&ISA[80..]);
        assert_eq!(isa_shape(&wrapped).unwrap().delimiters.segment, b'~');
    }

    #[test]
    fn short_isa_is_an_error() {
        let e = isa_shape(&ISA[..90]).unwrap_err();
        assert!(e.contains("incomplete"), "{e}");
    }
}
