//! Throughput of reading and validating, side by side with a plain `memchr` split of the same bytes.
//!
//! `cargo bench --bench throughput` (EDIGATE_BENCH_MB=N for N MiB per standard instead of 100).
//! See BENCHMARKS.md for how to read the numbers.

#[path = "gen/mod.rs"]
mod gen;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use edigate::syntax::validate::{validate, Options};
use edigate::mapping::Library;
use edigate::profiles::Profiles;
use edigate::syntax::{Item, Reader};
use edigate::translate::Translator;
use std::hint::black_box;
use std::time::Duration;

/// The allocator the `edigate` binary ships with (`src/main.rs`), so that allocation costs what it
/// costs in `edigate translate`.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The floor the issue names: a plain `memchr` split of the bytes into segments and elements, every
/// element located as a slice (its length summed so that the work cannot be skipped).
fn memchr_floor(data: &[u8], terminator: u8, separator: u8) -> usize {
    let mut total = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(terminator, data) {
        let segment = &data[start..end];
        let mut from = 0;
        for sep in memchr::memchr_iter(separator, segment) {
            total += segment[from..sep].len();
            from = sep + 1;
        }
        total += segment[from..].len();
        start = end + 1;
    }
    total
}

/// Counting instead of splitting: `memchr`'s vectorised count of separators per segment. No element
/// is located, so this is faster than any tokenizer can be; shown for scale.
fn memchr_count(data: &[u8], terminator: u8, separator: u8) -> usize {
    let mut elements = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(terminator, data) {
        elements += memchr::memchr_iter(separator, &data[start..end]).count() + 1;
        start = end + 1;
    }
    elements
}

fn tokenize(data: &[u8]) -> usize {
    let mut reader = Reader::new(data);
    let mut total = 0;
    while let Some(ev) = reader.next_event().expect("reading from memory") {
        if let Item::Set(set) = ev.item {
            for seg in set.segments() {
                total += seg.id().len();
                for el in seg.elements() {
                    total += el.as_bytes().len();
                }
            }
        }
    }
    total
}

/// Read + validate + map every set to its canonical document (dropped: no output I/O). Returns the
/// number of documents; panics on the first set that does not translate.
fn translate(t: &Translator<'_>, data: &[u8]) -> usize {
    let mut docs = 0;
    t.translate(data, Options::default(), |o| match o.result {
        Ok(d) => {
            black_box(&d);
            docs += 1;
        }
        Err(e) => panic!("set {} does not translate: {e}", o.provenance.set_control_number),
    })
    .expect("translate");
    docs
}

fn bench(c: &mut Criterion) {
    let library = Library::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings"))).expect("mappings");
    let profiles = Profiles::default();
    let translator = Translator::new(&library, &profiles);
    let mb: u64 = std::env::var("EDIGATE_BENCH_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    for (name, kind, terminator, separator) in
        [("x12", gen::Kind::X12, b'~', b'*'), ("edifact", gen::Kind::Edifact, b'\'', b'+')]
    {
        let data = gen::generate_vec(kind, mb << 20, 1);
        // The generated file must be valid, or the validate numbers would measure error reporting.
        let report = validate(&data[..], Options::default()).expect("validate");
        assert!(report.is_valid(), "{name}: generated data is not valid: {} errors", report.errors_total);
        eprintln!(
            "{name}: {} bytes, {} sets, {} segments, {} warnings",
            data.len(),
            report.counts.sets,
            report.counts.segments,
            report.warnings_total
        );
        let docs = translate(&translator, &data);
        assert_eq!(docs as u64, report.counts.sets, "{name}: every set must translate");
        drop(report);

        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(data.len() as u64))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        g.bench_function("floor", |b| b.iter(|| memchr_floor(black_box(&data), terminator, separator)));
        g.bench_function("count", |b| b.iter(|| memchr_count(black_box(&data), terminator, separator)));
        g.bench_function("terminators", |b| {
            b.iter(|| memchr::memchr_iter(terminator, black_box(&data)).count())
        });
        g.bench_function("tokenize", |b| b.iter(|| tokenize(black_box(&data))));
        g.bench_function("validate", |b| {
            b.iter(|| validate(black_box(&data[..]), Options::default()).expect("validate").errors_total)
        });
        // What translate validates: the same, recording the tree of loops and element spans that
        // mapping reads (so translate minus this is the mapping's own time).
        g.bench_function("validate-tree", |b| {
            let opts = Options { record_tree: true, ..Options::default() };
            b.iter(|| validate(black_box(&data[..]), opts).expect("validate").errors_total)
        });
        g.bench_function("translate", |b| b.iter(|| translate(&translator, black_box(&data))));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
