//! The capacity one send holds: a mailbox's daily slot (email) and the tenant's hourly
//! channel budget, taken before the intent and given back when the send does not happen.

use super::*;

/// The slots one send holds until it has happened.
pub(super) struct Slots {
    pub(super) mailbox: Option<(Uuid, String)>,
    pub(super) at: DateTime<Utc>,
}

fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    (now.date_naive() + Duration::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc()
}

impl Outreach {
    /// A mailbox slot (email) in rotation order, then the channel's hourly budget; or
    /// when to come back.
    pub(super) async fn take_slots(
        &self,
        tenant: Uuid,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Result<Slots, (DateTime<Utc>, &'static str)>, StepError> {
        let c = self.store.conn();
        let mut slots = Slots {
            mailbox: None,
            at: now,
        };
        if channel == Channel::Email {
            let senders = senders(&self.store, tenant, now).await?;
            for i in rotation(&senders) {
                let s = &senders[i];
                let taken = take_mailbox_slot(c, tenant, s.row.mailbox.id, now.date_naive(), s.cap)
                    .await
                    .map_err(|e| store_error("mailbox slot", &e))?;
                if taken {
                    slots.mailbox = Some((s.row.mailbox.id, s.address().to_owned()));
                    break;
                }
            }
            if slots.mailbox.is_none() {
                return Ok(Err((next_utc_midnight(now), "mailbox_daily_cap")));
            }
        }
        let cap = if channel == Channel::Email {
            self.settings.email_hourly_cap
        } else {
            self.settings.sms_hourly_cap
        };
        match take_channel_slot(c, tenant, channel, now, cap).await {
            Ok(true) => Ok(Ok(slots)),
            Ok(false) => {
                self.release_mailbox(tenant, &slots).await;
                Ok(Err((
                    hour_start(now) + Duration::hours(1),
                    "channel_hourly_cap",
                )))
            }
            Err(e) => {
                self.release_mailbox(tenant, &slots).await;
                Err(store_error("channel slot", &e))
            }
        }
    }

    pub(super) async fn release_mailbox(&self, tenant: Uuid, slots: &Slots) {
        if let Some((id, _)) = &slots.mailbox
            && let Err(e) =
                release_mailbox_slot(self.store.conn(), tenant, *id, slots.at.date_naive()).await
        {
            // the slot stays spent: the cap errs on the side of sending less
            tracing::warn!(error = %e, "could not release a mailbox slot");
        }
    }

    pub(super) async fn release(&self, tenant: Uuid, channel: Channel, slots: &Slots) {
        self.release_mailbox(tenant, slots).await;
        if let Err(e) = release_channel_slot(self.store.conn(), tenant, channel, slots.at).await {
            tracing::warn!(error = %e, "could not release a channel slot");
        }
    }
}
