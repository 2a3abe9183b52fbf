//! `GET /v1/missions/{id}/events`: a mission's step transitions as Server-Sent Events.
//!
//! The stream subscribes to the engine's committed transitions *before* reading the
//! mission, then sends the current state (the mission, then each step) as its first
//! events, so a transition committed in between is never missed. Transitions committed
//! by other processes (the orchestrator of a production deployment) do not reach this
//! process's engine, so the stream also re-reads the mission every
//! [`crate::ApiConfig::events_poll`]; the database is the truth, and a broadcast that
//! arrives after a newer state was read is not sent (no step ever goes backwards).
//! The stream ends after the mission reaches a final status, or when the server stops.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use rex_engine::MissionUpdate;
use rex_store::{missions, steps};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiPath;
use crate::model::MissionEvent;
use crate::state::ApiState;
use crate::tenancy;

/// Stream a mission's transitions (Server-Sent Events)
///
/// Each event is named `transition`; its `data` is a `MissionEvent`. The first events
/// are the current state; the stream ends after the mission finishes.
#[utoipa::path(
    get, path = "/v1/missions/{id}/events", tag = "missions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "text/event-stream of MissionEvent", content_type = "text/event-stream", body = MissionEvent),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
pub(crate) async fn events(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let updates = state.engine.subscribe();
    let (mission, steps) = tenancy::mission_with_steps(&state.store, &principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("mission {id} not found")))?;
    let order = match state.engine.catalog().workflow(mission.definition_id).await {
        Ok(workflow) => workflow
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let mut feed = Feed {
        order,
        state: state.clone(),
        tenant: principal.tenant,
        id,
        updates,
        poll: tokio::time::interval_at(
            tokio::time::Instant::now() + state.config.events_poll,
            state.config.events_poll,
        ),
        shutdown: state.shutdown.clone(),
        tracker: Tracker::default(),
        queue: VecDeque::new(),
        finished: false,
        seq: 0,
    };
    feed.observe(&mission, &steps);
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        feed.seq += 1;
        let sse = Event::default()
            .event("transition")
            .id(feed.seq.to_string())
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().comment("unserializable event"));
        Some((Ok(sse), feed))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Feed {
    /// Each step's place in the definition.
    order: HashMap<String, usize>,
    state: ApiState,
    tenant: String,
    id: Uuid,
    updates: broadcast::Receiver<MissionUpdate>,
    poll: tokio::time::Interval,
    shutdown: CancellationToken,
    tracker: Tracker,
    queue: VecDeque<MissionEvent>,
    /// The mission reached a final status: send what is queued, then end.
    finished: bool,
    seq: u64,
}

impl Feed {
    async fn next(&mut self) -> Option<MissionEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                update = self.updates.recv() => match update {
                    Ok(first) => {
                        // the rest of the same commit is usually there already
                        let mut batch = vec![first];
                        while let Ok(more) = self.updates.try_recv() {
                            batch.push(more);
                        }
                        let mut events: Vec<MissionEvent> = batch
                            .into_iter()
                            .filter(|u| u.mission_id == self.id)
                            .map(|u| MissionEvent {
                                mission_id: u.mission_id,
                                step: u.step_id,
                                status: u.status,
                                attempt: u.attempt,
                            })
                            .filter(|e| self.tracker.accept_broadcast(e))
                            .collect();
                        self.sort(&mut events);
                        for event in events {
                            self.finished |= event.step.is_none() && rex_store::missions::status::is_finished(&event.status);
                            self.queue.push_back(event);
                        }
                    }
                    // missed some: the database has them
                    Err(RecvError::Lagged(_)) => self.reread().await?,
                    Err(RecvError::Closed) => self.reread().await?,
                },
                _ = self.poll.tick() => self.reread().await?,
            }
        }
    }

    /// Reads the mission again; `None` ends the stream (the mission is gone, or the
    /// database fails: the client reconnects and starts from the current state).
    async fn reread(&mut self) -> Option<()> {
        let (mission, steps) =
            match tenancy::mission_with_steps(&self.state.store, &self.tenant, self.id).await {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(err) => {
                    tracing::warn!(error = %err, "event stream cannot read its mission");
                    return None;
                }
            };
        self.observe(&mission, &steps);
        Some(())
    }

    /// Queues what changed since the last events.
    fn observe(&mut self, mission: &missions::Model, steps: &[steps::Model]) {
        let mut events: Vec<MissionEvent> = steps
            .iter()
            .map(|s| MissionEvent {
                mission_id: self.id,
                step: Some(s.step_id.clone()),
                status: s.status.clone(),
                attempt: u32::try_from(s.attempt).unwrap_or(0),
            })
            .chain(std::iter::once(MissionEvent {
                mission_id: self.id,
                step: None,
                status: mission.status.clone(),
                attempt: 0,
            }))
            .filter(|e| self.tracker.accept_stored(e))
            .collect();
        self.sort(&mut events);
        self.queue.extend(events);
        self.finished |= mission.is_finished();
    }

    fn sort(&self, events: &mut [MissionEvent]) {
        sort_together(&self.order, events);
    }
}

