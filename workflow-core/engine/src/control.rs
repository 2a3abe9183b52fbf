//! Operators' and other systems' requests to running missions: cancel, signals, events
//! to correlation keys, retry. Each is an event through the one commit path.

use rex_core::machine::Event;
use rex_core::protocol::DEFAULT_TENANT;
use serde_json::Value;
use uuid::Uuid;

use crate::{Engine, EngineError};

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The mission changed.
    Applied,
    /// Nothing to do (already finished, a duplicate signal, …).
    Ignored,
}

impl Engine {
    /// Asks a mission to stop: unfinished steps are cancelled, its timers deleted, queued
    /// tasks become no-ops. Returns false when it had already finished.
    pub async fn cancel_mission(&self, id: Uuid, reason: &str) -> Result<bool, EngineError> {
        let event = Event::Cancel {
            reason: reason.to_owned(),
        };
        Ok(self.apply_to(id, event).await? == Outcome::Applied)
    }

    /// Sends signal `name` to a mission. `signal_id` deduplicates: the same id twice
    /// acts once.
    #[tracing::instrument(skip(self, payload), fields(rex.mission.id = %id))]
    pub async fn signal(
        &self,
        id: Uuid,
        name: &str,
        payload: Value,
        signal_id: &str,
    ) -> Result<Outcome, EngineError> {
        let event = Event::Signal {
            id: signal_id.to_owned(),
            name: name.to_owned(),
            payload,
        };
        self.apply_to(id, event).await
    }

    /// Publishes an event to every running mission listening on `key`, whatever its
    /// tenant (the operator's `rex events publish`), as signal `name`. Returns the
    /// missions it reached.
    #[tracing::instrument(skip(self, payload))]
    pub async fn publish_event(
        &self,
        key: &str,
        name: &str,
        payload: Value,
        event_id: &str,
    ) -> Result<Vec<Uuid>, EngineError> {
        let missions = rex_store::running_missions_with_key(self.store.conn(), key, None).await?;
        self.signal_all(missions, name, payload, event_id).await
    }

    /// Publishes an event about one tenant's world (its lead replied, bounced…) to the
    /// running missions listening on `key` that act for it: the tenant's own and the
    /// operator's ([`DEFAULT_TENANT`]: the CLI, `rex dev`, the demo, which serve every
    /// tenant), never another tenant's mission that happens to use the same key (two
    /// CRMs may both have a lead `42`). Returns the missions it reached.
    #[tracing::instrument(skip(self, payload))]
    pub async fn publish_tenant_event(
        &self,
        tenant: &str,
        key: &str,
        name: &str,
        payload: Value,
        event_id: &str,
    ) -> Result<Vec<Uuid>, EngineError> {
        let tenants = [tenant, DEFAULT_TENANT];
        let missions =
            rex_store::running_missions_with_key(self.store.conn(), key, Some(&tenants)).await?;
        self.signal_all(missions, name, payload, event_id).await
    }

    async fn signal_all(
        &self,
        missions: Vec<Uuid>,
        name: &str,
        payload: Value,
        event_id: &str,
    ) -> Result<Vec<Uuid>, EngineError> {
        if missions.is_empty() {
            return Ok(missions);
        }
        let events = missions
            .iter()
            .map(|&id| {
                let event = Event::Signal {
                    id: event_id.to_owned(),
                    name: name.to_owned(),
                    payload: payload.clone(),
                };
                (id, event)
            })
            .collect();
        let committed = self.commit(events, &[]).await?;
        self.finish_commit(committed).await;
        Ok(missions)
    }

    /// Runs a failed or cancelled mission again: its unfinished steps, or `from` and
    /// every step after it. Completed steps keep their outputs and are not run again.
    pub async fn retry_mission(&self, id: Uuid, from: Option<&str>) -> Result<(), EngineError> {
        let mission = self
            .store
            .get_mission(id)
            .await?
            .ok_or(EngineError::MissionNotFound(id))?;
        if let Some(step) = from {
            let workflow = self.catalog.workflow(mission.definition_id).await?;
            if workflow.step_index(step).is_none() {
                return Err(EngineError::Conflict(format!(
                    "mission {id} has no step {step:?}"
                )));
            }
        }
        let event = Event::Retry {
            from: from.map(str::to_owned),
        };
        match self.apply_to(id, event).await? {
            Outcome::Applied => Ok(()),
            Outcome::Ignored => Err(EngineError::Conflict(format!(
                "mission {id} is {}: only a failed or cancelled mission can be retried",
                mission.status
            ))),
        }
    }

    async fn apply_to(&self, id: Uuid, event: Event) -> Result<Outcome, EngineError> {
        if self.store.get_mission(id).await?.is_none() {
            return Err(EngineError::MissionNotFound(id));
        }
        let committed = self.commit(vec![(id, event)], &[]).await?;
        let applied = committed.applied > 0;
        self.finish_commit(committed).await;
        Ok(if applied {
            Outcome::Applied
        } else {
            Outcome::Ignored
        })
    }
}
