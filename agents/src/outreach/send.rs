//! `outreach.send`: the path of one touch, step by step as the parent module's docs
//! number them.

use super::compose::Composed;
use super::slots::Slots;
use super::*;

/// One attempt at one touch: what every step of the path reads.
struct Touch<'a> {
    obj: &'a Obj,
    req: SendRequest<'a>,
    out: Out,
    /// The normalized address the channel sends to.
    address: String,
    tenant: Uuid,
    now: DateTime<Utc>,
}

/// What the gates read from the lead, which the rule layer sees again.
struct Gated {
    country: Option<String>,
    consent: ConsentFlags,
    zone: Option<String>,
}

/// What the provider said: its message id and the dry-run stand-in's log entry.
type Sent = Result<(Option<String>, Option<u64>), ProviderError>;

impl Outreach {
    /// `outreach.send`.
    pub(super) async fn send(&self, ctx: &TaskContext, obj: &Obj) -> Result<Value, StepError> {
        let now = self.clock.now();
        let req = SendRequest::parse(obj)?;
        let out = Out {
            message_id: format!("{}:{}", ctx.mission_id, ctx.step_id),
            channel: req.channel,
        };
        let span = tracing::Span::current();
        span.record("rex.lead", req.lead_id.as_str());
        let Some(address) = req.address()? else {
            let what = if req.channel == Channel::Email {
                "email address"
            } else {
                "phone number"
            };
            return Ok(out.skipped(format!("no {what}")));
        };
        span.record("rex.address_hash", address_hash(&address).as_str());
        let tenant = crate::tenant_id(&self.store, obj, &self.settings.tenant, now).await?;
        // the tenant's own credentials, else the environment's: refused (half a pair,
        // a secret this worker cannot open) before anything is recorded or sent
        let sender = self.sender(tenant, req.channel).await?;
        crate::credentials::record_source(sender.source());
        if sender.mode() == Mode::Live
            && req.channel == Channel::Email
            && let Err(why) =
                rex_domain::unsubscribe::check_secret(self.settings.unsubscribe_secret.expose())
        {
            return Err(StepError::permanent(format!(
                "REX_UNSUBSCRIBE_SECRET: {why} (live email signs its unsubscribe links with it)"
            )));
        }
        let lead = self.lead(tenant, &req, now).await?;
        let campaign = self.campaign(tenant, &req.campaign, now).await?;
        let t = Touch {
            obj,
            req,
            out,
            address,
            tenant,
            now,
        };

        // 1. a redelivery answers from the record
        if let Some(existing) =
            find_message(&self.store, tenant, lead, campaign, &t.out.message_id).await?
        {
            return self.replayed(&t, existing, sender.mode()).await;
        }
        // 2.-4. ledger, consent and country, window
        let gated = match self.gates(&t).await? {
            Ok(gated) => gated,
            Err(answer) => return Ok(answer),
        };
        // 5. compose before taking anything
        let first = !has_sent_before(&self.store, tenant, lead, t.req.channel).await?;
        let composed = self.compose(
            tenant,
            &t.req,
            &t.out,
            gated.country.clone(),
            first,
            sender.mode(),
        )?;
        // the lead's A/B variant in the campaign's experiment, for the report
        let variant = self.variant(tenant, campaign, obj, t.req.lead, now).await?;
        // 6. slots
        let slots = match self.take_slots(tenant, t.req.channel, now).await? {
            Ok(slots) => slots,
            Err((until, reason)) => return Err(t.out.deferred(until, reason)),
        };
        // the last look before committing to the send: a reply, booking or STOP that
        // ended the lead's sequence while this attempt ran stops it here (the worker's
        // cancel token only reaches running steps at its next poll)
        if self.mission_ended(&ctx.mission_id).await? {
            self.release(tenant, t.req.channel, &slots).await;
            return Ok(t.out.skipped("mission_ended"));
        }
        // 7. intent, committed before the call
        let intent = NewIntent {
            tenant_id: tenant,
            lead_id: lead,
            campaign_id: campaign,
            step_key: t.out.message_id.clone(),
            channel: t.req.channel,
            mailbox_id: slots.mailbox.as_ref().map(|(id, _)| *id),
            variant_id: variant,
            body_hash: hash_body(&[composed.subject.as_deref().unwrap_or(""), &composed.body]),
            at: now,
        };
        let intent_id = match record_intent(self.store.conn(), &intent).await {
            Ok(Intent::New(id)) => id,
            Ok(Intent::Existing { .. }) => {
                // a concurrent delivery of the same task got there first
                self.release(tenant, t.req.channel, &slots).await;
                let existing = find_message(&self.store, tenant, lead, campaign, &t.out.message_id)
                    .await?
                    .ok_or_else(|| StepError::retryable("message vanished after a conflict"))?;
                return self.replayed(&t, existing, sender.mode()).await;
            }
            Err(e) => {
                self.release(tenant, t.req.channel, &slots).await;
                return Err(store_error("message intent", &e));
            }
        };
        // 8. provider, after the rule layer has had its say
        let mailbox = slots.mailbox.as_ref().map(|(_, a)| a.as_str());
        let decision = crate::decisions::send_decision(&crate::decisions::SendKnown {
            now,
            channel: t.req.channel,
            suppressed: false,
            country: gated.country.as_deref(),
            consent: gated.consent,
            time_zone: gated.zone.as_deref(),
            mailbox,
        });
        let result = self.call_provider(&sender, &t, &composed, mailbox).await;
        // 9. receipt
        let mut answer = self.settle(&t, intent_id, &slots, mailbox, result).await?;
        if let Some(o) = answer.as_object_mut() {
            o.insert("decision".into(), decision);
        }
        Ok(answer)
    }

