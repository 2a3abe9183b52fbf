//! Companies, leads and the leads' history.
//!
//! - `companies`: the accounts leads work at, keyed by the CRM's id per tenant, so a
//!   re-import updates instead of duplicating.
//! - `leads`: a dead lead as the CRM knew it when it went cold (source, stage, why it
//!   was lost and when, last contact) plus what every send gate needs (IANA time zone,
//!   ISO country, consent basis and per-channel consent). `email_hash`/`phone_hash` are
//!   the suppression ledger's key of the lead's addresses, so the ledger can be joined
//!   to leads even after an erasure blanks the clear-text addresses.
//! - `lead_history`: every import or change of a lead, field by field (old → new), so
//!   "why did Rex contact this person" has an answer.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{
    create_indexes, drop_tables, index, scoped_fk, tenant_fk, tenant_key,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Companies {
    Table,
    Id,
    TenantId,
    ExternalId,
    Name,
    Domain,
    Industry,
    Employees,
    Country,
    Attributes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    Id,
    TenantId,
    ExternalId,
    CompanyId,
    Email,
    EmailHash,
    Phone,
    PhoneHash,
    FirstName,
    LastName,
    Title,
    Source,
    Stage,
    LostReason,
    LostAt,
    LastContactAt,
    TimeZone,
    Country,
    ConsentBasis,
    Consent,
    Attributes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LeadHistory {
    Table,
    Id,
    TenantId,
    LeadId,
    Kind,
    Changes,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Companies::Table)
                    .if_not_exists()
                    .col(uuid(Companies::Id).primary_key())
                    .col(uuid(Companies::TenantId))
                    .col(string(Companies::ExternalId))
                    .col(string(Companies::Name))
                    .col(string_null(Companies::Domain))
                    .col(string_null(Companies::Industry))
                    .col(integer_null(Companies::Employees))
                    .col(string_null(Companies::Country))
                    .col(json_binary(Companies::Attributes))
                    .col(timestamp_with_time_zone(Companies::CreatedAt))
                    .col(timestamp_with_time_zone(Companies::UpdatedAt))
                    .foreign_key(&mut tenant_fk("companies"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("companies"),
                index("companies", &["tenant_id", "external_id"], true),
                index("companies", &["tenant_id", "domain"], false),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Leads::Table)
                    .if_not_exists()
                    .col(uuid(Leads::Id).primary_key())
                    .col(uuid(Leads::TenantId))
                    .col(string(Leads::ExternalId))
                    .col(uuid_null(Leads::CompanyId))
                    .col(string_null(Leads::Email))
                    .col(string_null(Leads::EmailHash))
                    .col(string_null(Leads::Phone))
                    .col(string_null(Leads::PhoneHash))
                    .col(string_null(Leads::FirstName))
                    .col(string_null(Leads::LastName))
                    .col(string_null(Leads::Title))
                    .col(string(Leads::Source))
                    .col(string(Leads::Stage))
                    .col(string_null(Leads::LostReason))
                    .col(timestamp_with_time_zone_null(Leads::LostAt))
                    .col(timestamp_with_time_zone_null(Leads::LastContactAt))
                    .col(string_null(Leads::TimeZone))
                    .col(string_null(Leads::Country))
                    .col(string_null(Leads::ConsentBasis))
                    .col(json_binary(Leads::Consent))
                    .col(json_binary(Leads::Attributes))
                    .col(timestamp_with_time_zone(Leads::CreatedAt))
                    .col(timestamp_with_time_zone(Leads::UpdatedAt))
                    .foreign_key(&mut tenant_fk("leads"))
                    .foreign_key(&mut scoped_fk(
                        "leads",
                        "company_id",
                        "companies",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("leads"),
                index("leads", &["tenant_id", "external_id"], true),
                index("leads", &["tenant_id", "email_hash"], false),
                index("leads", &["tenant_id", "phone_hash"], false),
                index("leads", &["tenant_id", "company_id"], false),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadHistory::Table)
                    .if_not_exists()
                    .col(uuid(LeadHistory::Id).primary_key())
                    .col(uuid(LeadHistory::TenantId))
                    .col(uuid(LeadHistory::LeadId))
                    .col(string(LeadHistory::Kind))
                    .col(json_binary(LeadHistory::Changes))
                    .col(timestamp_with_time_zone(LeadHistory::At))
                    .foreign_key(&mut tenant_fk("lead_history"))
                    .foreign_key(&mut scoped_fk(
                        "lead_history",
                        "lead_id",
                        "leads",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![index(
                "lead_history",
                &["tenant_id", "lead_id", "at"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["lead_history", "leads", "companies"]).await
    }
}
