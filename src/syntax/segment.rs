//! Zero-copy views of segments, elements, components and repetitions.
//!
//! A [`Segment`] is a slice of the reader's buffer (the segment id through its last element, without the
//! terminator). Elements, composites and repetitions are reached by splitting that slice on demand with
//! `memchr`; nothing is copied and nothing is allocated. Only [`Element::text`] may allocate, and only when
//! an EDIFACT value contains release characters.

use std::borrow::Cow;

/// The service characters of one interchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delimiters {
    pub element: u8,
    pub component: u8,
    /// X12 ISA11 (005010+) or the EDIFACT syntax 4 repetition separator.
    pub repetition: Option<u8>,
    pub segment: u8,
    /// EDIFACT release (escape) character; X12 has none.
    pub release: Option<u8>,
    /// EDIFACT decimal mark (`.` or `,`); X12 always uses `.`.
    pub decimal: u8,
    /// How element bytes become text (from the EDIFACT syntax identifier; X12 is read as UTF-8).
    pub charset: Charset,
}

/// Character encoding of an interchange's values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 (and its ASCII subset: X12, UNOA, UNOB, UNOW, UNOY). Invalid bytes show as U+FFFD.
    #[default]
    Utf8,
    /// One byte per character, byte value = code point (ISO 8859-1, EDIFACT UNOC). The other ISO 8859
    /// parts (UNOD..UNOK) are read the same way: lossless for writing back, but their upper halves are
    /// not translated to the right letters.
    Latin1,
}

impl Charset {
    /// The charset an EDIFACT syntax identifier implies.
    pub fn for_syntax(id: &str) -> Charset {
        match id.as_bytes() {
            [b'U', b'N', b'O', c] if (b'C'..=b'K').contains(c) => Charset::Latin1,
            _ => Charset::Utf8,
        }
    }

    pub fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            Charset::Latin1 if !bytes.is_ascii() => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
            // `from_utf8` checks ASCII in wide steps; the lossy path only for what is not UTF-8.
            _ => match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(bytes),
            },
        }
    }

    /// Appends `c` encoded; `false` when the charset cannot represent it.
    pub fn encode(self, c: char, out: &mut Vec<u8>) -> bool {
        match self {
            Charset::Utf8 => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                true
            }
            Charset::Latin1 => match u8::try_from(c as u32) {
                Ok(b) => {
                    out.push(b);
                    true
                }
                Err(_) => false,
            },
        }
    }
}

impl Delimiters {
    /// The X12 delimiters most partners use: `*`, `:` (component), `^` (repetition), `~`.
    pub const X12: Delimiters = Delimiters {
        element: b'*',
        component: b':',
        repetition: Some(b'^'),
        segment: b'~',
        release: None,
        decimal: b'.',
        charset: Charset::Utf8,
    };

    /// The EDIFACT defaults (no UNA): `:+.? '`.
    pub const EDIFACT: Delimiters = Delimiters {
        element: b'+',
        component: b':',
        repetition: None,
        segment: b'\'',
        release: Some(b'?'),
        decimal: b'.',
        charset: Charset::Utf8,
    };

    /// True when `b` is one of the separators that structure a segment.
    pub fn is_service(&self, b: u8) -> bool {
        b == self.element
            || b == self.component
            || b == self.segment
            || Some(b) == self.repetition
            || Some(b) == self.release
    }

    /// Checks that the separators are distinct and usable; returns what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let mut seen: Vec<(u8, &str)> = vec![
            (self.element, "element separator"),
            (self.component, "component separator"),
            (self.segment, "segment terminator"),
        ];
        if let Some(r) = self.repetition {
            seen.push((r, "repetition separator"));
        }
        if let Some(r) = self.release {
            seen.push((r, "release character"));
        }
        for (i, (a, an)) in seen.iter().enumerate() {
            if a.is_ascii_alphanumeric() {
                return Err(format!("{an} {} is a letter or digit", show_byte(*a)));
            }
            for (b, bn) in &seen[i + 1..] {
                if a == b {
                    return Err(format!("{an} and {bn} are both {}", show_byte(*a)));
                }
            }
        }
        Ok(())
    }
}

