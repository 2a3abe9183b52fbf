//! The one path by which a mission changes: lock, apply, write state + outbox + timers in
//! one transaction, then publish.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rex_broker::Broker;
use rex_core::StepKind;
use rex_core::machine::TimerKind;
use rex_core::machine::{self, Command, Event, MissionState, MissionStatus, StepStatus};
use rex_core::protocol::{Clock, TaskMessage};
use rex_core::{Workflow, inputs::bind_inputs};
use rex_observability::{StepRef, metrics, propagation, spans};
use rex_store::entity::{mission_parents, missions, signals, steps, timers};
use rex_store::{NewOutbox, Store};
use serde_json::Value;
use tokio::sync::broadcast;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::convert::{mission_state, signal_row, step_row, update_mission_row};
use crate::fan_out::{Spawn, child_finished_outbox, event_outbox, tally};
use crate::publish::{Outgoing, task_outbox};
use crate::sweep::Sweeper;
use crate::{Catalog, EngineError};

/// A step or mission transition, broadcast after it is committed (progress bars, live
/// event streams).
#[derive(Debug, Clone, PartialEq)]
pub struct MissionUpdate {
    pub mission_id: Uuid,
    /// `None` for a mission-level change.
    pub step_id: Option<String>,
    pub status: String,
    pub attempt: u32,
}

/// The engine's shared handle: store, broker, catalog and clock. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) catalog: Catalog,
    pub(crate) clock: Arc<dyn Clock>,
    updates: broadcast::Sender<MissionUpdate>,
    /// Deletes the outbox rows mission starts published, off their path.
    sweeper: Arc<Sweeper>,
}

/// What a commit did.
#[derive(Debug, Default)]
pub struct Committed {
    /// Tasks written to the outbox, to publish now.
    pub(crate) outgoing: Vec<Outgoing>,
    pub applied: usize,
    pub ignored: usize,
    pub(crate) updates: Vec<MissionUpdate>,
}

/// A request to start a mission.
#[derive(Debug, Clone, Default)]
pub struct StartMission {
    pub definition: String,
    /// `None` runs the latest stored version.
    pub version: Option<i32>,
    pub input: Value,
    /// A caller-chosen key: starting twice with the same key starts one mission.
    pub idempotency_key: Option<String>,
}

/// The outcome of [`Engine::start_mission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub id: Uuid,
    /// False when the idempotency key matched an existing mission.
    pub created: bool,
}

