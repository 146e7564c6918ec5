//! Writing segments with chosen delimiters, shared by the X12 and EDIFACT interchange writers.

use super::segment::{show_byte, Delimiters, Segment};

/// A segment to write: its id and elements; an element is a list of repetitions, each a list of
/// components. Values are plain text: EDIFACT release characters are added on writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentData {
    pub id: String,
    pub elements: Vec<Vec<Vec<String>>>,
}

impl SegmentData {
    /// A segment of simple elements: `SegmentData::new("AK1", ["PO", "1234"])`.
    pub fn new<I, S>(id: &str, elements: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SegmentData { id: id.to_string(), elements: elements.into_iter().map(|e| vec![vec![e.into()]]).collect() }
    }

    /// Appends a composite element made of `components`.
    pub fn composite<I, S>(mut self, components: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.elements.push(vec![components.into_iter().map(Into::into).collect()]);
        self
    }

    /// Appends a simple element.
    pub fn element(mut self, value: impl Into<String>) -> Self {
        self.elements.push(vec![vec![value.into()]]);
        self
    }

    /// The owned copy of a read segment (release characters removed).
    pub fn from_segment(seg: &Segment<'_>) -> Self {
        let has_reps = seg.delimiters().repetition.is_some();
        let elements = seg
            .elements()
            .map(|el| {
                let reps: Vec<_> = if has_reps { el.repetitions().collect() } else { vec![el] };
                reps.iter().map(|r| r.components().map(|c| c.text().into_owned()).collect()).collect()
            })
            .collect();
        SegmentData { id: seg.id_str().to_string(), elements }
    }

    /// Drops trailing empty elements and components, as the standards require of writers.
    pub fn trimmed(mut self) -> Self {
        for el in &mut self.elements {
            for rep in el.iter_mut() {
                while rep.len() > 1 && rep.last().is_some_and(|c| c.is_empty()) {
                    rep.pop();
                }
            }
        }
        while self.elements.last().is_some_and(|e| e.len() == 1 && e[0].len() == 1 && e[0][0].is_empty()) {
            self.elements.pop();
        }
        self
    }
}

/// A value that cannot be written with the chosen delimiters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("segment {segment}: value {value:?} contains the delimiter {delimiter} and X12 has no release character")]
    Unescapable { segment: String, value: String, delimiter: String },
    #[error("segment {segment}: value {value:?} has {character:?}, which the interchange's character set cannot encode")]
    Unencodable { segment: String, value: String, character: char },
    #[error("segment id {0:?} must be 2 or 3 upper case letters or digits")]
    BadId(String),
    #[error("delimiters: {0}")]
    Delimiters(String),
}

/// Writes segments with one set of delimiters, optionally followed by a line break.
#[derive(Clone, Debug)]
pub struct SegmentWriter {
    pub delimiters: Delimiters,
    /// Written after each segment terminator (e.g. `b"\n"`); empty for none.
    pub line_end: Vec<u8>,
}

impl SegmentWriter {
    pub fn new(delimiters: Delimiters, line_end: &[u8]) -> Result<Self, WriteError> {
        delimiters.check().map_err(WriteError::Delimiters)?;
        Ok(SegmentWriter { delimiters, line_end: line_end.to_vec() })
    }

    /// Appends one segment, terminator and line end included.
    pub fn write(&self, out: &mut Vec<u8>, seg: &SegmentData) -> Result<(), WriteError> {
        let id = seg.id.as_bytes();
        if !(2..=3).contains(&id.len()) || !id.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return Err(WriteError::BadId(seg.id.clone()));
        }
        let d = &self.delimiters;
        out.extend_from_slice(id);
        for el in &seg.elements {
            out.push(d.element);
            for (r, rep) in el.iter().enumerate() {
                if r > 0 {
                    out.push(d.repetition.unwrap_or(d.element));
                }
                for (c, comp) in rep.iter().enumerate() {
                    if c > 0 {
                        out.push(d.component);
                    }
                    self.value(out, &seg.id, comp)?;
                }
            }
        }
        out.push(d.segment);
        out.extend_from_slice(&self.line_end);
        Ok(())
    }

    fn value(&self, out: &mut Vec<u8>, seg: &str, v: &str) -> Result<(), WriteError> {
        let d = &self.delimiters;
        for ch in v.chars() {
            if !ch.is_ascii() {
                let start = out.len();
                if !d.charset.encode(ch, out) {
                    return Err(WriteError::Unencodable { segment: seg.to_string(), value: v.to_string(), character: ch });
                }
                // A delimiter may itself be a non-ASCII byte (ISA and UNA allow any): the encoded
                // character's bytes must be released like any other service character.
                if out[start..].iter().any(|&b| d.is_service(b)) {
                    let encoded: Vec<u8> = out.drain(start..).collect();
                    for b in encoded {
                        self.byte(out, seg, v, b)?;
                    }
                }
                continue;
            }
            self.byte(out, seg, v, ch as u8)?;
        }
        Ok(())
    }

    /// Appends one byte of a value, released when it is a service character.
    fn byte(&self, out: &mut Vec<u8>, seg: &str, v: &str, b: u8) -> Result<(), WriteError> {
        let d = &self.delimiters;
        if d.is_service(b) {
            match d.release {
                Some(rel) => out.push(rel),
                None => {
                    return Err(WriteError::Unescapable {
                        segment: seg.to_string(),
                        value: v.to_string(),
                        delimiter: show_byte(b),
                    })
                }
            }
        }
        out.push(b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::segment::{Charset, Segment};

    /// Found by fuzzing: a non-ASCII delimiter byte inside an encoded character was written raw, so
    /// the value split on reading.
    #[test]
    fn non_ascii_delimiter_bytes_are_released_or_refused() {
        let d = Delimiters { repetition: Some(0x97), charset: Charset::Latin1, ..Delimiters::EDIFACT };
        let w = SegmentWriter::new(d, b"").unwrap();
        let seg = SegmentData::new("NA", [".\u{97}"]);
        let mut out = vec![];
        w.write(&mut out, &seg).unwrap();
        assert_eq!(out, b"NA+.?\x97'");
        out.pop();
        assert_eq!(SegmentData::from_segment(&Segment::new(&out, 0, d, true)), seg);

        let d = Delimiters { component: 0xBD, ..Delimiters::X12 };
        let w = SegmentWriter::new(d, b"").unwrap();
        let err = w.write(&mut vec![], &SegmentData::new("PO1", ["I\u{FFFD}N"])).unwrap_err();
        assert!(matches!(err, WriteError::Unescapable { .. }), "{err:?}");
    }
}
