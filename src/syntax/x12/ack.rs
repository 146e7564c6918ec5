//! X12 acknowledgments: TA1 (interchange), 997 (groups of version 004010 and older) and 999
//! (005010 and later, per the 005010X231A1 implementation guide).
//!
//! The response interchange goes back to the sender: ISA sender and receiver swapped, the received
//! delimiters, one FA group per group acknowledged (GS02/GS03 swapped) holding one 997 or 999.

use crate::syntax::ack::{line_end, distinct_codes, interchange_errors, segment_errors, set_errors, AckOptions, SegmentErrors, X12AckSet};
use crate::syntax::diag::{Diagnostic, Level, Problem};
use crate::syntax::envelope::Standard;
use crate::syntax::segment::Delimiters;
use crate::syntax::spec::{standards, Dictionary, EntryKind};
use crate::syntax::validate::{GroupReport, InterchangeReport, SetReport, Status};
use crate::syntax::write::{SegmentData, WriteError};
use crate::syntax::x12::writer::{InterchangeParams, X12Writer};

/// GS08 and ST03 of a 999: the implementation guide it follows.
pub const IG_999: &str = "005010X231A1";
/// AK4/IK4 per AK3/IK3: the standard's maximum use.
const MAX_AK4: usize = 99;
/// AK502..AK506 / AK905..AK909: five code elements.
const MAX_CODES: usize = 5;
/// AK404/IK404 maximum length.
const MAX_BAD_VALUE: usize = 99;

/// Which acknowledgment set answers a group.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// 997 in the given version (GS08).
    Fa997(String),
    /// 999 per 005010X231A1.
    Ia999,
}

impl Kind {
    /// 999 for 005010 and later (it replaced the 997 there); 997 in the group's own version before.
    fn for_version(gs08: &str) -> Kind {
        let v = gs08.get(..6).filter(|v| v.bytes().all(|b| b.is_ascii_digit()));
        match v {
            Some(v) if v >= "005010" => Kind::Ia999,
            Some(v) if v >= "002000" => Kind::Fa997(v.to_string()),
            _ => Kind::Fa997("004010".into()),
        }
    }

    /// The kind for a group, as the options ask.
    fn for_group(gs08: &str, asked: X12AckSet) -> Kind {
        match (asked, Kind::for_version(gs08)) {
            (X12AckSet::ByVersion, k) => k,
            (X12AckSet::Ia999, _) => Kind::Ia999,
            (X12AckSet::Fa997, Kind::Fa997(v)) => Kind::Fa997(v),
            // A 997 answering a 005010+ group is written in the group's version.
            (X12AckSet::Fa997, Kind::Ia999) => Kind::Fa997(gs08.get(..6).unwrap_or("005010").to_string()),
        }
    }

    fn is_999(&self) -> bool {
        *self == Kind::Ia999
    }
}

/// The acknowledgment interchange for one received X12 interchange: TA1 when due, then one 997 or
/// 999 per functional group (none when the interchange itself is rejected, unless asked).
pub fn acknowledge(ic: &InterchangeReport, opts: &AckOptions) -> Result<Vec<u8>, WriteError> {
    let delims = ic.header.delimiters;
    let mut w = X12Writer::new(delims, line_end(delims.segment), &params(ic, opts))?;
    let ta1 = ta1(ic);
    let rejected = ta1.as_ref().is_some_and(|t| t.status == "R");
    if let Some(t) = &ta1 {
        w.envelope_segment(&t.segment(ic))?;
    }
    if rejected && !opts.acknowledge_rejected_content {
        return w.finish();
    }
    let mut control = opts.group_control_number;
    for g in ic.groups.iter() {
        let Some(h) = &g.header else { continue };
        let kind = Kind::for_group(&h.version, opts.x12_set);
        let gs08 = match &kind {
            Kind::Fa997(v) => v.as_str(),
            Kind::Ia999 => IG_999,
        };
        w.begin_group("FA", &h.receiver, &h.sender, &opts.date, &opts.time, control, gs08)?;
        control = control.wrapping_add(1);
        write_group_ack(&mut w, g, &kind, &delims)?;
        w.end_group()?;
    }
    w.finish()
}