/// A byte as a person reads it: `'~'`, `0x15`.
pub fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02X}")
    }
}

/// One segment: a borrowed slice plus where it was found.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    bytes: &'a [u8],
    offset: u64,
    delims: Delimiters,
    escaped: bool,
    /// Length of the id: the position of the first element separator (or the whole segment).
    id_len: u32,
    /// Every byte is known to be printable ASCII (the validator's quick check saw it).
    ascii: bool,
}

impl<'a> Segment<'a> {
    /// A segment over `bytes` (without terminator). `escaped` tells whether it contains release characters.
    #[inline]
    pub fn new(bytes: &'a [u8], offset: u64, delims: Delimiters, escaped: bool) -> Self {
        let id_len = find_byte(delims.element, bytes).unwrap_or(bytes.len()) as u32;
        Segment { bytes, offset, delims, escaped, id_len, ascii: false }
    }

    /// A segment whose id length the reader measured already (see [`id_len`]).
    #[inline]
    pub(crate) fn with_id_len(bytes: &'a [u8], offset: u64, delims: Delimiters, escaped: bool, id_len: u32) -> Self {
        debug_assert_eq!(id_len as usize, find_byte(delims.element, bytes).unwrap_or(bytes.len()));
        Segment { bytes, offset, delims, escaped, id_len, ascii: false }
    }

    /// The same segment, known to be printable ASCII without release characters (as the
    /// validator's quick check found it): its values' text needs no check.
    #[inline]
    pub(crate) fn known_plain(self) -> Self {
        debug_assert!(!self.escaped && self.bytes.iter().all(|b| (0x20..0x7f).contains(b)));
        Segment { ascii: true, ..self }
    }

    /// The raw bytes, id through last element, terminator excluded.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Byte offset of the segment in the input.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    #[inline]
    pub fn delimiters(&self) -> &Delimiters {
        &self.delims
    }

