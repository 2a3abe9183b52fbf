//! Deleting published outbox rows off the caller's path, many per statement.
//!
//! A mission start publishes its first tasks right after its commit and answers; the
//! delete of the rows it published need not hold the answer. [`Sweeper::delete_later`]
//! hands the ids to one background task per engine, which deletes whatever has
//! gathered in one statement. A row whose delete is lost (the process stops first) is
//! published again by the relay after its grace period: a duplicate delivery, which
//! every consumer already tolerates, never a lost task.

use std::sync::OnceLock;

use rex_store::Store;
use tokio::sync::mpsc;
use tracing::warn;

/// Ids gathered into one delete at most.
const MAX_IDS_PER_SWEEP: usize = 5_000;

pub(crate) struct Sweeper {
    store: Store,
    /// The background task's inbox, started on first use (inside the runtime).
    tx: OnceLock<mpsc::UnboundedSender<Vec<i64>>>,
}

impl Sweeper {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            tx: OnceLock::new(),
        }
    }

    /// Deletes the published rows `ids` soon, in the background.
    pub(crate) fn delete_later(&self, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(sweep(self.store.clone(), rx));
            tx
        });
        // Only fails once the task is gone (its runtime stopped): the relay
        // republishes those rows later, as after a crash.
        let _ = tx.send(ids);
    }
}

/// Until every sender is dropped: waits for ids, takes every id already queued too,
/// deletes them in one go.
async fn sweep(store: Store, mut rx: mpsc::UnboundedReceiver<Vec<i64>>) {
    while let Some(mut ids) = rx.recv().await {
        while ids.len() < MAX_IDS_PER_SWEEP
            && let Ok(more) = rx.try_recv()
        {
            ids.extend(more);
        }
        if let Err(err) = rex_store::delete_outbox(store.conn(), &ids).await {
            warn!(error = %err, rows = ids.len(), "published outbox rows not deleted; the relay may publish them again");
        }
    }
}
