//! `rex events publish`.

use std::process::ExitCode;

use crate::cli::{EventsCommand, Global};
use crate::{input, setup};

pub async fn run(g: &Global, cmd: EventsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EventsCommand::Publish {
            key,
            name,
            payload,
            event_id,
            tenant,
        } => {
            let store = setup::store(g, None).await?;
            let engine = setup::engine(store, setup::command_broker(g).await?);
            let event_id = event_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let payload = input::parse(&payload)?;
            let reached = match &tenant {
                Some(t) => {
                    engine
                        .publish_tenant_event(t, &key, &name, payload, &event_id)
                        .await?
                }
                None => {
                    engine
                        .publish_event(&key, &name, payload, &event_id)
                        .await?
                }
            };
            println!(
                "event {name} ({event_id}) on {key}: {} running mission(s)",
                reached.len()
            );
            for id in reached {
                println!("  {id}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
