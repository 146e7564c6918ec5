//! The byte window under both readers: a growable buffer over any `Read`, cut into segments.
//!
//! Memory stays bounded: bytes before the oldest segment still in use (the start of the current
//! transaction set) are dropped whenever more input is read, so only one transaction set, not the file,
//! is ever held. Segment boundaries are found with `memchr3` in one pass that also spots release
//! characters and line breaks inside segments (wrapped lines, repaired in place).

use super::segment::Delimiters;
use std::io::{self, Read};

/// Initial window size; it grows only when a single transaction set is larger.
const INITIAL: usize = 256 * 1024;

/// A segment located in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Raw {
    /// Absolute byte offset of the segment's first byte.
    pub offset: u64,
    /// Length without terminator (after any line breaks were removed).
    pub len: u32,
    /// Contains release characters.
    pub escaped: bool,
    /// Line breaks were found inside the segment and removed.
    pub wrapped: bool,
    /// Length of the segment id (bytes before the first element separator).
    pub id_len: u32,
}

/// Why a segment could not be cut.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    /// Input ended inside a segment that started at this offset.
    Truncated { offset: u64 },
    /// A segment (or the set holding it) grew past the window limit.
    TooLarge { offset: u64, limit: usize },
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

pub(crate) struct Scanner<R> {
    src: R,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Next unread byte, absolute.
    pos: u64,
    /// Number of valid bytes in `buf`.
    end: usize,
    eof: bool,
    /// Bytes at or after this absolute offset must stay in the window.
    keep: Option<u64>,
    limit: usize,
    /// A 0x1A (Ctrl-Z) end-of-file marker was skipped.
    pub saw_ctrl_z: bool,
}

impl<R: Read> Scanner<R> {
    pub fn new(src: R, limit: usize) -> Self {
        Scanner {
            src,
            buf: vec![0; INITIAL.min(limit.max(4096))],
            base: 0,
            pos: 0,
            end: 0,
            eof: false,
            keep: None,
            limit,
            saw_ctrl_z: false,
        }
    }

    /// Absolute offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Size of the window buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Keeps everything from `offset` on in the window until [`Scanner::release`].
    pub fn keep_from(&mut self, offset: u64) {
        self.keep = Some(offset);
    }

    pub fn release(&mut self) {
        self.keep = None;
    }

    /// Moves back so that the segment `raw` is read again (used when a segment ends an unclosed level).
    pub fn unread(&mut self, raw: &Raw) {
        debug_assert!(raw.offset >= self.base);
        self.pos = raw.offset;
    }

    fn idx(&self, abs: u64) -> usize {
        (abs - self.base) as usize
    }

