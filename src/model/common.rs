//! Parts shared by the canonical documents: provenance, parties, items, quantities, money, dates.
//!
//! Names follow the vocabulary ERP teams know (UBL 2.x: `BuyerCustomerParty`, `SellerSupplierParty`,
//! `Delivery`, `LineItem`, ...), flattened where UBL nests for its own reasons. Money and quantities are
//! decimals written as JSON strings (`"12.50"`), never floating point.

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

/// Where a canonical document came from: enough to find its bytes and envelope again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Internal code of the trading partner that sent it (its profile), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// `x12` or `edifact`.
    pub standard: String,
    /// X12 version (`004010`) or EDIFACT directory (`D96A`).
    pub version: String,
    /// The EDI document: `850`, `ORDERS`, ...
    pub document_type: String,
    /// ISA13 / UNB 0020.
    pub interchange_control_number: String,
    /// GS06 / UNG 0048, when the interchange had groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_control_number: Option<String>,
    /// ST02 / UNH 0062.
    pub set_control_number: String,
    /// Id of the raw interchange in the journal, once the gateway has stored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_id: Option<String>,
}

/// A calendar date, with the time and its zone when the source gave them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTime {
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<NaiveTime>,
    /// The zone as the source stated it: a UTC offset (`+01:00`) or the X12 time code (`ET`, `UT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<SmolStr>,
}

/// What a party does in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// Orders the goods (X12 N1*BY, EDIFACT NAD+BY).
    Buyer,
    /// Sells and ships them (N1*SU / N1*VN, NAD+SU).
    Supplier,
    /// Where the goods go (N1*ST, NAD+DP / NAD+ST).
    ShipTo,
    /// Who receives the invoice (N1*BT, NAD+IV).
    BillTo,
    /// Where the goods leave from (N1*SF, NAD+SF).
    ShipFrom,
    /// Who is paid (N1*RI / N1*PE, NAD+PE).
    Payee,
    /// Carrier (NAD+CA).
    Carrier,
    /// Any other role: the source's code is kept in `role_code`.
    Other,
}

/// The scheme an identifier belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdScheme {
    /// GS1 Global Location Number (X12 qualifier UL, EDIFACT agency 9).
    Gln,
    /// D-U-N-S number (X12 qualifier 1, EDIFACT agency 16).
    Duns,
    /// A code assigned by the trading partner (X12 92 = assigned by buyer, 91 = by seller; ZZ).
    Partner,
    /// Our own code for the party (plant, vendor number in the ERP).
    Internal,
    /// Anything else; `qualifier` keeps the source's qualifier.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyId {
    pub scheme: IdScheme,
    pub value: SmolStr,
    /// The qualifier or agency code as sent (`UL`, `92`, `9`), for what the scheme does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<SmolStr>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<SmolStr>,
    /// State, province or region code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<SmolStr>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<SmolStr>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<SmolStr>,
}

/// A trading party as the document names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub role: PartyRole,
    /// The entity code as sent (`BY`, `ST`, `DP`), always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_code: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<PartyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
}

/// The identifiers of a product, in every scheme the source gave.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The buyer's part number (X12 BP, EDIFACT PIA IN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_part: Option<SmolStr>,
    /// The vendor's part number (X12 VP / VN, EDIFACT PIA SA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_part: Option<SmolStr>,
    /// GS1 GTIN-8/12/13/14 (X12 EN / UK, EDIFACT LIN SRV or EN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<SmolStr>,
    /// UPC (X12 UP), kept apart from the GTIN as partners send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upc: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<SmolStr>,
}

/// An amount of something, in a normalized unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    pub value: Decimal,
    /// UN/ECE Recommendation 20 unit code (`C62` one/each, `KGM`, `MTR`, `CT` carton, ...).
    pub unit: SmolStr,
    /// The unit as the source sent it (`EA`, `PC`, `PCE`), when it differed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_unit: Option<SmolStr>,
}

/// Money: a decimal and its ISO 4217 currency (from the line, the document, or the partner's default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    pub value: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<SmolStr>,
}

/// A price per a number of units (X12 PO104 with PO105 basis, EDIFACT PRI with 5284 unit price basis).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub amount: Amount,
    /// The quantity the price is for; one unit of the line's unit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<Quantity>,
}

/// A reference to another document or number (X12 REF, EDIFACT RFF).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The qualifier as sent (`PO`, `VN`, `ON`, `CT`).
    pub qualifier: SmolStr,
    pub value: SmolStr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime>,
}

/// Payment terms (X12 ITD, EDIFACT PAT).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentTerms {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<SmolStr>,
}

/// An allowance (discount) or a charge (freight, handling) on a line or the whole document
/// (X12 SAC, EDIFACT ALC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowanceCharge {
    /// True for a charge, false for an allowance.
    pub charge: bool,
    /// The reason code as sent (X12 SAC02 `D240` freight, EDIFACT 7161 `FC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<SmolStr>,
    pub amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
}

/// A tax (X12 TXI, EDIFACT TAX + MOA).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tax {
    /// Tax type as sent (`VAT`, `ST` sales tax, ...).
    pub tax_type: SmolStr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxable_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
}
