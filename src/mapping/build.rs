//! The typed canonical documents, built straight from a compiled mapping's rules.
//!
//! Each canonical struct names its fields once below ([`build!`]); the compiler checks that the list
//! is complete (every field of the struct literal must be given). A compiled object's fields are
//! matched to the struct's by name once per object (`Obj::keys`), then every rule is evaluated into
//! its field's slot ([`FieldType`]: an optional field's own `Option`, filled in place; any other
//! field's value in an `Option` until the struct is made). A field no rule filled is an empty
//! list, `None`, the type's default where the model says `#[serde(default)]`, or an error naming
//! the rule that found nothing.
//!
//! Mapping files name fields as the JSON Schema does, that is as serde does; the names here are the
//! Rust names, the same while the model renames no field (a rename would fail every document of
//! that type with "the canonical document has no such field": the goldens would show it).
//!
//! Leaves that edigate wrote itself (text, ISO dates and times, decimals) are converted directly;
//! anything else, and every value that does not convert, goes through the value's serde
//! `Deserializer` ([`LeafDe`]), so the messages stay the model's own. Each value is written in place
//! (`out: &mut Option<T>`) rather than returned up through layers of results.

use super::eval::{members, plain_number, Cx, Direct, Fail, Got, Leaf, LeafDe, MapError, Member, Scope};
use super::{Field, Obj, Rule, Src, ValueRule};
use crate::model::*;
use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use smol_str::SmolStr;
use std::str::FromStr;

/// A type a mapping rule can fill: a leaf from a value, a struct from an object, and lists and
/// options of those. Each method writes the value into `out` (left as it is when there is none).
pub(crate) trait Slot: Sized {
    /// From a value rule's value.
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail>;

    /// From an object rule, in `scope`. With `optional`, an object none of whose rules yields
    /// anything is left out (no error for its required fields): it is not there.
    fn put_obj<'x>(_cx: &Cx<'x>, _obj: &'x Obj, _scope: Scope, _optional: bool, _out: &mut Option<Self>) -> Result<(), Fail> {
        Err(Box::new(MapError::new("is an object in the mapping, but a single value in the canonical document")))
    }

    /// Whether a rule gave `v` a value (an empty list or an absent option is none).
    fn filled(v: &Option<Self>) -> bool {
        v.is_some()
    }

    /// The value of a field that no rule filled; `None` when the field is required.
    fn absent() -> Option<Self> {
        None
    }

    /// Whether [`Slot::absent`] gives a value.
    const HAS_ABSENT: bool = false;

    /// The value of a leaf that is this text as it is (`None`: only the general path can tell).
    fn from_text(_text: &str) -> Option<Self> {
        None
    }

    /// The value of a leaf that is this number as written (`-?digits(.digits)?`; `None`: not
    /// such a number, or only the general path can tell).
    fn from_number(text: &str) -> Option<Self> {
        if plain_number(text) {
            Self::from_text(text)
        } else {
            None
        }
    }

    /// The field's value from its rule in `scope`, when the rule yields one there.
    #[inline]
    fn fill<'x>(cx: &Cx<'x>, rule: &'x Rule, scope: Scope, out: &mut Option<Self>) -> Result<(), Fail> {
        match rule {
            Rule::Value(v) if v.direct => match cx.direct(v, scope) {
                Direct::Nothing => Ok(()),
                Direct::Text(t) => match Self::from_text(t) {
                    Some(x) => {
                        *out = Some(x);
                        Ok(())
                    }
                    None => Self::fill_value(cx, v, scope, out),
                },
                Direct::Number(t) => match Self::from_number(t) {
                    Some(x) => {
                        *out = Some(x);
                        Ok(())
                    }
                    None => Self::fill_value(cx, v, scope, out),
                },
                Direct::General => Self::fill_value(cx, v, scope, out),
            },
            Rule::Value(v) => Self::fill_value(cx, v, scope, out),
            Rule::Object(o) if cx.holds(&o.when, scope) => Self::put_obj(cx, o, scope, true, out),
            Rule::Object(_) => Ok(()),
            Rule::Array(_) => Err(Box::new(MapError::new("is a list in the mapping, but not in the canonical document"))),
        }
    }

    /// The field's value from a value rule, evaluated the general way.
    fn fill_value<'x>(cx: &Cx<'x>, v: &'x ValueRule, scope: Scope, out: &mut Option<Self>) -> Result<(), Fail> {
        match cx.value(v, scope)? {
            Some(g) => {
                cx.record(&g);
                Self::put(cx, g, out)
            }
            None => Ok(()),
        }
    }
}

