//! The canonical documents the ERP receives: one shape per business document, whatever the standard,
//! version or partner it came from.
//!
//! `PurchaseOrder` (850/ORDERS), `OrderConfirmation` (855/ORDRSP), `ShipNotice` (856/DESADV) and
//! `Invoice` (810/INVOIC), built from the parts in [`common`]. Every document carries its
//! [`Provenance`]. JSON Schemas for all four are generated into `schemas/` (see [`schemas`]); the
//! mappings that fill these types arrive with the mapping engine.

pub mod common;
pub mod documents;
pub mod xml;

pub use common::*;
pub use documents::*;

use smol_str::SmolStr;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Any canonical document, tagged by `document` in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "document", rename_all = "snake_case")]
pub enum Document {
    PurchaseOrder(PurchaseOrder),
    OrderConfirmation(OrderConfirmation),
    ShipNotice(ShipNotice),
    Invoice(Invoice),
}

impl Document {
    pub fn provenance(&self) -> &Provenance {
        match self {
            Document::PurchaseOrder(d) => &d.provenance,
            Document::OrderConfirmation(d) => &d.provenance,
            Document::ShipNotice(d) => &d.provenance,
            Document::Invoice(d) => &d.provenance,
        }
    }

    pub fn provenance_mut(&mut self) -> &mut Provenance {
        match self {
            Document::PurchaseOrder(d) => &mut d.provenance,
            Document::OrderConfirmation(d) => &mut d.provenance,
            Document::ShipNotice(d) => &mut d.provenance,
            Document::Invoice(d) => &mut d.provenance,
        }
    }

    /// The `document` tag: `purchase_order`, `order_confirmation`, `ship_notice`, `invoice`.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::PurchaseOrder(_) => "purchase_order",
            Document::OrderConfirmation(_) => "order_confirmation",
            Document::ShipNotice(_) => "ship_notice",
            Document::Invoice(_) => "invoice",
        }
    }

    /// Its own business number: order, confirmation (or the order confirmed), shipment or invoice.
    pub fn number(&self) -> &str {
        match self {
            Document::PurchaseOrder(d) => &d.order_number,
            Document::OrderConfirmation(d) => d.confirmation_number.as_deref().unwrap_or(&d.order_number),
            Document::ShipNotice(d) => &d.shipment_number,
            Document::Invoice(d) => &d.invoice_number,
        }
    }

    /// The purchase orders it is about.
    pub fn order_numbers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = match self {
            Document::PurchaseOrder(d) => vec![&d.order_number],
            Document::OrderConfirmation(d) => vec![&d.order_number],
            Document::ShipNotice(d) => d.orders.iter().map(|o| o.order_number.as_str()).collect(),
            Document::Invoice(d) => d.order_numbers.iter().map(SmolStr::as_str).collect(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The JSON Schema of each canonical document, by file name (`purchase-order.schema.json`, ...), and
/// of the tagged [`Document`] union.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    fn schema<T: JsonSchema>() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(T)).expect("a schema is JSON")
    }
    vec![
        ("document.schema.json", schema::<Document>()),
        ("purchase-order.schema.json", schema::<PurchaseOrder>()),
        ("order-confirmation.schema.json", schema::<OrderConfirmation>()),
        ("ship-notice.schema.json", schema::<ShipNotice>()),
        ("invoice.schema.json", schema::<Invoice>()),
    ]
}
