//! Envelope headers shared by X12 and EDIFACT: interchange (ISA / UNB), group (GS / UNG) and
//! transaction set or message (ST / UNH). Owned and small: they outlive the buffer window.

use super::segment::Delimiters;
use serde::Serialize;

/// Which EDI standard an interchange uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standard {
    X12,
    Edifact,
}

impl Standard {
    pub fn name(self) -> &'static str {
        match self {
            Standard::X12 => "x12",
            Standard::Edifact => "edifact",
        }
    }
}

/// An identifier with its qualifier (ISA05/ISA06, UNB S002 0007/0004).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PartyId {
    pub qualifier: String,
    pub id: String,
}

/// ISA or UNB.
#[derive(Clone, Debug, Serialize)]
pub struct InterchangeHeader {
    pub standard: Standard,
    /// Byte offset of ISA/UNA/UNB.
    pub offset: u64,
    pub sender: PartyId,
    pub receiver: PartyId,
    /// ISA13 / UNB 0020.
    pub control_number: String,
    /// ISA09 (YYMMDD) / UNB S004 0017 (YYMMDD or CCYYMMDD).
    pub date: String,
    /// ISA10 / UNB S004 0019 (HHMM).
    pub time: String,
    /// ISA12 control version (`00401`) / UNB S001 0002 syntax version (`3`).
    pub version: String,
    /// EDIFACT syntax identifier (`UNOC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syntax_identifier: Option<String>,
    /// ISA14 = 1 / UNB 0031 = 1.
    pub ack_requested: bool,
    /// ISA15 = T / UNB 0035 = 1.
    pub test: bool,
    #[serde(skip)]
    pub delimiters: Delimiters,
}

/// GS or UNG.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupHeader {
    pub offset: u64,
    /// GS01 functional identifier (`PO`) / UNG 0038 message group id (`ORDERS`).
    pub functional_id: String,
    pub sender: String,
    pub receiver: String,
    pub date: String,
    pub time: String,
    /// GS06 / UNG 0048.
    pub control_number: String,
    /// GS07 (`X`) / UNG 0051 (`UN`).
    pub agency: String,
    /// GS08 (`004010`) / UNG S008 (`D96A`).
    pub version: String,
}

/// ST or UNH.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SetHeader {
    pub offset: u64,
    /// ST01 (`850`) / UNH S009 0065 (`ORDERS`).
    pub document: String,
    /// ST02 / UNH 0062.
    pub control_number: String,
    /// The version that defines the document: ST03 or GS08 (`004010`) / S009 0052+0054 (`D96A`).
    pub version: String,
    /// X12 ST03 implementation convention / EDIFACT S009 0057 association code (`EAN008`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub implementation: String,
    /// EDIFACT S009 0051 controlling agency (`UN`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub agency: String,
}
