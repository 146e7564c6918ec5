//! Diagnostics: what is wrong, where, and which standard code a functional acknowledgment reports for it.
//!
//! Every problem the readers and validators find becomes a [`Diagnostic`] carrying a [`Problem`] (the kind of
//! fault, which knows its X12 997/999/TA1 and EDIFACT CONTRL codes) and a [`Location`] precise enough to
//! find the byte: offset, segment number, segment id, element, component.

use serde::Serialize;
use std::fmt;

/// Whether a problem makes the document unacceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The meaning is clear but a rule was broken; the document is accepted and the problem reported.
    Warning,
    /// The document (set, group or interchange, per [`Problem::level`]) cannot be accepted.
    Error,
}

/// The envelope level a problem belongs to; acknowledgments report it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Interchange,
    Group,
    Set,
    Segment,
    Element,
}

/// Where a problem is. Positions are 1-based like the standards count them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Byte offset of the segment in the input.
    pub offset: u64,
    /// Segment position: counted from ST/UNH = 1 inside a transaction set or message, otherwise from
    /// ISA/UNB = 1 within the interchange.
    pub segment_number: u32,
    /// Segment id (tag), e.g. `SE`, `NAD`.
    pub segment_id: String,
    /// Element position in the segment (`BEG03` is 3), if the problem is in an element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<u16>,
    /// Component position in a composite element, if the problem is in a component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<u16>,
    /// Repetition (1-based) of a repeating element, if it repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition: Option<u16>,
    /// The loop (segment group) the segment sits in, as the structure names it (`N1`, `HL`, `SG25`):
    /// X12 AK303/IK303.
    #[serde(rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_id: Option<String>,
}

impl Location {
    pub fn segment(offset: u64, segment_number: u32, segment_id: &[u8]) -> Self {
        Location {
            offset,
            segment_number,
            segment_id: String::from_utf8_lossy(segment_id).into_owned(),
            ..Default::default()
        }
    }

    pub fn with_element(mut self, element: u16) -> Self {
        self.element = Some(element);
        self
    }

    pub fn with_component(mut self, component: Option<u16>) -> Self {
        self.component = component;
        self
    }

    /// `BEG03`, `C002-1`, `NAD03-2`: the reference a B2B analyst would write.
    pub fn reference(&self) -> String {
        let mut s = self.segment_id.clone();
        if let Some(e) = self.element {
            s.push_str(&format!("{e:02}"));
            if let Some(c) = self.component {
                s.push_str(&format!("-{c}"));
            }
        }
        s
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte {}, segment {} ({})",
            self.offset,
            self.segment_number,
            self.reference()
        )
    }
}

/// The kinds of fault edigate recognises. Each maps onto the codes of the functional acknowledgments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    // --- file and interchange ---
    /// No ISA/UNA/UNB where an interchange should start.
    NoInterchange,
    /// The interchange header is malformed (field widths, delimiters, missing fields).
    InvalidInterchangeHeader,
    /// UNA service string advice malformed.
    InvalidServiceString,
    /// A delimiter is unusable (same as another, alphanumeric, ...).
    InvalidDelimiter,
    /// Syntax or control version not supported.
    UnsupportedVersion,
    /// Syntax identifier (UNOA..UNOY) unknown.
    UnsupportedSyntax,
    /// Character not allowed by the declared character set (UNOA/UNOB).
    InvalidCharacterSet,
    /// IEA02/UNZ02 does not equal ISA13/UNB05.
    InterchangeControlMismatch,
    /// IEA01/UNZ01 does not equal the number of groups or messages.
    InterchangeCountMismatch,
    /// Input ended before the interchange trailer.
    PrematureEnd,
    /// IEA/UNZ missing where the next interchange starts.
    InterchangeTrailerMissing,
    /// Date or time in the interchange header invalid.
    InvalidInterchangeDate,
    /// Bytes after the last interchange that are not an interchange.
    TrailingGarbage,
    /// Interchange control number not numeric / wrong length.
    InvalidControlNumber,
    /// A segment that does not belong at envelope level (e.g. data segments outside ST/SE).
    InvalidControlStructure,
    /// The interchange contains no groups or messages.
    EmptyInterchange,
    /// The interchange's sender is not the partner the channel authenticated (found by the gateway,
    /// not by the reader).
    UnknownSender,
    /// The same sender sent this interchange control number before (found by the gateway's journal).
    DuplicateInterchange,
    // --- group ---
    GroupControlMismatch,
    GroupCountMismatch,
    GroupTrailerMissing,
    GroupNotSupported,
    // --- set / message ---
    SetNotSupported,
    SetTrailerMissing,
    SetControlMismatch,
    SegmentCountMismatch,
    DuplicateSetControl,
    InvalidSetHeader,
    // --- segment ---
    UnrecognizedSegment,
    UnexpectedSegment,
    MandatorySegmentMissing,
    LoopOverMax,
    SegmentOverMax,
    SegmentNotInSet,
    SegmentOutOfSequence,
    InvalidHierarchy,
    /// A segment was wrapped across lines (newline inside a segment); read with the newlines removed.
    WrappedSegment,
    /// A segment exceeds the size limit.
    SegmentTooLarge,
    // --- element ---
    MandatoryElementMissing,
    ConditionalElementMissing,
    TooManyElements,
    ElementTooShort,
    ElementTooLong,
    InvalidCharacter,
    InvalidCode,
    InvalidDate,
    InvalidTime,
    ExclusionViolated,
    TooManyRepetitions,
    TooManyComponents,
    /// A release character at the end of a segment escapes nothing.
    DanglingRelease,
}

