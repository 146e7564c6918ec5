//! Deterministic generator of realistic X12 and EDIFACT interchanges, for benchmarks and load tests.
//!
//! Shared by `benches/throughput.rs` and `examples/generate.rs` (`#[path]`-included; not part of the
//! library). The same seed and size always give the same bytes. Output follows the structures in
//! `standards/` and is valid for `edigate validate`:
//!
//! - X12: interchanges alternating 004010 and 005010, each with three groups (PO: 850, SH: 856 with a
//!   Shipment/Order/Pack/Item HL hierarchy, IN: 810) of several sets each.
//! - EDIFACT D96A: UNA + UNB (UNOC or UNOB), three UNG groups (ORDERS, DESADV with a CPS packing
//!   hierarchy, INVOIC) of several messages each; some free texts use release characters.
//!
//! Every segment terminator is followed by a newline. Counts and control numbers are consistent.

#![allow(dead_code)]

use std::io::{self, Write};

/// xorshift64*: tiny, fast and good enough for varying test values.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    X12,
    Edifact,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "x12" => Some(Kind::X12),
            "edifact" => Some(Kind::Edifact),
            _ => None,
        }
    }
}

/// Writes whole interchanges until at least `target` bytes are written; returns the bytes written.
pub fn generate<W: Write>(kind: Kind, target: u64, seed: u64, out: &mut W) -> io::Result<u64> {
    let mut g = Gen { rng: Rng::new(seed), buf: Vec::with_capacity(1 << 20), set: Doc::default() };
    let mut written = 0u64;
    let mut n = 0u32;
    while written < target {
        n += 1;
        g.buf.clear();
        match kind {
            Kind::X12 => g.x12_interchange(n),
            Kind::Edifact => g.edifact_interchange(n),
        }
        out.write_all(&g.buf)?;
        written += g.buf.len() as u64;
    }
    Ok(written)
}

/// [`generate`] into memory.
pub fn generate_vec(kind: Kind, target: u64, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(target as usize + (4 << 20));
    generate(kind, target, seed, &mut v).expect("writing to a Vec");
    v
}

/// One transaction set or message being built: its segments and their count.
#[derive(Default)]
struct Doc {
    buf: Vec<u8>,
    segs: u32,
    term: u8,
}

impl Doc {
    fn start(&mut self, term: u8) {
        self.buf.clear();
        self.segs = 0;
        self.term = term;
    }

    fn seg(&mut self, args: std::fmt::Arguments<'_>) {
        self.buf.write_fmt(args).expect("Vec write");
        self.buf.push(self.term);
        self.buf.push(b'\n');
        self.segs += 1;
    }
}

/// Appends one segment (terminator and newline added) to a [`Doc`]; the arguments may use the `Rng`.
macro_rules! seg {
    ($doc:expr, $($fmt:tt)*) => {{
        let text = format!($($fmt)*);
        $doc.seg(format_args!("{text}"))
    }};
}

struct Gen {
    rng: Rng,
    /// The interchange being written.
    buf: Vec<u8>,
    set: Doc,
}

const ITEMS: &[(&str, &str)] = &[
    ("HEX BOLT M8 X 40MM ZINC PLATED", "Hex bolt M8x40 DIN 933 zinc"),
    ("FLANGE NUT M8 SERRATED GRADE 8", "Flange nut M8 serrated"),
    ("PTFE THREAD SEAL TAPE 3/4IN", "PTFE thread seal tape 19mm"),
    ("HEX NUT M6 CLASS 8 ZINC", "Hex nut M6 class 8 zinc"),
    ("CABLE TIE 8IN 50LB NATURAL", "Cable tie 200mm natural"),
    ("DEEP GROOVE BALL BEARING 6205-2RS", "Ball bearing 6205-2RS"),
    ("WASHER M8 DIN 125 ZINC", "Washer M8 DIN 125 zinc"),
    ("SOCKET HEAD CAP SCREW M5 X 16", "Cap screw M5x16 DIN 912"),
    ("SPRING PIN 4 X 30 STEEL", "Spring pin 4x30 steel"),
    ("O-RING 20 X 2 NBR 70", "O-ring 20x2 NBR 70"),
    ("HOSE CLAMP 16-27MM W2", "Hose clamp 16-27mm W2"),
    ("THREADED ROD M10 X 1M", "Threaded rod M10 1m"),
];