/// ISA of the response: parties swapped, same control version and test indicator, no ack requested.
fn params(ic: &InterchangeReport, opts: &AckOptions) -> InterchangeParams {
    let h = &ic.header;
    let valid_version = h.version.len() == 5 && h.version.bytes().all(|b| b.is_ascii_digit());
    let version = if valid_version {
        h.version.clone()
    } else if ic.groups.iter().any(|g| g.header.as_ref().is_some_and(|h| Kind::for_group(&h.version, opts.x12_set).is_999())) {
        "00501".into()
    } else {
        "00401".into()
    };
    InterchangeParams {
        sender: h.receiver.clone(),
        receiver: h.sender.clone(),
        control_number: opts.control_number,
        date: opts.date[2..].to_string(),
        time: opts.time.clone(),
        version,
        ack_requested: false,
        test: h.test,
    }
}

/// The TA1 verdict: TA104 and TA105.
struct Ta1 {
    status: &'static str,
    code: &'static str,
}

impl Ta1 {
    /// TA1: ISA13, ISA09, ISA10 of the received interchange, TA104, TA105.
    fn segment(&self, ic: &InterchangeReport) -> SegmentData {
        let h = &ic.header;
        SegmentData::new("TA1", [h.control_number.as_str(), &h.date, &h.time, self.status, self.code])
    }
}

/// A TA1 is due when the sender asked for one (ISA14 = 1) or the envelope has something to report:
/// R for errors (an IEA never read is one: 023), E for warnings about the ISA/IEA themselves, A
/// otherwise (note code 000).
fn ta1(ic: &InterchangeReport) -> Option<Ta1> {
    if !ic.trailer && interchange_errors(ic).next().is_none() {
        return Some(Ta1 { status: "R", code: Problem::InterchangeTrailerMissing.ta1_code() });
    }
    let first_error = interchange_errors(ic).next();
    let first_warning = ic
        .diagnostics
        .iter()
        .find(|d| !d.is_error() && d.problem.level() == Level::Interchange && matches!(d.location.segment_id.as_str(), "ISA" | "IEA"));
    match (first_error, first_warning) {
        (Some(d), _) => Some(Ta1 { status: "R", code: d.problem.ta1_code() }),
        (None, Some(d)) => Some(Ta1 { status: "E", code: d.problem.ta1_code() }),
        (None, None) if ic.header.ack_requested => Some(Ta1 { status: "A", code: "000" }),
        (None, None) => None,
    }
}

/// One 997/999 answering one group: AK1, an AK2 loop per set kept in the report, AK9.
fn write_group_ack(w: &mut X12Writer, g: &GroupReport, kind: &Kind, delims: &Delimiters) -> Result<(), WriteError> {
    let h = g.header.as_ref().expect("groups without GS are skipped");
    let (id, st03) = if kind.is_999() { ("999", Some(IG_999)) } else { ("997", None) };
    w.begin_set(id, "0001", st03)?;
    let mut ak1 = SegmentData::new("AK1", [&h.functional_id, &h.control_number]);
    if kind.is_999() {
        ak1 = ak1.element(h.version.as_str());
    }
    w.segment(&ak1)?;
    for set in &g.sets {
        for seg in set_ack(set, kind, delims) {
            w.segment(&seg)?;
        }
    }
    w.segment(&ak9(g))?;
    w.end_set()
}

