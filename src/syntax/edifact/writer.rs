//! Writes EDIFACT interchanges: UNA (optional), UNB, UNG ... UNE (optional), UNH ... UNT, UNZ, with
//! release characters added and counts and references computed.

use crate::syntax::envelope::PartyId;
use crate::syntax::segment::Delimiters;
use crate::syntax::write::{SegmentData, SegmentWriter, WriteError};

/// What goes into the UNB.
#[derive(Clone, Debug)]
pub struct InterchangeParams {
    /// `UNOA` .. `UNOY`.
    pub syntax_identifier: String,
    /// `3` or `4`.
    pub syntax_version: String,
    pub sender: PartyId,
    pub receiver: PartyId,
    /// YYMMDD (syntax 3) or CCYYMMDD (syntax 4).
    pub date: String,
    /// HHMM.
    pub time: String,
    /// UNB 0020.
    pub control_reference: String,
    pub ack_requested: bool,
    pub test: bool,
    /// Write a UNA service string advice.
    pub una: bool,
}

fn party(p: &PartyId) -> Vec<String> {
    if p.qualifier.is_empty() {
        vec![p.id.clone()]
    } else {
        vec![p.id.clone(), p.qualifier.clone()]
    }
}

/// Builds one interchange, segment by segment.
pub struct EdifactWriter {
    w: SegmentWriter,
    out: Vec<u8>,
    control: String,
    /// Messages (or groups, when groups are used) in the interchange.
    count: u32,
    groups_used: bool,
    group: Option<(String, u32)>,
    message: Option<(String, u32)>,
}

impl EdifactWriter {
    /// Starts an interchange; writes UNA (if asked) and UNB.
    pub fn new(delimiters: Delimiters, line_end: &[u8], p: &InterchangeParams) -> Result<Self, WriteError> {
        let w = SegmentWriter::new(delimiters, line_end)?;
        let mut out = Vec::with_capacity(4096);
        if p.una {
            let d = delimiters;
            out.extend_from_slice(b"UNA");
            out.extend_from_slice(&[d.component, d.element, d.decimal, d.release.unwrap_or(b' '), d.repetition.unwrap_or(b' '), d.segment]);
            out.extend_from_slice(line_end);
        }
        let mut unb = SegmentData::new("UNB", Vec::<String>::new())
            .composite([p.syntax_identifier.clone(), p.syntax_version.clone()])
            .composite(party(&p.sender))
            .composite(party(&p.receiver))
            .composite([p.date.clone(), p.time.clone()])
            .element(p.control_reference.clone());
        if p.ack_requested || p.test {
            unb = unb.element("").element("").element("").element(if p.ack_requested { "1" } else { "" }).element("");
            if p.test {
                unb = unb.element("1");
            }
        }
        w.write(&mut out, &unb.trimmed())?;
        Ok(EdifactWriter { w, out, control: p.control_reference.clone(), count: 0, groups_used: false, group: None, message: None })
    }

    /// UNG: message group id, application sender and recipient, date, time, reference, agency, version
    /// and release (`D`, `96A`).
    #[allow(clippy::too_many_arguments)]
    pub fn begin_group(&mut self, group_id: &str, sender: &str, recipient: &str, date: &str, time: &str, reference: &str, version: &str, release: &str) -> Result<(), WriteError> {
        let ung = SegmentData::new("UNG", [group_id])
            .element(sender)
            .element(recipient)
            .composite([date, time])
            .element(reference)
            .element("UN")
            .composite([version, release]);
        self.w.write(&mut self.out, &ung)?;
        self.groups_used = true;
        self.count += 1;
        self.group = Some((reference.to_string(), 0));
        Ok(())
    }

    /// UNH: message reference and identifier (type, version, release, agency, association code).
    pub fn begin_message(&mut self, reference: &str, message_type: &str, version: &str, release: &str, agency: &str, association: Option<&str>) -> Result<(), WriteError> {
        let mut id = vec![message_type, version, release, agency];
        if let Some(a) = association {
            id.push(a);
        }
        self.w.write(&mut self.out, &SegmentData::new("UNH", [reference]).composite(id))?;
        self.message = Some((reference.to_string(), 1));
        match &mut self.group {
            Some(g) => g.1 += 1,
            None => self.count += 1,
        }
        Ok(())
    }

    pub fn segment(&mut self, seg: &SegmentData) -> Result<(), WriteError> {
        self.w.write(&mut self.out, seg)?;
        if let Some(m) = &mut self.message {
            m.1 += 1;
        }
        Ok(())
    }

    /// UNT with the segment count.
    pub fn end_message(&mut self) -> Result<(), WriteError> {
        if let Some((reference, n)) = self.message.take() {
            self.w.write(&mut self.out, &SegmentData::new("UNT", [(n + 1).to_string(), reference]))?;
        }
        Ok(())
    }

    /// UNE with the message count.
    pub fn end_group(&mut self) -> Result<(), WriteError> {
        self.end_message()?;
        if let Some((reference, n)) = self.group.take() {
            self.w.write(&mut self.out, &SegmentData::new("UNE", [n.to_string(), reference]))?;
        }
        Ok(())
    }

    /// UNZ; the interchange's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, WriteError> {
        self.end_group()?;
        let unz = SegmentData::new("UNZ", [self.count.to_string(), self.control.clone()]);
        self.w.write(&mut self.out, &unz)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::reader::{Item, Reader};

    #[test]
    fn escapes_and_counts() {
        let p = InterchangeParams {
            syntax_identifier: "UNOC".into(),
            syntax_version: "3".into(),
            sender: PartyId { qualifier: "14".into(), id: "4012345000009".into() },
            receiver: PartyId { qualifier: "ZZZ".into(), id: "INITECH".into() },
            date: "240115".into(),
            time: "1030".into(),
            control_reference: "42".into(),
            ack_requested: false,
            test: false,
            una: true,
        };
        let mut w = EdifactWriter::new(Delimiters::EDIFACT, b"\n", &p).unwrap();
        w.begin_message("1", "ORDERS", "D", "96A", "UN", Some("EAN008")).unwrap();
        w.segment(&SegmentData::new("FTX", ["AAI", "", ""]).composite(["O'BRIEN + SONS: 5?"])).unwrap();
        let out = w.finish().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("UNA:+.? '\nUNB+UNOC:3+4012345000009:14+INITECH:ZZZ+240115:1030+42'\n"), "{text}");
        assert!(text.contains("FTX+AAI+++O?'BRIEN ?+ SONS?: 5??'"), "{text}");
        assert!(text.contains("UNT+3+1'"), "{text}");
        assert!(text.ends_with("UNZ+1+42'\n"), "{text}");
        let mut r = Reader::new(&out[..]);
        while let Some(ev) = r.next_event().unwrap() {
            assert!(ev.diagnostics.is_empty(), "{:?}", ev.diagnostics);
            if let Item::Set(s) = ev.item {
                assert_eq!(s.segment(1).element(4).unwrap().text(), "O'BRIEN + SONS: 5?");
            }
        }
    }
}