/// A value turned into `T` by serde, through the value's own `Deserializer`.
#[cold]
fn via_serde<'x, T: DeserializeOwned>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<T>) -> Result<(), Fail> {
    *out = Some(T::deserialize(LeafDe::new(got, cx))?);
    Ok(())
}

impl<T: Slot> Slot for Vec<T> {
    fn put<'x>(_cx: &Cx<'x>, _got: Got<'x>, _out: &mut Option<Self>) -> Result<(), Fail> {
        Err(Box::new(MapError::new("is a single value in the mapping, but a list in the canonical document")))
    }

    fn absent() -> Option<Self> {
        Some(Vec::new())
    }

    const HAS_ABSENT: bool = true;

    fn filled(v: &Option<Self>) -> bool {
        v.as_ref().is_some_and(|l| !l.is_empty())
    }

    fn fill<'x>(cx: &Cx<'x>, rule: &'x Rule, scope: Scope, out: &mut Option<Self>) -> Result<(), Fail> {
        let Rule::Array(entries) = rule else {
            return Err(Box::new(MapError::new("is not a list in the mapping, but a list in the canonical document")));
        };
        // Most lists of an item are empty (its lots, serials): no members to look for then.
        if cx.surely_empty(entries, scope) {
            *out = Some(Vec::new());
            return Ok(());
        }
        let list = out.insert(Vec::with_capacity(cx.members_hint(entries, scope)));
        let mut i = 0usize;
        members(cx, entries, scope, &mut |member| {
            let traced = cx.tracing();
            if traced {
                cx.push(format!("[{i}]"));
            }
            let mut one = None;
            let done = match member {
                Member::Obj(o, s, optional) => T::put_obj(cx, o, s, optional, &mut one),
                Member::Leaf(g) => {
                    cx.record(&g);
                    T::put(cx, g, &mut one)
                }
            };
            if traced {
                cx.pop();
            }
            done.map_err(|e| Box::new(e.within(&format!("[{i}]"))))?;
            // An optional member with nothing in it is left out and takes no index.
            if let Some(v) = one {
                list.push(v);
                i += 1;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// The text of a value edigate can take as is (not a date-time made of parts).
#[inline]
fn plain<'a>(got: &'a Got<'_>) -> Option<&'a str> {
    match &got.leaf {
        Leaf::Text(t) => Some(t),
        Leaf::Small(s) => Some(s.as_str()),
        Leaf::DateTime(_) => None,
    }
}

/// A leaf made directly from its text by `quick` when it can, else through serde.
#[inline]
fn quick<'x, T: DeserializeOwned>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<T>, make: impl FnOnce(&str) -> Option<T>) -> Result<(), Fail> {
    match plain(&got).and_then(make) {
        Some(v) => {
            *out = Some(v);
            Ok(())
        }
        None => via_serde(cx, got, out),
    }
}

impl Slot for SmolStr {
    #[inline]
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
        quick(cx, got, out, |t| Some(text(t)))
    }

    fn from_text(text: &str) -> Option<Self> {
        Some(self::text(text))
    }
}

/// `t` as a `SmolStr`. Short text is copied inline with its length a constant in each arm, so the
/// copy is a few moves instead of a `memcpy` call (most values are short).
#[inline]
fn text(t: &str) -> SmolStr {
    macro_rules! by_length {
        ($($n:literal)*) => {
            match t.len() {
                $($n => SmolStr::new_inline(&t[..$n]),)*
                _ => SmolStr::new(t),
            }
        };
    }
    by_length!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23)
}

