//! One in-process queue: ready FIFO, dead-letter queue, consumers with their
//! unacknowledged messages. Synchronous; the caller holds the broker's lock.

use std::collections::{BTreeMap, VecDeque};

use tokio::sync::mpsc;

use crate::message::{Death, Delivery, ERROR_HEADER, Message};

/// RabbitMQ's `x-death` reasons for the two ways a message dies here.
const DELIVERY_LIMIT: &str = "delivery_limit";
const REJECTED: &str = "rejected";

/// A message at rest, with the number of times it was handed back.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) message: Message,
    /// Returns so far (nack with requeue, or consumer lost): RabbitMQ's
    /// `x-delivery-count`.
    pub(super) returns: u32,
    /// Set when it is dead-lettered; kept in the dead-letter queue.
    pub(super) death: Option<Death>,
}

impl Entry {
    /// Marks it dead for `reason`, counting deaths across replays as `x-death` does.
    fn die(mut self, reason: &str) -> Self {
        let count = match &self.death {
            Some(death) if death.reason == reason => death.count.saturating_add(1),
            _ => 1,
        };
        self.death = Some(Death {
            reason: reason.to_owned(),
            count,
        });
        self
    }
}

/// How a consumer settles a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    Ack,
    Requeue,
    /// With the consumer's error, if it gave one (stored in [`ERROR_HEADER`]).
    DeadLetter(Option<String>),
}

#[derive(Debug)]
struct Slot {
    id: u64,
    /// 0 means unbounded, as in AMQP.
    prefetch: u16,
    unacked: BTreeMap<u64, Entry>,
    tx: mpsc::UnboundedSender<Delivery>,
}

impl Slot {
    fn has_room(&self) -> bool {
        self.prefetch == 0 || self.unacked.len() < usize::from(self.prefetch)
    }
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    ready: VecDeque<Entry>,
    dead: VecDeque<Entry>,
    consumers: Vec<Slot>,
    /// Index of the consumer to try first on the next dispatch (round-robin).
    cursor: usize,
}

impl Queue {
    pub(super) fn push(&mut self, message: Message) {
        self.ready.push_back(Entry {
            message,
            returns: 0,
            death: None,
        });
    }

    /// A dead entry arriving in this (dead-letter) queue: it keeps its death, and its
    /// returns start again as in a fresh queue.
    pub(super) fn push_dead(&mut self, mut entry: Entry) {
        entry.returns = 0;
        self.ready.push_back(entry);
    }

    /// The entries that died since the last call, for the caller to move to the
    /// dead-letter queue.
    pub(super) fn take_dead(&mut self) -> Vec<Entry> {
        self.dead.drain(..).collect()
    }

    pub(super) fn ready(&self) -> usize {
        self.ready.len()
    }

    #[cfg(test)]
    pub(super) fn dead(&self) -> usize {
        self.dead.len()
    }

    pub(super) fn consumers(&self) -> usize {
        self.consumers.len()
    }

    pub(super) fn add_consumer(
        &mut self,
        id: u64,
        prefetch: u16,
        tx: mpsc::UnboundedSender<Delivery>,
    ) {
        self.consumers.push(Slot {
            id,
            prefetch,
            unacked: BTreeMap::new(),
            tx,
        });
    }

    /// Removes the consumer; its unacknowledged messages go back to the head
    /// of the queue in their original order (or to the DLQ past the limit).
    pub(super) fn remove_consumer(&mut self, id: u64, delivery_limit: u32) {
        let Some(index) = self.consumers.iter().position(|slot| slot.id == id) else {
            return;
        };
        let slot = self.consumers.remove(index);
        if self.cursor > index {
            self.cursor -= 1;
        }
        self.return_all(slot.unacked.into_values().collect(), delivery_limit);
    }

    /// Removes every consumer (shutdown); dropping their senders ends their streams.
    pub(super) fn remove_all_consumers(&mut self, delivery_limit: u32) {
        let ids: Vec<u64> = self.consumers.iter().map(|slot| slot.id).collect();
        for id in ids {
            self.remove_consumer(id, delivery_limit);
        }
    }

    /// `Err(())` when the consumer or the delivery is no longer known
    /// (consumer closed, or settled twice).
    pub(super) fn settle(
        &mut self,
        consumer: u64,
        tag: u64,
        how: Settle,
        delivery_limit: u32,
    ) -> Result<(), ()> {
        let slot = self
            .consumers
            .iter_mut()
            .find(|slot| slot.id == consumer)
            .ok_or(())?;
        let entry = slot.unacked.remove(&tag).ok_or(())?;
        match how {
            Settle::Ack => {}
            Settle::Requeue => self.return_all(vec![entry], delivery_limit),
            Settle::DeadLetter(error) => {
                let mut entry = entry.die(REJECTED);
                if let Some(error) = error {
                    entry.message.headers.insert(ERROR_HEADER.to_owned(), error);
                }
                self.dead.push_back(entry);
            }
        }
        Ok(())
    }

