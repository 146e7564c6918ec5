//! What the `/metrics` endpoint counts that the journal does not: a Prometheus histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A Prometheus histogram of durations, fixed buckets, written in seconds.
pub struct Histogram {
    /// Upper bounds in microseconds.
    bounds: &'static [u64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        const B: &[u64] = &[
            500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000, 60_000_000, 300_000_000,
        ];
        Histogram { bounds: B, counts: B.iter().map(|_| AtomicU64::new(0)).collect(), sum_us: AtomicU64::new(0), count: AtomicU64::new(0) }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if us <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition lines of histogram `name`.
    pub fn write(&self, out: &mut String, name: &str, help: &str) {
        use std::fmt::Write;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {}", *b as f64 / 1e6, ld(c));
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", ld(&self.count));
        let _ = writeln!(out, "{name}_sum {}", ld(&self.sum_us) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {}", ld(&self.count));
    }
}
