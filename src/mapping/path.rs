//! The path language of mapping files: where in a transaction set a value is.
//!
//! ```text
//! BEG03                    element 03 of the BEG segment in the current scope
//! NAD02-1                  component 1 of element 02
//! REF02[01=PO]             REF02 of the REF whose REF01 is PO
//! N1[01=ST|DP]/N104        the N1 loop whose first segment has N101 = ST or DP, then its N104
//! SG2[01=BY]/NAD02-1       EDIFACT group SG2 whose trigger (NAD) has 01 = BY
//! DTM01-2[01-1=137]        a component condition
//! PO106..25=BP             elements 06 to 25 as qualifier/value pairs: the value after qualifier BP
//! /CUR02[01=BY]            a leading / starts from the whole set instead of the current scope
//! HL[03=O]                 (as `each`) the HL loop instances of level O
//! ../PO101                 `..` goes up to the enclosing loop (an ACK loop's PO1)
//! ```
//!
//! Parsing knows nothing of any standard; the mapping compiler (`super::resolve`) resolves names against the document's
//! structure and reports what does not exist there.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1, take_while_m_n};
use nom::character::complete::char;
use nom::combinator::{all_consuming, map, map_res, opt};
use nom::multi::{many0, separated_list1};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// An element position: element (1-based) and optional component (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub element: u16,
    pub component: Option<u16>,
}

/// `[01=ST|DP]`, `[02]` (present), `[01!=ZZ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub at: Position,
    pub test: Test,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    Present,
    OneOf(Vec<String>),
    NoneOf(Vec<String>),
}

impl Test {
    /// Whether an element whose value (trimmed) is `v` passes.
    #[inline]
    pub fn accepts(&self, v: &[u8]) -> bool {
        match self {
            Test::Present => !v.is_empty(),
            Test::OneOf(vals) => vals.iter().any(|x| x.as_bytes() == v),
            Test::NoneOf(vals) => !v.is_empty() && !vals.iter().any(|x| x.as_bytes() == v),
        }
    }
}

/// A step: a loop or segment name with conditions (on the loop's first segment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub conditions: Vec<Condition>,
}

/// What the last step reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// The step names a loop or segment only (for `each`, `when`).
    Nothing,
    /// One element or component.
    Element(Position),
    /// Qualifier/value pairs from `first` to `last`: the value after `qualifier`.
    Pair { first: u16, last: u16, qualifier: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// Starts at the whole set (leading `/`) rather than the current scope.
    pub absolute: bool,
    pub steps: Vec<Step>,
    pub read: Read,
}

impl Path {
    pub fn parse(s: &str) -> Result<Path, String> {
        match all_consuming(path).parse(s.trim()) {
            Ok((_, p)) => Ok(p),
            Err(e) => {
                let rest = match &e {
                    nom::Err::Error(e) | nom::Err::Failure(e) => e.input,
                    nom::Err::Incomplete(_) => "",
                };
                let at = s.trim().len() - rest.len();
                Err(format!(
                    "cannot read path {s:?} at character {}: expected a segment or loop name (BEG, N1, SG2), \
                     an element position (BEG03, NAD02-1), a condition ([01=ST]) or pairs (PO106..25=BP)",
                    at + 1
                ))
            }
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.absolute {
            f.write_str("/")?;
        }
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&s.name)?;
            let last = i + 1 == self.steps.len();
            if last {
                match &self.read {
                    Read::Nothing => {}
                    Read::Element(p) => write!(f, "{p}")?,
                    Read::Pair { first, last, qualifier } => write!(f, "{first:02}..{last:02}={qualifier}")?,
                }
            }
            for c in &s.conditions {
                write!(f, "[{}", c.at)?;
                match &c.test {
                    Test::Present => {}
                    Test::OneOf(v) => write!(f, "={}", v.join("|"))?,
                    Test::NoneOf(v) => write!(f, "!={}", v.join("|"))?,
                }
                f.write_str("]")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}", self.element)?;
        if let Some(c) = self.component {
            write!(f, "-{c}")?;
        }
        Ok(())
    }
}

type Res<'a, T> = IResult<&'a str, T>;

fn number(s: &str) -> Res<'_, u16> {
    map_res(take_while_m_n(1, 3, |c: char| c.is_ascii_digit()), str::parse::<u16>).parse(s)
}

fn position(s: &str) -> Res<'_, Position> {
    map((number, opt(preceded(char('-'), number))), |(element, component)| Position { element, component }).parse(s)
}

fn code(s: &str) -> Res<'_, String> {
    map(take_while1(|c: char| !matches!(c, '|' | ']' | '[' | '/' | ',')), |v: &str| v.to_string()).parse(s)
}

fn condition(s: &str) -> Res<'_, Condition> {
    let (s, at) = position(s)?;
    let (s, test) = alt((
        map(preceded(tag("!="), separated_list1(char('|'), code)), Test::NoneOf),
        map(preceded(char('='), separated_list1(char('|'), code)), Test::OneOf),
        |s| Ok((s, Test::Present)),
    ))
    .parse(s)?;
    Ok((s, Condition { at, test }))
}

fn conditions(s: &str) -> Res<'_, Vec<Condition>> {
    map(many0(delimited(char('['), separated_list1(char(','), condition), char(']'))), |v| v.into_iter().flatten().collect())
        .parse(s)
}

