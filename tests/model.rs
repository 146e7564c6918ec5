//! The canonical model: its JSON shape and the schemas in `schemas/`.

use edigate::model::*;
use std::path::Path;

fn provenance() -> Provenance {
    Provenance {
        partner: Some("globex".into()),
        standard: "x12".into(),
        version: "004010".into(),
        document_type: "850".into(),
        interchange_control_number: "000000151".into(),
        group_control_number: Some("151".into()),
        set_control_number: "0001".into(),
        raw_id: None,
    }
}

fn order() -> PurchaseOrder {
    PurchaseOrder {
        provenance: provenance(),
        order_number: "4500012345".into(),
        purpose: Purpose::Original,
        order_type: Some("SA".into()),
        issue_date: "2024-06-03".parse().unwrap(),
        currency: Some("USD".into()),
        parties: vec![Party {
            role: PartyRole::ShipTo,
            role_code: Some("ST".into()),
            name: Some("ACME PLANT 2".into()),
            ids: vec![PartyId { scheme: IdScheme::Partner, value: "P2".into(), qualifier: Some("92".into()) }],
            address: None,
            contacts: vec![],
        }],
        references: vec![],
        requested_delivery: Some(DateTime { date: "2024-06-17".parse().unwrap(), time: None, zone: None }),
        payment_terms: None,
        allowances_charges: vec![],
        notes: vec![],
        lines: vec![OrderLine {
            line_number: "1".into(),
            item: Item { buyer_part: Some("BP-100".into()), vendor_part: Some("V-9".into()), ..Default::default() },
            quantity: Quantity { value: "120".parse().unwrap(), unit: "C62".into(), source_unit: Some("EA".into()) },
            unit_price: Some(Price { amount: Amount { value: "0.0425".parse().unwrap(), currency: None }, per: None }),
            requested_delivery: None,
            ship_to: None,
            notes: vec![],
        }],
    }
}

#[test]
fn money_and_quantities_are_decimal_strings_and_dates_iso() {
    let doc = Document::PurchaseOrder(order());
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["document"], "purchase_order");
    assert_eq!(json["issue_date"], "2024-06-03");
    assert_eq!(json["lines"][0]["quantity"]["value"], "120");
    assert_eq!(json["lines"][0]["unit_price"]["amount"]["value"], "0.0425");
    assert_eq!(json["parties"][0]["role"], "ship_to");
    assert!(json.get("payment_terms").is_none(), "absent values are left out: {json}");
    let back: Document = serde_json::from_value(json).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.provenance().set_control_number, "0001");
}

#[test]
fn unknown_fields_are_refused() {
    let mut json = serde_json::to_value(Document::PurchaseOrder(order())).unwrap();
    json["lines"][0]["quantty"] = serde_json::json!("1");
    let err = serde_json::from_value::<Document>(json).unwrap_err().to_string();
    assert!(err.contains("quantty"), "{err}");
}

/// `schemas/` holds the generated JSON Schemas; `UPDATE_GOLDEN=1` rewrites them.
#[test]
fn schemas_in_the_repository_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut stale = vec![];
    for (name, schema) in schemas() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = dir.join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).unwrap_or_default() != text {
            stale.push(name);
        }
    }
    assert!(stale.is_empty(), "stale schemas (run with UPDATE_GOLDEN=1 and review): {stale:?}");
}