const CITIES: &[(&str, &str, &str)] = &[
    ("DAYTON", "OH", "45414"),
    ("XENIA", "OH", "45385"),
    ("CYPRESS CREEK", "TX", "77433"),
    ("DALLAS", "TX", "75240"),
    ("TOLEDO", "OH", "43604"),
    ("FORT WAYNE", "IN", "46802"),
];

const STREETS: &[&str] =
    &["1200 INDUSTRIAL PARKWAY", "455 ROUTE 35 EAST", "4100 CYPRESS CREEK ROAD", "PO BOX 7701", "77 COMMERCE DRIVE"];

/// EDIFACT free texts, some with release characters (`?:`, `?'`, `?+`).
const FREE_TEXTS: &[&str] = &[
    "Deliver to gate 3?: ring bell",
    "Driver?'s phone on arrival please",
    "Pallets max 1?+2 high",
    "Lieferung frei Haus, Zahlung 30 Tage netto",
    "Ask for dock 7",
];

/// (sender, receiver) X12 ids, padded to 15 in ISA.
const X12_PARTNERS: &[(&str, &str)] = &[("ACMEMFG", "GLOBEX"), ("GLOBEX", "ACMEMFG"), ("INITECH", "ACMEMFG"), ("ACMEMFG", "INITECH")];

/// (GLN, name, street, city, postcode, country) for EDIFACT NAD.
const PARTIES: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("4012345000009", "ACME MANUFACTURING", "INDUSTRIEWEG 5", "STUTTGART", "70565", "DE"),
    ("4098765000001", "GLOBEX GMBH", "RHEINALLEE 88", "DUESSELDORF", "40545", "DE"),
    ("3012340000005", "INITECH SARL", "12 RUE DU PORT", "LYON", "69002", "FR"),
    ("4012345000016", "ACME MANUFACTURING WAREHOUSE 2", "INDUSTRIEWEG 7", "STUTTGART", "70565", "DE"),
    ("4012345000023", "ACME MANUFACTURING ACCOUNTS PAYABLE", "POSTFACH 10 12 34", "STUTTGART", "70011", "DE"),
];

impl Gen {
    fn date(&mut self) -> (u64, u64, u64) {
        (2024, self.rng.range(1, 12), self.rng.range(1, 28))
    }

    fn ccyymmdd(&mut self) -> String {
        let (y, m, d) = self.date();
        format!("{y:04}{m:02}{d:02}")
    }

    fn hhmm(&mut self) -> String {
        format!("{:02}{:02}", self.rng.range(0, 23), self.rng.range(0, 59))
    }