impl Slot for Decimal {
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
        quick(cx, got, out, Self::from_text)
    }

    fn from_text(text: &str) -> Option<Self> {
        short_decimal(text).or_else(|| Decimal::from_str(text).ok())
    }

    /// [`short_decimal`] reads exactly the plain numbers (of up to 18 digits): no check before.
    fn from_number(text: &str) -> Option<Self> {
        short_decimal(text)
    }
}

/// `-?digits(.digits)?` in at most 18 bytes after the sign, as `Decimal::from_str` reads it (the
/// scale is the number of digits after the mark), without its general parser. `None` otherwise.
fn short_decimal(t: &str) -> Option<Decimal> {
    let b = t.as_bytes();
    let (negative, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut mantissa = 0i64;
    let mut scale = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => mantissa = mantissa * 10 + i64::from(c - b'0'),
            b'.' if scale.is_none() && i > 0 && i + 1 < digits.len() => scale = Some((digits.len() - i - 1) as u32),
            _ => return None,
        }
    }
    // A negative zero keeps its sign only through the general parser.
    if negative && mantissa == 0 {
        return None;
    }
    Some(Decimal::new(if negative { -mantissa } else { mantissa }, scale.unwrap_or(0)))
}

/// `CCYY-MM-DD`, as the evaluator writes dates.
fn iso_date(t: &str) -> Option<NaiveDate> {
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(&b[..4])? as i32, digits(&b[5..7])?, digits(&b[8..])?)
}

/// `HH:MM:SS`, as the evaluator writes times.
fn iso_time(t: &str) -> Option<NaiveTime> {
    let b = t.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    NaiveTime::from_hms_opt(digits(&b[..2])?, digits(&b[3..5])?, digits(&b[6..])?)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

impl Slot for NaiveDate {
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
        quick(cx, got, out, iso_date)
    }
}

impl Slot for NaiveTime {
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
        quick(cx, got, out, iso_time)
    }
}

/// Leaves that are rare enough to go through serde every time.
macro_rules! serde_leaves {
    ($($ty:ty),* $(,)?) => {$(
        impl Slot for $ty {
            fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
                via_serde(cx, got, out)
            }
        }
    )*};
}

serde_leaves!(String, u32, bool, Purpose, PartyRole, IdScheme, ConfirmationStatus, LineStatus, InvoiceKind);

/// The document's provenance is set by the evaluator, never by a rule.
impl Slot for Provenance {
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
        via_serde(cx, got, out)
    }

    fn absent() -> Option<Self> {
        Some(Provenance::default())
    }

    const HAS_ABSENT: bool = true;
}

/// Each field of `obj` as an index into `fields` (`u32::MAX`: the struct has no such field), worked
/// out the first time the object is built.
fn keys<'x>(obj: &'x Obj, fields: &[&str]) -> &'x [u32] {
    obj.keys.get_or_init(|| obj.fields.iter().map(|f| fields.iter().position(|n| *n == f.name).map_or(u32::MAX, |i| i as u32)).collect())
}

/// Evaluates every field of `obj` in `scope` with `each`, with the object's plan entered.
#[inline]
fn object<'x>(cx: &Cx<'x>, obj: &'x Obj, scope: Scope, mut each: impl FnMut(usize, &'x Field) -> Result<(), Fail>) -> Result<(), Fail> {
    let entered = obj.plan.as_deref().is_some_and(|p| cx.enter(p, scope));
    let out = obj.fields.iter().enumerate().try_for_each(|(i, f)| each(i, f));
    if entered {
        cx.leave();
    }
    out
}

