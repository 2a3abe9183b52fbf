//! Profile versions in the domain store (`icp_profiles`), per tenant and profile name,
//! and the leads' fits (`leads.fit`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rex_domain::icp::IcpProfile;
use rex_domain_store::{latest_icp_profile, put_icp_profile, set_lead_fits};
use rex_store::Store;
use rex_workers::StepError;
use uuid::Uuid;

use crate::input::bad;
use crate::store_error;

/// Profile name of a task that names none.
pub(super) const DEFAULT_NAME: &str = "default";

/// Stores `profile` as the next version of `name`; returns that version.
pub(super) async fn put(
    store: &Store,
    tenant_id: Uuid,
    name: &str,
    profile: &IcpProfile,
    now: DateTime<Utc>,
) -> Result<i32, StepError> {
    let value = serde_json::to_value(profile).map_err(|e| bad("input.profile", e))?;
    match put_icp_profile(store.conn(), tenant_id, name, value, now).await {
        Ok(row) => Ok(row.version),
        // another worker stored the same version first: the retry takes the next one
        Err(e) if e.is_unique_violation() => Err(StepError::retryable(format!(
            "icp profile {name:?}: version taken by a concurrent build: {e}"
        ))),
        Err(e) => Err(store_error("icp profile", &e)),
    }
}

/// The newest stored version of `name`, which must be `wanted` when one is asked for.
pub(super) async fn latest(
    store: &Store,
    tenant_id: Uuid,
    name: &str,
    wanted: Option<u64>,
) -> Result<(IcpProfile, i32), StepError> {
    let row = latest_icp_profile(store.conn(), tenant_id, name)
        .await
        .map_err(|e| store_error("icp profile", &e))?
        .ok_or_else(|| {
            bad(
                "input.profile",
                format!(
                    "no stored profile {name:?} (run icp.build_profile, or pass input.profile)"
                ),
            )
        })?;
    if let Some(v) = wanted
        && u64::try_from(row.version).ok() != Some(v)
    {
        // the store's queries offer the newest version only
        return Err(bad(
            "input.profile_version",
            format!(
                "profile version {v} is not the latest stored version ({}) of {name:?}: \
                 pass input.profile",
                row.version
            ),
        ));
    }
    let profile: IcpProfile = serde_json::from_value(row.profile).map_err(|e| {
        StepError::permanent(format!(
            "icp profile {name:?} version {}: stored document does not parse: {e}",
            row.version
        ))
    })?;
    Ok((profile, row.version))
}

/// Writes each fit (by CRM id) to the tenant's lead, all or none; returns how many
/// leads the store had.
pub(super) async fn put_fits(
    store: &Store,
    tenant_id: Uuid,
    fits: &BTreeMap<String, u8>,
) -> Result<u64, StepError> {
    let fits: Vec<(String, u8)> = fits.iter().map(|(id, f)| (id.clone(), *f)).collect();
    let tx = store
        .begin()
        .await
        .map_err(|e| store_error("lead fits", &e.into()))?;
    let written = set_lead_fits(&tx, tenant_id, &fits)
        .await
        .map_err(|e| store_error("lead fits", &e))?;
    tx.commit()
        .await
        .map_err(|e| store_error("lead fits", &e.into()))?;
    Ok(written)
}
