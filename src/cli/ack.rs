use std::path::Path; use std::process::ExitCode; pub fn run(_f:&Path)->anyhow::Result<ExitCode>{todo!()}