impl Problem {
    /// The envelope level at which an acknowledgment reports this problem.
    pub fn level(self) -> Level {
        use Problem::*;
        match self {
            NoInterchange | InvalidInterchangeHeader | InvalidServiceString | InvalidDelimiter
            | UnsupportedVersion | UnsupportedSyntax | InterchangeControlMismatch
            | InterchangeCountMismatch | PrematureEnd | InterchangeTrailerMissing
            | InvalidInterchangeDate | TrailingGarbage | InvalidControlNumber
            | InvalidControlStructure | EmptyInterchange | UnknownSender | DuplicateInterchange => {
                Level::Interchange
            }
            GroupControlMismatch | GroupCountMismatch | GroupTrailerMissing | GroupNotSupported => {
                Level::Group
            }
            SetNotSupported | SetTrailerMissing | SetControlMismatch | SegmentCountMismatch
            | DuplicateSetControl | InvalidSetHeader => Level::Set,
            UnrecognizedSegment | UnexpectedSegment | MandatorySegmentMissing | LoopOverMax
            | SegmentOverMax | SegmentNotInSet | SegmentOutOfSequence | InvalidHierarchy
            | WrappedSegment | SegmentTooLarge => Level::Segment,
            MandatoryElementMissing | ConditionalElementMissing | TooManyElements
            | ElementTooShort | ElementTooLong | InvalidCharacter | InvalidCode | InvalidDate
            | InvalidTime | ExclusionViolated | TooManyRepetitions | TooManyComponents
            | DanglingRelease | InvalidCharacterSet => Level::Element,
        }
    }

