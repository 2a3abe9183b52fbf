//! A consumer that outlives its connection: a task owns the AMQP channel and
//! forwards deliveries; when the channel or connection dies it reconnects
//! with back-off, declares its queue again and consumes again.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::Channel;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{FieldTable, ShortString};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::convert::incoming;
use super::declare::declare;
use super::link::{Link, close_quietly};
use super::rpc;
use crate::Consumer;
use crate::backoff::Backoff;
use crate::error::BrokerError;
use crate::message::{Acker, Delivery, Destination};

/// One channel with one `basic.consume` on it.
struct Session {
    channel: Channel,
    stream: lapin::Consumer,
    /// Cancelled when the session ends, so that pending acks of its
    /// deliveries stop waiting.
    ended: CancellationToken,
}

/// How an AMQP delivery settles itself: its channel's acker, plus the
/// session's end signal; and, to dead-letter it with an error, the connection and
/// the queue it came from.
pub(crate) struct AmqpTicket {
    pub(super) acker: lapin::Acker,
    pub(super) session_ended: CancellationToken,
    pub(super) link: Arc<Link>,
    pub(super) source: Destination,
}

impl std::fmt::Debug for AmqpTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTicket")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Which queue of a destination a consumer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queue {
    Work,
    DeadLetters,
}

impl Session {
    async fn open(
        link: &Link,
        source: &Destination,
        queue: Queue,
        prefetch: u16,
    ) -> Result<Self, BrokerError> {
        let queue_name = match queue {
            Queue::Work => link.names().queue(source),
            Queue::DeadLetters => link.names().dead_letter_queue(source),
        };
        let channel = link.channel("consume").await?;
        let consuming = async {
            declare(
                &channel,
                link.names(),
                link.delivery_limit(),
                std::slice::from_ref(source),
            )
            .await?;
            channel
                .basic_qos(prefetch, BasicQosOptions { global: false })
                .await?;
            channel
                .basic_consume(
                    ShortString::try_new(queue_name).map_err(invalid)?,
                    ShortString::try_new(format!(
                        "{}-{}",
                        link.names().prefix(),
                        uuid::Uuid::new_v4()
                    ))
                    .map_err(invalid)?,
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
        };
        match rpc("consume", consuming).await {
            Ok(stream) => Ok(Self {
                channel,
                stream,
                ended: CancellationToken::new(),
            }),
            Err(err) => {
                close_quietly(&channel).await;
                Err(err)
            }
        }
    }
}

fn invalid(err: impl std::error::Error + Send + Sync + 'static) -> lapin::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string()).into()
}

pub(crate) struct AmqpConsumer {
    rx: mpsc::UnboundedReceiver<Delivery>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Starts consuming; the first `basic.consume` happens before this returns,
/// so a wrong queue or an unreachable broker is an error here, not later.
pub(crate) async fn start(
    link: Arc<Link>,
    source: Destination,
    queue: Queue,
    prefetch: u16,
) -> Result<AmqpConsumer, BrokerError> {
    let session = Session::open(&link, &source, queue, prefetch).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = link.shutdown_token().child_token();
    let consumed = Consumed {
        link,
        source,
        queue,
        prefetch,
    };
    let task = tokio::spawn(run(consumed, session, tx, stop.clone()));
    Ok(AmqpConsumer {
        rx,
        stop,
        task: Some(task),
    })
}

enum Ended {
    /// Closed, dropped, or broker shutdown: stop for good.
    Stopped,
    /// The channel, the consumer or the connection went away.
    Lost,
}

/// What a consumer task consumes, to open its session again after a loss.
struct Consumed {
    link: Arc<Link>,
    source: Destination,
    queue: Queue,
    prefetch: u16,
}

async fn run(
    consumed: Consumed,
    mut session: Session,
    tx: mpsc::UnboundedSender<Delivery>,
    stop: CancellationToken,
) {
    let Consumed {
        ref link,
        ref source,
        queue,
        prefetch,
    } = consumed;
    let mut backoff = Backoff::reconnect();
    loop {
        let ended = pump(&mut session, &consumed, &tx, &stop).await;
        session.ended.cancel();
        // Closing the channel hands unacknowledged messages back to the queue.
        close_quietly(&session.channel).await;
        if matches!(ended, Ended::Stopped) {
            return;
        }
        warn!(queue = %link.names().queue(source), ?queue, "consumer lost its channel; reconnecting");
        session = loop {
            let delay = backoff.next_delay();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tx.closed() => return,
                () = tokio::time::sleep(delay) => {}
            }
            let opened = tokio::select! {
                () = stop.cancelled() => return,
                opened = Session::open(link, source, queue, prefetch) => opened,
            };
            match opened {
                Ok(session) => break session,
                Err(BrokerError::Closed) => return,
                Err(err) => warn!(error = %err, retry_in = ?delay, "consumer reconnect failed"),
            }
        };
        backoff.reset();
        info!(queue = %link.names().queue(source), ?queue, "consumer resumed");
    }
}

async fn pump(
    session: &mut Session,
    consumed: &Consumed,
    tx: &mpsc::UnboundedSender<Delivery>,
    stop: &CancellationToken,
) -> Ended {
    loop {
        let item = tokio::select! {
            biased;
            () = stop.cancelled() => return Ended::Stopped,
            () = tx.closed() => return Ended::Stopped,
            item = session.stream.next() => item,
        };
        let raw = match item {
            Some(Ok(raw)) => raw,
            Some(Err(err)) => {
                warn!(error = %err, "consumer channel failed");
                return Ended::Lost;
            }
            None => return Ended::Lost,
        };
        match incoming(&raw.properties, raw.data, raw.redelivered) {
            Ok(incoming) => {
                let delivery = Delivery {
                    message: incoming.message,
                    redelivered: raw.redelivered,
                    delivery_count: incoming.delivery_count,
                    death: incoming.death,
                    acker: Acker::Amqp(AmqpTicket {
                        acker: raw.acker,
                        session_ended: session.ended.clone(),
                        link: consumed.link.clone(),
                        source: consumed.source.clone(),
                    }),
                };
                if tx.send(delivery).is_err() {
                    return Ended::Stopped;
                }
            }
            Err(reason) => {
                // Not a task we can identify, so not one we could ever
                // deduplicate: straight to the dead-letter queue.
                warn!(%reason, "dead-lettering a malformed delivery");
                let reject = BasicRejectOptions { requeue: false };
                if let Err(err) = raw.acker.reject(reject).await {
                    warn!(error = %err, "could not reject a malformed delivery");
                }
            }
        }
    }
}

#[async_trait]
impl Consumer for AmqpConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    async fn close(mut self: Box<Self>) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AmqpConsumer {
    fn drop(&mut self) {
        // The task notices and closes the channel on its own.
        self.stop.cancel();
    }
}
