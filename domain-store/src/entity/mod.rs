//! One sea-orm entity per domain table; the schema itself lives in `rex-migrations`
//! (`m20260104_*`).

pub mod audit_log;
pub mod campaigns;
pub mod channel_usage;
pub mod companies;
pub mod delivery_events;
pub mod dry_run_log;
pub mod enrichment_cache;
pub mod experiments;
pub mod icp_profiles;
pub mod lead_history;
pub mod leads;
pub mod mailbox_usage;
pub mod mailboxes;
pub mod messages;
pub mod sending_domains;
pub mod suppressions;
pub mod tenant_secrets;
pub mod tenants;
pub mod variants;
