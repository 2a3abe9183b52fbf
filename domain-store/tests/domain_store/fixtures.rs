//! Builders of the rows the cases share.

use chrono::{DateTime, Duration, Utc};
use rex_domain::Channel;
use rex_domain_store::{
    LeadRow, NewIntent, NewMailbox, add_mailbox, add_sending_domain, create_campaign,
    create_tenant, import_leads, lead_by_external_id,
};
use rex_store::Store;
use uuid::Uuid;

/// A fixed instant, so that assertions do not depend on the clock.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

pub fn lead_row(id: &str, email: &str) -> LeadRow {
    LeadRow {
        external_id: id.into(),
        email: Some(email.into()),
        phone: Some("+4930123456".into()),
        source: "hubspot".into(),
        stage: "demo".into(),
        lost_reason: Some("timing".into()),
        time_zone: Some("Europe/Berlin".into()),
        country: Some("DE".into()),
        consent_basis: Some("legitimate_interest".into()),
        ..Default::default()
    }
}

/// A tenant with one lead, one campaign, one domain and one mailbox.
pub struct World {
    pub tenant: Uuid,
    pub lead: Uuid,
    pub campaign: Uuid,
    pub domain: Uuid,
    pub mailbox: Uuid,
}

impl World {
    pub async fn new(store: &Store, slug: &str) -> anyhow::Result<World> {
        let c = store.conn();
        let tenant = create_tenant(c, slug, slug, t0()).await?.id;
        let report = import_leads(
            c,
            tenant,
            &[lead_row("L1", &format!("ana@{slug}.example"))],
            t0(),
        )
        .await?;
        anyhow::ensure!(report.errors.is_empty(), "{:?}", report.errors);
        let lead = lead_by_external_id(c, tenant, "L1")
            .await?
            .ok_or_else(|| anyhow::anyhow!("lead L1 missing"))?
            .id;
        let campaign = create_campaign(c, tenant, "revive-q1", serde_json::json!({}), t0())
            .await?
            .id;
        let domain = add_sending_domain(c, tenant, &format!("mail.{slug}.example"), t0())
            .await?
            .id;
        let mailbox = add_mailbox(
            c,
            &NewMailbox {
                tenant_id: tenant,
                domain_id: domain,
                address: format!("sales@mail.{slug}.example"),
                warmup_started_at: t0() - Duration::days(20),
                daily_cap: 40,
            },
            t0(),
        )
        .await?
        .id;
        Ok(World {
            tenant,
            lead,
            campaign,
            domain,
            mailbox,
        })
    }

    pub fn intent(&self, step: &str) -> NewIntent {
        NewIntent {
            tenant_id: self.tenant,
            lead_id: self.lead,
            campaign_id: self.campaign,
            step_key: step.to_owned(),
            channel: Channel::Email,
            mailbox_id: Some(self.mailbox),
            variant_id: None,
            body_hash: "b1".to_owned(),
            at: t0(),
        }
    }
}
