//! ICP profiles (versioned JSON documents) and experiments with their variants.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};
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

/// The tenant's experiment `name` with its variants; created (for `campaign_id`, judged
/// on the positive-reply rate, the `keys` at equal weights) when it does not exist yet.
/// Two workers racing to create it both get the one row (names are unique per tenant).
/// An existing experiment is returned as it is, whatever `keys` says.
pub async fn ensure_experiment<C>(
    c: &C,
    tenant_id: Uuid,
    campaign_id: Option<Uuid>,
    name: &str,
    keys: &[String],
    at: DateTime<Utc>,
) -> Result<ExperimentWithVariants, DomainStoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let find = || async {
        match experiments::Entity::find()
            .filter(experiments::Column::TenantId.eq(tenant_id))
            .filter(experiments::Column::Name.eq(name))
            .one(c)
            .await?
        {
            Some(e) => get_experiment(c, tenant_id, e.id).await,
            None => Ok(None),
        }
    };
    if let Some(found) = find().await? {
        return Ok(found);
    }
    let new = NewExperiment {
        tenant_id,
        campaign_id,
        name: name.to_owned(),
        metric: "positive_reply_rate".to_owned(),
        variants: keys
            .iter()
            .map(|k| NewVariant {
                key: k.clone(),
                weight: 1,
                payload: serde_json::Value::Null,
            })
            .collect(),
    };
    // the experiment and its variants appear together, or not at all
    let txn = c.begin().await?;
    match create_experiment(&txn, &new, at).await {
        Ok(created) => {
            txn.commit().await?;
            Ok(created)
        }
        Err(e) => {
            let _ = txn.rollback().await;
            if e.is_unique_violation() {
                find().await?.ok_or(e)
            } else {
                Err(e)
            }
        }
    }
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