    /// The answer of a message already on record, and a refusal's signal again (a
    /// publish lost mid-attempt still goes out).
    async fn replayed(
        &self,
        t: &Touch<'_>,
        existing: messages::Model,
        mode: Mode,
    ) -> Result<Value, StepError> {
        let mut answer = self.replay(t.tenant, existing, &t.out, mode, t.now).await?;
        if answer["status"] == "suppressed"
            && let Some(reason) = answer["reason"].as_str().map(str::to_owned)
        {
            self.signal_refusal(t.obj, &t.req.lead_id, &reason, &t.out, &mut answer)
                .await?;
        }
        Ok(answer)
    }

    /// Steps 2-4: the suppression ledger, consent and country, the send window or quiet
    /// hours in the lead's zone. `Ok(Err(answer))` when a gate stops the touch; a
    /// closed window is a deferral (`Err`).
    async fn gates(&self, t: &Touch<'_>) -> Result<Result<Gated, Value>, StepError> {
        let (req, out) = (&t.req, &t.out);
        // 2. suppression ledger
        if let Some(entry) =
            is_suppressed(self.store.conn(), t.tenant, req.channel, &t.address, t.now)
                .await
                .map_err(|e| store_error("suppression ledger", &e))?
        {
            return Ok(Err(out.suppressed(&entry.reason)));
        }
        // 3. consent and country
        let country = text(req.lead, "input.lead", "country")?;
        let consent = parse::<ConsentFlags>(req.lead, "input.lead", "consent")?.unwrap_or_default();
        if let Err(refusal) = consent_gate(req.channel, country.as_deref(), &consent) {
            return Ok(Err(out.skipped(refusal_text(&refusal))));
        }
        // 4. window / quiet hours in the lead's zone
        let zone = text(req.lead, "input.lead", "timezone")?;
        let Some(tz) = zone.as_deref().and_then(|z| parse_tz(z).ok()) else {
            return Ok(Err(out.skipped(crate::reviver::UNKNOWN_TIME_ZONE_RULE)));
        };
        if let Some((until, reason)) = window_closed(req.channel, tz, t.now) {
            let until = until.ok_or_else(|| StepError::permanent("the send window never opens"))?;
            return Err(out.deferred(until, reason));
        }
        Ok(Ok(Gated {
            country,
            consent,
            zone,
        }))
    }