/// A struct field's type, as its value is held while its object is built: an optional field in
/// its own `Option`, which its rule fills in place; any other type in an `Option` of it, which
/// [`FieldType::finish`] turns into the value (or the type's value for nothing, or an error).
pub(crate) trait FieldType: Sized {
    type Local: Default;
    fn fill<'x>(cx: &Cx<'x>, rule: &'x Rule, scope: Scope, local: &mut Self::Local) -> Result<(), Fail>;
    fn filled(local: &Self::Local) -> bool;
    /// Whether the field has its final value: a rule's, or its type's for nothing.
    fn ready(local: &Self::Local) -> bool;
    /// The final value of a [`FieldType::ready`] field.
    fn take(local: Self::Local) -> Self;
}

impl<T: Slot> FieldType for Option<T> {
    type Local = Option<T>;

    #[inline]
    fn fill<'x>(cx: &Cx<'x>, rule: &'x Rule, scope: Scope, local: &mut Option<T>) -> Result<(), Fail> {
        T::fill(cx, rule, scope, local)
    }

    #[inline]
    fn filled(local: &Option<T>) -> bool {
        T::filled(local)
    }

    #[inline]
    fn ready(_local: &Option<T>) -> bool {
        true
    }

    #[inline]
    fn take(local: Option<T>) -> Self {
        local
    }
}

/// Field types that are not optional: a value, else what the type has when nothing is there.
macro_rules! required {
    ($([$($g:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($g)*> FieldType for $ty {
            type Local = Option<$ty>;

            #[inline]
            fn fill<'x>(cx: &Cx<'x>, rule: &'x Rule, scope: Scope, local: &mut Option<$ty>) -> Result<(), Fail> {
                <$ty as Slot>::fill(cx, rule, scope, local)
            }

            #[inline]
            fn filled(local: &Option<$ty>) -> bool {
                <$ty as Slot>::filled(local)
            }

            #[inline]
            fn ready(local: &Option<$ty>) -> bool {
                local.is_some() || <$ty as Slot>::HAS_ABSENT
            }

            #[inline]
            fn take(local: Option<$ty>) -> Self {
                match local {
                    Some(v) => v,
                    None => <$ty as Slot>::absent().expect("ready: the type has a value for nothing"),
                }
            }
        }
    )*};
}

required!(
    [T: Slot] Vec<T>, [] SmolStr, [] String, [] Decimal, [] NaiveDate, [] bool, [] Provenance, [] Purpose, [] PartyRole,
    [] IdScheme, [] ConfirmationStatus, [] LineStatus, [] InvoiceKind, [] Item, [] Quantity, [] Amount, [] InvoiceTotals,
);

/// A field's value while its object is built ([`FieldType::Local`]), typed by the struct field.
struct Local<F: FieldType>(F::Local);

/// An empty [`Local`] for the struct field `get` reads.
#[inline(always)]
fn local<S, F: FieldType>(_get: fn(&S) -> &F) -> Local<F> {
    Local(F::Local::default())
}

/// One field's value from its rule, with the field named in errors and in the trace.
#[inline(always)]
fn field<'x, F: FieldType>(cx: &Cx<'x>, f: &'x Field, scope: Scope, out: &mut Local<F>) -> Result<(), Fail> {
    if !cx.tracing() {
        return F::fill(cx, &f.rule, scope, &mut out.0).map_err(|e| Box::new(e.within(&f.name)));
    }
    cx.push(f.name.clone());
    let done = F::fill(cx, &f.rule, scope, &mut out.0).map_err(|e| Box::new(e.within(&f.name)));
    cx.pop();
    done
}

#[inline]
fn filled<F: FieldType>(v: &Local<F>) -> bool {
    F::filled(&v.0)
}

/// Whether a field can be finished: its rule gave a value, or the type has one for nothing.
#[inline]
fn ready<F: FieldType>(got: &Local<F>) -> bool {
    F::ready(&got.0)
}