/// Orders transitions seen together (one commit, one read, or broadcasts that arrived
/// together): steps that finished before steps that started (a step starts because
/// another finished), then those still waiting, each group in the definition's order
/// (`order`); the mission's own status last (it finishes with its last step). A step
/// placed by its first transition here keeps its own in the order they came (a fast
/// step's `running` and `succeeded` may arrive together: never `succeeded` first).
fn sort_together(order: &HashMap<String, usize>, events: &mut [MissionEvent]) {
    let key = |e: &MissionEvent| match &e.step {
        Some(step) => (
            2 - rank(&e.status).min(2),
            order.get(step).copied().unwrap_or(usize::MAX),
        ),
        None => (3, 0),
    };
    let mut first = HashMap::new();
    for e in events.iter() {
        first.entry(e.step.clone()).or_insert_with(|| key(e));
    }
    // stable: a step's transitions keep their relative order
    events.sort_by_key(|e| first[&e.step]);
}

/// The last (status, attempt) sent for the mission (`None`) and each step.
#[derive(Default)]
struct Tracker {
    sent: HashMap<Option<String>, (String, u32)>,
}

impl Tracker {
    /// A state read from the database: sent when it differs from the last one sent.
    fn accept_stored(&mut self, event: &MissionEvent) -> bool {
        let now = (event.status.clone(), event.attempt);
        if self.sent.get(&event.step) == Some(&now) {
            return false;
        }
        self.sent.insert(event.step.clone(), now);
        true
    }

    /// A broadcast transition: sent unless it is already known or older than what was
    /// sent (a poll may have read a newer state before the broadcast arrived).
    fn accept_broadcast(&mut self, event: &MissionEvent) -> bool {
        if let (Some(_), Some((status, attempt))) = (&event.step, self.sent.get(&event.step)) {
            let older = (event.attempt, rank(&event.status)) < (*attempt, rank(status));
            if older {
                return false;
            }
        }
        self.accept_stored(event)
    }
}

/// How far along its attempt a step status is.
fn rank(status: &str) -> u8 {
    match status {
        "pending" | "delayed" | "waiting" => 0,
        "running" | "waiting_retry" => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(step: Option<&str>, status: &str, attempt: u32) -> MissionEvent {
        MissionEvent {
            mission_id: Uuid::nil(),
            step: step.map(str::to_owned),
            status: status.to_owned(),
            attempt,
        }
    }

    fn names(events: &[MissionEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| format!("{}:{}", e.step.as_deref().unwrap_or("mission"), e.status))
            .collect()
    }

    #[test]
    fn a_steps_own_transitions_keep_their_order_when_they_arrive_together() {
        let order: HashMap<String, usize> = [("a".to_owned(), 0), ("b".to_owned(), 1)].into();
        let mut batch = [
            ev(Some("a"), "running", 1),
            ev(Some("a"), "succeeded", 1),
            ev(Some("b"), "running", 1),
        ];
        sort_together(&order, &mut batch);
        assert_eq!(names(&batch), ["a:running", "a:succeeded", "b:running"]);
        let mut batch = [
            ev(None, "succeeded", 0),
            ev(Some("b"), "running", 1),
            ev(Some("b"), "succeeded", 1),
            ev(Some("a"), "succeeded", 1),
        ];
        sort_together(&order, &mut batch);
        assert_eq!(
            names(&batch),
            [
                "a:succeeded",
                "b:running",
                "b:succeeded",
                "mission:succeeded"
            ]
        );
    }

    #[test]
    fn a_late_broadcast_never_moves_a_step_backwards() {
        let mut t = Tracker::default();
        assert!(t.accept_stored(&ev(Some("a"), "succeeded", 1)));
        assert!(!t.accept_broadcast(&ev(Some("a"), "running", 1)));
        assert!(!t.accept_broadcast(&ev(Some("a"), "succeeded", 1)));
        assert!(t.accept_broadcast(&ev(Some("a"), "running", 2)));
        assert!(t.accept_broadcast(&ev(None, "running", 0)));
    }
}