    /// Hands ready messages to consumers with room, round-robin, until either
    /// runs out. `deliver` turns an entry into the delivery a consumer sees.
    pub(super) fn dispatch(
        &mut self,
        next_tag: &mut u64,
        mut deliver: impl FnMut(u64, u64, &Entry) -> Delivery,
    ) {
        while !self.ready.is_empty() {
            let count = self.consumers.len();
            let Some(index) = (0..count)
                .map(|offset| (self.cursor + offset) % count)
                .find(|&index| self.consumers[index].has_room())
            else {
                return;
            };
            self.cursor = (index + 1) % count;
            let Some(entry) = self.ready.pop_front() else {
                return;
            };
            *next_tag += 1;
            let tag = *next_tag;
            let slot = &mut self.consumers[index];
            let delivery = deliver(slot.id, tag, &entry);
            if slot.tx.send(delivery).is_ok() {
                slot.unacked.insert(tag, entry);
            } else {
                // The receiving half is gone without the consumer having been
                // removed: treat it as closed, and keep the message.
                self.ready.push_front(entry);
                let id = slot.id;
                self.remove_consumer(id, u32::MAX);
            }
        }
    }

    /// RabbitMQ quorum-queue semantics: each return counts; a message
    /// returned more than `delivery_limit` times is dead-lettered.
    fn return_all(&mut self, entries: Vec<Entry>, delivery_limit: u32) {
        let (dead, back): (Vec<Entry>, Vec<Entry>) = entries
            .into_iter()
            .map(|mut entry| {
                entry.returns = entry.returns.saturating_add(1);
                entry
            })
            .partition(|entry| entry.returns > delivery_limit);
        self.dead
            .extend(dead.into_iter().map(|entry| entry.die(DELIVERY_LIMIT)));
        for entry in back.into_iter().rev() {
            self.ready.push_front(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Ticket;
    use crate::message::Acker;

    fn fake_delivery(entry: &Entry) -> Delivery {
        Delivery {
            message: entry.message.clone(),
            redelivered: entry.returns > 0,
            delivery_count: entry.returns + 1,
            death: entry.death.clone(),
            acker: Acker::Memory(Ticket::detached()),
        }
    }

    fn queue_with(ids: &[&str]) -> Queue {
        let mut queue = Queue::default();
        for id in ids {
            queue.push(Message::new(*id, Vec::new()));
        }
        queue
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        while let Ok(delivery) = rx.try_recv() {
            out.push((delivery.message.id, delivery.delivery_count));
        }
        out
    }

    #[test]
    fn consumers_share_a_queue_round_robin() {
        let mut queue = queue_with(&["a", "b", "c", "d"]);
        let (tx1, mut rx1) = mpsc::unbounded_channel();
        let (tx2, mut rx2) = mpsc::unbounded_channel();
        queue.add_consumer(1, 0, tx1);
        queue.add_consumer(2, 0, tx2);
        let mut tag = 0;
        queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
        let ids = |v: Vec<(String, u32)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(drain(&mut rx1)), ["a", "c"]);
        assert_eq!(ids(drain(&mut rx2)), ["b", "d"]);
    }

    #[test]
    fn prefetch_bounds_the_unacknowledged_messages() {
        let mut queue = queue_with(&["a", "b", "c"]);
        let (tx, mut rx) = mpsc::unbounded_channel();
        queue.add_consumer(1, 2, tx);
        let mut tag = 0;
        queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
        assert_eq!(drain(&mut rx).len(), 2);
        assert_eq!(queue.ready(), 1);
        queue.settle(1, 1, Settle::Ack, 5).unwrap();
        queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
        assert_eq!(drain(&mut rx), [("c".to_string(), 1)]);
    }

    #[test]
    fn a_removed_consumer_gives_back_its_messages_in_order() {
        let mut queue = queue_with(&["a", "b", "c"]);
        let (tx, _rx) = mpsc::unbounded_channel();
        queue.add_consumer(1, 2, tx);
        let mut tag = 0;
        queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
        queue.remove_consumer(1, 5);
        let (tx, mut rx) = mpsc::unbounded_channel();
        queue.add_consumer(2, 0, tx);
        queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
        assert_eq!(
            drain(&mut rx),
            [
                ("a".to_string(), 2),
                ("b".to_string(), 2),
                ("c".to_string(), 1)
            ]
        );
    }

    #[test]
    fn a_message_returned_more_than_the_limit_is_dead_lettered() {
        let mut queue = queue_with(&["a"]);
        let (tx, mut rx) = mpsc::unbounded_channel();
        queue.add_consumer(1, 1, tx);
        let mut tag = 0;
        let mut counts = Vec::new();
        for _ in 0..10 {
            queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
            let Ok(delivery) = rx.try_recv() else { break };
            counts.push(delivery.delivery_count);
            queue.settle(1, tag, Settle::Requeue, 2).unwrap();
        }
        assert_eq!(counts, [1, 2, 3]);
        assert_eq!(queue.dead(), 1);
        assert_eq!(queue.ready(), 0);
    }

    #[test]
    fn settling_twice_is_refused() {
        let mut queue = queue_with(&["a"]);
        let (tx, _rx) = mpsc::unbounded_channel();
        queue.add_consumer(1, 0, tx);
        let mut tag = 0;
        queue.dispatch(&mut tag, |_, _, entry| fake_delivery(entry));
        assert!(queue.settle(1, 1, Settle::DeadLetter(None), 5).is_ok());
        assert!(queue.settle(1, 1, Settle::Ack, 5).is_err());
        assert_eq!(queue.dead(), 1);
    }
}