impl Engine {
    pub fn new(
        store: Store,
        broker: Arc<dyn Broker>,
        catalog: Catalog,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (updates, _) = broadcast::channel(4096);
        Self {
            sweeper: Arc::new(Sweeper::new(store.clone())),
            store,
            broker,
            catalog,
            clock,
            updates,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// Committed transitions of every mission this process changes.
    pub fn subscribe(&self) -> broadcast::Receiver<MissionUpdate> {
        self.updates.subscribe()
    }

    /// Creates a mission of the `default` tenant and dispatches its first steps.
    pub async fn start_mission(&self, req: StartMission) -> Result<Started, EngineError> {
        self.start_mission_for(missions::DEFAULT_TENANT, req).await
    }

    /// Creates a mission owned by `tenant` (a tenant slug) and dispatches its first
    /// steps. The idempotency key is global: a caller serving several tenants scopes it
    /// itself (the HTTP API prefixes it with the tenant).
    #[tracing::instrument(skip_all, fields(rex.definition = %req.definition, rex.mission.id))]
    pub async fn start_mission_for(
        &self,
        tenant: &str,
        req: StartMission,
    ) -> Result<Started, EngineError> {
        let registered = self.catalog.get(&req.definition, req.version).await?;
        let workflow = registered.workflow;
        let input = bind_inputs(&workflow, &req.input).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            EngineError::Invalid(format!("mission input: {}", lines.join("; ")))
        })?;
        // A repeated idempotency key is found by the insert below (its unique index),
        // not looked up first: a new mission, the common case, saves a round trip.
        let keys = correlation_keys(&workflow, &input)?;

        let now = self.clock.now();
        let id = Uuid::now_v7();
        tracing::Span::current().record("rex.mission.id", tracing::field::display(id));
        // The mission's root span: every later span of the mission (dispatches days
        // later, after restarts) joins its trace through the context stored below.
        let mission_span = spans::mission_span(&id.to_string(), &workflow.name, workflow.version);
        let trace_context = mission_span.in_scope(propagation::current_context_string);
        let mission_input = input.clone();
        let mut state = MissionState::new(id.to_string(), &workflow, input.clone());
        let applied = machine::apply(&mut state, &workflow, Event::Start, now);

        let mut row = missions::Model {
            id,
            definition_id: registered.row.id,
            definition_name: workflow.name.clone(),
            definition_version: workflow.version as i32,
            status: MissionStatus::Pending.as_str().to_owned(),
            input,
            output: None,
            error: None,
            idempotency_key: req.idempotency_key.clone(),
            trace_context: trace_context.clone(),
            created_at: now,
            updated_at: now,
            finished_at: None,
            tenant_id: tenant.to_owned(),
        };
        update_mission_row(&mut row, &state, now);
        let step_rows: Vec<steps::Model> = (0..workflow.steps.len())
            .map(|i| step_row(id, &workflow, &state, i, now))
            .collect();
        let mut effects = Effects::default();
        effects.collect(
            Owner {
                mission_id: id,
                definition_id: registered.row.id,
                workflow: &workflow,
                trace_context: trace_context.as_deref(),
                tenant_id: tenant,
                parent: None,
            },
            &state,
            applied.commands,
            now,
        );

        let txn = self.store.begin().await?;
        if let Err(err) = rex_store::insert_mission(&txn, row).await {
            // The idempotency key was used already (or just now, by a concurrent
            // start): answer with that mission, read once this transaction is gone.
            let _ = txn.rollback().await;
            if let Some(key) = &req.idempotency_key
                && let Some(existing) = self.store.find_mission_by_idempotency_key(key).await?
            {
                spans::record_mission_replay(
                    &mission_span,
                    &workflow.name,
                    &existing.id.to_string(),
                );
                tracing::Span::current()
                    .record("rex.mission.id", tracing::field::display(existing.id));
                return same_submission(existing, &registered.row.id, &mission_input, key);
            }
            return Err(err.into());
        }
        rex_store::upsert_steps(&txn, &step_rows).await?;
        rex_store::insert_mission_keys(&txn, id, &keys).await?;
        let mut spawned = Committed::default();
        self.spawn_children(&txn, &mut effects, now, &mut spawned)
            .await?;
        let outgoing = effects.write(&txn).await?;
        txn.commit().await.map_err(rex_store::StoreError::from)?;
        self.send_updates(spawned.updates);

        self.send_updates(step_rows.iter().map(|s| MissionUpdate {
            mission_id: id,
            step_id: Some(s.step_id.clone()),
            status: s.status.clone(),
            attempt: s.attempt as u32,
        }));
        metrics().mission_started(&workflow.name);
        if let Some(ids) = self.publish_outgoing(outgoing).await {
            self.sweeper.delete_later(ids);
        }
        drop(mission_span);
        Ok(Started { id, created: true })
    }

    /// Applies `events` (in order per mission) in one transaction; `fired_timers` are
    /// deleted in the same transaction. Publishing is left to the caller
    /// ([`Engine::finish_commit`]) so it happens strictly after the commit.
    pub(crate) async fn commit(
        &self,
        events: Vec<(Uuid, Event)>,
        fired_timers: &[Uuid],
    ) -> Result<Committed, EngineError> {
        let txn = self.store.begin().await?;
        self.commit_in(txn, events, fired_timers).await
    }