/// AK2, the AK3/IK3 + AK4/IK4 of each segment in error, AK5/IK5.
fn set_ack(set: &SetReport, kind: &Kind, delims: &Delimiters) -> Vec<SegmentData> {
    let h = &set.header;
    let mut ak2 = SegmentData::new("AK2", [&h.document, &h.control_number]);
    if kind.is_999() {
        ak2 = ak2.element(h.implementation.as_str()).trimmed();
    }
    let mut out = vec![ak2];
    let dict = standards().version(Standard::X12, &h.version).map(|v| &v.dictionary);
    let segments = segment_errors(&set.diagnostics);
    for s in segments.iter().filter(|s| !s.id.is_empty()) {
        out.extend(segment_note(s, kind, dict, delims));
    }
    out.push(ak5(set, !segments.is_empty(), kind));
    out
}

/// AK3/IK3 for a segment (code 8 when only its elements are wrong), then up to 99 AK4/IK4.
fn segment_note(s: &SegmentErrors<'_>, kind: &Kind, dict: Option<&Dictionary>, delims: &Delimiters) -> Vec<SegmentData> {
    let (ak3, ak4) = if kind.is_999() { ("IK3", "IK4") } else { ("AK3", "AK4") };
    let code = s.segment.first().map_or("8", |d| d.problem.segment_code());
    // AK303 / IK303: the loop the segment was found in, when it is in one.
    let loop_id = s.segment.iter().chain(&s.elements).find_map(|d| d.location.loop_id.clone()).unwrap_or_default();
    let mut out = vec![SegmentData::new(ak3, [s.id.to_string(), s.number.to_string(), loop_id, code.to_string()])];
    for d in s.elements.iter().take(MAX_AK4) {
        out.push(element_note(ak4, s.id, d, kind, dict, delims));
    }
    out
}

/// AK4/IK4: C030 position (element, component, and in 999 the repetition), data element reference
/// number when the dictionary knows it, error code, copy of the bad value when it can be written.
fn element_note(ak4: &str, seg_id: &str, d: &Diagnostic, kind: &Kind, dict: Option<&Dictionary>, delims: &Delimiters) -> SegmentData {
    let loc = &d.location;
    let element = loc.element.unwrap_or(0);
    let mut c030 = vec![element.to_string(), loc.component.map(|c| c.to_string()).unwrap_or_default()];
    if kind.is_999() {
        c030.push(loc.repetition.map(|r| r.to_string()).unwrap_or_default());
    }
    while c030.len() > 1 && c030.last().is_some_and(|c| c.is_empty()) {
        c030.pop();
    }
    let reference = dict.and_then(|dict| element_reference(dict, seg_id, element, loc.component)).unwrap_or_default();
    let bad = d.value.as_deref().and_then(|v| bad_value(v, delims)).unwrap_or_default();
    SegmentData::new(ak4, Vec::<String>::new())
        .composite(c030)
        .element(reference)
        .element(d.problem.element_code())
        .element(bad)
        .trimmed()
}

/// The data element reference number at a position of a segment (a component's, inside a composite).
fn element_reference(dict: &Dictionary, seg_id: &str, element: u16, component: Option<u16>) -> Option<String> {
    let def = dict.segment(seg_id.as_bytes())?;
    let entry = def.entries.get(usize::from(element).checked_sub(1)?)?;
    let index = match (entry.kind, component) {
        (EntryKind::Element(i), _) => i,
        (EntryKind::Composite(c), Some(k)) => match dict.composites[c].components.get(usize::from(k).checked_sub(1)?)?.kind {
            EntryKind::Element(i) => i,
            EntryKind::Composite(_) => return None,
        },
        (EntryKind::Composite(_), None) => return None,
    };
    Some(dict.elements[index].id.clone())
}

/// AK404/IK404 is at most 99 characters and X12 cannot escape delimiters: a value holding one is
/// left out rather than breaking the acknowledgment.
fn bad_value(v: &str, delims: &Delimiters) -> Option<String> {
    if v.is_empty() || v.bytes().any(|b| delims.is_service(b) || b == b'\r' || b == b'\n') {
        return None;
    }
    Some(v.chars().take(MAX_BAD_VALUE).collect())
}

