//! The in-process broker of the embedded single-process mode: the same
//! semantics as the RabbitMQ topology (manual ack, prefetch, redelivery with a
//! delivery count, delivery limit, dead-lettering, unroutable messages), in
//! memory and without persistence.

mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::BrokerError;
use crate::message::{Acker, Delivery, Destination, Message, QueueStats};
use crate::topology::validate_destination;
use crate::{Broker, Consumer};
use queue::{Entry, Queue, Settle};

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
    next_consumer: u64,
    next_tag: u64,
    closed: bool,
}

impl Shared {
    /// A panic elsewhere while holding the lock leaves the queues consistent
    /// (every mutation is a single step), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Hands ready messages of `destination` to its consumers.
fn dispatch(shared: &Arc<Shared>, state: &mut State, destination: &Destination) {
    let State {
        queues, next_tag, ..
    } = state;
    let Some(queue) = queues.get_mut(destination) else {
        return;
    };
    queue.dispatch(next_tag, |consumer, tag, entry: &Entry| Delivery {
        message: entry.message.clone(),
        redelivered: entry.returns > 0,
        delivery_count: entry.returns.saturating_add(1),
        acker: Acker::Memory(Ticket {
            shared: Arc::downgrade(shared),
            destination: destination.clone(),
            consumer,
            tag,
        }),
    });
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
        let destinations: Vec<Destination> = agents
            .iter()
            .map(|agent| Destination::Agent(agent.clone()))
            .chain([Destination::Results])
            .collect();
        for destination in &destinations {
            validate_destination(destination)?;
        }
        let mut state = self.open_state()?;
        for destination in destinations {
            state.queues.entry(destination).or_default();
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
            dispatch(&self.shared, &mut state, destination);
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
        state
            .queues
            .entry(source.clone())
            .or_default()
            .add_consumer(id, prefetch, tx);
        dispatch(&self.shared, &mut state, &source);
        Ok(Box::new(MemoryConsumer {
            shared: self.shared.clone(),
            source,
            id,
            rx,
        }))
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
        let queue = state
            .queues
            .get(&destination)
            .ok_or_else(|| BrokerError::QueueNotFound {
                queue: format!("{destination} (dead letters)"),
            })?;
        Ok(queue.dead() as u64)
    }

    async fn shutdown(&self) {
        let mut state = self.shared.lock();
        state.closed = true;
        for queue in state.queues.values_mut() {
            queue.remove_all_consumers(self.shared.delivery_limit);
        }
    }
}

/// A consumer of the in-process broker. Dropping it (or `close`) hands its
/// unacknowledged messages back to the queue.
#[derive(Debug)]
struct MemoryConsumer {
    shared: Arc<Shared>,
    source: Destination,
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
        if let Some(queue) = state.queues.get_mut(&self.source) {
            queue.remove_consumer(self.id, self.shared.delivery_limit);
        }
        dispatch(&self.shared, &mut state, &self.source);
    }
}

/// What a memory delivery needs to settle itself. Weak, so that an
/// unsettled delivery does not keep a shut-down broker alive.
#[derive(Debug)]
pub(crate) struct Ticket {
    shared: Weak<Shared>,
    destination: Destination,
    consumer: u64,
    tag: u64,
}

impl Ticket {
    #[cfg(test)]
    pub(crate) fn detached() -> Self {
        Self {
            shared: Weak::new(),
            destination: Destination::Results,
            consumer: 0,
            tag: 0,
        }
    }

    /// `None`: ack; `Some(requeue)`: nack.
    pub(crate) fn settle(self, id: &str, nack: Option<bool>) -> Result<(), BrokerError> {
        let stale = |reason: &str| BrokerError::DeliveryStale {
            id: id.into(),
            reason: reason.into(),
        };
        let shared = self
            .shared
            .upgrade()
            .ok_or_else(|| stale("the broker is gone"))?;
        let how = match nack {
            None => Settle::Ack,
            Some(true) => Settle::Requeue,
            Some(false) => Settle::DeadLetter,
        };
        let mut state = shared.lock();
        let queue = state
            .queues
            .get_mut(&self.destination)
            .ok_or_else(|| stale("the queue is gone"))?;
        queue
            .settle(self.consumer, self.tag, how, shared.delivery_limit)
            .map_err(|()| stale("its consumer was closed, or it was settled already"))?;
        dispatch(&shared, &mut state, &self.destination);
        Ok(())
    }
}