    /// [`Engine::commit`] inside a transaction the caller opened (e.g. one that already
    /// claimed the due timers with `SKIP LOCKED`); commits it.
    pub(crate) async fn commit_in(
        &self,
        txn: sea_orm::DatabaseTransaction,
        events: Vec<(Uuid, Event)>,
        fired_timers: &[Uuid],
    ) -> Result<Committed, EngineError> {
        let now = self.clock.now();
        let mut by_mission: BTreeMap<Uuid, Vec<Event>> = BTreeMap::new();
        for (id, event) in events {
            by_mission.entry(id).or_default().push(event);
        }
        let ids: Vec<Uuid> = by_mission.keys().copied().collect();

        let rows = rex_store::lock_missions(&txn, &ids).await?;
        let parents: BTreeMap<Uuid, mission_parents::Model> = rex_store::load_parents(&txn, &ids)
            .await?
            .into_iter()
            .map(|p| (p.child_id, p))
            .collect();
        let all_steps = rex_store::load_steps(&txn, &ids).await?;
        let mut steps_of: BTreeMap<Uuid, Vec<&steps::Model>> = BTreeMap::new();
        for s in &all_steps {
            steps_of.entry(s.mission_id).or_default().push(s);
        }
        // Signals matter only to missions that wait for them or receive one now: most
        // batches (plain task results) skip the query.
        let mut needs_signals = by_mission
            .values()
            .flatten()
            .any(|e| matches!(e, Event::Signal { .. }));
        let mut workflows = Vec::with_capacity(rows.len());
        for row in &rows {
            let item_step = parents.get(&row.id).and_then(|p| p.item_step.as_deref());
            workflows.push(
                self.catalog
                    .mission_workflow(row.definition_id, item_step)
                    .await?,
            );
        }
        needs_signals |= workflows.iter().any(|wf| {
            wf.steps
                .iter()
                .any(|s| matches!(s.kind, rex_core::StepKind::WaitFor { .. }))
        });
        let all_signals = if needs_signals {
            rex_store::load_signals(&txn, &ids).await?
        } else {
            Vec::new()
        };
        let mut signals_of: BTreeMap<Uuid, Vec<&signals::Model>> = BTreeMap::new();
        for s in &all_signals {
            signals_of.entry(s.mission_id).or_default().push(s);
        }

        let mut out = Committed::default();
        let mut changed_missions = Vec::new();
        let mut changed_steps = Vec::new();
        let mut changed_signals = Vec::new();
        let mut effects = Effects::default();
        for (mut row, workflow) in rows.into_iter().zip(workflows) {
            let Some(events) = by_mission.remove(&row.id) else {
                continue;
            };
            let mut state = mission_state(
                &row,
                steps_of.get(&row.id).map(Vec::as_slice).unwrap_or(&[]),
                signals_of.get(&row.id).map(Vec::as_slice).unwrap_or(&[]),
                &workflow,
            )?;
            let mut touched = BTreeSet::new();
            let mut touched_signals = BTreeSet::new();
            let mut mission_changed = false;
            let mut commands = Vec::new();
            for event in events {
                let event = match event {
                    Event::ChildFinished {
                        step,
                        attempt,
                        tally: None,
                    } => {
                        let tally = tally(&txn, row.id, &workflow, &state, &step, attempt).await?;
                        Event::ChildFinished {
                            step,
                            attempt,
                            tally,
                        }
                    }
                    other => other,
                };
                let applied = machine::apply(&mut state, &workflow, event, now);
                if let Some(reason) = applied.ignored {
                    debug!(rex.mission.id = %row.id, reason, "event ignored");
                    out.ignored += 1;
                    continue;
                }
                out.applied += 1;
                touched.extend(applied.changed_steps);
                touched_signals.extend(applied.changed_signals);
                mission_changed |= applied.mission_changed;
                commands.extend(applied.commands);
            }
            if touched.is_empty()
                && touched_signals.is_empty()
                && !mission_changed
                && commands.is_empty()
            {
                continue;
            }
            changed_signals.extend(
                touched_signals
                    .iter()
                    .map(|&i| signal_row(row.id, &state, i)),
            );
            for &index in &touched {
                let step = step_row(row.id, &workflow, &state, index, now);
                out.updates.push(MissionUpdate {
                    mission_id: row.id,
                    step_id: Some(step.step_id.clone()),
                    status: step.status.clone(),
                    attempt: step.attempt as u32,
                });
                changed_steps.push(step);
            }
            if mission_changed {
                out.updates.push(MissionUpdate {
                    mission_id: row.id,
                    step_id: None,
                    status: state.status.as_str().to_owned(),
                    attempt: 0,
                });
            }
            effects.collect(
                Owner {
                    mission_id: row.id,
                    definition_id: row.definition_id,
                    workflow: &workflow,
                    trace_context: row.trace_context.as_deref(),
                    tenant_id: &row.tenant_id,
                    parent: parents.get(&row.id),
                },
                &state,
                commands,
                now,
            );
            update_mission_row(&mut row, &state, now);
            changed_missions.push(row);
        }
        for id in by_mission.keys() {
            warn!(rex.mission.id = %id, "event for an unknown mission dropped");
            out.ignored += 1;
        }

        rex_store::upsert_steps(&txn, &changed_steps).await?;
        if !changed_signals.is_empty() {
            rex_store::upsert_signals(&txn, &changed_signals).await?;
        }
        rex_store::update_missions(&txn, &changed_missions).await?;
        self.spawn_children(&txn, &mut effects, now, &mut out)
            .await?;
        if !fired_timers.is_empty() {
            rex_store::delete_timers(&txn, fired_timers).await?;
        }
        out.outgoing = effects.write(&txn).await?;
        txn.commit().await.map_err(rex_store::StoreError::from)?;
        Ok(out)
    }

