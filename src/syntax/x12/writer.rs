//! Writes X12 interchanges: ISA with its fixed widths, GS, ST ... SE, GE, IEA with counts and control
//! numbers computed.

use crate::syntax::envelope::PartyId;
use crate::syntax::segment::{show_byte, Delimiters};
use crate::syntax::write::{SegmentData, SegmentWriter, WriteError};

/// What goes into the ISA.
#[derive(Clone, Debug)]
pub struct InterchangeParams {
    pub sender: PartyId,
    pub receiver: PartyId,
    /// ISA13, written as 9 digits.
    pub control_number: u32,
    /// YYMMDD.
    pub date: String,
    /// HHMM.
    pub time: String,
    /// ISA12, e.g. `00401` or `00501`.
    pub version: String,
    pub ack_requested: bool,
    pub test: bool,
}

/// Builds one interchange, segment by segment.
pub struct X12Writer {
    w: SegmentWriter,
    out: Vec<u8>,
    control: String,
    groups: u32,
    group: Option<(String, u32)>,
    set: Option<(String, u32)>,
}

fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

impl X12Writer {
    /// Starts an interchange; writes the ISA.
    pub fn new(delimiters: Delimiters, line_end: &[u8], p: &InterchangeParams) -> Result<Self, WriteError> {
        let w = SegmentWriter::new(delimiters, line_end)?;
        let control = format!("{:09}", p.control_number);
        let repetition = match delimiters.repetition {
            Some(r) if p.version.as_str() >= "00402" => (r as char).to_string(),
            _ => "U".to_string(),
        };
        let fields = [
            "00".to_string(),
            pad("", 10),
            "00".to_string(),
            pad("", 10),
            pad(&p.sender.qualifier, 2),
            pad(&p.sender.id, 15),
            pad(&p.receiver.qualifier, 2),
            pad(&p.receiver.id, 15),
            p.date.clone(),
            p.time.clone(),
            repetition,
            p.version.clone(),
            control.clone(),
            if p.ack_requested { "1" } else { "0" }.to_string(),
            if p.test { "T" } else { "P" }.to_string(),
        ];
        // Written by hand: ISA11 and ISA16 hold service characters themselves, which no value may.
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"ISA");
        for (i, field) in fields.iter().enumerate() {
            let own = |b: u8| i == 10 && Some(b) == delimiters.repetition;
            if let Some(&b) = field.as_bytes().iter().find(|&&b| delimiters.is_service(b) && !own(b)) {
                return Err(WriteError::Unescapable { segment: "ISA".into(), value: field.clone(), delimiter: show_byte(b) });
            }
            out.push(delimiters.element);
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&[delimiters.element, delimiters.component, delimiters.segment]);
        out.extend_from_slice(line_end);
        Ok(X12Writer { w, out, control, groups: 0, group: None, set: None })
    }

    /// GS: `functional_id` (PO, PR, SH, IN, FA), application sender and receiver, CCYYMMDD date, HHMM
    /// time, control number, version (`004010`, `005010X231A1`).
    #[allow(clippy::too_many_arguments)]
    pub fn begin_group(&mut self, functional_id: &str, sender: &str, receiver: &str, date: &str, time: &str, control: u32, version: &str) -> Result<(), WriteError> {
        let c = control.to_string();
        self.w.write(&mut self.out, &SegmentData::new("GS", [functional_id, sender, receiver, date, time, &c, "X", version]))?;
        self.groups += 1;
        self.group = Some((c, 0));
        Ok(())
    }

    /// ST: set id (`997`), control number, and ST03 when given.
    pub fn begin_set(&mut self, id: &str, control: &str, implementation: Option<&str>) -> Result<(), WriteError> {
        let mut st = SegmentData::new("ST", [id, control]);
        if let Some(i) = implementation {
            st = st.element(i);
        }
        self.w.write(&mut self.out, &st)?;
        self.set = Some((control.to_string(), 1));
        if let Some(g) = &mut self.group {
            g.1 += 1;
        }
        Ok(())
    }

    pub fn segment(&mut self, seg: &SegmentData) -> Result<(), WriteError> {
        self.w.write(&mut self.out, seg)?;
        if let Some(s) = &mut self.set {
            s.1 += 1;
        }
        Ok(())
    }

    /// SE with the segment count.
    pub fn end_set(&mut self) -> Result<(), WriteError> {
        if let Some((control, n)) = self.set.take() {
            self.w.write(&mut self.out, &SegmentData::new("SE", [(n + 1).to_string(), control]))?;
        }
        Ok(())
    }

    /// GE with the set count.
    pub fn end_group(&mut self) -> Result<(), WriteError> {
        self.end_set()?;
        if let Some((control, n)) = self.group.take() {
            self.w.write(&mut self.out, &SegmentData::new("GE", [n.to_string(), control]))?;
        }
        Ok(())
    }

    /// Writes a segment outside any set (e.g. TA1, which sits between ISA and the first GS).
    pub fn envelope_segment(&mut self, seg: &SegmentData) -> Result<(), WriteError> {
        self.w.write(&mut self.out, seg)
    }

    /// IEA with the group count; the interchange's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, WriteError> {
        self.end_group()?;
        let iea = SegmentData::new("IEA", [self.groups.to_string(), self.control.clone()]);
        self.w.write(&mut self.out, &iea)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::validate::{validate, Options};

    #[test]
    fn writes_a_valid_envelope() {
        let p = InterchangeParams {
            sender: PartyId { qualifier: "ZZ".into(), id: "ACMEMFG".into() },
            receiver: PartyId { qualifier: "ZZ".into(), id: "GLOBEX".into() },
            control_number: 42,
            date: "240115".into(),
            time: "1030".into(),
            version: "00501".into(),
            ack_requested: false,
            test: false,
        };
        let mut w = X12Writer::new(Delimiters::X12, b"\n", &p).unwrap();
        w.begin_group("FA", "ACMEMFG", "GLOBEX", "20240115", "1030", 7, "005010X231A1").unwrap();
        w.begin_set("999", "0001", Some("005010X231A1")).unwrap();
        w.segment(&SegmentData::new("AK1", ["PO", "1", "005010"])).unwrap();
        w.segment(&SegmentData::new("AK9", ["A", "1", "1", "1"])).unwrap();
        let out = w.finish().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(text.lines().next().unwrap().len(), 106);
        assert!(text.contains("SE*4*0001~"), "{text}");
        assert!(text.ends_with("GE*1*7~\nIEA*1*000000042~\n"), "{text}");
        let r = validate(&out[..], Options::default()).unwrap();
        assert_eq!(r.counts.sets, 1);
        // 999 has no structure file; only the envelope is checked here.
        assert!(r.all_diagnostics().all(|(_, d)| d.problem == crate::syntax::Problem::SetNotSupported || !d.is_error()), "{r:?}");
    }
}
