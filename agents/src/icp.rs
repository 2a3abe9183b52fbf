//! `icp`: the ideal customer profile from won deals, and every dead lead's fit to it.
//!
//! - `segment`: won customers (file `source`, or inline `customers`) through
//!   `icp::build_profile`.
//! - `build_profile`: `icp::targeting_recommendations` and a new profile version. With
//!   a store ([`Icp::with_store`]) the version is stored in the domain store for the
//!   tenant (input `tenant`, else `REX_TENANT`) under the profile `name` (default
//!   `default`), numbered from 1; without one it is kept in this process's memory
//!   (numbered from 1 at start), so `rescore` finds it only on the worker that built
//!   it. The output carries the profile itself, and `rescore` accepts it inline
//!   (`profile`), which works anywhere. Without an inline profile, `rescore` with a
//!   store loads the latest stored version (`profile_version`, when given, must be it).
//! - `rescore`: `icp::lead_score` for each lead (file path or inline array in `leads`)
//!   with the engagement points of `reviver::reactivation_score`. The fits are returned
//!   (`fits`, by lead id); with a store each is also written to the tenant's lead of
//!   that CRM id (`leads.fit`), in one transaction, and `stored` counts the leads the
//!   store had (ids it does not know are left alone).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

mod stored;

use async_trait::async_trait;
use rex_adapters::clock::Clock;
use rex_domain::icp::{
    IcpProfile, WonCustomer, build_profile, lead_score, targeting_recommendations,
};
use rex_domain::reviver::reactivation_score;
use rex_store::Store;
use rex_workers::{Agent, StepError, TaskContext};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::input::{self, Obj, bad};
use crate::lead;

const ACTIONS: &[&str] = &["segment", "build_profile", "rescore"];

pub struct Icp {
    clock: Arc<dyn Clock>,
    /// Profile versions built by this process; version `n` is at index `n - 1`.
    profiles: Mutex<Vec<IcpProfile>>,
    /// Where versions are kept when set, with the tenant slug of a task that names none.
    store: Option<(Store, String)>,
}

impl Icp {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            profiles: Mutex::new(Vec::new()),
            store: None,
        }
    }

    /// Profile versions are stored in `store`, for the input's `tenant` or else
    /// `default_tenant` (created on first use).
    pub fn with_store(mut self, store: Store, default_tenant: &str) -> Self {
        self.store = Some((store, default_tenant.to_owned()));
        self
    }

    /// The stored profile name the input asks for.
    fn name(input: &Obj) -> Result<String, StepError> {
        Ok(input::text(input, "input", "name")?.unwrap_or_else(|| stored::DEFAULT_NAME.into()))
    }

    fn store(&self, profile: IcpProfile) -> usize {
        let mut profiles = self.profiles.lock().unwrap_or_else(|p| p.into_inner());
        profiles.push(profile);
        profiles.len()
    }

    fn version(&self, version: u64) -> Result<IcpProfile, StepError> {
        let profiles = self.profiles.lock().unwrap_or_else(|p| p.into_inner());
        usize::try_from(version)
            .ok()
            .and_then(|v| v.checked_sub(1))
            .and_then(|i| profiles.get(i))
            .cloned()
            .ok_or_else(|| {
                bad(
                    "input.profile_version",
                    format!(
                        "unknown profile version {version} (this worker holds {}; versions live in \
                         process memory until the domain store keeps them: pass input.profile)",
                        profiles.len()
                    ),
                )
            })
    }
}

#[async_trait]
impl Agent for Icp {
    fn name(&self) -> &'static str {
        "icp"
    }

    fn actions(&self) -> &'static [&'static str] {
        ACTIONS
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("icp", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            match ctx.action.as_str() {
                "segment" => segment(obj).await,
                "build_profile" => self.build_profile(obj).await,
                "rescore" => self.rescore(obj).await,
                _ => Err(crate::unknown_action("icp", ctx, ACTIONS)),
            }
        }
        .instrument(span)
        .await
    }
}