    /// After a commit: tell subscribers, publish the outbox, drop what was published.
    pub(crate) async fn finish_commit(&self, committed: Committed) {
        if let Some(ids) = self.publish_committed(committed).await {
            self.delete_published(&ids).await;
        }
    }

    /// Tells subscribers and publishes; returns the ids of the outbox rows now
    /// published (to delete), or `None` when publishing failed and the relay will
    /// publish them later.
    pub(crate) async fn publish_committed(&self, committed: Committed) -> Option<Vec<i64>> {
        if !committed.outgoing.is_empty() {
            crate::fault::point(crate::fault::AFTER_COMMIT);
        }
        self.send_updates(committed.updates);
        self.publish_outgoing(committed.outgoing).await
    }

    pub(crate) async fn delete_published(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        if let Err(err) = rex_store::delete_outbox(self.store.conn(), ids).await {
            warn!(error = %err, "published outbox rows not deleted; the relay may publish them again");
        }
    }

    fn send_updates(&self, updates: impl IntoIterator<Item = MissionUpdate>) {
        if self.updates.receiver_count() == 0 {
            return;
        }
        for update in updates {
            let _ = self.updates.send(update);
        }
    }

    /// Publishes committed outbox rows and returns their ids. On failure they stay in
    /// the outbox and the relay publishes them later: nothing is lost either way.
    async fn publish_outgoing(&self, outgoing: Vec<Outgoing>) -> Option<Vec<i64>> {
        if outgoing.is_empty() {
            return Some(Vec::new());
        }
        let ids: Vec<i64> = outgoing.iter().map(|o| o.outbox_id).collect();
        let batch = outgoing
            .into_iter()
            .map(|o| (o.destination, o.message))
            .collect();
        match self.broker.publish(batch).await {
            Ok(()) => Some(ids),
            Err(err) => {
                warn!(error = %err, rows = ids.len(), "publish failed; the relay will retry");
                None
            }
        }
    }
}

