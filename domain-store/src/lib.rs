//! The persistence of Rex's domain model: tenants, companies and leads with their
//! history, campaigns, sending domains and mailboxes, messages (an intent before each
//! send, a receipt after), delivery events, the dry-run log, the suppression ledger, the
//! enrichment cache, ICP profiles and experiments — identical on PostgreSQL and SQLite.
//!
//! Every query is a free function generic over [`sea_orm::ConnectionTrait`]: pass
//! `store.conn()` for a call of its own, or a transaction from
//! [`rex_store::Store::begin`] to commit it together with other writes (a message
//! intent with the worker's checkpoint, say). Every query of a domain table takes the
//! tenant and filters on it; the tables reference each other by `(tenant_id, id)`, so
//! the database itself refuses a row of tenant A that points at a row of tenant B.
//!
//! The guarantees the send path leans on are single statements, safe across any number
//! of worker processes: [`record_intent`] (one message per lead and step, by a unique
//! key), [`take_mailbox_slot`] / [`take_channel_slot`] (caps as one atomic upsert on a
//! shared counter row), [`suppress`] and [`record_delivery_event`] (idempotent by key).
//!
//! Tenant secrets are sealed by [`keyring`] before they are stored ([`put_secret`]);
//! GDPR access and erasure are [`export_lead`] and [`erase_lead`]; both, and API key
//! changes, are recorded in the audit log ([`audit`]).
//!
//! Validation of imported rows is pure ([`validate`]); enums are `rex-domain`'s, stored
//! as their snake_case names and converted at this edge ([`codec`]). This crate must
//! not depend on the engine (`rex-core`), the broker or any HTTP stack.

pub mod audit;
pub mod codec;
pub mod csv;
pub mod entity;
mod error;
pub mod keyring;
pub mod validate;

mod delivery_events;
mod dry_run;
mod enrichment;
mod experiments;
mod leads;
mod messages;
mod privacy;
mod rate_limits;
pub mod reporting;
mod secrets;
mod sending;
mod sql;
mod suppressions;
mod tenants;

pub use audit::{CLI_ACTOR, MAX_AUDIT_PAGE, NewAudit, actions, list_audit, record_audit};
pub use codec::address_hash;
pub use delivery_events::{NewDeliveryEvent, record_delivery_event};
pub use dry_run::{
    DryRunFilter, MAX_DRY_RUN_LIST, NewDryRun, get_dry_run, list_dry_run, list_dry_run_page,
    record_dry_run,
};
pub use enrichment::{CACHE_DAYS, get_fresh_enrichment, put_enrichment};
pub use error::DomainStoreError;
pub use experiments::{
    ExperimentWithVariants, NewExperiment, NewVariant, create_experiment, ensure_experiment,
    get_experiment, latest_icp_profile, put_icp_profile, set_experiment_status,
};
pub use leads::{
    ImportReport, LeadFilter, LeadWithHistory, get_lead, get_lead_with_history, import_companies,
    import_leads, lead_by_email, lead_by_external_id, lead_by_phone, list_companies, list_leads,
    set_lead_fits,
};
pub use messages::{
    Intent, NewIntent, Receipt, ReceiptStatus, campaign_by_name, create_campaign,
    email_by_step_key, get_message, message_by_provider_id, message_by_step_key, record_intent,
    record_receipt, unreceipted_intents,
};
pub use privacy::{ERASED, ERASURE_SOURCE, ErasureReport, LeadExport, erase_lead, export_lead};
pub use rate_limits::{
    hour_start, mailbox_sent_on, release_channel_slot, release_mailbox_slot, take_channel_slot,
    take_mailbox_slot,
};
pub use reporting::{CampaignEvents, campaign_events, list_campaigns};
pub use secrets::{
    MAX_SECRET_LEN, ROTATE_BATCH, RotationReport, SECRET_NAMES, SecretInfo, SecretValue,
    delete_secret, get_secret, list_secrets, put_secret, rotate_secrets, secrets_per_key,
    validate_secret_name, validate_secret_value,
};
pub use sending::{
    MailboxHealth, MailboxWithHealth, NewMailbox, add_mailbox, add_sending_domain,
    get_sending_domain, list_mailboxes, list_sending_domains, set_domain_paused,
    set_mailbox_paused, update_domain_health, update_mailbox_health,
};
pub use suppressions::{
    NewSuppression, Suppressed, SuppressedLead, is_suppressed, lead_suppressions, lift_suppression,
    suppress, suppressed_leads,
};
pub use tenants::{create_tenant, ensure_tenant, get_tenant, tenant_by_slug};
pub use validate::{CompanyRow, ConsentBasis, LeadRow, RowError};
