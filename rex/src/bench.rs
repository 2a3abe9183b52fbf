//! `rex bench`: see the README's performance section.

use std::process::ExitCode;

use clap::Args;

use crate::cli::Global;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {}

pub async fn run(_g: &Global, _args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("rex bench is not built yet")
}