    /// A price with two decimals, as text, and its value in cents.
    fn price(&mut self) -> (String, u64) {
        let cents = self.rng.range(5, 50_000);
        (format!("{}.{:02}", cents / 100, cents % 100), cents)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| (b'0' + self.rng.range(0, 9) as u8) as char).collect()
    }

    fn flush_set(&mut self) {
        self.buf.extend_from_slice(&self.set.buf);
    }

    fn env(&mut self, args: std::fmt::Arguments<'_>, term: u8) {
        self.buf.write_fmt(args).expect("Vec write");
        self.buf.push(term);
        self.buf.push(b'\n');
    }

    // ----------------------------------------------------------------------------------------- X12

    fn x12_interchange(&mut self, n: u32) {
        let v5 = n.is_multiple_of(2);
        let &(snd, rcv) = self.rng.pick(X12_PARTNERS);
        let (date, time) = (self.ccyymmdd(), self.hhmm());
        let (rep, ver, comp) = if v5 { ("^", "00501", ':') } else { ("U", "00401", '>') };
        let gs_ver = if v5 { "005010" } else { "004010" };
        self.env(
            format_args!(
                "ISA*00*          *00*          *ZZ*{snd:<15}*ZZ*{rcv:<15}*{}*{time}*{rep}*{ver}*{n:09}*0*P*{comp}",
                &date[2..]
            ),
            b'~',
        );
        let groups = [("PO", 850u16), ("SH", 856), ("IN", 810)];
        for (gi, &(fid, doc)) in groups.iter().enumerate() {
            let gctrl = n as u64 * 10 + gi as u64 + 1;
            self.env(format_args!("GS*{fid}*{snd}*{rcv}*{date}*{time}*{gctrl}*X*{gs_ver}"), b'~');
            let sets = self.rng.range(3, 8);
            for s in 1..=sets {
                let ctrl = format!("{:04}", s);
                self.set.start(b'~');
                let st3 = if v5 { "*005010" } else { "" };
                seg!(self.set, "ST*{doc}*{ctrl}{st3}");
                match doc {
                    850 => self.x12_850(v5),
                    856 => self.x12_856(),
                    _ => self.x12_810(),
                }
                let count = self.set.segs + 1;
                seg!(self.set, "SE*{count}*{ctrl}");
                self.flush_set();
            }
            self.env(format_args!("GE*{sets}*{gctrl}"), b'~');
        }
        self.env(format_args!("IEA*{}*{n:09}", groups.len()), b'~');
    }

    fn x12_party(&mut self, code: &str, name: &str, id: &str) {
        let &(city, state, zip) = self.rng.pick(CITIES);
        let street = *self.rng.pick(STREETS);
        seg!(self.set, "N1*{code}*{name}*92*{id}");
        seg!(self.set, "N3*{street}");
        seg!(self.set, "N4*{city}*{state}*{zip}*US");
    }

    /// A line's product ids: (buyer part, vendor part, UPC), description, unit of measure.
    fn x12_item(&mut self) -> (String, String, String, &'static str, &'static str) {
        let bp = format!("ACM-{}", self.rng.range(10_000, 99_999));
        let vp = format!("GX-{}-{}", self.rng.range(1000, 9999), *self.rng.pick(&["A", "B", "C"]));
        let upc = self.digits(12);
        let desc = self.rng.pick(ITEMS).0;
        let uom = *self.rng.pick(&["EA", "EA", "EA", "CA", "RL"]);
        (bp, vp, upc, desc, uom)
    }

    fn x12_850(&mut self, v5: bool) {
        let (po, date) = (self.rng.range(4_500_000_000, 4_599_999_999), self.ccyymmdd());
        seg!(self.set, "BEG*00*SA*{po}**{date}");
        seg!(self.set, "CUR*BY*USD");
        seg!(self.set, "REF*DP*{}", self.rng.range(100, 999));
        seg!(self.set, "REF*IA*V{}", self.rng.range(10_000, 99_999));
        seg!(self.set, "PER*BD*JANE MORALES*TE*{}*EM*jane.morales@acme-mfg.example", self.digits(10));
        seg!(self.set, "ITD*01*3*2**10**30");
        let due = self.ccyymmdd();
        seg!(self.set, "DTM*002*{due}");
        self.x12_party("BY", "ACME MANUFACTURING", "1000");
        self.x12_party("ST", "ACME MANUFACTURING PLANT 2", "P2");
        self.x12_party("SU", "GLOBEX COMPONENTS", "V10042");
        let lines = self.rng.range(20, 250);
        let mut total = 0;
        for l in 1..=lines {
            let (bp, vp, upc, desc, uom) = self.x12_item();
            let qty = self.rng.range(1, 5000);
            total += qty;
            let (price, _) = self.price();
            seg!(self.set, "PO1*{l}*{qty}*{uom}*{price}*PE*BP*{bp}*VP*{vp}*UP*{upc}");
            seg!(self.set, "PID*F****{desc}");
            if v5 {
                seg!(self.set, "DTM*002*{due}");
            }
        }
        seg!(self.set, "CTT*{lines}*{total}");
    }

    fn x12_856(&mut self) {
        let (date, time) = (self.ccyymmdd(), self.hhmm());
        let shipment = format!("GX-SHP-{}", self.digits(7));
        seg!(self.set, "BSN*00*{shipment}*{date}*{time}*0001");
        seg!(self.set, "HL*1**S*1");
        let cartons = self.rng.range(1, 40);
        seg!(self.set, "TD1*CTN25*{cartons}****G*{}.{}*LB", self.rng.range(10, 2000), self.rng.range(0, 9));
        seg!(self.set, "TD5*B*2*ODFL*M*OLD DOMINION FREIGHT LINE");
        seg!(self.set, "REF*BM*BOL-GX-{}", self.digits(8));
        seg!(self.set, "REF*PK*PL-{shipment}");
        seg!(self.set, "DTM*011*{date}");
        let arrive = self.ccyymmdd();
        seg!(self.set, "DTM*017*{arrive}");
        self.x12_party("SF", "GLOBEX COMPONENTS DC", "V10042-DC1");
        self.x12_party("ST", "ACME MANUFACTURING PLANT 2", "P2");
        let mut hl = 1u32;
        let mut total = 0;
        let mut line = 0;
        for _ in 0..self.rng.range(1, 6) {
            hl += 1;
            let order = hl;
            seg!(self.set, "HL*{order}*1*O*1");
            let po_date = self.ccyymmdd();
            seg!(self.set, "PRF*{}***{po_date}", self.rng.range(4_500_000_000, 4_599_999_999));
            for _ in 0..self.rng.range(5, 60) {
                hl += 1;
                let pack = hl;
                seg!(self.set, "HL*{pack}*{order}*P*1");
                seg!(self.set, "MAN*GM*0000{}", self.digits(16));
                for _ in 0..self.rng.range(1, 3) {
                    hl += 1;
                    line += 1;
                    let (bp, vp, _, _, uom) = self.x12_item();
                    let lot = format!("L24-{}", self.digits(4));
                    let qty = self.rng.range(1, 2000);
                    total += qty;
                    seg!(self.set, "HL*{hl}*{pack}*I*0");
                    seg!(self.set, "LIN*{line}*BP*{bp}*VP*{vp}*LT*{lot}");
                    seg!(self.set, "SN1**{qty}*{uom}");
                    seg!(self.set, "REF*LT*{lot}");
                }
            }
        }
        seg!(self.set, "CTT*{hl}*{total}");
    }

    fn x12_810(&mut self) {
        let (date, po_date) = (self.ccyymmdd(), self.ccyymmdd());
        let inv = format!("GX-INV-{}", self.digits(8));
        seg!(self.set, "BIG*{date}*{inv}*{po_date}*{}***DI", self.rng.range(4_500_000_000, 4_599_999_999));
        seg!(self.set, "CUR*SE*USD");
        seg!(self.set, "REF*VN*GX-SO-{}", self.digits(5));
        seg!(self.set, "REF*BM*BOL-GX-SO-{}", self.digits(5));
        self.x12_party("RE", "GLOBEX COMPONENTS", "V10042");
        self.x12_party("BT", "ACME MANUFACTURING ACCOUNTS PAYABLE", "1000-AP");
        self.x12_party("ST", "ACME MANUFACTURING PLANT 2", "P2");
        seg!(self.set, "ITD*01*3*2**10**30*****2% 10 NET 30");
        seg!(self.set, "DTM*011*{date}");
        let lines = self.rng.range(20, 250);
        let (mut qty_total, mut amount) = (0, 0);
        for l in 1..=lines {
            let (bp, vp, _, desc, uom) = self.x12_item();
            let qty = self.rng.range(1, 5000);
            let (price, cents) = self.price();
            qty_total += qty;
            amount += qty * cents;
            seg!(self.set, "IT1*{l}*{qty}*{uom}*{price}*PE*BP*{bp}*VP*{vp}");
            seg!(self.set, "PID*F****{desc}");
        }
        let freight = self.rng.range(1000, 20_000);
        seg!(self.set, "TDS*{}*{amount}", amount + freight);
        seg!(self.set, "SAC*C*D240***{freight}**********FREIGHT");
        seg!(self.set, "CTT*{lines}*{qty_total}");
    }

    // ------------------------------------------------------------------------------------- EDIFACT

    fn edifact_interchange(&mut self, n: u32) {
        let syntax = if n.is_multiple_of(2) { "UNOB" } else { "UNOC" };
        let (s, r) = if n.is_multiple_of(3) { (1, 0) } else { (0, 1) };
        let (snd, rcv) = (PARTIES[s].0, PARTIES[r].0);
        let (date, time) = (self.ccyymmdd(), self.hhmm());
        let yymmdd = &date[2..];
        let ctrl = format!("ICH{n:010}");
        self.buf.extend_from_slice(b"UNA:+.? '\n");
        self.env(format_args!("UNB+{syntax}:3+{snd}:14+{rcv}:14+{yymmdd}:{time}+{ctrl}"), b'\'');
        let groups = ["ORDERS", "DESADV", "INVOIC"];
        for (gi, doc) in groups.iter().enumerate() {
            let gref = format!("G{:09}", n as u64 * 10 + gi as u64 + 1);
            self.env(format_args!("UNG+{doc}+{snd}:14+{rcv}:14+{yymmdd}:{time}+{gref}+UN+D:96A"), b'\'');
            let msgs = self.rng.range(3, 8);
            for m in 1..=msgs {
                let mref = format!("M{n}-{gi}-{m}");
                self.set.start(b'\'');
                seg!(self.set, "UNH+{mref}+{doc}:D:96A:UN:EAN008");
                match gi {
                    0 => self.orders(),
                    1 => self.desadv(),
                    _ => self.invoic(),
                }
                let count = self.set.segs + 1;
                seg!(self.set, "UNT+{count}+{mref}");
                self.flush_set();
            }
            self.env(format_args!("UNE+{msgs}+{gref}"), b'\'');
        }
        self.env(format_args!("UNZ+{}+{ctrl}", groups.len()), b'\'');
    }

    fn nad(&mut self, role: &str, p: usize) {
        let (gln, name, street, city, zip, country) = PARTIES[p];
        seg!(self.set, "NAD+{role}+{gln}::9++{name}+{street}+{city}++{zip}+{country}");
    }

    fn gtin(&mut self) -> String {
        format!("40987650{}", self.digits(5))
    }

    fn free_text(&mut self) -> &'static str {
        FREE_TEXTS[self.rng.next() as usize % FREE_TEXTS.len()]
    }

    fn orders(&mut self) {
        seg!(self.set, "BGM+220+{}+9", self.rng.range(4_500_000_000, 4_599_999_999));
        let (d1, d2) = (self.ccyymmdd(), self.ccyymmdd());
        seg!(self.set, "DTM+137:{d1}:102");
        seg!(self.set, "DTM+2:{d2}:102");
        if self.rng.chance(50) {
            let t = self.free_text();
            seg!(self.set, "FTX+DEL+++{t}");
        }
        seg!(self.set, "RFF+CT:RA-2023-{}", self.rng.range(100, 999));
        let d = self.ccyymmdd();
        seg!(self.set, "DTM+171:{d}:102");
        self.nad("BY", 0);
        seg!(self.set, "RFF+VA:DE{}", self.digits(9));
        seg!(self.set, "CTA+PD+:Julia Schmidt");
        seg!(self.set, "COM+0049711{}:TE", self.digits(7));
        self.nad("SU", 1);
        self.nad("DP", 3);
        self.nad("IV", 4);
        seg!(self.set, "CUX+2:EUR:9");
        seg!(self.set, "PAT+1++5:3:D:30");
        seg!(self.set, "TDT+20++30");
        seg!(self.set, "TOD+6++DDP");
        let lines = self.rng.range(20, 250);
        for l in 1..=lines {
            let gtin = self.gtin();
            seg!(self.set, "LIN+{l}++{gtin}:SRV");
            seg!(self.set, "PIA+1+GX-{}:SA+100-{}:IN", self.digits(6), self.digits(4));
            let desc = self.rng.pick(ITEMS).1;
            seg!(self.set, "IMD+F++:::{desc}");
            seg!(self.set, "QTY+21:{}:PCE", self.rng.range(1, 9999));
            seg!(self.set, "DTM+2:{d2}:102");
            let (p, _) = self.price();
            seg!(self.set, "PRI+AAA:{p}:::{}:PCE", *self.rng.pick(&[1, 10, 100]));
        }
        seg!(self.set, "UNS+S");
        seg!(self.set, "CNT+2:{lines}");
    }

    fn desadv(&mut self) {
        seg!(self.set, "BGM+351+GX-DN-{}+9", self.digits(8));
        let (d, t) = (self.ccyymmdd(), self.hhmm());
        seg!(self.set, "DTM+137:{d}{t}:203");
        seg!(self.set, "DTM+11:{d}{t}:203");
        let arrive = self.ccyymmdd();
        seg!(self.set, "DTM+17:{arrive}:102");
        seg!(self.set, "RFF+ON:{}", self.rng.range(4_500_000_000, 4_599_999_999));
        let po_date = self.ccyymmdd();
        seg!(self.set, "DTM+171:{po_date}:102");
        self.nad("SU", 1);
        self.nad("BY", 0);
        self.nad("DP", 3);
        seg!(self.set, "TDT+20++30++:::SPEDLOG RHEIN GMBH");
        // Packing hierarchy: the consignment (CPS 1), pallets under it, items on each pallet.
        seg!(self.set, "CPS+1");
        let pallets = self.rng.range(5, 60);
        seg!(self.set, "PAC+{pallets}++201");
        let mut lines = 0;
        for p in 0..pallets {
            seg!(self.set, "CPS+{}+1", p + 2);
            seg!(self.set, "PAC+1++201");
            seg!(self.set, "MEA+PD+AAB+KGM:{}.{}", self.rng.range(20, 900), self.rng.range(0, 9));
            seg!(self.set, "PCI+33E");
            seg!(self.set, "GIN+BJ+34098765{}", self.digits(10));
            for _ in 0..self.rng.range(1, 4) {
                lines += 1;
                let gtin = self.gtin();
                seg!(self.set, "LIN+{lines}++{gtin}:SRV");
                seg!(self.set, "PIA+1+GX-{}:SA+100-{}:IN", self.digits(6), self.digits(4));
                seg!(self.set, "QTY+12:{}:PCE", self.rng.range(1, 9999));
                seg!(self.set, "RFF+ON:{}:{lines}", self.rng.range(4_500_000_000, 4_599_999_999));
            }
        }
        seg!(self.set, "CNT+2:{lines}");
    }

    fn invoic(&mut self) {
        seg!(self.set, "BGM+380+GX-INV-2024-{}+9", self.digits(6));
        let (d1, d2) = (self.ccyymmdd(), self.ccyymmdd());
        seg!(self.set, "DTM+137:{d1}:102");
        seg!(self.set, "DTM+35:{d2}:102");
        if self.rng.chance(50) {
            let t = self.free_text();
            seg!(self.set, "FTX+AAI+++{t}");
        }
        let po = self.rng.range(4_500_000_000, 4_599_999_999);
        seg!(self.set, "RFF+ON:{po}");
        let d = self.ccyymmdd();
        seg!(self.set, "DTM+171:{d}:102");
        self.nad("SU", 1);
        seg!(self.set, "RFF+VA:DE{}", self.digits(9));
        self.nad("BY", 0);
        self.nad("IV", 4);
        self.nad("DP", 3);
        seg!(self.set, "TAX+7+VAT+++:::19+S");
        seg!(self.set, "CUX+2:EUR:4");
        seg!(self.set, "PAT+1++5:3:D:30");
        let due = self.ccyymmdd();
        seg!(self.set, "DTM+13:{due}:102");
        let lines = self.rng.range(20, 250);
        let mut net = 0;
        for l in 1..=lines {
            let gtin = self.gtin();
            seg!(self.set, "LIN+{l}++{gtin}:SRV");
            seg!(self.set, "PIA+1+GX-{}:SA+100-{}:IN", self.digits(6), self.digits(4));
            let desc = self.rng.pick(ITEMS).1;
            seg!(self.set, "IMD+F++:::{desc}");
            let qty = self.rng.range(1, 9999);
            seg!(self.set, "QTY+47:{qty}:PCE");
            let (p, cents) = self.price();
            let amount = qty * cents / 100;
            net += amount;
            seg!(self.set, "MOA+203:{}.{:02}", amount / 100, amount % 100);
            seg!(self.set, "PRI+AAA:{p}:::100:PCE");
            seg!(self.set, "RFF+ON:{po}:{l}");
            seg!(self.set, "TAX+7+VAT+++:::19+S");
        }
        let tax = net * 19 / 100;
        let money = |c: u64| format!("{}.{:02}", c / 100, c % 100);
        seg!(self.set, "UNS+S");
        seg!(self.set, "CNT+2:{lines}");
        seg!(self.set, "MOA+79:{}", money(net));
        seg!(self.set, "MOA+125:{}", money(net));
        seg!(self.set, "MOA+124:{}", money(tax));
        seg!(self.set, "MOA+77:{}", money(net + tax));
        seg!(self.set, "TAX+7+VAT+++:::19+S");
        seg!(self.set, "MOA+124:{}", money(tax));
    }
}