    /// Step 8: the touch through the tenant's client (or its dry-run stand-in).
    async fn call_provider(
        &self,
        sender: &Sender,
        t: &Touch<'_>,
        composed: &Composed,
        mailbox: Option<&str>,
    ) -> Sent {
        match sender {
            Sender::Email(_, email_sender) => {
                let email = OutboundEmail {
                    message_id: t.out.message_id.clone(),
                    from: Address::named(
                        mailbox.unwrap_or_default(),
                        &self.settings.sender_company,
                    ),
                    reply_to: None,
                    to: recipient_address(t.req.lead, &t.address),
                    subject: composed.subject.clone().unwrap_or_default(),
                    text: composed.body.clone(),
                    html: None,
                    unsubscribe: Unsubscribe::one_click(composed.unsubscribe_url.clone()),
                    send_at: None,
                    categories: vec![],
                };
                email_sender
                    .send(&email)
                    .await
                    .map(|r| (r.provider_message_id, dry_entry(&r.delivery)))
            }
            Sender::Sms(_, sms_sender) => {
                let sms = OutboundSms {
                    message_id: t.out.message_id.clone(),
                    to: t.address.clone(),
                    body: composed.body.clone(),
                };
                sms_sender
                    .send(&sms)
                    .await
                    .map(|r| (r.provider_message_id, dry_entry(&r.delivery)))
            }
        }
    }

    /// Step 9: the receipt of what the provider said, recorded, and the step's answer.
    /// A certain non-send removes the intent and gives the slots back (retryable unless
    /// the error is permanent); an unknown outcome is `sent` and never resent; a refused
    /// address goes on the ledger and ends the lead's sequence (`signal_refusal`).
    async fn settle(
        &self,
        t: &Touch<'_>,
        intent_id: Uuid,
        slots: &Slots,
        mailbox: Option<&str>,
        result: Sent,
    ) -> Result<Value, StepError> {
        let (tenant, now, out) = (t.tenant, t.now, &t.out);
        // the dry-run stand-in's record goes to the database before the receipt: it is
        // the provider's log of a dry run, which reconciliation consults
        let persisted = match &result {
            Ok((_, Some(entry))) => self.persist_dry_run(tenant, intent_id, *entry, now).await?,
            _ => None,
        };
        // the ledger reason when the provider refused the address itself
        let mut refused = None;
        let (receipt, answer) = match result {
            Ok((provider_id, entry)) => {
                let detail = entry.map(|n| match persisted {
                    Some(row) => format!("dry_run {row}"),
                    None => format!("dry_run entry {n} (not persisted)"),
                });
                let receipt = Receipt {
                    provider_message_id: provider_id.clone(),
                    status: ReceiptStatus::Sent,
                    detail,
                    at: now,
                };
                let answer = out.json(
                    "sent",
                    None,
                    Some(intent_id),
                    mailbox,
                    provider_id.as_deref(),
                );
                (receipt, Ok(answer))
            }
            Err(e) => {
                let operation = if t.req.channel == Channel::Email {
                    "send_email"
                } else {
                    "send_sms"
                };
                rex_observability::metrics().provider_error(
                    Self::provider(t.req.channel),
                    operation,
                    error_kind(&e),
                );
                // provider messages may quote the address: never into logs or outputs
                let said = rex_observability::redact_pii(&e.to_string()).into_owned();
                if nothing_sent(&e) {
                    self.forget_intent(tenant, intent_id).await;
                    self.release(tenant, t.req.channel, slots).await;
                    let message = format!("{}: {said}", out.message_id);
                    return Err(if crate::provider::is_transient(&e) {
                        StepError::retryable(message)
                    } else {
                        StepError::permanent(message)
                    });
                }
                if matches!(
                    e,
                    ProviderError::Timeout { .. }
                        | ProviderError::Interrupted { .. }
                        | ProviderError::InvalidResponse { .. }
                ) {
                    let receipt = Receipt {
                        provider_message_id: None,
                        status: ReceiptStatus::Sent,
                        detail: Some(format!("outcome_unknown: {said}")),
                        at: now,
                    };
                    let answer = out.json(
                        "sent",
                        Some("outcome_unknown".into()),
                        Some(intent_id),
                        mailbox,
                        None,
                    );
                    (receipt, Ok(answer))
                } else {
                    self.release(tenant, t.req.channel, slots).await;
                    let reason = address_refusal(t.req.channel, &e);
                    let detail = match reason {
                        Some(r) => format!("{}: {said}", enum_text(&r)),
                        None => format!("rejected: {said}"),
                    };
                    let receipt = Receipt {
                        provider_message_id: None,
                        status: ReceiptStatus::Rejected,
                        detail: Some(detail),
                        at: now,
                    };
                    let answer = match reason {
                        Some(r) => {
                            self.suppress(
                                tenant,
                                t.req.channel,
                                &t.address,
                                r,
                                &out.message_id,
                                now,
                            )
                            .await?;
                            refused = Some(enum_text(&r));
                            Ok(out.suppressed(&enum_text(&r)))
                        }
                        None => Err(StepError::permanent(format!("{}: {said}", out.message_id))),
                    };
                    (receipt, answer)
                }
            }
        };
        record_receipt(self.store.conn(), tenant, intent_id, &receipt)
            .await
            .map_err(|e| store_error("message receipt", &e))?;
        let mut answer = answer?;
        if let Some(reason) = refused {
            self.signal_refusal(t.obj, &t.req.lead_id, &reason, out, &mut answer)
                .await?;
        }
        Ok(answer)
    }

