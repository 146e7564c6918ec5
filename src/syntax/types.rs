//! Data types of element values (X12: AN, ID, DT, TM, R, Nn; EDIFACT: a, n, an): checks that run on every
//! element, so they work on bytes and never allocate.


/// Data type of an element as the dictionaries name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// X12 AN: any characters of the character set.
    Alphanumeric,
    /// X12 ID: a code (checked against its code list when there is one).
    Id,
    /// X12 DT: CCYYMMDD (or YYMMDD).
    Date,
    /// X12 TM: HHMM[SS[d..]].
    Time,
    /// X12 R: decimal number, optional sign and decimal point.
    Decimal,
    /// X12 Nn: integer with n implied decimal places, optional sign.
    Numeric(u8),
    /// EDIFACT a: letters (and spaces).
    Alpha,
    /// EDIFACT n: a number with the interchange's decimal mark.
    Number,
}

impl DataType {
    pub fn parse(s: &str) -> Option<DataType> {
        Some(match s {
            "AN" | "an" => DataType::Alphanumeric,
            "ID" => DataType::Id,
            "DT" => DataType::Date,
            "TM" => DataType::Time,
            "R" => DataType::Decimal,
            "a" => DataType::Alpha,
            "n" => DataType::Number,
            n if n.len() == 2 && n.starts_with('N') => DataType::Numeric(n[1..].parse().ok()?),
            "N" => DataType::Numeric(0),
            _ => return None,
        })
    }

    /// Whether the length of a value counts only its digits (sign and decimal mark excluded).
    pub fn counts_digits(self) -> bool {
        matches!(self, DataType::Decimal | DataType::Numeric(_) | DataType::Number)
    }
}

/// Length of a value as the standards measure it: numeric types count digits only.
pub fn measured_len(t: DataType, v: &[u8]) -> usize {
    if t.counts_digits() {
        v.iter().filter(|b| b.is_ascii_digit()).count()
    } else {
        v.len()
    }
}

/// Nn: `-?[0-9]+`.
pub fn valid_integer(v: &[u8]) -> bool {
    // Runs on every numeric element: a byte loop, not a parser.
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// R (X12) or n (EDIFACT): `-?` digits with at most one decimal mark, at least one digit.
pub fn valid_decimal(v: &[u8], mark: u8) -> bool {
    let v = v.strip_prefix(b"-").unwrap_or(v);
    let mut digits = 0;
    let mut marks = 0;
    for &b in v {
        if b.is_ascii_digit() {
            digits += 1;
        } else if b == mark || (mark == b'.' && b == b'.') {
            marks += 1;
        } else if b == b'E' && mark == b'.' {
            // exponential notation is allowed in X12 R from 005010; accept.
            return digits > 0;
        } else {
            return false;
        }
    }
    digits > 0 && marks <= 1
}

fn two(v: &[u8]) -> u32 {
    ((v[0] - b'0') as u32) * 10 + (v[1] - b'0') as u32
}

/// DT: CCYYMMDD or YYMMDD, a real calendar date.
pub fn valid_date(v: &[u8]) -> bool {
    if !(v.len() == 6 || v.len() == 8) || !v.iter().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (year, md) = if v.len() == 8 {
        (two(&v[0..2]) * 100 + two(&v[2..4]), &v[4..])
    } else {
        (2000 + two(&v[0..2]), &v[2..])
    };
    let (m, d) = (two(&md[0..2]), two(&md[2..4]));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// TM: HHMM, HHMMSS or HHMMSSd..d.
pub fn valid_time(v: &[u8]) -> bool {
    if v.len() < 4 || v.len() == 5 || !v.iter().all(|b| b.is_ascii_digit()) {
        return false;
    }
    two(&v[0..2]) < 24 && two(&v[2..4]) < 60 && (v.len() < 6 || two(&v[4..6]) < 60)
}

/// EDIFACT a: no digits.
pub fn valid_alpha(v: &[u8]) -> bool {
    !v.iter().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(valid_date(b"20240229"));
        assert!(!valid_date(b"20230229"));
        assert!(!valid_date(b"20241345"));
        assert!(valid_date(b"240115"));
        assert!(!valid_date(b"2024011"));
    }

    #[test]
    fn times() {
        assert!(valid_time(b"1030"));
        assert!(valid_time(b"103059"));
        assert!(valid_time(b"10305912"));
        assert!(!valid_time(b"2460"));
        assert!(!valid_time(b"10305"));
    }

    #[test]
    fn numbers() {
        assert!(valid_integer(b"-12"));
        assert!(!valid_integer(b"1.2"));
        assert!(!valid_integer(b""));
        assert!(valid_decimal(b"12.50", b'.'));
        assert!(valid_decimal(b"-.5", b'.'));
        assert!(valid_decimal(b"12,5", b','));
        assert!(!valid_decimal(b"1.2.3", b'.'));
        assert!(!valid_decimal(b"12a", b'.'));
        assert_eq!(measured_len(DataType::Decimal, b"-123.45"), 5);
    }
}
