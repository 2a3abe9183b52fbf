//! The in-process broker of the embedded single-process mode: the same
//! semantics as the RabbitMQ topology (manual ack, prefetch, redelivery with a
//! delivery count, delivery limit, dead-lettering, unroutable messages), in
//! memory and without persistence.

mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::dead_letter::DeadLetters;
use crate::error::BrokerError;
use crate::message::{Acker, Delivery, Destination, Message, QueueStats};
use crate::topology::validate_destination;
use crate::{Broker, Consumer};
pub(crate) use queue::Settle;
use queue::{Entry, Queue};

/// In-process broker. Cloning gives another handle to the same queues.
#[derive(Clone, Debug)]
pub struct MemoryBroker {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    delivery_limit: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    queues: HashMap<Destination, Queue>,
    /// The dead-letter queue of each work queue: a plain queue with no delivery limit,
    /// as `{prefix}.agent.{a}.dlq` is on RabbitMQ.
    dead_queues: HashMap<Destination, Queue>,
    next_consumer: u64,
    next_tag: u64,
    closed: bool,
}

impl Shared {
    /// Dead-letter queues have no delivery limit (none is declared on RabbitMQ).
    fn limit(&self, dead: bool) -> u32 {
        if dead { u32::MAX } else { self.delivery_limit }
    }

    /// A panic elsewhere while holding the lock leaves the queues consistent
    /// (every mutation is a single step), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// The work queue of `destination`, or its dead-letter queue when `dead`.
    fn queue_mut(&mut self, destination: &Destination, dead: bool) -> Option<&mut Queue> {
        if dead {
            self.dead_queues.get_mut(destination)
        } else {
            self.queues.get_mut(destination)
        }
    }

    /// Declares the work queue of `destination` and its dead-letter queue.
    fn declare(&mut self, destination: &Destination) {
        self.queues.entry(destination.clone()).or_default();
        self.dead_queues.entry(destination.clone()).or_default();
    }
}

/// Hands ready messages of `destination` (its dead-letter queue when `dead`) to its
/// consumers.
fn dispatch(shared: &Arc<Shared>, state: &mut State, destination: &Destination, dead: bool) {
    let State {
        queues,
        dead_queues,
        next_tag,
        ..
    } = state;
    let queue = if dead { dead_queues } else { queues };
    let Some(queue) = queue.get_mut(destination) else {
        return;
    };
    queue.dispatch(next_tag, |consumer, tag, entry: &Entry| Delivery {
        message: entry.message.clone(),
        redelivered: entry.returns > 0,
        delivery_count: entry.returns.saturating_add(1),
        death: entry.death.clone(),
        acker: Acker::Memory(Ticket {
            shared: Arc::downgrade(shared),
            destination: destination.clone(),
            dead,
            consumer,
            tag,
        }),
    });
}

/// Moves what died in a queue to where it goes: from a work queue to its dead-letter
/// queue (then delivered to that queue's consumers); from a dead-letter queue, which
/// has no dead-letter exchange of its own, nowhere — as on RabbitMQ, it is dropped.
fn bury(shared: &Arc<Shared>, state: &mut State, destination: &Destination, dead: bool) {
    let Some(queue) = state.queue_mut(destination, dead) else {
        return;
    };
    let died = queue.take_dead();
    if dead || died.is_empty() {
        return;
    }
    let grave = state.dead_queues.entry(destination.clone()).or_default();
    for entry in died {
        grave.push_dead(entry);
    }
    dispatch(shared, state, destination, true);
}

