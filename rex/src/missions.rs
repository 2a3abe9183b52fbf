//! `rex missions start|get|list|cancel`.

use std::process::ExitCode;

use anyhow::Context;
use rex_engine::StartMission;
use rex_store::{Family, MissionFilter};

use crate::cli::{Global, MissionsCommand};
use crate::{input, render, setup};

pub async fn run(g: &Global, cmd: MissionsCommand) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    match cmd {
        MissionsCommand::Start {
            definition,
            version,
            input,
            idempotency_key,
        } => {
            let engine = setup::engine(store, setup::command_broker(g).await?);
            let started = engine
                .start_mission(StartMission {
                    definition,
                    version,
                    input: input::parse(&input)?,
                    idempotency_key,
                })
                .await?;
            if started.created {
                println!("{}", started.id);
            } else {
                println!("{} (existing mission for this idempotency key)", started.id);
            }
            // With tracing export on, the id to paste into Jaeger.
            if let Some(trace) = engine
                .store()
                .get_mission(started.id)
                .await?
                .and_then(|m| m.trace_context)
                .and_then(|t| t.split('-').nth(1).map(str::to_owned))
            {
                println!("trace {trace}");
            }
        }
        MissionsCommand::Get { id, json } => {
            let mission = store
                .get_mission(id)
                .await?
                .with_context(|| format!("mission {id} not found"))?;
            let steps = store.mission_steps(id).await?;
            if json {
                println!("{:#}", render::mission_json(&mission, &steps));
            } else {
                let catalog = rex_engine::Catalog::new(store.clone(), setup::validate_options());
                let order: Vec<String> = match catalog.workflow(mission.definition_id).await {
                    Ok(wf) => wf.steps.iter().map(|s| s.id.clone()).collect(),
                    Err(_) => steps.iter().map(|s| s.step_id.clone()).collect(),
                };
                let attempts = store.mission_attempts(id).await?;
                print!("{}", render::timeline(&mission, &steps, &attempts, &order));
                if let Some(output) = &mission.output {
                    println!("output: {output:#}");
                }
            }
        }
        MissionsCommand::List {
            status,
            definition,
            limit,
            parent,
            all,
            json,
        } => {
            let family = match (parent, all) {
                (Some(parent), _) => Family::ChildrenOf(parent),
                (None, true) => Family::All,
                (None, false) => Family::TopLevel,
            };
            let missions = store
                .list_missions(MissionFilter {
                    status,
                    definition,
                    limit,
                    before: None,
                    family,
                })
                .await?;
            if json {
                println!("{:#}", serde_json::to_value(&missions)?);
            } else {
                print!("{}", render::mission_list(&missions));
            }
        }
        MissionsCommand::Signal {
            id,
            name,
            payload,
            signal_id,
        } => {
            let engine = setup::engine(store, setup::command_broker(g).await?);
            let signal_id = signal_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let outcome = engine
                .signal(id, &name, input::parse(&payload)?, &signal_id)
                .await?;
            match outcome {
                rex_engine::Outcome::Applied => {
                    println!("signal {name} ({signal_id}) delivered to {id}")
                }
                rex_engine::Outcome::Ignored => {
                    println!(
                        "signal {name} ({signal_id}) ignored: a duplicate, or {id} is not running"
                    )
                }
            }
        }
        MissionsCommand::Retry { id, from } => {
            let engine = setup::engine(store, setup::command_broker(g).await?);
            engine.retry_mission(id, from.as_deref()).await?;
            println!("mission {id} is running again");
        }
        MissionsCommand::Cancel { id, reason } => {
            let engine = setup::engine(store, setup::command_broker(g).await?);
            if engine.cancel_mission(id, &reason).await? {
                println!("mission {id} cancelled");
            } else {
                println!("mission {id} had already finished");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