    /// An address the provider refused at send ends the lead's sequence as the same
    /// news by webhook does (docs/agents.md, "Signals the sequence listens to"): a hard
    /// bounce publishes `lead.bounced`, an opted-out number (Twilio 21610) `lead.stop`,
    /// to the lead's missions of this tenant, with signal id `outreach:<message id>`. A
    /// redelivered step replays the refusal and publishes again, which each mission takes
    /// once, so a publish lost mid-attempt still goes out. Without an engine
    /// ([`Outreach::with_events`]) only the ledger entry stops later touches, on that
    /// channel alone. `answer` gets `signal` and `missions` (how many were reached).
    pub(super) async fn signal_refusal(
        &self,
        obj: &Obj,
        lead_id: &str,
        reason: &str,
        out: &Out,
        answer: &mut Value,
    ) -> Result<(), StepError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        let (name, payload) = match reason {
            "hard_bounce" => (
                "lead.bounced",
                json!({"message_id": out.message_id, "reason": "refused at send"}),
            ),
            "sms_stop" => (
                "lead.stop",
                json!({"body": null, "message_id": out.message_id}),
            ),
            _ => return Ok(()),
        };
        let slug = text(obj, "input", "tenant")?.unwrap_or_else(|| self.settings.tenant.clone());
        let reached = events
            .signal_lead(
                &slug,
                lead_id,
                name,
                payload,
                &format!("outreach:{}", out.message_id),
            )
            .await?;
        tracing::info!(
            signal = name,
            missions = reached.len(),
            "refused at send: sequence signalled"
        );
        answer["signal"] = name.into();
        answer["missions"] = reached.len().into();
        Ok(())
    }

    /// Removes an intent whose send certainly did not happen, so that a retry sends.
    pub(super) async fn forget_intent(&self, tenant: Uuid, id: Uuid) {
        let deleted = messages::Entity::delete_many()
            .filter(messages::Column::TenantId.eq(tenant))
            .filter(messages::Column::Id.eq(id))
            .filter(messages::Column::ReceiptAt.is_null())
            .exec(self.store.conn())
            .await;
        if let Err(e) = deleted {
            // the retry then reconciles instead of sending: never a double send
            tracing::warn!(error = %e, "could not remove an unsent intent");
        }
    }

    pub(super) async fn suppress(
        &self,
        tenant: Uuid,
        channel: Channel,
        address: &str,
        reason: SuppressionReason,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StepError> {
        let entry = NewSuppression {
            tenant_id: tenant,
            channel,
            address: address.to_owned(),
            reason,
            source_event: format!("{}:{message_id}", Self::provider(channel)),
            at: now,
        };
        suppress(self.store.conn(), &entry)
            .await
            .map(|_| ())
            .map_err(|e| store_error("suppression ledger", &e))
    }
}

/// When `channel` may reach a lead in `tz` again, with the reason, if it may not now:
/// texts only 08:00-21:00 any day (TCPA quiet hours), email in the business-hours
/// window. `None` inside the window is "never opens" (refused by the caller).
fn window_closed(
    channel: Channel,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Option<(Option<DateTime<Utc>>, &'static str)> {
    match channel {
        Channel::Sms if !sms_allowed(tz, now) => Some((next_sms_time(tz, now), "sms_quiet_hours")),
        Channel::Email if !SendWindow::default().contains(tz, now) => {
            Some((SendWindow::default().next_open(tz, now), "send_window"))
        }
        _ => None,
    }
}