    /// X12 TA1 interchange note code (I18), for interchange-level problems.
    pub fn ta1_code(self) -> &'static str {
        use Problem::*;
        match self {
            InterchangeControlMismatch => "001",
            UnsupportedVersion => "017",
            InvalidDelimiter => "026",
            InterchangeCountMismatch => "021",
            PrematureEnd | InterchangeTrailerMissing => "023",
            InvalidInterchangeDate => "014",
            InvalidControlNumber => "018",
            InvalidControlStructure | EmptyInterchange | TrailingGarbage => "022",
            // 006 "Invalid Interchange Sender ID", 025 "Duplicate Interchange Control Number".
            UnknownSender => "006",
            DuplicateInterchange => "025",
            _ => "024",
        }
    }

    /// X12 997 AK304 / 999 IK304 segment syntax error code (element 720/620).
    pub fn segment_code(self) -> &'static str {
        use Problem::*;
        match self {
            UnrecognizedSegment => "1",
            UnexpectedSegment | InvalidHierarchy => "2",
            MandatorySegmentMissing => "3",
            LoopOverMax => "4",
            SegmentOverMax => "5",
            SegmentNotInSet => "6",
            SegmentOutOfSequence => "7",
            _ => "8",
        }
    }

    /// X12 997 AK403 / 999 IK403 element syntax error code (element 723/621).
    pub fn element_code(self) -> &'static str {
        use Problem::*;
        match self {
            MandatoryElementMissing => "1",
            ConditionalElementMissing => "2",
            TooManyElements => "3",
            ElementTooShort => "4",
            ElementTooLong => "5",
            InvalidCode => "7",
            InvalidDate => "8",
            InvalidTime => "9",
            ExclusionViolated => "10",
            TooManyRepetitions => "12",
            TooManyComponents => "13",
            _ => "6",
        }
    }

    /// X12 AK5/IK5 transaction set syntax error code (element 718), for set-level problems.
    pub fn set_code(self) -> &'static str {
        use Problem::*;
        match self {
            SetNotSupported => "1",
            SetTrailerMissing => "2",
            SetControlMismatch => "3",
            SegmentCountMismatch => "4",
            InvalidSetHeader => "6",
            DuplicateSetControl => "23",
            _ => "5",
        }
    }

    /// X12 AK9 functional group syntax error code (element 716), for group-level problems.
    pub fn group_code(self) -> &'static str {
        use Problem::*;
        match self {
            GroupNotSupported => "1",
            GroupTrailerMissing => "3",
            GroupControlMismatch => "4",
            GroupCountMismatch => "5",
            _ => "1",
        }
    }

    /// UN/EDIFACT syntax error code (data element 0085) for CONTRL.
    pub fn contrl_code(self) -> &'static str {
        use Problem::*;
        match self {
            UnsupportedVersion | UnsupportedSyntax => "2",
            InvalidServiceString | InvalidDelimiter => "22",
            InvalidCharacterSet | InvalidCharacter | DanglingRelease => "21",
            InterchangeControlMismatch | GroupControlMismatch | SetControlMismatch => "28",
            InterchangeCountMismatch | GroupCountMismatch | SegmentCountMismatch => "29",
            EmptyInterchange => "32",
            // 23 "Unknown Interchange sender", 26 "Duplicate detected".
            UnknownSender => "23",
            DuplicateSetControl | DuplicateInterchange => "26",
            // 15 "not supported in this position": a segment type where the message has no place for it.
            UnrecognizedSegment | SegmentNotInSet | UnexpectedSegment | SegmentOutOfSequence => "15",
            // 33 "invalid occurrence outside message, package, group or interchange".
            InvalidControlStructure => "33",
            InvalidHierarchy => "12",
            MandatorySegmentMissing | MandatoryElementMissing | ConditionalElementMissing
            | SetTrailerMissing | GroupTrailerMissing | InterchangeTrailerMissing | PrematureEnd => {
                "13"
            }
            SegmentOverMax => "35",
            LoopOverMax => "36",
            TooManyElements | TooManyComponents | TooManyRepetitions => "16",
            ElementTooLong => "39",
            ElementTooShort => "40",
            InvalidCode | InvalidDate | InvalidTime => "12",
            ExclusionViolated => "12",
            _ => "18",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The kebab-case name, as in JSON output.
        let s = serde_json::to_value(self).ok();
        match s.as_ref().and_then(|v| v.as_str()) {
            Some(s) => f.write_str(s),
            None => write!(f, "{self:?}"),
        }
    }
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(rename = "code")]
    pub problem: Problem,
    #[serde(flatten)]
    pub location: Location,
    /// What is wrong and what was expected, in words.
    pub message: String,
    /// The offending value as found, when there is one (AK404/IK404).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Diagnostic {
    pub fn error(problem: Problem, location: Location, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, problem, location, message: message.into(), value: None }
    }

    pub fn warning(problem: Problem, location: Location, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, problem, location, message: message.into(), value: None }
    }

    pub fn with_value(mut self, value: &[u8]) -> Self {
        self.value = Some(String::from_utf8_lossy(value).into_owned());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}] at {}: {}", self.problem, self.location, self.message)
    }
}