/// A [`ready`] field's final value: what its rule gave, else what the type has for nothing.
/// (Every field is checked before the struct is made: the struct is then made without a `Result`
/// per field, which was a copy of each value.)
#[inline]
fn take<F: FieldType>(got: Local<F>) -> F {
    F::take(got.0)
}

/// A required field without a value: which rule should have filled it, or that none is written.
#[cold]
fn missing(obj: &Obj, name: &str) -> Fail {
    Box::new(match obj.fields.iter().find(|f| f.name == name) {
        Some(f) => {
            let what = match &f.rule {
                Rule::Value(v) => v.sources.iter().filter_map(|s| if let Src::Path(p) = s { Some(p.text.as_str()) } else { None }).collect::<Vec<_>>().join(" or "),
                _ => "its rules".to_string(),
            };
            MapError { field: name.to_string(), message: format!("required, but {what} found nothing"), source: None, rule: Some(f.origin.clone()) }
        }
        None => MapError { field: name.to_string(), message: format!("required, but the mapping has no rule for it (add `{name} = ...`)"), source: None, rule: None },
    })
}

#[cold]
fn unknown(f: &Field) -> Fail {
    Box::new(MapError::new("the canonical document has no such field").within(&f.name))
}

/// A struct built from an object rule: each field named once, in any order.
macro_rules! build {
    ($($ty:ident { $($f:ident),* $(,)? })*) => {$(
        impl Slot for $ty {
            fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
                via_serde(cx, got, out)
            }

            fn put_obj<'x>(cx: &Cx<'x>, obj: &'x Obj, scope: Scope, optional: bool, out: &mut Option<Self>) -> Result<(), Fail> {
                let keys = keys(obj, &[$(stringify!($f)),*]);
                $(let mut $f = local(|s: &$ty| &s.$f);)*
                let mut any = false;
                object(cx, obj, scope, |i, f| {
                    let k = keys[i];
                    let mut n = 0u32;
                    $(
                        if k == n {
                            field(cx, f, scope, &mut $f)?;
                            any |= filled(&$f);
                            return Ok(());
                        }
                        n += 1;
                    )*
                    let _ = n;
                    Err(unknown(f))
                })?;
                if optional && !any {
                    return Ok(());
                }
                $(if !ready(&$f) {
                    return Err(missing(obj, stringify!($f)));
                })*
                *out = Some($ty { $($f: take($f),)* });
                Ok(())
            }

            build!(@absent $ty);
        }
    )*};
    (@absent Item) => {
        fn absent() -> Option<Self> {
            Some(Item::default())
        }

        const HAS_ABSENT: bool = true;
    };
    (@absent $ty:ident) => {};
}

build! {
    PurchaseOrder { provenance, order_number, purpose, order_type, issue_date, currency, parties, references, requested_delivery, payment_terms, allowances_charges, notes, lines }
    OrderLine { line_number, item, quantity, unit_price, requested_delivery, ship_to, notes }
    OrderConfirmation { provenance, order_number, confirmation_number, status, issue_date, currency, parties, references, notes, lines }
    ConfirmedLine { line_number, item, status, status_code, ordered_quantity, confirmed_quantity, confirmed_price, confirmed_delivery, notes }
    Carrier { code, name, mode }
    ShipNotice { provenance, shipment_number, purpose, issue_date, shipped, expected_delivery, carrier, bill_of_lading, tracking_numbers, gross_weight, parties, references, orders }
    ShippedOrder { order_number, packs, items }
    Pack { sscc, package_type, packs, items }
    ShippedItem { order_line, item, quantity, lots, serials }
    Invoice { provenance, kind, invoice_number, issue_date, order_numbers, currency, parties, references, payment_terms, lines, allowances_charges, taxes, totals, notes }
    InvoiceLine { line_number, item, quantity, unit_price, line_amount, allowances_charges, taxes, order_line }
    InvoiceTotals { line_total, allowance_total, charge_total, tax_total, payable }
    PartyId { scheme, value, qualifier }
    Address { lines, city, region, postal_code, country }
    Contact { name, phone, email }
    Party { role, role_code, name, ids, address, contacts }
    Item { buyer_part, vendor_part, gtin, upc, description }
    Quantity { value, unit, source_unit }
    Amount { value, currency }
    Price { amount, per }
    Reference { qualifier, value, date }
    PaymentTerms { net_days, discount_percent, discount_days, due_date, description }
    AllowanceCharge { charge, reason_code, description, amount, percent }
    Tax { tax_type, category, percent, taxable_amount, amount }
}

