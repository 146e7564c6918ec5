//! EDIFACT acknowledgment: the CONTRL syntax and service report message.
//!
//! One CONTRL per received interchange, sent back in an interchange of its own (UNB parties swapped,
//! the received syntax identifier and delimiters): UCI for the interchange, UCF per group when UNG
//! was used, UCM per message, and per segment in error a UCS with a UCD per element in error.
//! Action codes (0083): 7 = this level acknowledged (lower levels too unless rejected explicitly),
//! 4 = this level and all lower levels rejected. Syntax error codes (0085) come from
//! [`Problem::contrl_code`](crate::syntax::Problem::contrl_code).

use crate::syntax::ack::{line_end, interchange_errors, segment_errors, set_errors, AckOptions, SegmentErrors};
use crate::syntax::diag::{Diagnostic, Location, Problem};
use crate::syntax::edifact::envelope::UNOB_DEFAULTS;
use crate::syntax::edifact::writer::{EdifactWriter, InterchangeParams};
use crate::syntax::envelope::{GroupHeader, PartyId};
use crate::syntax::segment::Delimiters;
use crate::syntax::validate::{InterchangeReport, SetReport, Status};
use crate::syntax::write::{SegmentData, WriteError};

/// Segment groups 2/5 (UCS) repeat at most 999 times per message; UCD at most 99 times per UCS.
const MAX_UCS: usize = 999;
const MAX_UCD: usize = 99;

/// The CONTRL interchange answering one received EDIFACT interchange.
pub fn acknowledge(ic: &InterchangeReport, opts: &AckOptions) -> Result<Vec<u8>, WriteError> {
    let h = &ic.header;
    let syntax4 = h.version == "4";
    let mut w = EdifactWriter::new(h.delimiters, line_end(h.delimiters.segment), &params(ic, opts))?;
    let (version, release) = if syntax4 { ("4", "1") } else { ("D", "3") };
    w.begin_message(&opts.group_control_number.to_string(), "CONTRL", version, release, "UN", None)?;
    // An interchange whose UNZ was never read is incomplete even when nothing else was reported.
    let no_trailer = Diagnostic::error(Problem::InterchangeTrailerMissing, Location::default(), "");
    let uci_error = interchange_errors(ic).next().or((!ic.trailer).then_some(&no_trailer));
    let uci_rejected = uci_error.is_some();
    let uci = SegmentData::new("UCI", [h.control_number.as_str()])
        .composite(party(&h.sender))
        .composite(party(&h.receiver));
    w.segment(&with_action(uci, uci_rejected, uci_error))?;
    if !uci_rejected || opts.acknowledge_rejected_content {
        for g in &ic.groups {
            if let Some(gh) = &g.header {
                let first = g.diagnostics.iter().find(|d| d.is_error());
                w.segment(&with_action(ucf(gh), first.is_some(), first))?;
            }
            for set in &g.sets {
                for seg in message_response(set) {
                    w.segment(&seg)?;
                }
            }
        }
    }
    w.finish()
}

/// UNB of the response: parties swapped, same syntax identifier and version, no acknowledgment asked.
fn params(ic: &InterchangeReport, opts: &AckOptions) -> InterchangeParams {
    let h = &ic.header;
    let syntax4 = h.version == "4";
    InterchangeParams {
        syntax_identifier: h.syntax_identifier.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "UNOA".into()),
        syntax_version: if syntax4 { "4" } else { "3" }.into(),
        sender: h.receiver.clone(),
        receiver: h.sender.clone(),
        date: if syntax4 { opts.date.clone() } else { opts.date[2..].to_string() },
        time: opts.time.clone(),
        control_reference: opts.control_number.to_string(),
        ack_requested: false,
        test: h.test,
        una: !same_service_characters(&h.delimiters, &default_delimiters(h.syntax_identifier.as_deref(), syntax4)),
    }
}

/// What a reader assumes without UNA; a UNA is written only when the received delimiters differ.
fn default_delimiters(syntax: Option<&str>, syntax4: bool) -> Delimiters {
    if syntax == Some("UNOB") {
        return UNOB_DEFAULTS;
    }
    let mut d = Delimiters::EDIFACT;
    if syntax4 {
        d.repetition = Some(b'*');
    }
    d
}

/// Compares what a UNA declares (the character set is not part of it).
fn same_service_characters(a: &Delimiters, b: &Delimiters) -> bool {
    (a.element, a.component, a.segment, a.release, a.repetition, a.decimal)
        == (b.element, b.component, b.segment, b.release, b.repetition, b.decimal)
}

