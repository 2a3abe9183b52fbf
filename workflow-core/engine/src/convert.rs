//! Rows to machine state and back. Unknown values in rows are errors, never panics.

use chrono::{DateTime, Utc};
use rex_core::Workflow;
use rex_core::machine::{MissionState, MissionStatus, SignalRecord, StepState, StepStatus};
use rex_store::entity::{missions, signals, steps};

use crate::EngineError;

/// Rebuilds a mission's state from its row and its step rows.
pub(crate) fn mission_state(
    mission: &missions::Model,
    step_rows: &[&steps::Model],
    signal_rows: &[&signals::Model],
    workflow: &Workflow,
) -> Result<MissionState, EngineError> {
    let status: MissionStatus = mission
        .status
        .parse()
        .map_err(|e| EngineError::Corrupt(format!("mission {}: {e}", mission.id)))?;
    let mut state = MissionState::new(mission.id.to_string(), workflow, mission.input.clone());
    state.status = status;
    state.output = mission.output.clone();
    state.error = mission.error.clone();
    for row in step_rows {
        let Some(index) = workflow.step_index(&row.step_id) else {
            return Err(EngineError::Corrupt(format!(
                "mission {}: step row {:?} is not in {} v{}",
                mission.id, row.step_id, workflow.name, workflow.version
            )));
        };
        state.steps[index] = StepState {
            status: row.status.parse::<StepStatus>().map_err(|e| {
                EngineError::Corrupt(format!("mission {} step {}: {e}", mission.id, row.step_id))
            })?,
            attempt: u32::try_from(row.attempt).unwrap_or(0),
            input: row.input.clone(),
            output: row.output.clone(),
            error: row.error.clone(),
            dispatched_at: row.dispatched_at,
            finished_at: row.finished_at,
            retry_base: u32::try_from(row.retry_base).unwrap_or(0),
            fanout: match &row.fanout {
                Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
                    EngineError::Corrupt(format!(
                        "mission {} step {} fanout: {e}",
                        mission.id, row.step_id
                    ))
                })?),
                None => None,
            },
        };
    }
    state.signals = signal_rows
        .iter()
        .map(|s| SignalRecord {
            id: s.signal_id.clone(),
            name: s.name.clone(),
            payload: s.payload.clone(),
            received_at: s.received_at,
            consumed_by: s.consumed_by.clone(),
        })
        .collect();
    Ok(state)
}

/// The row of signal `index` as it stands in `state`.
pub(crate) fn signal_row(
    mission_id: uuid::Uuid,
    state: &MissionState,
    index: usize,
) -> signals::Model {
    let s = &state.signals[index];
    signals::Model {
        mission_id,
        signal_id: s.id.clone(),
        name: s.name.clone(),
        payload: s.payload.clone(),
        received_at: s.received_at,
        consumed_by: s.consumed_by.clone(),
    }
}

/// The row of step `index` as it stands in `state`.
pub(crate) fn step_row(
    mission_id: uuid::Uuid,
    workflow: &Workflow,
    state: &MissionState,
    index: usize,
    now: DateTime<Utc>,
) -> steps::Model {
    let s = &state.steps[index];
    steps::Model {
        mission_id,
        step_id: workflow.steps[index].id.clone(),
        status: s.status.as_str().to_owned(),
        attempt: s.attempt as i32,
        input: s.input.clone(),
        output: s.output.clone(),
        error: s.error.clone(),
        dispatched_at: s.dispatched_at,
        finished_at: s.finished_at,
        updated_at: now,
        retry_base: s.retry_base as i32,
        fanout: s.fanout.and_then(|f| serde_json::to_value(f).ok()),
    }
}

/// Copies the machine's mission-level fields onto the row.
pub(crate) fn update_mission_row(
    row: &mut missions::Model,
    state: &MissionState,
    now: DateTime<Utc>,
) {
    row.status = state.status.as_str().to_owned();
    row.output = state.output.clone();
    row.error = state.error.clone();
    row.updated_at = now;
    if state.status.is_terminal() && row.finished_at.is_none() {
        row.finished_at = Some(now);
    }
}
