//! The engine's side of fan-out steps: starting child missions inside the parent's
//! transaction, telling a parent that a child finished, and counting a fan-out's
//! children from the store (see `rex_core::machine` for the decisions).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rex_core::machine::{
    self, ChildSpec, ChildTally, Command, Event, ItemFailure, MissionState, MissionStatus,
    StepStatus,
};
use rex_core::protocol::{EventMessage, HEADER_KIND, HEADER_MISSION, KIND_EVENT};
use rex_core::workflow::ITEM_INPUT;
use rex_core::{FailurePolicy, ItemBody, Workflow, inputs::bind_inputs};
use rex_observability::metrics;
use rex_store::NewOutbox;
use rex_store::entity::outbox::RESULTS;
use rex_store::entity::{mission_parents, missions};
use serde_json::{Value, json};
use std::sync::Arc;
use tracing::warn;
use uuid::Uuid;

use crate::commit::{Committed, Effects, MissionUpdate, Owner, correlation_keys};
use crate::convert::{step_row, update_mission_row};
use crate::{Engine, EngineError};

/// Items of one fan-out step to start as child missions.
pub(crate) struct Spawn {
    pub(crate) parent_id: Uuid,
    pub(crate) definition_id: Uuid,
    pub(crate) workflow: Arc<Workflow>,
    pub(crate) trace_context: Option<String>,
    /// The parent's tenant: children belong to it too.
    pub(crate) tenant_id: String,
    pub(crate) step: usize,
    pub(crate) attempt: u32,
    pub(crate) children: Vec<ChildSpec>,
}

impl Engine {
    /// Starts the items gathered in `effects` as child missions inside the caller's
    /// transaction: their rows, their first tasks (outbox) and their parent links
    /// commit together with the parent's counts, so an item is started exactly once.
    /// Children whose own first step fans out are started in the next round.
    pub(crate) async fn spawn_children<C: sea_orm::ConnectionTrait>(
        &self,
        c: &C,
        effects: &mut Effects,
        now: DateTime<Utc>,
        out: &mut Committed,
    ) -> Result<(), EngineError> {
        for _round in 0..MAX_NESTING {
            if effects.spawns.is_empty() {
                return Ok(());
            }
            let mut mission_rows = Vec::new();
            let mut step_rows = Vec::new();
            let mut links = Vec::new();
            let mut keys = Vec::new();
            for spawn in std::mem::take(&mut effects.spawns) {
                let step = &spawn.workflow.steps[spawn.step];
                let Some(fan) = step.fan_out() else {
                    continue;
                };
                let (child_wf, definition_id, item_step) = match &fan.body {
                    ItemBody::Task { .. } => (
                        self.catalog
                            .mission_workflow(spawn.definition_id, Some(&step.id))
                            .await?,
                        spawn.definition_id,
                        Some(step.id.clone()),
                    ),
                    ItemBody::Workflow { name, version, .. } => {
                        let child = self.catalog.get(name, version.map(|v| v as i32)).await?;
                        (child.workflow, child.row.id, None)
                    }
                };
                let span = tracing::debug_span!(
                    "rex.fan_out.spawn",
                    rex.mission.id = %spawn.parent_id,
                    rex.step.id = %step.id,
                    children = spawn.children.len()
                );
                let _entered = span.enter();
                for child in spawn.children {
                    let id = Uuid::now_v7();
                    let link = mission_parents::Model {
                        child_id: id,
                        parent_id: spawn.parent_id,
                        parent_step: step.id.clone(),
                        parent_attempt: spawn.attempt as i32,
                        item_index: child.index as i32,
                        item_step: item_step.clone(),
                    };
                    let bound = match &item_step {
                        Some(_) => Ok(json!({ ITEM_INPUT: child.input })),
                        None => bind_inputs(&child_wf, &child.input).map_err(|problems| {
                            let lines: Vec<String> =
                                problems.iter().map(|p| p.to_string()).collect();
                            format!("child mission input: {}", lines.join("; "))
                        }),
                    };
                    let (state, commands, input) = match bound {
                        Ok(input) => {
                            let mut state =
                                MissionState::new(id.to_string(), &child_wf, input.clone());
                            let applied = machine::apply(&mut state, &child_wf, Event::Start, now);
                            match correlation_keys(&child_wf, &input) {
                                Ok(k) => keys.push((id, k)),
                                Err(e) => {
                                    warn!(rex.mission.id = %id, error = %e, "child correlation keys")
                                }
                            }
                            (state, applied.commands, input)
                        }
                        Err(error) => {
                            // A bad item is a failed child, counted by its parent like
                            // any other failure.
                            let mut state =
                                MissionState::new(id.to_string(), &child_wf, child.input.clone());
                            state.status = MissionStatus::Failed;
                            state.error = Some(error.clone());
                            let finish = Command::Finish {
                                status: MissionStatus::Failed,
                                output: None,
                                error: Some(error),
                            };
                            (state, vec![finish], child.input)
                        }
                    };
                    let mut row = missions::Model {
                        id,
                        definition_id,
                        definition_name: match &item_step {
                            Some(s) => format!("{}/{s}", spawn.workflow.name),
                            None => child_wf.name.clone(),
                        },
                        definition_version: child_wf.version as i32,
                        status: MissionStatus::Pending.as_str().to_owned(),
                        input,
                        output: None,
                        error: None,
                        idempotency_key: None,
                        trace_context: spawn.trace_context.clone(),
                        created_at: now,
                        updated_at: now,
                        finished_at: None,
                        tenant_id: spawn.tenant_id.clone(),
                    };
                    update_mission_row(&mut row, &state, now);
                    step_rows.extend(
                        (0..child_wf.steps.len()).map(|i| step_row(id, &child_wf, &state, i, now)),
                    );
                    out.updates.push(MissionUpdate {
                        mission_id: id,
                        step_id: None,
                        status: row.status.clone(),
                        attempt: 0,
                    });
                    effects.collect(
                        Owner {
                            mission_id: id,
                            definition_id,
                            workflow: &child_wf,
                            trace_context: spawn.trace_context.as_deref(),
                            tenant_id: &spawn.tenant_id,
                            parent: Some(&link),
                        },
                        &state,
                        commands,
                        now,
                    );
                    metrics().mission_started(&row.definition_name);
                    mission_rows.push(row);
                    links.push(link);
                }
            }
            rex_store::insert_missions(c, mission_rows).await?;
            rex_store::upsert_steps(c, &step_rows).await?;
            rex_store::insert_mission_parents(c, &links).await?;
            for (id, k) in keys {
                rex_store::insert_mission_keys(c, id, &k).await?;
            }
        }
        Err(EngineError::Invalid(format!(
            "child missions nest deeper than {MAX_NESTING} levels in one transaction"
        )))
    }
}