impl MemoryBroker {
    /// `delivery_limit`: how many returns a message survives before it is
    /// dead-lettered, as `x-delivery-limit` on RabbitMQ.
    pub fn new(delivery_limit: u32) -> Self {
        Self {
            shared: Arc::new(Shared {
                delivery_limit,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn open_state(&self) -> Result<MutexGuard<'_, State>, BrokerError> {
        let state = self.shared.lock();
        if state.closed {
            return Err(BrokerError::Closed);
        }
        Ok(state)
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn declare(&self, agents: &[String]) -> Result<(), BrokerError> {
        let destinations = crate::topology::destinations(agents);
        for destination in &destinations {
            validate_destination(destination)?;
        }
        let mut state = self.open_state()?;
        for destination in &destinations {
            state.declare(destination);
        }
        Ok(())
    }

    async fn publish(&self, batch: Vec<(Destination, Message)>) -> Result<(), BrokerError> {
        for (_, message) in &batch {
            message.validate()?;
        }
        let mut state = self.open_state()?;
        // All or nothing: refuse the batch before enqueuing any of it.
        if let Some((destination, message)) = batch
            .iter()
            .find(|(destination, _)| !state.queues.contains_key(destination))
        {
            return Err(BrokerError::Unroutable {
                destination: destination.clone(),
                id: message.id.clone(),
            });
        }
        let mut touched: Vec<Destination> = Vec::new();
        for (destination, message) in batch {
            if let Some(queue) = state.queues.get_mut(&destination) {
                queue.push(message);
            }
            if !touched.contains(&destination) {
                touched.push(destination);
            }
        }
        for destination in &touched {
            dispatch(&self.shared, &mut state, destination, false);
        }
        Ok(())
    }

    async fn consume(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BrokerError> {
        validate_destination(&source)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.open_state()?;
        state.next_consumer += 1;
        let id = state.next_consumer;
        // Consuming declares the source, as the RabbitMQ consumer does.
        state.declare(&source);
        if let Some(queue) = state.queue_mut(&source, false) {
            queue.add_consumer(id, prefetch, tx);
        }
        dispatch(&self.shared, &mut state, &source, false);
        Ok(Box::new(MemoryConsumer {
            shared: self.shared.clone(),
            source,
            dead: false,
            id,
            rx,
        }))
    }

    async fn consume_dead_letters(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<DeadLetters, BrokerError> {
        validate_destination(&source)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.open_state()?;
        state.next_consumer += 1;
        let id = state.next_consumer;
        state.declare(&source);
        if let Some(queue) = state.queue_mut(&source, true) {
            queue.add_consumer(id, prefetch, tx);
        }
        dispatch(&self.shared, &mut state, &source, true);
        let consumer = MemoryConsumer {
            shared: self.shared.clone(),
            source: source.clone(),
            dead: true,
            id,
            rx,
        };
        Ok(DeadLetters::new(source, Box::new(consumer)))
    }

    async fn queue_stats(&self, source: &Destination) -> Result<QueueStats, BrokerError> {
        let state = self.shared.lock();
        let queue = state
            .queues
            .get(source)
            .ok_or_else(|| BrokerError::QueueNotFound {
                queue: source.to_string(),
            })?;
        Ok(QueueStats {
            ready: queue.ready() as u64,
            consumers: u32::try_from(queue.consumers()).unwrap_or(u32::MAX),
        })
    }

    async fn dead_letter_count(&self, agent: &str) -> Result<u64, BrokerError> {
        let destination = Destination::Agent(agent.into());
        let state = self.shared.lock();
        let queue =
            state
                .dead_queues
                .get(&destination)
                .ok_or_else(|| BrokerError::QueueNotFound {
                    queue: format!("{destination} (dead letters)"),
                })?;
        Ok(queue.ready() as u64)
    }

    async fn shutdown(&self) {
        let mut state = self.shared.lock();
        state.closed = true;
        let destinations: Vec<Destination> = state.queues.keys().cloned().collect();
        for queue in state.queues.values_mut() {
            queue.remove_all_consumers(self.shared.delivery_limit);
        }
        for queue in state.dead_queues.values_mut() {
            queue.remove_all_consumers(u32::MAX);
        }
        // What died on the way out is kept, as RabbitMQ would keep it.
        for destination in destinations {
            bury(&self.shared, &mut state, &destination, false);
        }
    }
}

/// A consumer of the in-process broker. Dropping it (or `close`) hands its
/// unacknowledged messages back to the queue.
#[derive(Debug)]
struct MemoryConsumer {
    shared: Arc<Shared>,
    source: Destination,
    /// Consumes the source's dead-letter queue.
    dead: bool,
    id: u64,
    rx: mpsc::UnboundedReceiver<Delivery>,
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    async fn close(self: Box<Self>) {
        drop(self);
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        // Deliveries still sitting in the channel are part of `unacked`,
        // so requeueing `unacked` covers them too.
        let mut state = self.shared.lock();
        let limit = self.shared.limit(self.dead);
        if let Some(queue) = state.queue_mut(&self.source, self.dead) {
            queue.remove_consumer(self.id, limit);
        }
        bury(&self.shared, &mut state, &self.source, self.dead);
        dispatch(&self.shared, &mut state, &self.source, self.dead);
    }
}

/// What a memory delivery needs to settle itself. Weak, so that an
/// unsettled delivery does not keep a shut-down broker alive.
#[derive(Debug)]
pub(crate) struct Ticket {
    shared: Weak<Shared>,
    destination: Destination,
    /// From the destination's dead-letter queue.
    dead: bool,
    consumer: u64,
    tag: u64,
}

impl Ticket {
    #[cfg(test)]
    pub(crate) fn detached() -> Self {
        Self {
            shared: Weak::new(),
            destination: Destination::Results,
            dead: false,
            consumer: 0,
            tag: 0,
        }
    }

    pub(crate) fn settle(self, id: &str, how: Settle) -> Result<(), BrokerError> {
        let stale = |reason: &str| BrokerError::DeliveryStale {
            id: id.into(),
            reason: reason.into(),
        };
        let shared = self
            .shared
            .upgrade()
            .ok_or_else(|| stale("the broker is gone"))?;
        let mut state = shared.lock();
        let limit = shared.limit(self.dead);
        let queue = state
            .queue_mut(&self.destination, self.dead)
            .ok_or_else(|| stale("the queue is gone"))?;
        queue
            .settle(self.consumer, self.tag, how, limit)
            .map_err(|()| stale("its consumer was closed, or it was settled already"))?;
        bury(&shared, &mut state, &self.destination, self.dead);
        dispatch(&shared, &mut state, &self.destination, self.dead);
        Ok(())
    }
}
