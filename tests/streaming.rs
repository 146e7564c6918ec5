//! Large inputs stream through a bounded window: one transaction set in memory at a time.

use edigate::syntax::validate::{validate_with, Options};
use edigate::syntax::{Item, Reader};
use std::io::Read;

/// An X12 interchange of `sets` 850s, produced on the fly (never materialised).
struct Generated {
    sets: u64,
    next: u64,
    pending: Vec<u8>,
    pos: usize,
    done: bool,
}

const ISA: &str = "ISA*00*          *00*          *ZZ*GLOBEX         *ZZ*ACMEMFG        *240115*1030*U*00401*000000001*0*P*>~\nGS*PO*GLOBEX*ACMEMFG*20240115*1030*1*X*004010~\n";

impl Generated {
    fn new(sets: u64) -> Self {
        Generated { sets, next: 0, pending: ISA.as_bytes().to_vec(), pos: 0, done: false }
    }

    fn refill(&mut self) {
        self.pending.clear();
        self.pos = 0;
        if self.next == self.sets {
            if !self.done {
                self.pending.extend_from_slice(format!("GE*{}*1~\nIEA*1*000000001~\n", self.sets).as_bytes());
                self.done = true;
            }
            return;
        }
        self.next += 1;
        let n = self.next;
        let mut body = format!("ST*850*{n:04}~\nBEG*00*SA*45{n:08}**20240115~\nN1*ST*ACME PLANT 2*92*P2~\n");
        for line in 1..=20 {
            body.push_str(&format!("PO1*{line}*{}*EA*{}.50**BP*PART-{line:05}*VP*V{n}-{line}~\n", 10 + line, line));
        }
        body.push_str("CTT*20~\n");
        body.push_str(&format!("SE*{}*{n:04}~\n", 3 + 20 + 2));
        self.pending.extend_from_slice(body.as_bytes());
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.pending.len() {
            self.refill();
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn fifty_megabytes_in_a_small_window() {
    // About 1 KB per set: 50,000 sets are some 50 MB.
    let sets = 50_000;
    let mut reader = Reader::new(Generated::new(sets));
    let mut seen = 0;
    let mut max_window = 0;
    while let Some(ev) = reader.next_event().unwrap() {
        assert!(ev.diagnostics.is_empty(), "{:?}", ev.diagnostics);
        if let Item::Set(set) = ev.item {
            seen += 1;
            assert_eq!(set.len(), 25);
        }
        max_window = max_window.max(reader.buffer_capacity());
    }
    assert_eq!(seen, sets);
    assert!(reader.position() > 50_000_000, "{}", reader.position());
    assert!(max_window <= 1 << 20, "window grew to {max_window} bytes");
}

#[test]
fn validation_report_stays_bounded() {
    let opts = Options { keep_sets: 100, keep_diagnostics: 100, ..Options::default() };
    let report = validate_with(Generated::new(20_000), opts, |_| {}, |_, _, _| {}).unwrap();
    assert!(report.is_valid(), "{:?}", report.all_diagnostics().take(3).collect::<Vec<_>>());
    assert_eq!(report.counts.sets, 20_000);
    let kept: usize = report.interchanges.iter().flat_map(|i| &i.groups).map(|g| g.sets.len()).sum();
    assert_eq!(kept, 100);
    assert_eq!(report.interchanges[0].groups[0].sets_total, 20_000);
}
