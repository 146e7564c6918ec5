//! The canonical documents' JSON Schemas, read as a map of what fields exist: mappings are checked
//! against it (an unknown field, a value where an object is expected, a code outside an enum).

use serde_json::Value;

/// A place in a schema: the document's root schema (for `$defs`) and a node in it.
#[derive(Clone, Copy)]
pub struct Schema<'s> {
    root: &'s Value,
    node: &'s Value,
}

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    /// A string-like scalar: text, code, decimal, date.
    Scalar,
}

impl<'s> Schema<'s> {
    pub fn root(root: &'s Value) -> Schema<'s> {
        Schema { root, node: root }.resolve()
    }

    /// Follows `$ref` and drops the `null` alternative of an optional field.
    fn resolve(self) -> Schema<'s> {
        let mut node = self.node;
        for _ in 0..8 {
            if let Some(r) = node.get("$ref").and_then(Value::as_str) {
                let name = r.trim_start_matches("#/$defs/");
                node = &self.root["$defs"][name];
            } else if let Some(alts) = node.get("anyOf").and_then(Value::as_array) {
                match alts.iter().find(|a| a.get("type").and_then(Value::as_str) != Some("null")) {
                    Some(a) => node = a,
                    None => break,
                }
            } else {
                break;
            }
        }
        Schema { root: self.root, node }
    }

    pub fn kind(&self) -> Kind {
        let types: Vec<&str> = match self.node.get("type") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if types.contains(&"object") || self.node.get("properties").is_some() {
            Kind::Object
        } else if types.contains(&"array") {
            Kind::Array
        } else {
            Kind::Scalar
        }
    }

    /// The field `name` of an object.
    pub fn field(&self, name: &str) -> Option<Schema<'s>> {
        let node = self.node.get("properties")?.get(name)?;
        Some(Schema { root: self.root, node }.resolve())
    }

    /// The fields of an object, in schema order.
    pub fn fields(&self) -> Vec<&'s str> {
        self.node.get("properties").and_then(Value::as_object).map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    pub fn required(&self) -> Vec<&'s str> {
        self.node.get("required").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    }

    pub fn items(&self) -> Option<Schema<'s>> {
        let node = self.node.get("items")?;
        Some(Schema { root: self.root, node }.resolve())
    }

    /// The allowed values of an enumerated scalar (`purpose`: original, replace, ...).
    pub fn choices(&self) -> Option<Vec<&'s str>> {
        if let Some(e) = self.node.get("enum").and_then(Value::as_array) {
            return Some(e.iter().filter_map(Value::as_str).collect());
        }
        // schemars writes documented variants as `const`, undocumented ones grouped in an `enum`.
        let alts = self.node.get("oneOf").and_then(Value::as_array)?;
        Some(
            alts.iter()
                .flat_map(|a| {
                    let one = a.get("const").and_then(Value::as_str).into_iter();
                    let many = a.get("enum").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
                    one.chain(many)
                })
                .collect(),
        )
    }

    /// `date`, `decimal`, or `text` (what a value must look like).
    pub fn format(&self) -> &'static str {
        match self.node.get("format").and_then(Value::as_str) {
            Some("date") => "date",
            Some("partial-date-time") => "time",
            _ if self.node.get("pattern").is_some() => "decimal",
            _ => match self.node.get("type") {
                Some(Value::String(t)) if t == "integer" => "integer",
                Some(Value::Array(a)) if a.iter().any(|t| t == "integer") => "integer",
                _ => "text",
            },
        }
    }
}
