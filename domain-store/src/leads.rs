//! Companies and leads: bulk import keyed by the CRM's id (insert or update, every
//! change recorded in `lead_history`), listing and lookup with history.
//!
//! An import validates every row first ([`crate::validate`]) and reports the bad ones
//! with their row number and field; the good ones are written. Call it inside a
//! transaction ([`rex_store::Store::begin`]) to make the written part all-or-nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rex_domain::reviver::DealStage;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::enum_text;
use crate::entity::{companies, lead_history, leads};
use crate::sql::{IDS_PER_QUERY, insert_all};
use crate::validate::{
    CompanyRow, LeadRow, RowError, ValidCompany, ValidLead, validate_companies, validate_leads,
};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub inserted: usize,
    pub updated: usize,
    /// Rows identical to what was stored: nothing written.
    pub unchanged: usize,
    /// The rows not written, each problem with its 1-based row number and field.
    pub errors: Vec<RowError>,
}

/// Which leads to list, in id order (ids are time-ordered UUIDv7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadFilter {
    pub stage: Option<DealStage>,
    pub company_id: Option<Uuid>,
    /// Keyset pagination: only ids after this one.
    pub after: Option<Uuid>,
    /// Default 100.
    pub limit: u64,
}

impl Default for LeadFilter {
    fn default() -> Self {
        Self {
            stage: None,
            company_id: None,
            after: None,
            limit: 100,
        }
    }
}

/// A lead, its company and every recorded change, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadWithHistory {
    pub lead: leads::Model,
    pub company: Option<companies::Model>,
    pub history: Vec<lead_history::Model>,
}

/// The fields that differ between two versions of a row, as
/// `{field: {"old": …, "new": …}}`, bookkeeping columns left out.
fn changes<T: Serialize>(old: Option<&T>, new: &T) -> serde_json::Map<String, serde_json::Value> {
    const SKIP: [&str; 4] = ["id", "tenant_id", "created_at", "updated_at"];
    let as_map = |v: Option<&T>| match v.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(old), as_map(Some(new)));
    new.into_iter()
        .filter(|(k, _)| !SKIP.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let before = old.get(&k).cloned().unwrap_or(serde_json::Value::Null);
            (before != v).then(|| (k, serde_json::json!({"old": before, "new": v})))
        })
        .collect()
}

/// Inserts new companies and updates changed ones, keyed by `(tenant, external_id)`.
pub async fn import_companies<C>(
    c: &C,
    tenant_id: Uuid,
    rows: &[CompanyRow],
    at: DateTime<Utc>,
) -> Result<ImportReport, DomainStoreError>
where
    C: ConnectionTrait,
{
    let at = rex_store::to_db_precision(at);
    let (valid, errors) = validate_companies(rows);
    let mut report = ImportReport {
        errors,
        ..Default::default()
    };
    let ids: Vec<String> = valid.iter().map(|(_, v)| v.external_id.clone()).collect();
    let existing = companies_by_external_id(c, tenant_id, &ids).await?;
    let mut inserts = Vec::new();
    for (_, v) in valid {
        let ValidCompany {
            external_id,
            name,
            domain,
            industry,
            employees,
            country,
            attributes,
        } = v;
        let old = existing.get(&external_id);
        let model = companies::Model {
            id: old.map_or_else(Uuid::now_v7, |o| o.id),
            tenant_id,
            external_id,
            name,
            domain,
            industry,
            employees,
            country,
            attributes,
            created_at: old.map_or(at, |o| o.created_at),
            updated_at: at,
        };
        match old {
            None => {
                inserts.push(model);
                report.inserted += 1;
            }
            Some(old) if changes(Some(old), &model).is_empty() => report.unchanged += 1,
            Some(_) => {
                model.into_active_model().reset_all().update(c).await?;
                report.updated += 1;
            }
        }
    }
    insert_all::<_, companies::Entity>(c, inserts).await?;
    Ok(report)
}