/// Child missions whose first step starts children of their own, started in one
/// transaction: deeper nesting is an error rather than an endless loop.
const MAX_NESTING: usize = 16;

/// The outbox row of an event the engine sends a mission through the results queue.
pub(crate) fn event_outbox(mission_id: Uuid, message_id: String, event: Event) -> NewOutbox {
    let message = EventMessage {
        mission_id: mission_id.to_string(),
        event,
    };
    NewOutbox {
        mission_id,
        destination: RESULTS.to_owned(),
        message_id,
        headers: BTreeMap::from([
            (HEADER_MISSION.to_owned(), mission_id.to_string()),
            (HEADER_KIND.to_owned(), KIND_EVENT.to_owned()),
        ]),
        body: serde_json::to_string(&message).unwrap_or_default(),
    }
}

/// A finished child tells its parent's fan-out step.
pub(crate) fn child_finished_outbox(child: Uuid, link: &mission_parents::Model) -> NewOutbox {
    event_outbox(
        link.parent_id,
        format!("{child}:finished"),
        Event::ChildFinished {
            step: link.parent_step.clone(),
            attempt: u32::try_from(link.parent_attempt).unwrap_or(0),
            tally: None,
        },
    )
}

/// Counts the children of fan-out `step` at `attempt` from the store, with the first
/// failure when it matters and every result once all have finished. `None` when the
/// step is not the running fan-out at that attempt (the machine then ignores the event).
pub(crate) async fn tally<C: sea_orm::ConnectionTrait>(
    c: &C,
    mission: Uuid,
    workflow: &Workflow,
    state: &MissionState,
    step: &str,
    attempt: u32,
) -> Result<Option<ChildTally>, EngineError> {
    let Some(index) = workflow.step_index(step) else {
        return Ok(None);
    };
    let (Some(fan), current) = (workflow.steps[index].fan_out(), &state.steps[index]) else {
        return Ok(None);
    };
    let Some(counts) = current.fanout else {
        return Ok(None);
    };
    if current.status != StepStatus::Running || current.attempt != attempt {
        return Ok(None);
    }
    let row = rex_store::tally_children(c, mission, step, attempt).await?;
    let mut tally = ChildTally {
        succeeded: row.succeeded,
        failed: row.failed,
        failures: Vec::new(),
        results: None,
    };
    let complete = counts.started == counts.total && row.succeeded + row.failed >= counts.started;
    let fail_fast = fan.items.is_none() || fan.policy == FailurePolicy::FailFast;
    if complete {
        let children = rex_store::child_results(c, mission, step, attempt).await?;
        tally.failures = failures(&children);
        tally.results = Some(
            children
                .into_iter()
                .map(|c| match c.status.as_str() {
                    "succeeded" => c.output.unwrap_or(Value::Null),
                    _ => Value::Null,
                })
                .collect(),
        );
    } else if row.failed > 0 && fail_fast {
        let first = rex_store::failed_children(c, mission, step, attempt, 1).await?;
        tally.failures = failures(&first);
    }
    Ok(Some(tally))
}

fn failures(children: &[rex_store::ChildRow]) -> Vec<ItemFailure> {
    children
        .iter()
        .filter(|c| c.status != "succeeded")
        .map(|c| ItemFailure {
            index: c.index,
            error: c
                .error
                .clone()
                .unwrap_or_else(|| format!("child mission {}", c.status)),
        })
        .collect()
}
