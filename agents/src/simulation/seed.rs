//! The sending side of a simulated campaign: a tenant's sending domains and mailboxes
//! (`data/demo/senders.json`), each with its warm-up age, so that the deliverability
//! gate and the shared daily caps have something real to hold.

use chrono::{DateTime, Duration, Utc};
use rex_domain_store::{NewMailbox, add_mailbox, add_sending_domain, ensure_tenant};
use rex_store::Store;
use serde::Deserialize;
use uuid::Uuid;

/// The senders file: domains, each with its mailboxes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Senders {
    pub domains: Vec<SenderDomain>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderDomain {
    pub domain: String,
    pub mailboxes: Vec<SenderMailbox>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderMailbox {
    pub address: String,
    /// Days since the mailbox started warming up (its age decides its cap today).
    pub warmup_days: u32,
    /// The operator's ceiling per day.
    pub daily_cap: u32,
}

/// A seed that could not be written, and which entry it was.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("senders file: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: rex_domain_store::DomainStoreError,
    },
}

impl Senders {
    pub fn parse(bytes: &[u8]) -> Result<Self, SeedError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn mailbox_count(&self) -> usize {
        self.domains.iter().map(|d| d.mailboxes.len()).sum()
    }
}

/// Creates tenant `slug` if it does not exist, then its domains and mailboxes, with
/// warm-up started `warmup_days` before `now`. Returns the tenant id.
pub async fn seed_senders(
    store: &Store,
    slug: &str,
    senders: &Senders,
    now: DateTime<Utc>,
) -> Result<Uuid, SeedError> {
    let c = store.conn();
    let err = |what: String| move |source| SeedError::Store { what, source };
    let tenant = ensure_tenant(c, slug, now)
        .await
        .map_err(err(format!("tenant {slug}")))?
        .id;
    for (i, d) in senders.domains.iter().enumerate() {
        let domain = add_sending_domain(c, tenant, &d.domain, now)
            .await
            .map_err(err(format!("domains[{i}] ({})", d.domain)))?;
        for (j, m) in d.mailboxes.iter().enumerate() {
            add_mailbox(
                c,
                &NewMailbox {
                    tenant_id: tenant,
                    domain_id: domain.id,
                    address: m.address.clone(),
                    warmup_started_at: now - Duration::days(i64::from(m.warmup_days)),
                    daily_cap: m.daily_cap,
                },
                now,
            )
            .await
            .map_err(err(format!("domains[{i}].mailboxes[{j}] ({})", m.address)))?;
        }
    }
    Ok(tenant)
}