/// S002 / S003: identification and code qualifier.
fn party(p: &PartyId) -> Vec<String> {
    vec![p.id.clone(), p.qualifier.clone()]
}

/// UCF: group reference, application sender (S006) and recipient (S007) as received.
fn ucf(g: &GroupHeader) -> SegmentData {
    SegmentData::new("UCF", [g.control_number.as_str()]).composite([g.sender.as_str()]).composite([g.receiver.as_str()])
}

/// Appends action (0083), and for a rejection the error code (0085), the service segment in error
/// (0135) and the element position (S011) when the diagnostic has them.
fn with_action(seg: SegmentData, rejected: bool, error: Option<&Diagnostic>) -> SegmentData {
    let seg = seg.element(if rejected { "4" } else { "7" });
    let Some(d) = error.filter(|_| rejected) else { return seg.trimmed() };
    let (tag, s011) = match d.problem {
        Problem::SetTrailerMissing => ("UNT", vec![]),
        Problem::GroupTrailerMissing => ("UNE", vec![]),
        Problem::InterchangeTrailerMissing => ("UNZ", vec![]),
        _ => {
            let id = d.location.segment_id.as_str();
            if id.len() == 3 && id.starts_with("UN") {
                (id, s011(d))
            } else {
                ("", vec![])
            }
        }
    };
    seg.element(d.problem.contrl_code()).element(tag).composite(non_empty(s011)).trimmed()
}

/// A composite with no components is written as one empty component, which `trimmed` then drops.
fn non_empty(v: Vec<String>) -> Vec<String> {
    if v.is_empty() {
        vec![String::new()]
    } else {
        v
    }
}

/// S011: 0098 counts the segment tag as position 1, so element n is n + 1; 0104 the component.
fn s011(d: &Diagnostic) -> Vec<String> {
    match d.location.element {
        Some(e) => {
            let mut v = vec![(e + 1).to_string()];
            v.extend(d.location.component.map(|c| c.to_string()));
            v
        }
        None => vec![],
    }
}

/// UCM for one message, then a UCS (+ UCDs) per segment in error.
fn message_response(set: &SetReport) -> Vec<SegmentData> {
    let h = &set.header;
    let (version, release) = split_version(&h.version);
    let s009: Vec<&str> = vec![&h.document, version, release, &h.agency, &h.implementation];
    let ucm = SegmentData::new("UCM", [h.control_number.as_str()]).composite(s009);
    let rejected = set.status == Status::Rejected;
    let mut out = vec![with_action(ucm, rejected, set_errors(&set.diagnostics).next())];
    if rejected {
        for s in segment_errors(&set.diagnostics).iter().take(MAX_UCS) {
            let seg = segment_response(s);
            // UCS does not name the segment: two missing segments at one position read the same.
            if seg.len() == 1 && out.last() == seg.last() {
                continue;
            }
            out.extend(seg);
        }
    }
    out
}

/// UCS (segment position counting UNH as 1, with the segment's own error if it has one) and a UCD per
/// element in error.
fn segment_response(s: &SegmentErrors<'_>) -> Vec<SegmentData> {
    let code = s.segment.first().map_or("", |d| d.problem.contrl_code());
    let mut out = vec![SegmentData::new("UCS", [s.number.to_string(), code.to_string()]).trimmed()];
    for d in s.elements.iter().take(MAX_UCD) {
        out.push(SegmentData::new("UCD", [d.problem.contrl_code()]).composite(non_empty(s011(d))).trimmed());
    }
    out
}

