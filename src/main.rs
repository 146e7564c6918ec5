//! The `edigate` command: a thin shell over the library (see `edigate::cli`).

fn main() -> std::process::ExitCode {
    edigate::cli::main()
}