/// Inserts new leads and updates changed ones, keyed by `(tenant, external_id)`, and
/// records each insert and change in `lead_history`. A lead naming a company that this
/// tenant has not imported is reported on `company_external_id`.
pub async fn import_leads<C>(
    c: &C,
    tenant_id: Uuid,
    rows: &[LeadRow],
    at: DateTime<Utc>,
) -> Result<ImportReport, DomainStoreError>
where
    C: ConnectionTrait,
{
    let at = rex_store::to_db_precision(at);
    let (valid, mut errors) = validate_leads(rows);

    let company_ids: Vec<String> = valid
        .iter()
        .filter_map(|(_, v)| v.company_external_id.clone())
        .collect();
    let companies = companies_by_external_id(c, tenant_id, &company_ids).await?;
    let lead_ids: Vec<String> = valid.iter().map(|(_, v)| v.external_id.clone()).collect();
    let existing = leads_by_external_id(c, tenant_id, &lead_ids).await?;

    let mut report = ImportReport::default();
    let mut inserts = Vec::new();
    let mut history = Vec::new();
    for (row, v) in valid {
        let company_id = match &v.company_external_id {
            None => None,
            Some(ext) => match companies.get(ext) {
                Some(company) => Some(company.id),
                None => {
                    errors.push(RowError {
                        row,
                        external_id: v.external_id.clone(),
                        field: "company_external_id",
                        message: format!("no company {ext:?} was imported for this tenant"),
                    });
                    continue;
                }
            },
        };
        let old = existing.get(&v.external_id);
        if old.is_some_and(|o| o.erased_at.is_some()) {
            // an erased person stays erased: a re-import must not bring them back
            errors.push(RowError {
                row,
                external_id: v.external_id.clone(),
                field: "external_id",
                message: "this lead was erased (GDPR erasure); it is not re-imported".into(),
            });
            continue;
        }
        let model = lead_model(tenant_id, v, company_id, old, at);
        let diff = changes(old, &model);
        let kind = match old {
            None => {
                report.inserted += 1;
                inserts.push(model.clone());
                "imported"
            }
            Some(_) if diff.is_empty() => {
                report.unchanged += 1;
                continue;
            }
            Some(_) => {
                report.updated += 1;
                model
                    .clone()
                    .into_active_model()
                    .reset_all()
                    .update(c)
                    .await?;
                "updated"
            }
        };
        history.push(lead_history::Model {
            id: Uuid::now_v7(),
            tenant_id,
            lead_id: model.id,
            kind: kind.to_owned(),
            changes: serde_json::Value::Object(diff),
            at,
        });
    }
    insert_all::<_, leads::Entity>(c, inserts).await?;
    insert_all::<_, lead_history::Entity>(c, history).await?;
    errors.sort_by_key(|e| e.row);
    report.errors = errors;
    Ok(report)
}

fn lead_model(
    tenant_id: Uuid,
    v: ValidLead,
    company_id: Option<Uuid>,
    old: Option<&leads::Model>,
    at: DateTime<Utc>,
) -> leads::Model {
    leads::Model {
        id: old.map_or_else(Uuid::now_v7, |o| o.id),
        tenant_id,
        external_id: v.external_id,
        company_id,
        email: v.email,
        email_hash: v.email_hash,
        phone: v.phone,
        phone_hash: v.phone_hash,
        first_name: v.first_name,
        last_name: v.last_name,
        title: v.title,
        source: v.source,
        stage: enum_text(&v.stage),
        lost_reason: v.lost_reason.as_ref().map(enum_text),
        lost_at: v.lost_at,
        last_contact_at: v.last_contact_at,
        time_zone: v.time_zone,
        country: v.country,
        consent_basis: v.consent_basis.as_ref().map(enum_text),
        consent: serde_json::to_value(v.consent).unwrap_or(serde_json::Value::Null),
        attributes: v.attributes,
        fit: old.and_then(|o| o.fit),
        erased_at: old.and_then(|o| o.erased_at),
        created_at: old.map_or(at, |o| o.created_at),
        updated_at: at,
    }
}

async fn companies_by_external_id<C>(
    c: &C,
    tenant_id: Uuid,
    external_ids: &[String],
) -> Result<HashMap<String, companies::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let mut out = HashMap::new();
    for chunk in external_ids.chunks(IDS_PER_QUERY) {
        for row in companies::Entity::find()
            .filter(companies::Column::TenantId.eq(tenant_id))
            .filter(companies::Column::ExternalId.is_in(chunk.iter().cloned()))
            .all(c)
            .await?
        {
            out.insert(row.external_id.clone(), row);
        }
    }
    Ok(out)
}

async fn leads_by_external_id<C>(
    c: &C,
    tenant_id: Uuid,
    external_ids: &[String],
) -> Result<HashMap<String, leads::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let mut out = HashMap::new();
    for chunk in external_ids.chunks(IDS_PER_QUERY) {
        for row in leads::Entity::find()
            .filter(leads::Column::TenantId.eq(tenant_id))
            .filter(leads::Column::ExternalId.is_in(chunk.iter().cloned()))
            .all(c)
            .await?
        {
            out.insert(row.external_id.clone(), row);
        }
    }
    Ok(out)
}

pub async fn get_lead<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<leads::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(leads::Entity::find_by_id(id)
        .filter(leads::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?)
}

