//! Every table of Rex, as sea-orm-migration migrations that run unchanged on
//! PostgreSQL and SQLite.
//!
//! The schema sticks to the column types sea-query renders on both backends:
//! `uuid` (a 16-byte blob on SQLite), `timestamp with time zone` (RFC 3339 text on
//! SQLite), `jsonb` (JSON text on SQLite). Timestamps have no server-side default
//! because SQLite's `CURRENT_TIMESTAMP` is not RFC 3339 and would not compare with the
//! values the store writes; the store always sets them.
//!
//! This crate knows nothing of the engine: the entities and queries live in
//! `rex-store`, which runs these migrations at start-up.

use sea_orm_migration::prelude::*;

mod m20260101_000001_create_definitions;
mod m20260101_000002_create_missions;
mod m20260101_000003_create_steps;
mod m20260101_000004_create_attempts;
mod m20260101_000005_create_outbox;
mod m20260101_000006_create_timers;
mod m20260102_000007_attempt_leases;
mod m20260102_000008_signals;
mod m20260103_000009_dead_letters;
mod m20260103_000010_fan_out;
mod m20260103_000011_timer_index;
mod m20260104_000020_tenants;
mod m20260104_000021_leads_companies;
mod m20260104_000022_sending;
mod m20260104_000023_messages;
mod m20260104_000024_suppressions;
mod m20260104_000025_enrichment_icp_experiments;
mod m20260104_000026_dry_run_log;
mod m20260104_000027_lead_fit;
mod m20260201_000030_mission_tenants;
mod m20260201_000031_api_keys;
mod m20260201_000032_mission_rls;
mod m20260202_000033_webhook_receipts;
mod m20260202_000034_domain_rls;
mod m20260301_000035_tenant_secrets;
mod m20260301_000036_audit_log;
mod m20260301_000037_lead_erasure;
mod m20260301_000038_attempt_finished_index;
mod m20260302_000039_mission_timeline;
mod m20260303_000040_api_rate_buckets;

pub use sea_orm_migration::MigratorTrait;

/// Applies the migrations in order; `Migrator::up` records each one in
/// `seaql_migrations`, so running it again is a no-op.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_definitions::Migration),
            Box::new(m20260101_000002_create_missions::Migration),
            Box::new(m20260101_000003_create_steps::Migration),
            Box::new(m20260101_000004_create_attempts::Migration),
            Box::new(m20260101_000005_create_outbox::Migration),
            Box::new(m20260101_000006_create_timers::Migration),
            Box::new(m20260102_000007_attempt_leases::Migration),
            Box::new(m20260102_000008_signals::Migration),
            Box::new(m20260103_000009_dead_letters::Migration),
            Box::new(m20260103_000010_fan_out::Migration),
            Box::new(m20260103_000011_timer_index::Migration),
            Box::new(m20260104_000020_tenants::Migration),
            Box::new(m20260104_000021_leads_companies::Migration),
            Box::new(m20260104_000022_sending::Migration),
            Box::new(m20260104_000023_messages::Migration),
            Box::new(m20260104_000024_suppressions::Migration),
            Box::new(m20260104_000025_enrichment_icp_experiments::Migration),
            Box::new(m20260104_000026_dry_run_log::Migration),
            Box::new(m20260104_000027_lead_fit::Migration),
            Box::new(m20260201_000030_mission_tenants::Migration),
            Box::new(m20260201_000031_api_keys::Migration),
            Box::new(m20260201_000032_mission_rls::Migration),
            Box::new(m20260202_000033_webhook_receipts::Migration),
            Box::new(m20260202_000034_domain_rls::Migration),
            Box::new(m20260301_000035_tenant_secrets::Migration),
            Box::new(m20260301_000036_audit_log::Migration),
            Box::new(m20260301_000037_lead_erasure::Migration),
            Box::new(m20260301_000038_attempt_finished_index::Migration),
            Box::new(m20260302_000039_mission_timeline::Migration),
            Box::new(m20260303_000040_api_rate_buckets::Migration),
        ]
    }
}
