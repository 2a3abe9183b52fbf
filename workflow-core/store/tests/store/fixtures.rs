//! Builders of rows for the cases.

use chrono::{DateTime, Duration, Utc};
use rex_store::{NewDefinition, Store, definitions, missions, steps, timers};
use serde_json::json;
use uuid::Uuid;

/// A fixed instant, so that ordering assertions do not depend on the clock.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T09:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

pub fn new_definition(name: &str, version: i32, hash: &str) -> NewDefinition {
    NewDefinition {
        name: name.to_owned(),
        version,
        description: Some(format!("{name} v{version}")),
        body: json!({"name": name, "version": version, "steps": []}).to_string(),
        content_hash: format!("{hash:0>64}"),
    }
}

pub async fn stored_definition(store: &Store, name: &str, version: i32) -> definitions::Model {
    store
        .put_definition(new_definition(name, version, "a"))
        .await
        .expect("put definition")
        .into_model()
}

pub fn mission(
    def: &definitions::Model,
    status: &str,
    created_at: DateTime<Utc>,
) -> missions::Model {
    missions::Model {
        id: Uuid::now_v7(),
        definition_id: def.id,
        definition_name: def.name.clone(),
        definition_version: def.version,
        status: status.to_owned(),
        input: json!({"lead_ids": [1, 2, 3], "campaign": "spring"}),
        output: None,
        error: None,
        idempotency_key: None,
        trace_context: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        created_at,
        updated_at: created_at,
        finished_at: None,
        tenant_id: missions::DEFAULT_TENANT.to_owned(),
    }
}

pub fn step(mission_id: Uuid, step_id: &str, status: &str) -> steps::Model {
    steps::Model {
        mission_id,
        step_id: step_id.to_owned(),
        status: status.to_owned(),
        attempt: 1,
        input: Some(json!({"lead": step_id})),
        output: None,
        error: None,
        dispatched_at: Some(at(1)),
        finished_at: None,
        updated_at: at(1),
        retry_base: 0,
        fanout: None,
    }
}

pub fn timer(mission_id: Uuid, kind: &str, due_at: DateTime<Utc>) -> timers::Model {
    timers::Model {
        id: Uuid::now_v7(),
        mission_id,
        kind: kind.to_owned(),
        step_id: Some("send".into()),
        attempt: Some(1),
        due_at,
        created_at: t0(),
    }
}

/// A stored definition and a stored running mission of it.
pub async fn stored_mission(store: &Store) -> missions::Model {
    let def = stored_definition(store, "revive", 1).await;
    let m = mission(&def, "running", t0());
    rex_store::insert_mission(store.conn(), m.clone())
        .await
        .expect("insert mission");
    m
}