    /// True when the segment contains release characters.
    #[inline]
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// The bytes after the id and its separator: the elements (`None` for a segment of an id only).
    #[inline]
    pub(crate) fn body(&self) -> Option<&'a [u8]> {
        self.bytes.get(self.id_len as usize + 1..)
    }

    /// The segment id (tag): the bytes before the first element separator.
    #[inline]
    pub fn id(&self) -> &'a [u8] {
        &self.bytes[..self.id_len as usize]
    }

    /// The id as a string slice (ids are ASCII; anything else shows as `?`).
    pub fn id_str(&self) -> &'a str {
        std::str::from_utf8(self.id()).unwrap_or("?")
    }

    /// The id packed into a `u32` for fast comparisons (see [`tag`]).
    #[inline]
    pub fn tag(&self) -> u32 {
        // The first four bytes as one word when the segment has them, the bytes past the id
        // masked off: what `tag` builds byte by byte.
        match (self.bytes.get(..4), self.id_len) {
            (Some(w), n @ 1..=4) => {
                let w = u32::from_le_bytes(w.try_into().expect("4 bytes"));
                let keep = if n == 4 { u32::MAX } else { (1u32 << (8 * n)) - 1 };
                (w & keep) | ((n & 0x7) << 29)
            }
            _ => tag(self.id()),
        }
    }

    /// Elements after the id, in order; `elements().nth(0)` is element 01.
    #[inline]
    pub fn elements(&self) -> Elements<'a> {
        let release = if self.escaped { self.delims.release } else { None };
        match self.bytes.get(self.id_len as usize + 1..) {
            Some(rest) => Parts::new(rest, self.delims.element, release, self.delims, self.escaped),
            None => Parts { done: true, ..Parts::new(&[], self.delims.element, None, self.delims, self.escaped) },
        }
    }

    /// Element at a 1-based position (`element(1)` is `BEG01`); `None` past the last element.
    #[inline]
    pub fn element(&self, position: usize) -> Option<Element<'a>> {
        if position == 0 {
            return None;
        }
        self.elements().nth(position - 1)
    }

    /// Element bytes at a 1-based position, empty when absent.
    #[inline]
    pub fn get(&self, position: usize) -> &'a [u8] {
        self.element(position).map(|e| e.as_bytes()).unwrap_or(b"")
    }

    /// Element bytes at each 1-based position, empty when absent (0 names none), in one pass.
    #[inline]
    pub fn get_each<const N: usize>(&self, positions: [usize; N]) -> [&'a [u8]; N] {
        let mut out = [&b""[..]; N];
        let last = positions.iter().copied().max().unwrap_or(0);
        for (i, el) in self.elements().take(last).enumerate() {
            for (o, &p) in out.iter_mut().zip(&positions) {
                if p == i + 1 {
                    *o = el.as_bytes();
                }
            }
        }
        out
    }

    /// The element at `offset..offset + len` of this segment's bytes (as found by a split earlier).
    #[inline]
    pub fn element_span(&self, offset: u32, len: u32) -> Element<'a> {
        let raw = &self.bytes[offset as usize..(offset + len) as usize];
        Element { raw, delims: self.delims, escaped: self.escaped, ascii: self.ascii }
    }

    /// Where each component of the element at `off..off + len` of this segment's bytes is, as
    /// (offset in the segment, length), for at most `N` components: how many there are. `None`
    /// when release characters or more than `N` components leave it to [`Element::component`].
    /// Split once, a composite's components cost one pass for all of them, where `component(n)`
    /// cuts from the start each time.
    #[inline]
    pub(crate) fn component_spans<const N: usize>(&self, off: u32, len: u32, out: &mut [(u32, u32); N]) -> Option<usize> {
        if self.escaped && self.delims.release.is_some() {
            return None;
        }
        let (sep, bytes, end) = (self.delims.component, self.bytes, off + len);
        let (mut n, mut start) = (0usize, off);
        // The separators marked in `m` (eight bytes from `at`) each end a component.
        let mut cut = |mut m: u64, at: u32| -> Option<()> {
            while m != 0 {
                let i = at + m.trailing_zeros() / 8;
                *out.get_mut(n)? = (start, i - start);
                n += 1;
                start = i + 1;
                m &= m - 1;
            }
            Some(())
        };
        let mut at = off;
        while at + 8 <= end {
            cut(byte_mask(u64::from_le_bytes(bytes[at as usize..at as usize + 8].try_into().expect("8 bytes")), sep), at)?;
            at += 8;
        }
        let k = end - at;
        if k > 0 {
            // The last k bytes as the low bytes of one word: the eight bytes that end where the
            // element ends, shifted down, or byte by byte at the very start of the segment.
            let w = match (end as usize).checked_sub(8) {
                Some(from) => u64::from_le_bytes(bytes[from..end as usize].try_into().expect("8 bytes")) >> (8 * (8 - k)),
                None => bytes[at as usize..end as usize].iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b)),
            };
            cut(byte_mask(w, sep) & (u64::MAX >> (8 * (8 - k))), at)?;
        }
        *out.get_mut(n)? = (start, end - start);
        Some(n + 1)
    }

    /// Number of elements present (trailing empty elements count: they were written).
    pub fn element_count(&self) -> usize {
        self.elements().count()
    }
}

/// Length of a segment's id: up to the first element separator.
#[inline]
pub(crate) fn id_len(bytes: &[u8], element: u8) -> u32 {
    // Nearly every id has two or three bytes: looked at directly, without a search.
    if let [a, b, c, rest @ ..] = bytes {
        if *a != element && *b != element {
            if *c == element {
                return 2;
            }
            if rest.first() == Some(&element) {
                return 3;
            }
        }
    }
    find_byte(element, bytes).unwrap_or(bytes.len()) as u32
}