    /// Reads more input; returns false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        // Drop what nobody needs any more.
        let keep_abs = self.keep.map_or(self.pos, |k| k.min(self.pos));
        let drop = self.idx(keep_abs);
        if drop > 0 && (drop >= self.buf.len() / 2 || self.end == self.buf.len()) {
            self.buf.copy_within(drop..self.end, 0);
            self.end -= drop;
            self.base += drop as u64;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= self.limit {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "window limit"));
            }
            let new_len = (self.buf.len() * 2).min(self.limit);
            self.buf.resize(new_len, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn fill_or_limit(&mut self, seg_start: u64) -> Result<bool, ScanError> {
        match self.fill() {
            Ok(more) => Ok(more),
            Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                Err(ScanError::TooLarge { offset: seg_start, limit: self.limit })
            }
            Err(e) => Err(ScanError::Io(e)),
        }
    }

    /// The unread bytes, reading until at least `n` are there or input ends.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], ScanError> {
        let start = self.pos;
        while self.end - self.idx(self.pos) < n {
            if !self.fill_or_limit(start)? {
                break;
            }
        }
        let i = self.idx(self.pos);
        Ok(&self.buf[i..self.end])
    }

    /// Skips `n` unread bytes.
    pub fn advance(&mut self, n: usize) {
        self.pos += n as u64;
    }

    /// Skips line breaks, whitespace, a UTF-8 byte order mark and Ctrl-Z between interchanges.
    /// Returns false at end of input.
    pub fn skip_interchange_filler(&mut self) -> Result<bool, ScanError> {
        loop {
            let avail = self.peek(3)?;
            if avail.is_empty() {
                return Ok(false);
            }
            if avail.starts_with(b"\xEF\xBB\xBF") {
                self.advance(3);
                continue;
            }
            match avail[0] {
                b' ' | b'\t' | b'\r' | b'\n' | 0x0C | 0x00 => self.advance(1),
                0x1A => {
                    self.saw_ctrl_z = true;
                    self.advance(1)
                }
                _ => return Ok(true),
            }
        }
    }

    /// Cuts the next segment. `None` at end of input.
    pub fn next_segment(&mut self, d: &Delimiters) -> Result<Option<Raw>, ScanError> {
        let term = d.segment;
        let (cr, lf) = (b'\r', b'\n');
        // Skip line breaks (and Ctrl-Z) after the previous terminator.
        loop {
            let i = self.idx(self.pos);
            if i == self.end {
                if !self.fill_or_limit(self.pos)? {
                    return Ok(None);
                }
                continue;
            }
            let b = self.buf[i];
            if (b == cr || b == lf) && b != term {
                self.pos += 1;
            } else if b == 0x1A && b != term {
                self.saw_ctrl_z = true;
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let mut scan = start;
        let mut escaped = false;
        let mut wrapped = false;
        let third = d.release.unwrap_or(cr);
        let end_abs = loop {
            let (si, ei) = (self.idx(scan), self.end);
            let found = memchr::memchr3(term, lf, third, &self.buf[si..ei]);
            match found {
                Some(k) => {
                    let at = si + k;
                    let b = self.buf[at];
                    let at_abs = self.base + at as u64;
                    if b == term {
                        break at_abs;
                    } else if Some(b) == d.release {
                        escaped = true;
                        if at + 1 == self.end && !self.fill_or_limit(start)? {
                            return Err(ScanError::Truncated { offset: start });
                        }
                        scan = at_abs + 2;
                    } else {
                        wrapped = true;
                        scan = at_abs + 1;
                    }
                }
                None => {
                    scan = self.base + self.end as u64;
                    let more = self.fill_or_limit(start)?;
                    if !more {
                        // Input ended inside the segment.
                        self.pos = self.base + self.end as u64;
                        return Err(ScanError::Truncated { offset: start });
                    }
                }
            }
        };
        self.pos = end_abs + 1;
        let (s, e) = (self.idx(start), self.idx(end_abs));
        let mut len = e - s;
        if wrapped {
            // Remove the line breaks in place; the bytes between the shortened segment and its
            // terminator are never looked at again.
            let seg = &mut self.buf[s..e];
            let mut w = 0;
            for r in 0..seg.len() {
                let b = seg[r];
                if b != cr && b != lf {
                    seg[w] = b;
                    w += 1;
                }
            }
            len = w;
        }
        let id_len = super::segment::id_len(&self.buf[s..s + len], d.element);
        Ok(Some(Raw { offset: start, len: len as u32, escaped, wrapped, id_len }))
    }

    /// The bytes of a segment in the window.
    pub fn bytes(&self, raw: &Raw) -> &[u8] {
        let i = self.idx(raw.offset);
        &self.buf[i..i + raw.len as usize]
    }

    /// The window as a slice plus its base offset, for handing out many segments at once.
    pub fn window(&self) -> (&[u8], u64) {
        (&self.buf[..self.end], self.base)
    }

    /// Skips everything up to the next occurrence of one of `needles` (or the end); returns the
    /// number of bytes skipped.
    pub fn skip_to_any(&mut self, needles: &[&[u8]]) -> Result<u64, ScanError> {
        let from = self.pos;
        loop {
            let i = self.idx(self.pos);
            let hay = &self.buf[i..self.end];
            let hit = needles.iter().filter_map(|n| memchr::memmem::find(hay, n)).min();
            match hit {
                Some(k) => {
                    self.pos += k as u64;
                    return Ok(self.pos - from);
                }
                None => {
                    // Keep a few bytes in case a needle straddles the boundary.
                    let keep = hay.len().min(3);
                    self.pos += (hay.len() - keep) as u64;
                    if !self.fill_or_limit(self.pos)? {
                        self.pos = self.base + self.end as u64;
                        return Ok(self.pos - from);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(input: &[u8], d: Delimiters) -> Vec<(u64, Vec<u8>, bool)> {
        let mut s = Scanner::new(input, 1 << 20);
        let mut out = vec![];
        while let Some(r) = s.next_segment(&d).unwrap() {
            out.push((r.offset, s.bytes(&r).to_vec(), r.wrapped));
        }
        out
    }

    #[test]
    fn cuts_segments_and_skips_line_breaks() {
        let segs = cut(b"ST*850*1~\r\nBEG*00~\nSE*2*1~", Delimiters::X12);
        let ids: Vec<_> = segs.iter().map(|s| s.1.clone()).collect();
        assert_eq!(ids, [b"ST*850*1".to_vec(), b"BEG*00".to_vec(), b"SE*2*1".to_vec()]);
        assert_eq!(segs[1].0, 11);
    }

    #[test]
    fn repairs_wrapped_segments() {
        let segs = cut(b"ST*8\r\n50*1~BEG\n*00~", Delimiters::X12);
        assert_eq!(segs[0].1, b"ST*850*1");
        assert!(segs[0].2);
        assert_eq!(segs[1].1, b"BEG*00");
    }

    #[test]
    fn honours_release_characters() {
        let segs = cut(b"FTX+AAI+++A?'B'UNT+2+1'", Delimiters::EDIFACT);
        assert_eq!(segs[0].1, b"FTX+AAI+++A?'B");
        assert_eq!(segs.len(), 2);
    }

    #[test]
    fn newline_can_be_the_terminator() {
        let d = Delimiters { segment: b'\n', ..Delimiters::X12 };
        let segs = cut(b"ST*850*1\nBEG*00\n", d);
        assert_eq!(segs.len(), 2);
        assert!(!segs[0].2);
    }

    #[test]
    fn truncated_segment_is_reported() {
        let mut s = Scanner::new(&b"ST*850*1~BEG*0"[..], 1 << 20);
        s.next_segment(&Delimiters::X12).unwrap();
        assert!(matches!(s.next_segment(&Delimiters::X12), Err(ScanError::Truncated { offset: 9 })));
    }

    #[test]
    fn small_window_reads_across_refills() {
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend_from_slice(format!("PO1*{i}*10*EA~\n").as_bytes());
        }
        let mut s = Scanner::new(&input[..], 4096);
        let mut n = 0;
        while let Some(r) = s.next_segment(&Delimiters::X12).unwrap() {
            assert!(s.bytes(&r).starts_with(b"PO1*"));
            n += 1;
        }
        assert_eq!(n, 5000);
    }
}
