//! ICP profiles (versioned JSON documents) and experiments with their variants.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::entity::{experiments, icp_profiles, variants};
use crate::sql::{insert_all, insert_stmt};

/// An experiment to create with its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExperiment {
    pub tenant_id: Uuid,
    pub campaign_id: Option<Uuid>,
    pub name: String,
    /// What the variants are judged on (`positive_reply_rate`).
    pub metric: String,
    pub variants: Vec<NewVariant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVariant {
    pub key: String,
    pub weight: u32,
    pub payload: serde_json::Value,
}

/// Stores a new version of the profile `name`; returns it. Versions count from 1.
pub async fn put_icp_profile<C>(
    c: &C,
    tenant_id: Uuid,
    name: &str,
    profile: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<icp_profiles::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    let latest = latest_icp_profile(c, tenant_id, name).await?;
    let model = icp_profiles::Model {
        id: Uuid::now_v7(),
        tenant_id,
        name: name.to_owned(),
        version: latest.map_or(1, |p| p.version.saturating_add(1)),
        profile,
        created_at: rex_store::to_db_precision(at),
    };
    // two writers racing for the same version: the unique key refuses the second
    c.execute(&insert_stmt::<icp_profiles::Entity>(std::slice::from_ref(
        &model,
    ))?)
    .await?;
    Ok(model)
}

/// The newest version of the profile `name`.
pub async fn latest_icp_profile<C>(
    c: &C,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<icp_profiles::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(icp_profiles::Entity::find()
        .filter(icp_profiles::Column::TenantId.eq(tenant_id))
        .filter(icp_profiles::Column::Name.eq(name))
        .order_by_desc(icp_profiles::Column::Version)
        .limit(1)
        .one(c)
        .await?)
}

/// An experiment and its variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExperimentWithVariants {
    pub experiment: experiments::Model,
    pub variants: Vec<variants::Model>,
}

/// Creates an experiment with its variants (call inside a transaction to make it
/// all-or-nothing).
pub async fn create_experiment<C>(
    c: &C,
    new: &NewExperiment,
    at: DateTime<Utc>,
) -> Result<ExperimentWithVariants, DomainStoreError>
where
    C: ConnectionTrait,
{
    if new.variants.is_empty() {
        return Err(DomainStoreError::Invalid {
            name: "experiment",
            why: format!("{:?} has no variants", new.name),
        });
    }
    let at = rex_store::to_db_precision(at);
    let experiment = experiments::Model {
        id: Uuid::now_v7(),
        tenant_id: new.tenant_id,
        campaign_id: new.campaign_id,
        name: new.name.clone(),
        metric: new.metric.clone(),
        status: "running".to_owned(),
        created_at: at,
    };
    c.execute(&insert_stmt::<experiments::Entity>(std::slice::from_ref(
        &experiment,
    ))?)
    .await?;
    let variants: Vec<variants::Model> = new
        .variants
        .iter()
        .map(|v| variants::Model {
            id: Uuid::now_v7(),
            tenant_id: new.tenant_id,
            experiment_id: experiment.id,
            key: v.key.clone(),
            weight: i32::try_from(v.weight).unwrap_or(i32::MAX),
            payload: v.payload.clone(),
            created_at: at,
        })
        .collect();
    insert_all::<_, variants::Entity>(c, variants.clone()).await?;
    Ok(ExperimentWithVariants {
        experiment,
        variants,
    })
}

/// The experiment `id` of the tenant with its variants by key.
pub async fn get_experiment<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ExperimentWithVariants>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let Some(experiment) = experiments::Entity::find_by_id(id)
        .filter(experiments::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?
    else {
        return Ok(None);
    };
    let variants = variants::Entity::find()
        .filter(variants::Column::TenantId.eq(tenant_id))
        .filter(variants::Column::ExperimentId.eq(id))
        .order_by_asc(variants::Column::Key)
        .all(c)
        .await?;
    Ok(Some(ExperimentWithVariants {
        experiment,
        variants,
    }))
}

/// Marks an experiment finished (or any other status). `false` if the tenant has no
/// such experiment.
pub async fn set_experiment_status<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
    status: &str,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    let n = experiments::Entity::update_many()
        .col_expr(experiments::Column::Status, Expr::value(status))
        .filter(experiments::Column::TenantId.eq(tenant_id))
        .filter(experiments::Column::Id.eq(id))
        .exec(c)
        .await?
        .rows_affected;
    Ok(n == 1)
}
