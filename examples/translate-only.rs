//! Translates a file in memory as the `translate` benchmark does (read + validate + map, documents
//! dropped, no output), for profilers that want one plain process: `perf record`, or `valgrind
//! --tool=callgrind` whose instruction counts do not move with a noisy machine (BENCHMARKS.md).
//!
//! `cargo run --release --example translate-only -- FILE [validate|validate-tree|translate]`

use edigate::mapping::Library;
use edigate::profiles::Profiles;
use edigate::syntax::validate::{validate, Options};
use edigate::translate::Translator;
use std::process::ExitCode;
use std::time::Instant;

/// The allocator of the `edigate` binary, as in the benchmark.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, what) = match args.as_slice() {
        [file] => (file, "translate"),
        [file, what] => (file, what.as_str()),
        _ => {
            eprintln!("usage: translate-only FILE [validate|validate-tree|translate]");
            return ExitCode::from(2);
        }
    };
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let library = Library::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings"))).expect("mappings");
    let profiles = Profiles::default();
    let started = Instant::now();
    let (sets, failed) = match what {
        "validate" | "validate-tree" => {
            let opts = Options { record_tree: what == "validate-tree", ..Options::default() };
            let report = validate(&data[..], opts).expect("reading from memory");
            (report.counts.sets, report.errors_total)
        }
        "translate" => {
            let translator = Translator::new(&library, &profiles);
            let (mut docs, mut failed) = (0u64, 0u64);
            translator
                .translate(&data[..], Options::default(), |o| match o.result {
                    Ok(d) => {
                        std::hint::black_box(&d);
                        docs += 1;
                    }
                    Err(_) => failed += 1,
                })
                .expect("reading from memory");
            (docs, failed)
        }
        other => {
            eprintln!("unknown step {other:?}: validate, validate-tree or translate");
            return ExitCode::from(2);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{what}: {} bytes, {sets} sets, {failed} failed, {secs:.3} s, {:.1} MB/s", data.len(), data.len() as f64 / secs / 1e6);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