/// Outbox rows, timer changes and child missions gathered from commands, written in
/// the transaction.
#[derive(Default)]
pub(crate) struct Effects {
    outbox: Vec<NewOutbox>,
    timers: Vec<timers::Model>,
    clear_timers_of: Vec<Uuid>,
    /// Items to start as child missions (see [`Engine::spawn_children`]).
    pub(crate) spawns: Vec<Spawn>,
    /// Fan-out attempts whose unfinished children are to be cancelled:
    /// (parent, step id, attempt).
    cancel_children: Vec<(Uuid, String, u32)>,
}

/// The mission whose commands are being collected.
pub(crate) struct Owner<'a> {
    pub(crate) mission_id: Uuid,
    pub(crate) definition_id: Uuid,
    pub(crate) workflow: &'a Arc<Workflow>,
    pub(crate) trace_context: Option<&'a str>,
    /// Its tenant, inherited by the child missions it spawns.
    pub(crate) tenant_id: &'a str,
    /// Set when the mission is a child of a fan-out.
    pub(crate) parent: Option<&'a mission_parents::Model>,
}

impl Effects {
    pub(crate) fn collect(
        &mut self,
        owner: Owner<'_>,
        state: &MissionState,
        commands: Vec<Command>,
        now: DateTime<Utc>,
    ) {
        let Owner {
            mission_id,
            workflow,
            trace_context,
            tenant_id,
            ..
        } = owner;
        if state.status.is_terminal() {
            // Nothing more will run: drop its timers and any task it no longer needs.
            self.clear_timers_of.push(mission_id);
        }
        for command in commands {
            match command {
                Command::Dispatch(task) => {
                    let current = &state.steps[task.step];
                    if current.status != StepStatus::Running || current.attempt != task.attempt {
                        continue; // superseded within this same batch (e.g. mission failed)
                    }
                    let message = TaskMessage {
                        mission_id: mission_id.to_string(),
                        idempotency_key: machine::idempotency_key(
                            &mission_id.to_string(),
                            &task.step_id,
                            task.attempt,
                        ),
                        step_id: task.step_id,
                        attempt: task.attempt,
                        agent: task.agent,
                        action: task.action,
                        input: task.input,
                        dispatched_at: now,
                        tenant: tenant_id.to_owned(),
                    };
                    let trace = trace_context.map(|stored| trace_dispatch(stored, &message));
                    let mut row = task_outbox(mission_id, message);
                    row.headers.extend(trace.unwrap_or_default());
                    self.outbox.push(row);
                }
                Command::ArmTimer { kind, due } => {
                    if state.status.is_terminal() {
                        continue;
                    }
                    if let TimerKind::Retry { step, .. } = &kind
                        && let Some(index) = workflow.step_index(step)
                        && let StepKind::Task { agent, action, .. } = &workflow.steps[index].kind
                    {
                        metrics().step_retried(agent, action);
                    }
                    self.timers.push(timers::Model {
                        id: Uuid::now_v7(),
                        mission_id,
                        kind: kind.name().to_owned(),
                        step_id: Some(kind.step().to_owned()),
                        attempt: Some(kind.attempt() as i32),
                        due_at: due,
                        created_at: now,
                    });
                }
                Command::Finish { status, .. } => {
                    metrics().mission_finished(&workflow.name, status.as_str());
                    debug!(rex.mission.id = %mission_id, %status, workflow = %workflow.name, "mission finished");
                    if let Some(link) = owner.parent {
                        self.outbox.push(child_finished_outbox(mission_id, link));
                    }
                }
                Command::SpawnChildren {
                    step,
                    attempt,
                    children,
                } => {
                    if state.status.is_terminal() {
                        continue;
                    }
                    self.spawns.push(Spawn {
                        parent_id: mission_id,
                        definition_id: owner.definition_id,
                        workflow: workflow.clone(),
                        trace_context: trace_context.map(str::to_owned),
                        tenant_id: owner.tenant_id.to_owned(),
                        step,
                        attempt,
                        children,
                    });
                }
                Command::CancelChildren { step, attempt } => {
                    let id = workflow.steps[step].id.clone();
                    // Children started in this same transaction are cancelled too: the
                    // query runs after they are inserted.
                    self.cancel_children.push((mission_id, id, attempt));
                }
            }
        }
    }

