//! Command line: `inspect`, `validate`, `ack`. Each command is a thin shell over `syntax`.

mod ack;
mod inspect;
mod profiles;
mod render;
mod translate;
mod validate;

use clap::{Parser, Subcommand};
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "edigate", version, about = "EDI/B2B partner gateway: X12 and EDIFACT in, canonical documents out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show an EDI file as a tree: interchange, group, set, segments with named elements, errors in place.
    Inspect {
        /// The file to read (`-` for standard input).
        file: PathBuf,
    },
    /// Check envelopes and document structure; exit 0 when valid, 1 when not.
    Validate {
        /// The files to read (`-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the functional acknowledgment for a file: 997 or 999 (X12, by version) plus TA1 where due,
    /// or CONTRL (EDIFACT).
    Ack {
        /// The file to acknowledge (`-` for standard input).
        file: PathBuf,
        /// ISA13 / UNB 0020 of the (first) acknowledgment interchange; also its first GS06 / UNH 0062.
        #[arg(long, default_value_t = 1)]
        control_number: u32,
    },
    /// Translate an EDI file into canonical documents (JSON or XML), with the sender's partner profile
    /// or the one named.
    Translate {
        /// The file to read (`-` for standard input).
        file: PathBuf,
        /// Partner profile to use (by default, found by the interchange's sender id).
        #[arg(long)]
        partner: Option<String>,
        /// `json` or `xml`.
        #[arg(long, default_value = "json")]
        format: String,
        #[command(flatten)]
        dirs: Dirs,
    },
    /// Write canonical documents (JSON, one or an array) as EDI for a partner: standard, version,
    /// identities and delimiters from its profile.
    Render {
        /// The canonical JSON (`-` for standard input).
        file: PathBuf,
        #[arg(long)]
        partner: String,
        /// ISA13 / UNB 0020 of the interchange written.
        #[arg(long, default_value_t = 1)]
        control_number: u32,
        #[command(flatten)]
        dirs: Dirs,
    },
    /// Run the gateway: HTTP intake and operator API, watched directories, journal, delivery to the
    /// ERP. Without --config: built-in defaults (journal in ./data, this checkout's profiles and
    /// mappings, 127.0.0.1:8080, ERP at http://127.0.0.1:8181).
    Serve {
        /// A TOML file overriding the defaults (see deploy/edigate.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also run the development ERP receiver (`dev-erp`) in this process.
        #[arg(long)]
        with_dev_erp: bool,
        /// Log lines as JSON.
        #[arg(long)]
        log_json: bool,
    },
    /// A development ERP receiver: stores each document it gets as a JSON file, honours
    /// Idempotency-Key, and can be told to fail.
    DevErp {
        #[arg(long, default_value = "127.0.0.1:8181")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "data/dev-erp")]
        store: PathBuf,
        /// Answer the first N calls with --status (default 503).
        #[arg(long)]
        fail_first: Option<u64>,
        /// The failure status; alone, every call fails with it.
        #[arg(long)]
        status: Option<u16>,
        /// Serve HTTPS with this certificate chain (PEM) ...
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// ... and this private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require client certificates signed by this CA (PEM): mutual TLS.
        #[arg(long, requires = "tls_cert")]
        client_ca: Option<PathBuf>,
        /// Require `Authorization: Bearer` with the token in this file.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Read a password from standard input (one line) and print its Argon2id hash, for a profile's
    /// `transport.sftp.password_hash`. The password itself is never stored.
    HashPassword,
    /// Check partner profiles and mappings, or trace a file through a partner's mappings.
    Profiles {
        #[command(subcommand)]
        command: ProfilesCommand,
        #[command(flatten)]
        dirs: Dirs,
    },
}

#[derive(Subcommand)]
enum ProfilesCommand {
    /// Compile every mapping and profile; print each fault as file:line:column: message.
    Check,
    /// Translate a file with a partner's profile and show, for each canonical field, the EDI element
    /// that filled it, and the elements no rule read.
    Test {
        partner: String,
        file: PathBuf,
    },
}

/// Where mappings and profiles are read from.
#[derive(clap::Args, Clone)]
pub struct Dirs {
    /// Mapping directory.
    #[arg(long, default_value = "mappings", global = true)]
    pub mappings: PathBuf,
    /// Partner profile directory.
    #[arg(long, default_value = "partner-profiles", global = true)]
    pub profiles: PathBuf,
}

impl Dirs {
    /// Loads the mapping library and the profiles; a profile that does not parse stops here.
    pub fn load(&self) -> anyhow::Result<(crate::mapping::Library, crate::profiles::Profiles)> {
        let library = crate::mapping::Library::load(&self.mappings)?;
        let profiles = crate::profiles::Profiles::load(&self.profiles)
            .map_err(|e| anyhow::anyhow!("partner profiles have errors:\n{}", e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
        Ok((library, profiles))
    }
}

/// Runs the command line; the exit code says valid (0), invalid (1) or could not run (2).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { file } => inspect::run(&file),
        Command::Validate { files, json } => validate::run(&files, json),
        Command::Ack { file, control_number } => ack::run(&file, control_number),
        Command::Translate { file, partner, format, dirs } => translate::run(&file, partner.as_deref(), &format, &dirs),
        Command::Profiles { command: ProfilesCommand::Check, dirs } => profiles::check(&dirs),
        Command::Profiles { command: ProfilesCommand::Test { partner, file }, dirs } => profiles::test(&partner, &file, &dirs),
        Command::Render { file, partner, control_number, dirs } => render::run(&file, &partner, control_number, &dirs),
        Command::Serve { config, with_dev_erp, log_json } => serve(config.as_deref(), with_dev_erp, log_json),
        Command::HashPassword => hash_password(),
        Command::DevErp { listen, store, fail_first, status, tls_cert, tls_key, client_ca, token_file } => {
            let tls = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => crate::tls::server_config(&c, &k, client_ca.as_deref()).map(Some),
                _ => Ok(None),
            };
            let token = token_file.map(|f| crate::config::SecretSource { env: None, file: Some(f) }.load().map(|s| s.expose().to_string())).transpose();
            tls.and_then(|tls| token.and_then(|token| dev_erp(listen, store, fail_first, status, tls, token)))
        }
    };
    match result {
        Ok(code) => code,
        // `edigate inspect big.edi | head`: the reader went away; not an error of ours.
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edigate: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub(crate) use crate::syntax::ack::now_utc;

fn hash_password() -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    println!("{}", crate::listeners::sftp::hash_password(password)?);
    Ok(ExitCode::SUCCESS)
}

fn runtime(name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().thread_name(name).build()?)
}

