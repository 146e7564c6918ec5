//! The `edigate` command: a thin shell over the library (see `edigate::cli`).

/// mimalloc: the gateway's threads free much of what other threads allocated (an upload's bytes,
/// canonical JSON), which costs glibc's malloc lock contention (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    edigate::cli::main()
}