/// Packs a 2-3 byte segment id into a `u32` (`b"ST"` and `b"ST "` differ; longer ids keep 4 bytes).
#[inline]
pub fn tag(id: &[u8]) -> u32 {
    // Byte by byte: a copy of a variable-length prefix would be a `memcpy` call on every segment.
    let b = |i: usize| id.get(i).map_or(0, |&b| u32::from(b));
    (b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24) | ((id.len() as u32 & 0x7) << 29)
}

/// Iterator over a segment's elements: the [`Parts`] of the bytes after the id.
pub type Elements<'a> = Parts<'a>;

/// Position of the first `needle` in `hay`. Elements and segment ids are short (a few bytes), where a
/// call into `memchr` costs more than the search: this looks at 8 bytes at a time in a register
/// (SWAR) and hands longer haystacks to `memchr` after the first 32 bytes.
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * needle as u64;
    let mut i = 0;
    while let Some(chunk) = hay.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ pattern;
        // High bit set in each byte of `x` that is zero (exact for the lowest one, which is all we use).
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
        if i == 32 {
            return memchr::memchr(needle, &hay[i..]).map(|k| i + k);
        }
    }
    hay[i..].iter().position(|&b| b == needle).map(|k| i + k)
}

/// The high bit of each byte of `w` that equals `b`, exactly (no borrow from one byte to the next).
#[inline]
pub(crate) fn byte_mask(w: u64, b: u8) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (LO * u64::from(b));
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

/// The byte range of part `n` (0-based) of `raw` cut at `sep` (no release characters), eight
/// bytes a step; `None` when `raw` has fewer parts.
#[inline]
pub(crate) fn nth_part(raw: &[u8], sep: u8, n: usize) -> Option<(usize, usize)> {
    let mut start = if n == 0 { Some(0) } else { None };
    let mut seen = 0;
    // Each separator at `pos`: the part before it ends there, the next starts after it.
    let mut at_separator = |pos: usize, start: &mut Option<usize>| -> Option<(usize, usize)> {
        seen += 1;
        if seen == n {
            *start = Some(pos + 1);
        } else if seen == n + 1 {
            return start.map(|s| (s, pos));
        }
        None
    };
    let mut chunks = raw.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut m = byte_mask(u64::from_le_bytes(chunk.try_into().expect("8 bytes")), sep);
        while m != 0 {
            if let Some(r) = at_separator(at + (m.trailing_zeros() / 8) as usize, &mut start) {
                return Some(r);
            }
            m &= m - 1;
        }
        at += 8;
    }
    for (k, &b) in chunks.remainder().iter().enumerate() {
        if b == sep {
            if let Some(r) = at_separator(at + k, &mut start) {
                return Some(r);
            }
        }
    }
    start.map(|s| (s, raw.len()))
}

/// Position of the first `sep` not escaped by `rel`.
#[inline]
pub(crate) fn find_unescaped(sep: u8, rel: u8, hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr2(sep, rel, &hay[from..]) {
        let at = from + i;
        if hay[at] == sep {
            return Some(at);
        }
        from = at + 2; // skip the released byte
        if from >= hay.len() {
            return None;
        }
    }
    None
}

/// One element: simple, composite, or repeated. Still borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Element<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    escaped: bool,
    /// Known to be ASCII (and so not escaped): see [`Segment::known_plain`].
    ascii: bool,
}

impl<'a> Element<'a> {
    /// The decimal mark of the interchange this element is from (`.` or `,`).
    #[inline]
    pub(crate) fn decimal_mark(&self) -> u8 {
        self.delims.decimal
    }