/// `D96A` → (`D`, `96A`): the reader keeps S009 0052 and 0054 together; releases are 3 characters.
fn split_version(v: &str) -> (&str, &str) {
    match v.len() {
        0 => ("", ""),
        1..=3 => v.split_at(1),
        n => v.split_at(n - 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ack::AckOptions;
    use crate::syntax::reader::Reader;
    use crate::syntax::validate::{validate, Options};

    const ORDERS: &str = "UNA:+.? '\n\
UNB+UNOC:3+4012345000009:14+4098765000001:14+240520:0900+ACM0000000501'\n\
UNH+1+ORDERS:D:96A:UN:EAN008'\n\
BGM+220+4500012370+9'\n\
DTM+137:20240520:102'\n\
NAD+BY+4012345000009::9'\n\
LIN+1++4000862141404:SRV'\n\
QTY+21:48'\n\
UNS+S'\n\
UNT+8+1'\n\
UNZ+1+ACM0000000501'\n";

    fn opts() -> AckOptions {
        AckOptions { control_number: 900, group_control_number: 5, date: "20240521".into(), time: "0715".into(), ..AckOptions::default() }
    }

    fn ack(text: &str) -> String {
        let r = validate(text.as_bytes(), Options::default()).unwrap();
        let out = acknowledge(&r.interchanges[0], &opts()).unwrap();
        let mut reader = Reader::new(&out[..]);
        while let Some(ev) = reader.next_event().unwrap() {
            assert!(ev.diagnostics.is_empty(), "{:?}\n{}", ev.diagnostics, String::from_utf8_lossy(&out));
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn accepted_orders_gets_uci_and_ucm_7() {
        let r = validate(ORDERS.as_bytes(), Options::default()).unwrap();
        assert!(r.is_valid(), "{:?}", r.all_diagnostics().collect::<Vec<_>>());
        let expected = "UNB+UNOC:3+4098765000001:14+4012345000009:14+240521:0715+900'\n\
UNH+5+CONTRL:D:3:UN'\n\
UCI+ACM0000000501+4012345000009:14+4098765000001:14+7'\n\
UCM+1+ORDERS:D:96A:UN:EAN008+7'\n\
UNT+4+5'\n\
UNZ+1+900'\n";
        assert_eq!(ack(ORDERS), expected);
    }

    #[test]
    fn unt_count_mismatch_rejects_the_message_with_29() {
        let text = ack(&ORDERS.replace("UNT+8+1", "UNT+9+1"));
        assert!(text.contains("UCI+ACM0000000501+4012345000009:14+4098765000001:14+7'\n"), "{text}");
        assert!(text.contains("UCM+1+ORDERS:D:96A:UN:EAN008+4+29+UNT+2'\n"), "{text}");
    }

    #[test]
    fn element_errors_give_ucs_and_ucd() {
        let text = ack(&ORDERS.replace("DTM+137:20240520:102", "DTM+137:20241340:102"));
        assert!(text.contains("UCM+1+ORDERS:D:96A:UN:EAN008+4'\nUCS+3'\nUCD+12+2:2'\n"), "{text}");
    }

    #[test]
    fn segment_errors_give_ucs_with_code() {
        let text = ack(&ORDERS.replace("UNS+S'\n", "XYZ+1'\nUNS+S'\n").replace("UNT+8+1", "UNT+9+1"));
        assert!(text.contains("+4'\nUCS+7+15'\n"), "{text}");
    }

    #[test]
    fn unz_count_mismatch_rejects_the_interchange() {
        let text = ack(&ORDERS.replace("UNZ+1+", "UNZ+2+"));
        assert!(text.contains("UCI+ACM0000000501+4012345000009:14+4098765000001:14+4+29+UNZ+2'\nUNT+3+5'"), "{text}");
    }

    #[test]
    fn missing_unt_names_the_missing_trailer() {
        let text = ack(&ORDERS.replace("UNT+8+1'\n", ""));
        assert!(text.contains("UCM+1+ORDERS:D:96A:UN:EAN008+4+13+UNT'\nUNT"), "{text}");
    }

    #[test]
    fn groups_get_ucf() {
        let grouped = ORDERS
            .replace("'\nUNH", "'\nUNG+ORDERS+ACME+INITECH+240520:0900+G1+UN+D:96A'\nUNH")
            .replace("UNZ+1", "UNE+1+G1'\nUNZ+1");
        let text = ack(&grouped);
        assert!(text.contains("+7'\nUCF+G1+ACME+INITECH+7'\nUCM+1+ORDERS:D:96A:UN:EAN008+7'\n"), "{text}");
    }

    #[test]
    fn syntax_4_uses_contrl_4_1() {
        let v4 = ORDERS.replace("UNOC:3", "UNOC:4").replace("240520:0900", "20240520:0900");
        let text = ack(&v4);
        assert!(text.contains("UNB+UNOC:4+4098765000001:14+4012345000009:14+20240521:0715+900'\nUNH+5+CONTRL:4:1:UN'"), "{text}");
    }

    #[test]
    fn splits_directory_versions() {
        assert_eq!(split_version("D96A"), ("D", "96A"));
        assert_eq!(split_version("D01B"), ("D", "01B"));
    }
}
