//! Enrichment cache, ICP profiles, experiments and their variants.
//!
//! - `enrichment_cache`: what an enrichment provider answered for a key (an email, a
//!   domain, a person), per tenant, with its fetch time: answers younger than 30 days
//!   are reused instead of paid for again.
//! - `icp_profiles`: the ideal-customer profiles the icp agent builds from won
//!   customers, versioned by name, as JSON.
//! - `experiments`: an A/B test of a campaign (the metric it is judged on, its status);
//!   `variants`: its arms, each with a weight and its payload (template, framework…).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{
    create_indexes, drop_tables, index, scoped_fk, tenant_fk, tenant_key,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EnrichmentCache {
    Table,
    TenantId,
    Key,
    Provider,
    Payload,
    FetchedAt,
}

#[derive(DeriveIden)]
enum IcpProfiles {
    Table,
    Id,
    TenantId,
    Name,
    Version,
    Profile,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Experiments {
    Table,
    Id,
    TenantId,
    CampaignId,
    Name,
    Metric,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Variants {
    Table,
    Id,
    TenantId,
    ExperimentId,
    Key,
    Weight,
    Payload,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EnrichmentCache::Table)
                    .if_not_exists()
                    .col(uuid(EnrichmentCache::TenantId))
                    .col(string(EnrichmentCache::Key))
                    .col(string(EnrichmentCache::Provider))
                    .col(json_binary(EnrichmentCache::Payload))
                    .col(timestamp_with_time_zone(EnrichmentCache::FetchedAt))
                    .primary_key(
                        Index::create()
                            .col(EnrichmentCache::TenantId)
                            .col(EnrichmentCache::Key),
                    )
                    .foreign_key(&mut tenant_fk("enrichment_cache"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IcpProfiles::Table)
                    .if_not_exists()
                    .col(uuid(IcpProfiles::Id).primary_key())
                    .col(uuid(IcpProfiles::TenantId))
                    .col(string(IcpProfiles::Name))
                    .col(integer(IcpProfiles::Version))
                    .col(json_binary(IcpProfiles::Profile))
                    .col(timestamp_with_time_zone(IcpProfiles::CreatedAt))
                    .foreign_key(&mut tenant_fk("icp_profiles"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![index(
                "icp_profiles",
                &["tenant_id", "name", "version"],
                true,
            )],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Experiments::Table)
                    .if_not_exists()
                    .col(uuid(Experiments::Id).primary_key())
                    .col(uuid(Experiments::TenantId))
                    .col(uuid_null(Experiments::CampaignId))
                    .col(string(Experiments::Name))
                    .col(string(Experiments::Metric))
                    .col(string(Experiments::Status))
                    .col(timestamp_with_time_zone(Experiments::CreatedAt))
                    .foreign_key(&mut tenant_fk("experiments"))
                    .foreign_key(&mut scoped_fk(
                        "experiments",
                        "campaign_id",
                        "campaigns",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("experiments"),
                index("experiments", &["tenant_id", "name"], true),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Variants::Table)
                    .if_not_exists()
                    .col(uuid(Variants::Id).primary_key())
                    .col(uuid(Variants::TenantId))
                    .col(uuid(Variants::ExperimentId))
                    .col(string(Variants::Key))
                    .col(integer(Variants::Weight))
                    .col(json_binary(Variants::Payload))
                    .col(timestamp_with_time_zone(Variants::CreatedAt))
                    .foreign_key(&mut tenant_fk("variants"))
                    .foreign_key(&mut scoped_fk(
                        "variants",
                        "experiment_id",
                        "experiments",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![index(
                "variants",
                &["tenant_id", "experiment_id", "key"],
                true,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "variants",
                "experiments",
                "icp_profiles",
                "enrichment_cache",
            ],
        )
        .await
    }
}