    /// The value as text when that needs no work: no release characters and, read as the
    /// interchange's charset, the bytes as they are (UTF-8; for Latin-1, ASCII).
    #[inline]
    pub fn plain_text(&self) -> Option<&'a str> {
        if self.ascii {
            // SAFETY: ASCII is UTF-8.
            return Some(unsafe { std::str::from_utf8_unchecked(self.raw) });
        }
        if self.escaped {
            return None;
        }
        if self.raw.is_ascii() {
            // SAFETY: ASCII is UTF-8. (Checked here because `from_utf8` is a call per value that
            // costs more than the check, and nearly every value is ASCII.)
            return Some(unsafe { std::str::from_utf8_unchecked(self.raw) });
        }
        match self.delims.charset {
            Charset::Latin1 => None,
            Charset::Utf8 => std::str::from_utf8(self.raw).ok(),
        }
    }

    /// The bytes as written (EDIFACT release characters included).
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The value as text, release characters removed; borrowed unless there was something to unescape.
    #[inline]
    pub fn text(&self) -> Cow<'a, str> {
        unescape(self.raw, if self.escaped { self.delims.release } else { None }, self.delims.charset)
    }

    #[inline]
    fn split(&self, sep: u8) -> Parts<'a> {
        let release = if self.escaped { self.delims.release } else { None };
        Parts::new(self.raw, sep, release, self.delims, self.escaped)
    }

    /// Components of a composite (a simple element yields itself once).
    #[inline]
    pub fn components(&self) -> Parts<'a> {
        self.split(self.delims.component)
    }

    /// Component at a 1-based position.
    #[inline]
    pub fn component(&self, position: usize) -> Option<Element<'a>> {
        let p = position.checked_sub(1)?;
        if self.escaped && self.delims.release.is_some() {
            return self.components().nth(p);
        }
        let (start, end) = nth_part(self.raw, self.delims.component, p)?;
        Some(Element { raw: &self.raw[start..end], ..*self })
    }


    /// Repetitions of a repeating element (a non-repeating element yields itself once).
    #[inline]
    pub fn repetitions(&self) -> Parts<'a> {
        match self.delims.repetition {
            Some(r) => self.split(r),
            None => Parts::new(self.raw, 0, None, self.delims, self.escaped).single(),
        }
    }

    /// True when the segment holding this element contains release characters (which may need removing).
    #[inline]
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// True when the element contains a component separator.
    #[inline]
    pub fn is_composite(&self) -> bool {
        match self.escaped.then_some(self.delims.release).flatten() {
            Some(rel) => find_unescaped(self.delims.component, rel, self.raw).is_some(),
            None => find_byte(self.delims.component, self.raw).is_some(),
        }
    }
}

/// Iterator over the parts of a slice cut at a separator: a segment's elements, an element's
/// components or repetitions. Release characters (EDIFACT) keep a separator from cutting.
#[derive(Clone, Debug)]
pub struct Parts<'a> {
    rest: &'a [u8],
    done: bool,
    /// Yield the whole slice once (an element without repetition separator).
    whole: bool,
    sep: u8,
    release: Option<u8>,
    delims: Delimiters,
    escaped: bool,
}

impl<'a> Parts<'a> {
    #[inline]
    fn new(rest: &'a [u8], sep: u8, release: Option<u8>, delims: Delimiters, escaped: bool) -> Self {
        Parts { rest, done: false, whole: false, sep, release, delims, escaped }
    }

    /// The whole slice as one part.
    fn single(mut self) -> Self {
        self.whole = true;
        self
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = Element<'a>;

    #[inline]
    fn next(&mut self) -> Option<Element<'a>> {
        if self.done {
            return None;
        }
        let end = if self.whole {
            None
        } else {
            match self.release {
                None => find_byte(self.sep, self.rest),
                Some(rel) => find_unescaped(self.sep, rel, self.rest),
            }
        };
        let raw = match end {
            Some(i) => {
                let raw = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                raw
            }
            None => {
                self.done = true;
                self.rest
            }
        };
        Some(Element { raw, delims: self.delims, escaped: self.escaped, ascii: false })
    }
}