/// A date-time: from an object rule of its parts, or from one value (`as = "datetime"`).
impl Slot for DateTime {
    fn put<'x>(cx: &Cx<'x>, got: Got<'x>, out: &mut Option<Self>) -> Result<(), Fail> {
        if let Leaf::DateTime(dt) = &got.leaf {
            let date = iso_date(dt.date.as_str());
            let time = dt.time.as_ref().map(|t| iso_time(t.as_str()));
            if let (Some(date), None | Some(Some(_))) = (date, time) {
                *out = Some(DateTime { date, time: time.flatten(), zone: dt.zone.as_deref().map(SmolStr::new) });
                return Ok(());
            }
        }
        via_serde(cx, got, out)
    }

    fn put_obj<'x>(cx: &Cx<'x>, obj: &'x Obj, scope: Scope, optional: bool, out: &mut Option<Self>) -> Result<(), Fail> {
        let keys = keys(obj, &["date", "time", "zone"]);
        let (mut date, mut time, mut zone) = (local(|s: &DateTime| &s.date), local(|s: &DateTime| &s.time), local(|s: &DateTime| &s.zone));
        object(cx, obj, scope, |i, f| match keys[i] {
            0 => field(cx, f, scope, &mut date),
            1 => field(cx, f, scope, &mut time),
            2 => field(cx, f, scope, &mut zone),
            _ => Err(unknown(f)),
        })?;
        if optional && !(filled(&date) || filled(&time) || filled(&zone)) {
            return Ok(());
        }
        for (ready, name) in [(ready(&date), "date"), (ready(&time), "time"), (ready(&zone), "zone")] {
            if !ready {
                return Err(missing(obj, name));
            }
        }
        *out = Some(DateTime { date: take(date), time: take(time), zone: take(zone) });
        Ok(())
    }
}

/// The canonical document of `obj`, the mapping's root, with its provenance.
pub(crate) fn document<'x, T: Slot>(cx: &Cx<'x>, obj: &'x Obj, provenance: &Provenance, set: impl FnOnce(&mut T, Provenance)) -> Result<T, MapError> {
    let mut doc = None;
    T::put_obj(cx, obj, Scope::Inst(0), false, &mut doc).map_err(|e| *e)?;
    let mut doc = doc.ok_or_else(|| MapError::new("no document"))?;
    set(&mut doc, provenance.clone());
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short path reads numbers exactly as `Decimal::from_str` does, and leaves the rest to it.
    #[test]
    fn short_decimals_match_the_general_parser() {
        for t in ["0", "7", "12.50", "-3.125", "0.05", "007", "123456789012345678", "-0.5", "1234567890.1234567"] {
            let d = short_decimal(t).unwrap_or_else(|| panic!("{t} takes the short path"));
            let e = Decimal::from_str(t).expect("valid");
            assert_eq!((d, d.scale(), d.to_string()), (e, e.scale(), e.to_string()), "{t}");
        }
        for t in ["", "-", ".5", "5.", "1.2.3", "1e5", "-0", "-0.00", "1234567890123456789", "+5", " 5", "1,5"] {
            assert_eq!(short_decimal(t), None, "{t}");
        }
    }
}