fn serve(config: Option<&Path>, with_dev_erp: bool, log_json: bool) -> anyhow::Result<ExitCode> {
    let config = match config {
        Some(p) => crate::config::Config::load(p)?,
        None => crate::config::Config::default(),
    };
    crate::server::init_logging(if log_json { "json" } else { &config.log.format });
    runtime("edigate")?.block_on(crate::server::serve(config, with_dev_erp))?;
    Ok(ExitCode::SUCCESS)
}

fn dev_erp(
    listen: std::net::SocketAddr,
    store: PathBuf,
    fail_first: Option<u64>,
    status: Option<u16>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    crate::server::init_logging("text");
    let erp = crate::dev_erp::DevErp::new(store, fail_first, status, token)?;
    runtime("dev-erp")?.block_on(crate::dev_erp::serve(listen, erp, tls))?;
    Ok(ExitCode::SUCCESS)
}

/// Opens a file (or standard input) for streaming, with its size when known.
fn open(path: &Path) -> anyhow::Result<(Box<dyn Read>, Option<u64>)> {
    if path == Path::new("-") {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let f = File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::with_capacity(1 << 20, f)), len))
}

/// A progress bar on standard error, shown only on a terminal and for large inputs.
fn progress(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    let len = len?;
    if len < 64 * 1024 * 1024 || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
