//! `rex definitions validate|push|list`.

use std::process::ExitCode;

use anyhow::Context;
use rex_core::validate::load;

use crate::cli::{DefinitionsCommand, Global};
use crate::setup;

pub async fn run(g: &Global, cmd: DefinitionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DefinitionsCommand::Validate { files } => {
            let mut ok = true;
            for file in files {
                let name = file.display().to_string();
                let bytes = std::fs::read(&file).with_context(|| format!("cannot read {name}"))?;
                match load(&bytes, Some(&name), &setup::validate_options()) {
                    Ok((_, wf)) => println!(
                        "{name}: ok ({} v{}, {} steps)",
                        wf.name,
                        wf.version,
                        wf.steps.len()
                    ),
                    Err(err) => {
                        ok = false;
                        eprintln!("{err}");
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DefinitionsCommand::Push { files } => {
            let store = setup::store(g, None).await?;
            let catalog = rex_engine::Catalog::new(store, setup::validate_options());
            let mut ok = true;
            for file in files {
                let name = file.display().to_string();
                let bytes = std::fs::read(&file).with_context(|| format!("cannot read {name}"))?;
                match catalog.push(&bytes, Some(&name)).await {
                    Ok(reg) => println!(
                        "{name}: {} {} v{}",
                        if reg.created { "stored" } else { "unchanged" },
                        reg.row.name,
                        reg.row.version
                    ),
                    Err(err) => {
                        ok = false;
                        eprintln!("{err}");
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DefinitionsCommand::List => {
            let store = setup::store(g, None).await?;
            let running = store.running_missions_by_definition().await?;
            println!(
                "{:32}  {:>7}  {:>7}  {:16}  created",
                "name", "version", "running", "hash"
            );
            for d in store.list_definitions().await? {
                println!(
                    "{:32}  {:>7}  {:>7}  {:16}  {}",
                    d.name,
                    d.version,
                    running.get(&d.id).copied().unwrap_or(0),
                    &d.content_hash[..16.min(d.content_hash.len())],
                    d.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
