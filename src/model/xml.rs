//! The canonical documents as XML, for ERPs that take XML (written with quick-xml).
//!
//! The shape follows the JSON one to one:
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <documents xmlns="urn:edigate:canonical:1">
//!   <purchase_order>
//!     <provenance><standard>x12</standard>...</provenance>
//!     <order_number>4500012345</order_number>
//!     <lines>
//!       <line>
//!         <line_number>1</line_number>
//!         <quantity><value>500</value><unit>C62</unit></quantity>
//!       </line>
//!     </lines>
//!   </purchase_order>
//! </documents>
//! ```
//!
//! Each JSON field is an element of the same name; the document's `document` tag names its element;
//! a list is an element holding one element per entry, named by the singular of the list's name
//! (`lines/line`, `parties/party`, `allowances_charges/allowance_charge`); absent fields are absent.

use super::Document;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::Value;

/// The XML namespace of the canonical documents.
pub const NAMESPACE: &str = "urn:edigate:canonical:1";

/// All documents as one XML text.
pub fn to_xml(docs: &[Document]) -> std::io::Result<Vec<u8>> {
    let mut w = XmlWriter::new(Vec::new())?;
    for d in docs {
        w.write(d)?;
    }
    w.finish()
}

/// Writes documents one at a time (for inputs of any size).
pub struct XmlWriter<W: std::io::Write> {
    w: Writer<W>,
}

impl<W: std::io::Write> XmlWriter<W> {
    /// Writes the declaration and opens `<documents>`.
    pub fn new(out: W) -> std::io::Result<Self> {
        let mut w = Writer::new_with_indent(out, b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.write_event(Event::Start(BytesStart::new("documents").with_attributes([("xmlns", NAMESPACE)])))?;
        Ok(XmlWriter { w })
    }

    pub fn write(&mut self, d: &Document) -> std::io::Result<()> {
        let mut v = serde_json::to_value(d)?;
        let name = v.get("document").and_then(Value::as_str).unwrap_or("document").to_string();
        if let Some(o) = v.as_object_mut() {
            o.shift_remove("document");
        }
        element(&mut self.w, &name, &v)
    }

    /// Closes `<documents>` and gives the output back.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.w.write_event(Event::End(BytesEnd::new("documents")))?;
        Ok(self.w.into_inner())
    }
}

fn element<W: std::io::Write>(w: &mut Writer<W>, name: &str, v: &Value) -> std::io::Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::Object(o) => {
            w.write_event(Event::Start(BytesStart::new(name)))?;
            for (k, x) in o {
                element(w, k, x)?;
            }
            w.write_event(Event::End(BytesEnd::new(name)))
        }
        Value::Array(a) => {
            w.write_event(Event::Start(BytesStart::new(name)))?;
            let item = singular(name);
            for x in a {
                element(w, &item, x)?;
            }
            w.write_event(Event::End(BytesEnd::new(name)))
        }
        other => {
            let text = match other {
                Value::String(s) => s.clone(),
                x => x.to_string(),
            };
            w.write_event(Event::Start(BytesStart::new(name)))?;
            w.write_event(Event::Text(BytesText::new(&text)))?;
            w.write_event(Event::End(BytesEnd::new(name)))
        }
    }
}

/// The element name of one entry of a list.
fn singular(list: &str) -> String {
    match list {
        "allowances_charges" => "allowance_charge".into(),
        "parties" => "party".into(),
        "taxes" => "tax".into(),
        "address_lines" | "lines" => "line".into(),
        s if s.ends_with("ies") => format!("{}y", &s[..s.len() - 3]),
        s if s.ends_with('s') => s[..s.len() - 1].to_string(),
        s => format!("{s}_entry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_escaping() {
        assert_eq!(singular("parties"), "party");
        assert_eq!(singular("allowances_charges"), "allowance_charge");
        assert_eq!(singular("tracking_numbers"), "tracking_number");
        let mut w = Writer::new(Vec::new());
        element(&mut w, "note", &Value::String("A & B <c>".into())).unwrap();
        assert_eq!(String::from_utf8(w.into_inner()).unwrap(), "<note>A &amp; B &lt;c&gt;</note>");
    }
}
