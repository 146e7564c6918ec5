//! Writes a deterministic test interchange file for whole-process timings (see BENCHMARKS.md).
//!
//! `cargo run --release --example generate -- x12|edifact SIZE_MB OUT [SEED]`

#[path = "../benches/gen/mod.rs"]
mod gen;

use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [kind, mb, out] | [kind, mb, out, _] => {
            let seed = args.get(3).map_or(Some(1), |s| s.parse().ok());
            gen::Kind::parse(kind).zip(mb.parse::<f64>().ok()).zip(seed).map(|((k, mb), seed)| (k, mb, out, seed))
        }
        _ => None,
    };
    let Some((kind, mb, out, seed)) = parsed else {
        eprintln!("usage: generate x12|edifact SIZE_MB OUT [SEED]");
        return ExitCode::from(2);
    };
    let target = (mb * 1024.0 * 1024.0) as u64;
    let result = std::fs::File::create(out).and_then(|f| {
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let n = gen::generate(kind, target, seed, &mut w)?;
        w.flush()?;
        Ok(n)
    });
    match result {
        Ok(n) => {
            eprintln!("wrote {n} bytes to {out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{out}: {e}");
            ExitCode::FAILURE
        }
    }
}