/// AK5/IK5: A, or R with the set-level codes, or 5 ("one or more segments in error") when only
/// segments or elements are wrong.
fn ak5(set: &SetReport, segments_in_error: bool, kind: &Kind) -> SegmentData {
    let id = if kind.is_999() { "IK5" } else { "AK5" };
    if set.status != Status::Rejected {
        return SegmentData::new(id, ["A"]);
    }
    let mut codes = distinct_codes(set_errors(&set.diagnostics).map(set_code), MAX_CODES);
    if codes.is_empty() || (segments_in_error && codes.len() < MAX_CODES && !codes.contains(&"5")) {
        codes.push("5");
    }
    SegmentData::new(id, std::iter::once("R").chain(codes))
}

/// AK502 code of a set-level problem. A missing ST02 is reported with the reader's `InvalidSetHeader`;
/// the standard has its own code for it (7, missing or invalid control number) beside 6 (ST01).
fn set_code(d: &Diagnostic) -> &'static str {
    if d.problem == Problem::InvalidSetHeader && d.location.element == Some(2) {
        return "7";
    }
    d.problem.set_code()
}

/// AK9: group verdict (A, P, R), sets included (GE01), received, accepted, and the group-level codes.
fn ak9(g: &GroupReport) -> SegmentData {
    let status = g.status();
    let received = g.sets_total;
    let included = g
        .diagnostics
        .iter()
        .find(|d| d.problem == Problem::GroupCountMismatch)
        .and_then(|d| d.value.as_deref()?.trim().parse::<u64>().ok())
        .unwrap_or(received);
    // A rejected group accepts none of its sets, whatever each AK5 says about its own syntax.
    let accepted = if status == Status::Rejected { 0 } else { received - g.sets_rejected };
    let code = match status {
        Status::Accepted => "A",
        Status::PartiallyAccepted => "P",
        Status::Rejected => "R",
    };
    let group_codes = g.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.problem.group_code());
    let codes = distinct_codes(group_codes, MAX_CODES);
    let counts = [included.to_string(), received.to_string(), accepted.to_string()];
    SegmentData::new("AK9", [code.to_string()].into_iter().chain(counts).chain(codes.into_iter().map(String::from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ack::AckOptions;
    use crate::syntax::reader::Reader;
    use crate::syntax::validate::{validate, Options, Report};

    const ISA_401: &str = "ISA*00*          *00*          *ZZ*ACMEMFG        *ZZ*GLOBEX         *240115*1030*U*00401*000000101*0*P*>~\n";
    const PO_401: &str = "GS*PO*ACMEMFG*GLOBEX*20240115*1030*101*X*004010~\nST*850*0001~\nBEG*00*SA*4500012345**20240115~\nPO1*1*10*EA*1.5**BP*ITEM1~\nCTT*1~\nSE*5*0001~\nGE*1*101~\n";

    fn opts() -> AckOptions {
        AckOptions { control_number: 900, group_control_number: 77, date: "20240116".into(), time: "0815".into(), ..AckOptions::default() }
    }

    fn report(text: &str) -> Report {
        validate(text.as_bytes(), Options::default()).unwrap()
    }

    /// Validates `text`, acknowledges its first interchange, checks that the ack reads back cleanly.
    fn ack(text: &str) -> String {
        let r = report(text);
        let out = acknowledge(&r.interchanges[0], &opts()).unwrap();
        assert_envelope_clean(&out);
        String::from_utf8(out).unwrap()
    }

    fn assert_envelope_clean(out: &[u8]) {
        let mut reader = Reader::new(out);
        while let Some(ev) = reader.next_event().unwrap() {
            assert!(ev.diagnostics.is_empty(), "{:?}\n{}", ev.diagnostics, String::from_utf8_lossy(out));
        }
    }

    #[test]
    fn accepted_004010_850_gets_a_plain_997() {
        let text = ack(&format!("{ISA_401}{PO_401}IEA*1*000000101~\n"));
        let expected = "ISA*00*          *00*          *ZZ*GLOBEX         *ZZ*ACMEMFG        *240116*0815*U*00401*000000900*0*P*>~\n\
GS*FA*GLOBEX*ACMEMFG*20240116*0815*77*X*004010~\n\
ST*997*0001~\n\
AK1*PO*101~\n\
AK2*850*0001~\n\
AK5*A~\n\
AK9*A*1*1*1~\n\
SE*6*0001~\n\
GE*1*77~\n\
IEA*1*000000900~\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_partners_choice_of_997_or_999_wins_over_the_version() {
        let r = report(&format!("{ISA_401}{PO_401}IEA*1*000000101~\n"));
        let as_999 = acknowledge(&r.interchanges[0], &AckOptions { x12_set: X12AckSet::Ia999, ..opts() }).unwrap();
        assert_envelope_clean(&as_999);
        let as_999 = String::from_utf8(as_999).unwrap();
        assert!(as_999.contains("*X*005010X231A1~\nST*999*0001*005010X231A1~\nAK1*PO*101*"), "{as_999}");
        let input = "ISA*00*          *00*          *ZZ*ACMEMFG        *01*123456789      *240506*0858*^*00501*000000212*0*T*:~\n\
GS*PO*ACMEMFG*INITECH*20240506*0858*212*X*005010~\nST*850*0001~\nBEG*00*SA*4500013015**20240506~\nPO1*1*10*EA*1.5**BP*ITEM1~\nCTT*1~\nSE*5*0001~\nGE*1*212~\nIEA*1*000000212~\n";
        let r = report(input);
        let as_997 = acknowledge(&r.interchanges[0], &AckOptions { x12_set: X12AckSet::Fa997, ..opts() }).unwrap();
        assert_envelope_clean(&as_997);
        let as_997 = String::from_utf8(as_997).unwrap();
        assert!(as_997.contains("*X*005010~\nST*997*0001~\nAK1*PO*212~\nAK2*850*0001~\nAK5*A~\nAK9*A*1*1*1~"), "{as_997}");
    }

    #[test]
    fn accepted_005010_850_gets_a_999_with_ta1_when_asked() {
        let input = "ISA*00*          *00*          *ZZ*ACMEMFG        *01*123456789      *240506*0858*^*00501*000000212*1*T*:~\n\
GS*PO*ACMEMFG*INITECH*20240506*0858*212*X*005010~\nST*850*0001~\nBEG*00*SA*4500013015**20240506~\nPO1*1*10*EA*1.5**BP*ITEM1~\nCTT*1~\nSE*5*0001~\nGE*1*212~\nIEA*1*000000212~\n";
        let text = ack(input);
        let expected = "ISA*00*          *00*          *01*123456789      *ZZ*ACMEMFG        *240116*0815*^*00501*000000900*0*T*:~\n\
TA1*000000212*240506*0858*A*000~\n\
GS*FA*INITECH*ACMEMFG*20240116*0815*77*X*005010X231A1~\n\
ST*999*0001*005010X231A1~\n\
AK1*PO*212*005010~\n\
AK2*850*0001~\n\
IK5*A~\n\
AK9*A*1*1*1~\n\
SE*6*0001~\n\
GE*1*77~\n\
IEA*1*000000900~\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn se_count_mismatch_rejects_the_set_with_code_4() {
        let text = ack(&format!("{ISA_401}{}IEA*1*000000101~\n", PO_401.replace("SE*5*0001", "SE*7*0001")));
        assert!(text.contains("AK2*850*0001~\nAK5*R*4~\nAK9*R*1*1*0~\n"), "{text}");
        assert!(!text.contains("TA1"), "{text}");
    }

    #[test]
    fn invalid_date_gives_ak3_code_8_and_ak4_with_the_value() {
        let po = PO_401.replace("**20240115~\n", "**20240115~\nDTM*002*20241345~\n").replace("SE*5", "SE*6");
        let text = ack(&format!("{ISA_401}{po}IEA*1*000000101~\n"));
        assert!(text.contains("AK2*850*0001~\nAK3*DTM*3**8~\nAK4*2*373*8*20241345~\nAK5*R*5~\nAK9*R*1*1*0~\n"), "{text}");
    }

    #[test]
    fn invalid_date_in_999_uses_ik3_ik4() {
        let input = format!("{ISA_401}{PO_401}IEA*1*000000101~\n")
            .replace("*004010~", "*005010~")
            .replace("BEG*00*SA*4500012345**20240115~", "BEG*00*SA*4500012345**20241345~");
        let text = ack(&input);
        assert!(text.contains("AK2*850*0001~\nIK3*BEG*2**8~\nIK4*5*373*8*20241345~\nIK5*R*5~\nAK9*R*1*1*0~\n"), "{text}");
    }

    #[test]
    fn segment_error_keeps_its_own_code() {
        let po = PO_401.replace("CTT*1~", "ZZZ*1~\nCTT*1~").replace("SE*5", "SE*6");
        let text = ack(&format!("{ISA_401}{po}IEA*1*000000101~\n"));
        assert!(text.contains("AK3*ZZZ*4*PO1*1~\nAK5*R*5~"), "{text}");
    }

    #[test]
    fn iea_control_mismatch_rejects_the_interchange_with_ta1_only() {
        let text = ack(&format!("{ISA_401}{PO_401}IEA*1*000000999~\n"));
        assert!(text.contains("\nTA1*000000101*240115*1030*R*001~\nIEA*0*000000900~\n"), "{text}");
        assert!(!text.contains("GS*"), "{text}");
        let r = report(&format!("{ISA_401}{PO_401}IEA*1*000000999~\n"));
        let all = AckOptions { acknowledge_rejected_content: true, ..opts() };
        let text = String::from_utf8(acknowledge(&r.interchanges[0], &all).unwrap()).unwrap();
        assert!(text.contains("R*001~\nGS*FA*") && text.contains("AK9*A*1*1*1~"), "{text}");
    }

    #[test]
    fn ge_count_mismatch_reports_what_ge01_said() {
        let text = ack(&format!("{ISA_401}{}IEA*1*000000101~\n", PO_401.replace("GE*1*101", "GE*3*101")));
        assert!(text.contains("AK5*A~\nAK9*R*3*1*0*5~\n"), "{text}");
    }

    #[test]
    fn interchange_without_groups_gets_only_a_ta1() {
        let text = ack(&format!("{ISA_401}IEA*0*000000101~\n"));
        assert!(text.ends_with("TA1*000000101*240115*1030*R*022~\nIEA*0*000000900~\n"), "{text}");
    }

    #[test]
    fn input_ending_early_is_rejected_with_023() {
        let text = ack(&format!("{ISA_401}{}", &PO_401[..PO_401.find("CTT").unwrap()]));
        assert!(text.ends_with("TA1*000000101*240115*1030*R*023~\nIEA*0*000000900~\n"), "{text}");
    }

    #[test]
    fn newline_terminator_gets_no_extra_line_break() {
        let input = format!("{ISA_401}{PO_401}IEA*1*000000101~\n").replace("~\n", "\n");
        let text = ack(&input);
        assert!(text.contains("ST*997*0001\nAK1*PO*101\n") && !text.contains("\n\n"), "{text:?}");
    }

    #[test]
    fn bad_values_with_delimiters_are_not_copied() {
        assert_eq!(bad_value("A*B", &Delimiters::X12), None);
        assert_eq!(bad_value(&"9".repeat(120), &Delimiters::X12).unwrap().len(), 99);
    }
}