    async fn write<C: sea_orm::ConnectionTrait>(
        mut self,
        c: &C,
    ) -> Result<Vec<Outgoing>, EngineError> {
        for (parent, step, attempt) in std::mem::take(&mut self.cancel_children) {
            let reason = format!("parent mission {parent} stopped step {step:?}");
            for child in rex_store::unfinished_children(c, parent, &step, attempt).await? {
                self.outbox.push(event_outbox(
                    child,
                    format!("{child}:cancel-by-parent"),
                    Event::Cancel {
                        reason: reason.clone(),
                    },
                ));
            }
        }
        if !self.clear_timers_of.is_empty() {
            rex_store::delete_timers_of_missions(c, &self.clear_timers_of).await?;
        }
        if !self.timers.is_empty() {
            rex_store::insert_timers(c, self.timers).await?;
        }
        if self.outbox.is_empty() {
            return Ok(Vec::new());
        }
        let ids = rex_store::insert_outbox(c, self.outbox.clone()).await?;
        Ok(self
            .outbox
            .into_iter()
            .zip(ids)
            .map(|(row, id)| Outgoing::from_new(id, row))
            .collect())
    }
}

/// A start with a known idempotency key: the same submission gets the existing mission,
/// another one is a conflict.
fn same_submission(
    existing: missions::Model,
    definition_id: &Uuid,
    input: &Value,
    key: &str,
) -> Result<Started, EngineError> {
    if existing.definition_id != *definition_id || existing.input != *input {
        return Err(EngineError::Conflict(format!(
            "idempotency key {key:?} was used for mission {} with another definition or input",
            existing.id
        )));
    }
    Ok(Started {
        id: existing.id,
        created: false,
    })
}

/// The mission's correlation keys, resolved against its input.
pub(crate) fn correlation_keys(
    workflow: &Workflow,
    input: &Value,
) -> Result<Vec<String>, EngineError> {
    let state = MissionState::new(String::new(), workflow, input.clone());
    workflow
        .correlation_keys
        .iter()
        .map(|t| match t.resolve(&InputScope(&state)) {
            Ok(Value::String(s)) => Ok(s),
            Ok(other) => Ok(other.to_string()),
            Err(e) => Err(EngineError::Invalid(format!("correlation key: {e}"))),
        })
        .collect()
}

struct InputScope<'a>(&'a MissionState);

impl rex_core::Scope for InputScope<'_> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.0.input.get(name)
    }
    fn step_output(&self, _step: &str) -> Option<&Value> {
        None
    }
}

/// Opens the dispatch and publish spans of a task under the mission's stored trace
/// context and returns the publish span's context as headers for the task, so the
/// worker's spans become its children however late (or by whichever relay) the row is
/// published.
fn trace_dispatch(stored: &str, task: &TaskMessage) -> BTreeMap<String, String> {
    let step_ref = StepRef::new(
        &task.mission_id,
        &task.step_id,
        task.attempt,
        &task.agent,
        &task.action,
    );
    let dispatch = spans::dispatch_span(&step_ref);
    propagation::set_parent_from_string(&dispatch, stored);
    let queue = format!("rex.agent.{}", task.agent);
    let publish = dispatch.in_scope(|| spans::publish_span(&queue, &task.idempotency_key));
    spans::record_step(&publish, &step_ref);
    let mut headers = BTreeMap::new();
    publish.in_scope(|| propagation::inject_current(&mut headers));
    headers
}
