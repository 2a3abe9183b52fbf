//! A campaign's events from the domain store (`rex_domain_store::campaign_events`).

use rex_domain::analytics::MessageEvent;
use rex_domain_store::{campaign_events, tenant_by_slug};
use rex_store::Store;
use rex_workers::StepError;

use crate::input::{self, Obj, bad};
use crate::store_error;

/// The events of the input's `campaign_id` (a campaign name) for the input's `tenant`,
/// else `default`. A tenant or campaign the store does not know has no events: a report
/// reads, so it creates neither.
pub(super) async fn events(
    store: &Store,
    input: &Obj,
    default: &str,
) -> Result<Vec<MessageEvent>, StepError> {
    let campaign = input::text(input, "input", "campaign_id")?.ok_or_else(|| {
        bad(
            "input.campaign_id",
            "required to read the campaign's events from the domain store (or pass input.events)",
        )
    })?;
    let slug = input::text(input, "input", "tenant")?.unwrap_or_else(|| default.to_owned());
    let c = store.conn();
    let Some(tenant) = tenant_by_slug(c, &slug)
        .await
        .map_err(|e| store_error("tenant", &e))?
    else {
        return Ok(Vec::new());
    };
    let found = campaign_events(c, tenant.id, &campaign)
        .await
        .map_err(|e| store_error("campaign events", &e))?;
    Ok(found.events)
}