/// A segment id is 2–3 characters (letters first, then letters or digits); a loop name may be longer
/// (`SG10`, `LH1`). A name followed by digits reads as segment + position when it is a segment id:
/// `N104` is N1 + 04, `SG2` stays a name because nothing follows, `PO106..25=BP` is PO1 + pairs.
fn step(s: &str) -> Res<'_, (Step, Read)> {
    // `..`: the enclosing loop.
    if let Some(rest) = s.strip_prefix("..") {
        return Ok((rest, (Step { name: "..".to_string(), conditions: vec![] }, Read::Nothing)));
    }
    let (rest, word) = take_while1(|c: char| c.is_ascii_alphanumeric()).parse(s)?;
    if !word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(nom::Err::Error(nom::error::Error::new(s, nom::error::ErrorKind::Alpha)));
    }
    // EDIFACT group names (SG1..SG99) are names, never segment + position.
    let group = word.len() > 2 && word.starts_with("SG") && word[2..].bytes().all(|b| b.is_ascii_digit());
    // Try to read the word as SEG + element position (N104: N1 + 04; DTM01: DTM + 01; PO106: PO1 + 06).
    for id_len in [3usize, 2] {
        if group || word.len() < id_len + 2 || !word.is_char_boundary(id_len) {
            continue;
        }
        let (id, digits) = word.split_at(id_len);
        if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(element) = digits.parse::<u16>() else { continue };
        // Pairs: PO106..25=BP
        if let Ok((r, (last, qualifier))) =
            (preceded(tag(".."), number), preceded(char('='), code)).parse(rest)
        {
            let (r, conds) = conditions(r)?;
            return Ok((r, (Step { name: id.to_string(), conditions: conds }, Read::Pair { first: element, last, qualifier })));
        }
        let (r, component) = opt(preceded(char('-'), number)).parse(rest)?;
        let (r, conds) = conditions(r)?;
        return Ok((r, (Step { name: id.to_string(), conditions: conds }, Read::Element(Position { element, component }))));
    }
    let (r, conds) = conditions(rest)?;
    Ok((r, (Step { name: word.to_string(), conditions: conds }, Read::Nothing)))
}

fn path(s: &str) -> Res<'_, Path> {
    let (s, absolute) = map(opt(char('/')), |o| o.is_some()).parse(s)?;
    let (s, steps) = separated_list1(char('/'), step).parse(s)?;
    let n = steps.len();
    let mut out = Vec::with_capacity(n);
    let mut read = Read::Nothing;
    for (i, (st, r)) in steps.into_iter().enumerate() {
        if i + 1 < n && r != Read::Nothing {
            // An element reference can only end a path.
            return Err(nom::Err::Failure(nom::error::Error::new(s, nom::error::ErrorKind::Verify)));
        }
        read = r;
        out.push(st);
    }
    Ok((s, Path { absolute, steps: out, read }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn elements_and_components() {
        let x = p("BEG03");
        assert_eq!(x.steps[0].name, "BEG");
        assert_eq!(x.read, Read::Element(Position { element: 3, component: None }));
        let x = p("NAD02-1");
        assert_eq!(x.steps[0].name, "NAD");
        assert_eq!(x.read, Read::Element(Position { element: 2, component: Some(1) }));
        let x = p("N104");
        assert_eq!(x.steps[0].name, "N1");
        assert_eq!(x.read, Read::Element(Position { element: 4, component: None }));
    }

    #[test]
    fn loops_conditions_pairs() {
        let x = p("N1[01=ST|DP]/N104");
        assert_eq!(x.steps.len(), 2);
        assert_eq!(x.steps[0].conditions[0].test, Test::OneOf(vec!["ST".into(), "DP".into()]));
        assert_eq!(x.to_string(), "N1[01=ST|DP]/N104");
        let x = p("SG2[01=BY]/NAD02-1");
        assert_eq!(x.steps[0].name, "SG2");
        let x = p("SG10/SG11/LIN01");
        assert_eq!(x.steps[1].name, "SG11");
        assert_eq!(x.steps[2].name, "LIN");
        let x = p("DTM01-2[01-1=137]");
        assert_eq!(x.steps[0].conditions[0].at, Position { element: 1, component: Some(1) });
        let x = p("PO106..25=BP");
        assert_eq!(x.read, Read::Pair { first: 6, last: 25, qualifier: "BP".into() });
        let x = p("/CUR02[01=BY]");
        assert!(x.absolute);
        let x = p("HL[03=O]");
        assert_eq!(x.read, Read::Nothing);
        let x = p("../PO101");
        assert_eq!(x.steps[0].name, "..");
        assert_eq!(x.steps[1].name, "PO1");
        let x = p("REF[01!=ZZ][02]");
        assert_eq!(x.steps[0].conditions.len(), 2);
        assert_eq!(x.to_string(), "REF[01!=ZZ][02]");
    }

    #[test]
    fn errors_say_where() {
        let e = Path::parse("N104/N1").unwrap_err();
        assert!(e.contains("N104/N1"), "{e}");
        let e = Path::parse("BEG03[01=").unwrap_err();
        assert!(e.contains("character"), "{e}");
        assert!(Path::parse("").is_err());
        assert!(Path::parse("3BEG").is_err());
    }
}
