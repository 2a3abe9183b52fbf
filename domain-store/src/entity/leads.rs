//! `leads`: a dead lead as the CRM knew it when it went cold, plus what the send gates
//! need (time zone, country, consent). Enum-like columns hold the snake_case names of
//! `rex-domain` types (`DealStage`, `LostReason`) and of [`crate::ConsentBasis`].

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The CRM's id; unique per tenant, the key of re-imports.
    pub external_id: String,
    pub company_id: Option<Uuid>,
    /// Normalized (trimmed, lower case).
    pub email: Option<String>,
    /// SHA-256 of the normalized email: the suppression ledger's key.
    pub email_hash: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub phone_hash: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    /// Where the lead came from (CRM name, file…).
    pub source: String,
    /// The deal stage when the lead went cold (`DealStage`).
    pub stage: String,
    /// Why the deal was lost (`LostReason`).
    pub lost_reason: Option<String>,
    pub lost_at: Option<DateTimeUtc>,
    pub last_contact_at: Option<DateTimeUtc>,
    /// IANA zone name.
    pub time_zone: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// The GDPR legal basis for contacting the lead ([`crate::ConsentBasis`]).
    pub consent_basis: Option<String>,
    /// `rex_domain::ConsentFlags` as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub consent: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub attributes: Json,
    /// Fit to the tenant's ICP profile, 0–100, as the last `icp.rescore` scored it;
    /// null until then. Kept across re-imports.
    pub fit: Option<i32>,
    /// When a GDPR erasure removed the personal fields ([`crate::erase_lead`]).
    pub erased_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