/// Removes release characters (`?+` becomes `+`) and decodes. Borrowed when there is nothing to do.
pub fn unescape(raw: &[u8], release: Option<u8>, charset: Charset) -> Cow<'_, str> {
    match release {
        Some(rel) if memchr::memchr(rel, raw).is_some() => {
            let mut out = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == rel && i + 1 < raw.len() {
                    i += 1;
                }
                out.push(raw[i]);
                i += 1;
            }
            Cow::Owned(charset.decode(&out).into_owned())
        }
        _ => charset.decode(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x12(s: &str) -> Segment<'_> {
        Segment::new(s.as_bytes(), 0, Delimiters::X12, false)
    }

    fn edi(s: &str) -> Segment<'_> {
        Segment::new(s.as_bytes(), 0, Delimiters::EDIFACT, s.contains('?'))
    }

    /// Components split once are the components `component(n)` cuts one by one, for elements at
    /// every place in their segment (word reads at the start, the middle and the end); release
    /// characters and more components than the spans hold are left to `component`.
    #[test]
    fn component_spans_give_the_components() {
        let seg = edi("PIA+1+ACM-1:SA::92+:IN+A:B:C:D:E+X:Y:+ABCDEFGHIJ:KL+:+Z");
        let span = |el: &Element<'_>| ((el.as_bytes().as_ptr() as usize - seg.as_bytes().as_ptr() as usize) as u32, el.as_bytes().len() as u32);
        for e in 1..=8 {
            let el = seg.element(e).expect("element");
            let (off, len) = span(&el);
            let mut spans = [(0, 0); 4];
            match seg.component_spans(off, len, &mut spans) {
                Some(n) => {
                    let split: Vec<&[u8]> = spans[..n].iter().map(|&(o, l)| &seg.as_bytes()[o as usize..(o + l) as usize]).collect();
                    let cut: Vec<&[u8]> = (1..).map_while(|c| el.component(c)).map(|c| c.as_bytes()).collect();
                    assert_eq!(split, cut, "element {e}");
                    assert_ne!(e, 4, "five components do not fit in four spans");
                }
                None => assert_eq!(e, 4, "element {e} splits"),
            }
        }
        let short = edi("A:B");
        assert_eq!(short.component_spans(0, 3, &mut [(0, 0); 4]), Some(2));
        let escaped = edi("PIA+1+X?:Y:Z");
        let el = escaped.element(2).expect("element");
        let off = (el.as_bytes().as_ptr() as usize - escaped.as_bytes().as_ptr() as usize) as u32;
        assert_eq!(escaped.component_spans(off, el.as_bytes().len() as u32, &mut [(0, 0); 4]), None);
    }

    #[test]
    fn elements_are_positional_and_keep_empties() {
        let s = x12("PO1*1*10*EA***BP*123");
        assert_eq!(s.id(), b"PO1");
        assert_eq!(s.get(1), b"1");
        assert_eq!(s.get(4), b"");
        assert_eq!(s.get(7), b"123");
        assert_eq!(s.get_each([7, 0, 1, 9, 4]), [&b"123"[..], b"", s.get(1), b"", b""]);
        assert_eq!(s.element_count(), 7);
        assert!(s.element(8).is_none());
        assert_eq!(x12("SE*").element_count(), 1);
        assert_eq!(x12("GE").element_count(), 0);
    }

    #[test]
    fn composites_and_repetitions() {
        let s = x12("REF*ZZ*1*X:Y^A:B");
        let e = s.element(3).unwrap();
        let reps: Vec<_> = e.repetitions().map(|r| r.as_bytes()).collect();
        assert_eq!(reps, [b"X:Y".as_slice(), b"A:B"]);
        assert_eq!(e.repetitions().next().unwrap().component(2).unwrap().as_bytes(), b"Y");
    }

    #[test]
    fn edifact_release_characters() {
        let s = edi("FTX+AAI+++IT?'S 5?+3?:1 ??:X");
        let e = s.element(4).unwrap();
        assert_eq!(e.components().count(), 2);
        assert_eq!(e.component(1).unwrap().text(), "IT'S 5+3:1 ?");
        assert_eq!(e.component(2).unwrap().text(), "X");
        assert_eq!(s.element_count(), 4);
    }

    #[test]
    fn find_byte_matches_memchr() {
        let hay: Vec<u8> = (0..100u32).map(|i| b"ab*cd:efghij~"[(i * 7 % 13) as usize]).collect();
        for len in 0..hay.len() {
            for start in 0..len.min(20) {
                for &n in b"*:~zaj" {
                    assert_eq!(find_byte(n, &hay[start..len]), memchr::memchr(n, &hay[start..len]), "{n} {start}..{len}");
                }
            }
        }
        assert_eq!(find_byte(0x80, &[0x7f, 0x00, 0xff, 0x80]), Some(3));
        assert_eq!(find_byte(0x01, &[0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]), Some(8));
    }

    /// Text taken as it is only when that is what decoding would give.
    #[test]
    fn plain_text_only_when_nothing_to_decode() {
        assert_eq!(x12("N1*ST*PLANT 2").element(2).and_then(|e| e.plain_text()), Some("PLANT 2"));
        assert_eq!(edi("CTA+DL+:Sean O?'Brien").element(2).and_then(|e| e.component(2)).and_then(|e| e.plain_text()), None);
        let utf8 = "NAD+BY+M\u{fc}ller";
        assert_eq!(edi(utf8).element(2).and_then(|e| e.plain_text()), Some("M\u{fc}ller"));
        let latin1 = [b"NAD+BY+M".as_slice(), &[0xfc], b"ller"].concat();
        let delims = Delimiters { charset: Charset::Latin1, ..Delimiters::EDIFACT };
        let seg = Segment::new(&latin1, 0, delims, false);
        let el = seg.element(2).expect("NAD02");
        assert_eq!((el.plain_text(), el.text().as_ref()), (None, "M\u{fc}ller"));
    }

    #[test]
    fn nth_part_matches_splitting() {
        for raw in ["", ":", "a", "a:b", "a::b:", ":::", "abcdefgh:ijklmnopq:r", "12345678:", "1234567:9:abcdefghijklmnop:", "::::::::::::::::x"] {
            let parts: Vec<&[u8]> = raw.as_bytes().split(|&b| b == b':').collect();
            for n in 0..parts.len() + 2 {
                let got = nth_part(raw.as_bytes(), b':', n).map(|(s, e)| &raw.as_bytes()[s..e]);
                assert_eq!(got, parts.get(n).copied(), "{raw:?} part {n}");
            }
        }
        assert_eq!(byte_mask(u64::from_le_bytes(*b"a:b::\x80:\x3a"), b':'), 0x8080_0080_8000_8000);
    }

    /// A segment's tag read as a word is the tag of its id.
    #[test]
    fn segment_tags_are_their_ids_tags() {
        for text in ["BEG*00*SA", "N1*ST", "N1", "ISA", "*A", "A*B", "ABCD*E", "ABCDEFG*H", "", "AB*", "LIN++1", "UNH+1"] {
            let s = if text.contains('+') { edi(text) } else { x12(text) };
            assert_eq!(s.tag(), tag(s.id()), "{text:?}");
        }
    }

    #[test]
    fn id_lengths() {
        for (bytes, want) in [(&b"BEG*00"[..], 3), (b"N1*ST", 2), (b"N1", 2), (b"ISA", 3), (b"*A*B", 0), (b"A*B", 1), (b"AB*", 2), (b"ABC*", 3), (b"ABCD*E", 4), (b"", 0), (b"A**", 1)] {
            assert_eq!(id_len(bytes, b'*'), want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn tags_distinguish_ids() {
        assert_ne!(tag(b"ST"), tag(b"STX"));
        assert_eq!(tag(b"BEG"), x12("BEG*00").tag());
    }
}
