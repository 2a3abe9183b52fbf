//! `outreach.linkedin_task`: LinkedIn touches are human tasks.

use super::*;

impl Outreach {
    /// `outreach.linkedin_task`: a human task, keyed by the message id so that a retry
    /// finds the same one.
    pub(super) async fn linkedin_task(
        &self,
        ctx: &TaskContext,
        obj: &Obj,
    ) -> Result<Value, StepError> {
        let now = self.clock.now();
        let lead = match obj.get("lead") {
            Some(Value::Object(lead)) => lead,
            _ => return Err(bad("input.lead", "required (an object)")),
        };
        let lead_id =
            text(lead, "input.lead", "id")?.ok_or_else(|| bad("input.lead.id", "required"))?;
        tracing::Span::current().record("rex.lead", lead_id.as_str());
        let message_id = format!("{}:{}", ctx.mission_id, ctx.step_id);
        let consent = parse::<ConsentFlags>(lead, "input.lead", "consent")?.unwrap_or_default();
        if consent_gate(Channel::Linkedin, None, &consent).is_err() {
            return Ok(
                json!({"status": "skipped", "task_id": null, "reason": "lead objected to LinkedIn"}),
            );
        }
        // an objection or do-not-contact on any of the lead's addresses covers LinkedIn
        let tenant = crate::tenant_id(&self.store, obj, &self.settings.tenant, now).await?;
        for (channel, field) in [(Channel::Email, "email"), (Channel::Sms, "phone")] {
            let Some(address) = text(lead, "input.lead", field)? else {
                continue;
            };
            let hit = is_suppressed(self.store.conn(), tenant, channel, &address, now)
                .await
                .map_err(|e| store_error("suppression ledger", &e))?;
            if let Some(entry) = hit
                && (entry.reason == enum_text(&SuppressionReason::Objection)
                    || entry.reason == enum_text(&SuppressionReason::DoNotContact))
            {
                return Ok(json!({"status": "skipped", "task_id": null, "reason": entry.reason}));
            }
        }
        let task_id = format!("li-{}", &hash_body(&[&message_id])[..12]);
        Ok(json!({
            "status": "task_created",
            "task_id": task_id,
            "reason": null,
            "message_id": message_id,
            "profile_url": text(lead, "input.lead", "linkedin_url")?,
            "message": text(obj, "input", "message.body")?,
            "due_at": (now + Duration::days(2)).to_rfc3339(),
        }))
    }
}
