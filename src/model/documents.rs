//! The four canonical documents: purchase order, order confirmation, ship notice, invoice.

use super::common::*;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

/// What the document does to the order it concerns (X12 BEG01/BAK01/BSN01/BIG08, EDIFACT BGM 1225).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Original,
    Replace,
    Change,
    Cancel,
    Duplicate,
}

/// A purchase order (X12 850, EDIFACT ORDERS). UBL: `Order`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrder {
    pub provenance: Provenance,
    /// The buyer's order number (BEG03, BGM 1004).
    pub order_number: SmolStr,
    pub purpose: Purpose,
    /// The order type as sent (BEG02 `SA` stand-alone, `DS` drop ship; BGM 1001 `220`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<SmolStr>,
    pub issue_date: NaiveDate,
    /// ISO 4217 currency of the order's prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// When the buyer wants the goods (DTM 002 / 137... by profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<PaymentTerms>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SmolStr>,
    pub lines: Vec<OrderLine>,
}

/// A line of a purchase order (X12 PO1 loop, EDIFACT SG25 LIN). UBL: `OrderLine/LineItem`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// The line's number as sent (PO101, LIN 1082).
    pub line_number: SmolStr,
    /// What was ordered, shipped or invoiced (empty when the source identified no item).
    #[serde(default)]
    pub item: Item,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery: Option<DateTime>,
    /// A ship-to specific to this line, when it differs from the order's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SmolStr>,
}

/// The supplier's answer as a whole (X12 BAK02, EDIFACT BGM 4343 / 1225).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationStatus {
    Accepted,
    AcceptedWithChanges,
    Rejected,
}

/// What happened to one ordered line (X12 ACK01, EDIFACT LIN 1229).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Accepted,
    /// Accepted with a different quantity, date or price: see the line's `confirmed_*` fields.
    Changed,
    Rejected,
    Backordered,
}

/// A purchase order acknowledgment (X12 855, EDIFACT ORDRSP). UBL: `OrderResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderConfirmation {
    pub provenance: Provenance,
    /// The buyer's order number being answered (BAK03, RFF+ON).
    pub order_number: SmolStr,
    /// The supplier's own number for the order or this response, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_number: Option<SmolStr>,
    pub status: ConfirmationStatus,
    pub issue_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SmolStr>,
    pub lines: Vec<ConfirmedLine>,
}

/// One answered line, with the values the supplier changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmedLine {
    pub line_number: SmolStr,
    /// What was ordered, shipped or invoiced (empty when the source identified no item).
    #[serde(default)]
    pub item: Item,
    pub status: LineStatus,
    /// The status code as sent (`IA`, `IC`, `IR`, `IB`; `5`, `3`, `7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_quantity: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_quantity: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_delivery: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SmolStr>,
}

/// How goods travel (X12 TD5, EDIFACT TDT).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Carrier {
    /// Standard Carrier Alpha Code, or the carrier's id as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SmolStr>,
    /// Transport mode as sent (TD504 `M` motor, EDIFACT 8067 `30` road).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SmolStr>,
}

/// An advance ship notice (X12 856, EDIFACT DESADV). UBL: `DespatchAdvice`.
/// Shipment → orders → packs → items, as the 856 HL levels (S, O, P, I) or the DESADV CPS groups nest them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipNotice {
    pub provenance: Provenance,
    /// The supplier's shipment identification (BSN02, BGM 1004).
    pub shipment_number: SmolStr,
    pub purpose: Purpose,
    pub issue_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_delivery: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<Carrier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_of_lading: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracking_numbers: Vec<SmolStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_weight: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    pub orders: Vec<ShippedOrder>,
}

/// The part of a shipment that fills one purchase order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippedOrder {
    /// The buyer's order number (PRF01, RFF+ON).
    pub order_number: SmolStr,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<Pack>,
    /// Items shipped without a pack level (standard-pack structure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ShippedItem>,
}

/// A physical unit: pallet, carton (X12 HL P/T with MAN, EDIFACT CPS + PAC + GIN).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Serial Shipping Container Code (18 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sscc: Option<SmolStr>,
    /// Package type as sent (`CTN25`, `PLT`, EDIFACT 7065 `201`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_type: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<Pack>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ShippedItem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippedItem {
    /// The purchase order line this fills, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_line: Option<SmolStr>,
    /// What was ordered, shipped or invoiced (empty when the source identified no item).
    #[serde(default)]
    pub item: Item,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serials: Vec<SmolStr>,
}

/// Invoice or credit note (X12 BIG / BGM 1001).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    CreditNote,
    DebitNote,
}

/// An invoice (X12 810, EDIFACT INVOIC). UBL: `Invoice`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub provenance: Provenance,
    pub kind: InvoiceKind,
    /// The supplier's invoice number (BIG02, BGM 1004).
    pub invoice_number: SmolStr,
    pub issue_date: NaiveDate,
    /// The buyer's order number(s) invoiced (BIG04, RFF+ON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_numbers: Vec<SmolStr>,
    /// ISO 4217 currency; absent when the source did not state it (X12 810 without CUR: the
    /// partner's agreed currency, which the ERP knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<SmolStr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<PaymentTerms>,
    pub lines: Vec<InvoiceLine>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
    pub totals: InvoiceTotals,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SmolStr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLine {
    pub line_number: SmolStr,
    /// What was ordered, shipped or invoiced (empty when the source identified no item).
    #[serde(default)]
    pub item: Item,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Price>,
    /// Quantity × price less line allowances plus line charges, before tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
    /// The purchase order line invoiced, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_line: Option<SmolStr>,
}

/// Document totals (X12 TDS, EDIFACT MOA 79/125/176/77/86). UBL: `LegalMonetaryTotal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceTotals {
    /// Sum of line amounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_total: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowance_total: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_total: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_total: Option<Decimal>,
    /// The amount to pay (TDS01, MOA 77 or 86).
    pub payable: Decimal,
}