/// `icp.segment`.
async fn segment(input: &Obj) -> Result<Value, StepError> {
    let (records, _) = input::records(input, "customers", "source").await?;
    let customers = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            WonCustomer::deserialize(r).map_err(|e| bad(&format!("input.customers[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"profile": build_profile(&customers)}))
}

fn profile_from(value: &Value) -> Result<IcpProfile, StepError> {
    IcpProfile::deserialize(value).map_err(|e| bad("input.profile", e))
}

impl Icp {
    /// `icp.build_profile`.
    async fn build_profile(&self, input: &Obj) -> Result<Value, StepError> {
        let value = input
            .get("profile")
            .filter(|v| !v.is_null())
            .ok_or_else(|| bad("input.profile", "required"))?;
        let profile = profile_from(value)?;
        let recommendations = targeting_recommendations(&profile);
        let (version, storage) = match &self.store {
            Some((store, default)) => {
                let now = self.clock.now();
                let tenant = crate::tenant_id(store, input, default, now).await?;
                let name = Self::name(input)?;
                let v = stored::put(store, tenant, &name, &profile, now).await?;
                (json!(v), "domain_store")
            }
            None => (json!(self.store(profile.clone())), "process_memory"),
        };
        Ok(json!({
            "version": version,
            "recommendations": recommendations,
            "profile": profile,
            "storage": storage,
        }))
    }

    /// `icp.rescore`.
    async fn rescore(&self, input: &Obj) -> Result<Value, StepError> {
        let (profile, version) = match (
            input.get("profile"),
            input::whole(input, "profile_version", u64::MAX)?,
        ) {
            (Some(p), version) if !p.is_null() => (profile_from(p)?, version),
            (_, wanted) if let Some((store, default)) = &self.store => {
                let tenant = crate::tenant_id(store, input, default, self.clock.now()).await?;
                let name = Self::name(input)?;
                let (profile, v) = stored::latest(store, tenant, &name, wanted).await?;
                (profile, u64::try_from(v).ok())
            }
            (_, Some(version)) => (self.version(version)?, Some(version)),
            _ => {
                return Err(bad(
                    "input.profile",
                    "required (or input.profile_version of a profile this worker built)",
                ));
            }
        };
        let (records, _) = input::records(input, "leads", "source").await?;
        let now = self.clock.now();
        let mut fits = BTreeMap::new();
        let mut skipped = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let path = format!("input.leads[{i}]");
            let scored = record
                .as_object()
                .ok_or_else(|| bad(&path, "expected an object"))
                .and_then(|obj| {
                    let id = input::text(obj, &path, "id")?
                        .ok_or_else(|| bad(&format!("{path}.id"), "required"))?;
                    let engagement =
                        reactivation_score(&lead::dead_lead(&id, obj, &path)?, now).engagement;
                    let score = lead_score(&profile, &lead::icp_lead(obj, &path, engagement)?);
                    Ok((id, score.total))
                });
            match scored {
                Ok((id, fit)) => {
                    fits.insert(id, fit);
                }
                // One broken record must not block the fit of a thousand others.
                Err(e) => skipped.push(json!({"index": i, "reason": e.message})),
            }
        }
        let stored = match &self.store {
            Some((store, default)) => {
                let tenant = crate::tenant_id(store, input, default, now).await?;
                json!(stored::put_fits(store, tenant, &fits).await?)
            }
            None => Value::Null,
        };
        let mut totals: Vec<u8> = fits.values().copied().collect();
        totals.sort_unstable();
        Ok(json!({
            "profile_version": version,
            "rescored": fits.len(),
            "distribution": {
                "p25": percentile(&totals, 25),
                "p50": percentile(&totals, 50),
                "p75": percentile(&totals, 75),
            },
            "fits": fits,
            "stored": stored,
            "skipped": skipped,
        }))
    }
}

/// Nearest-rank percentile of sorted values; `None` when there are none.
fn percentile(sorted: &[u8], p: usize) -> Option<u8> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u8> = (1..=100).collect();
        assert_eq!(
            (percentile(&v, 25), percentile(&v, 50), percentile(&v, 75)),
            (Some(25), Some(50), Some(75))
        );
        assert_eq!(percentile(&[7], 25), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