/// Writes the fit (0–100) of each lead, by CRM id: one statement per lead, so pass a
/// transaction to make them one write. Returns how many of the ids the tenant has;
/// the others are skipped.
pub async fn set_lead_fits<C>(
    c: &C,
    tenant_id: Uuid,
    fits: &[(String, u8)],
) -> Result<u64, DomainStoreError>
where
    C: ConnectionTrait,
{
    let mut updated = 0;
    for (external_id, fit) in fits {
        updated += leads::Entity::update_many()
            .col_expr(leads::Column::Fit, Expr::value(i32::from(*fit)))
            .filter(leads::Column::TenantId.eq(tenant_id))
            .filter(leads::Column::ExternalId.eq(external_id.as_str()))
            .exec(c)
            .await?
            .rows_affected;
    }
    Ok(updated)
}

pub async fn lead_by_external_id<C>(
    c: &C,
    tenant_id: Uuid,
    external_id: &str,
) -> Result<Option<leads::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(leads::Entity::find()
        .filter(leads::Column::TenantId.eq(tenant_id))
        .filter(leads::Column::ExternalId.eq(external_id))
        .one(c)
        .await?)
}

/// The tenant's first lead (by id) with this E.164 phone number: who an inbound text
/// is from.
pub async fn lead_by_phone<C>(
    c: &C,
    tenant_id: Uuid,
    phone: &str,
) -> Result<Option<leads::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(leads::Entity::find()
        .filter(leads::Column::TenantId.eq(tenant_id))
        .filter(leads::Column::Phone.eq(phone.trim()))
        .order_by_asc(leads::Column::Id)
        .one(c)
        .await?)
}

/// The tenant's first lead (by id) with this email (compared normalized: trimmed,
/// lower case): whom a provider event about an address concerns.
pub async fn lead_by_email<C>(
    c: &C,
    tenant_id: Uuid,
    email: &str,
) -> Result<Option<leads::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(leads::Entity::find()
        .filter(leads::Column::TenantId.eq(tenant_id))
        .filter(leads::Column::Email.eq(email.trim().to_lowercase()))
        .order_by_asc(leads::Column::Id)
        .one(c)
        .await?)
}

/// The lead, its company and its history; `None` if the tenant has no such lead.
pub async fn get_lead_with_history<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<LeadWithHistory>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let Some(lead) = get_lead(c, tenant_id, id).await? else {
        return Ok(None);
    };
    let company = match lead.company_id {
        None => None,
        Some(company_id) => {
            companies::Entity::find_by_id(company_id)
                .filter(companies::Column::TenantId.eq(tenant_id))
                .one(c)
                .await?
        }
    };
    let history = lead_history::Entity::find()
        .filter(lead_history::Column::TenantId.eq(tenant_id))
        .filter(lead_history::Column::LeadId.eq(id))
        .order_by_asc(lead_history::Column::At)
        .order_by_asc(lead_history::Column::Id)
        .all(c)
        .await?;
    Ok(Some(LeadWithHistory {
        lead,
        company,
        history,
    }))
}

pub async fn list_leads<C>(
    c: &C,
    tenant_id: Uuid,
    filter: &LeadFilter,
) -> Result<Vec<leads::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let mut query = leads::Entity::find().filter(leads::Column::TenantId.eq(tenant_id));
    if let Some(stage) = &filter.stage {
        query = query.filter(leads::Column::Stage.eq(enum_text(stage)));
    }
    if let Some(company_id) = filter.company_id {
        query = query.filter(leads::Column::CompanyId.eq(company_id));
    }
    if let Some(after) = filter.after {
        query = query.filter(leads::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(leads::Column::Id)
        .limit(filter.limit)
        .all(c)
        .await?)
}

/// The tenant's companies by name.
pub async fn list_companies<C>(
    c: &C,
    tenant_id: Uuid,
) -> Result<Vec<companies::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(companies::Entity::find()
        .filter(companies::Column::TenantId.eq(tenant_id))
        .order_by_asc(companies::Column::Name)
        .order_by_asc(companies::Column::Id)
        .all(c)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_only_the_fields_that_moved() {
        let old = serde_json::json!({"id": 1, "stage": "demo", "email": "a@b.io", "updated_at": 1});
        let new =
            serde_json::json!({"id": 1, "stage": "proposal", "email": "a@b.io", "updated_at": 2});
        let diff = changes(Some(&old), &new);
        assert_eq!(
            serde_json::Value::Object(diff),
            serde_json::json!({"stage": {"old": "demo", "new": "proposal"}})
        );
        assert_eq!(changes(None, &new).len(), 2);
    }
}
