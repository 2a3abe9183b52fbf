//! The simulated world, driven: it watches the touches the outreach steps made and
//! answers them as `rex_domain::world::simulate` says, at the simulated times, through
//! the same `outreach.handle_event` path a provider webhook takes (ledger, delivery
//! events, `lead.*` signals) — and a LinkedIn task done becomes `linkedin.done`.
//!
//! The touches are read from the store (succeeded steps whose output says `sent` or
//! `task_created`, with the lead and step from the step's input), so a driver started
//! after a crash, or beside workers in other processes, sees every one of them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use chrono::{DateTime, Utc};
use rex_domain::Channel;
use rex_domain::personalizer::Framework;
use rex_domain::scraper::EmailVerification;
use rex_domain::world::{Features, Happening, Touch, WorldEvent, simulate};
use rex_engine::Engine;
use rex_store::Store;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::events::Events;

/// Steps read per scan of the store.
const SCAN_BATCH: u64 = 2_000;

/// What the world did, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorldStats {
    pub touches: u64,
    pub delivered: u64,
    pub bounces: u64,
    pub complaints: u64,
    pub replies: u64,
    pub stops: u64,
    pub bookings: u64,
    pub tasks_done: u64,
    /// Events the handler refused (logged), e.g. a lead without an address.
    pub refused: u64,
}

/// One touch's answer, waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    at: DateTime<Utc>,
    seq: u64,
    lead: LeadRef,
    channel: Channel,
    /// `<mission>:<step>` of the touch: unique, so the event ids derived from it are.
    touch_key: String,
    /// The `messages` row of the send (the send's `record_id`), as a provider's
    /// webhook would name it through its custom args.
    record_id: Option<String>,
    event: WorldEvent,
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LeadRef {
    id: String,
    email: Option<String>,
    phone: Option<String>,
    timezone: Option<String>,
}

/// Answers touches as the simulated world would.
pub struct World {
    store: Store,
    engine: Engine,
    events: Events,
    tenant: Option<String>,
    queue: BinaryHeap<Reverse<Pending>>,
    seen: HashSet<(Uuid, String, i32)>,
    watermark: DateTime<Utc>,
    seq: u64,
    stats: WorldStats,
    /// Scripted answers waiting for a touch on their channel (see [`World::inject`]).
    injections: Vec<(Channel, WorldEvent)>,
    /// Leads that got a scripted answer, with it.
    injected: Vec<(String, WorldEvent)>,
}

impl World {
    /// `since`: touches made before it are not answered (the start of the run).
    pub fn new(
        store: Store,
        engine: Engine,
        events: Events,
        tenant: Option<String>,
        since: DateTime<Utc>,
    ) -> Self {
        Self {
            store,
            engine,
            events,
            tenant,
            queue: BinaryHeap::new(),
            seen: HashSet::new(),
            watermark: since,
            seq: 0,
            stats: WorldStats::default(),
            injections: Vec::new(),
            injected: Vec::new(),
        }
    }

    /// Scripts an answer: the next touch on `channel` of a lead that has no scripted
    /// answer yet is answered with `event`, one hour after it (delivered first, unless
    /// `event` is a bounce), instead of what the simulation would say. For tests that
    /// need each kind of answer to happen.
    pub fn inject(&mut self, channel: Channel, event: WorldEvent) {
        self.injections.push((channel, event));
    }

    /// The leads that got a scripted answer, and the answer.
    pub fn injected(&self) -> &[(String, WorldEvent)] {
        &self.injected
    }

    pub fn stats(&self) -> &WorldStats {
        &self.stats
    }

    /// When the next answer is due, if any is waiting.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.queue.peek().map(|Reverse(p)| p.at)
    }

    /// Reads the touches made since the last scan and schedules their answers.
    /// Returns how many new touches it found.
    pub async fn scan(&mut self) -> Result<usize, rex_store::StoreError> {
        let mut found = 0;
        loop {
            let rows = self
                .store
                .succeeded_steps_since(self.watermark, SCAN_BATCH)
                .await?;
            let full = rows.len() as u64 == SCAN_BATCH;
            let mut advanced = false;
            for row in rows {
                if let Some(at) = row.finished_at
                    && at > self.watermark
                {
                    self.watermark = at;
                    advanced = true;
                }
                let key = (row.mission_id, row.step_id.clone(), row.attempt);
                if !self.seen.insert(key) {
                    continue;
                }
                let (Some(input), Some(output)) = (&row.input, &row.output) else {
                    continue;
                };
                let Some((touch, features, lead)) = touch_of(input, output, row.finished_at) else {
                    continue;
                };
                found += 1;
                self.stats.touches += 1;
                let touch_key = format!("{}:{}", row.mission_id, row.step_id);
                let record_id = output
                    .get("record_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                for Happening { at, event } in self.answers(&touch, &features) {
                    self.seq += 1;
                    self.queue.push(Reverse(Pending {
                        at,
                        seq: self.seq,
                        lead: lead.clone(),
                        channel: touch.channel,
                        touch_key: touch_key.clone(),
                        record_id: record_id.clone(),
                        event,
                    }));
                }
            }
            // a full batch that did not move the watermark would read itself forever
            if !full || !advanced {
                return Ok(found);
            }
        }
    }

    /// The world's answers to one touch: scripted, or simulated.
    fn answers(&mut self, touch: &Touch, features: &Features) -> Vec<Happening> {
        let lead = &touch.lead_id;
        let scripted = self.injected.iter().any(|(l, _)| l == lead);
        let slot = self
            .injections
            .iter()
            .position(|(channel, _)| *channel == touch.channel);
        let (false, Some(slot)) = (scripted, slot) else {
            return simulate(touch, features);
        };
        let (_, event) = self.injections.remove(slot);
        self.injected.push((lead.clone(), event.clone()));
        let mut out = Vec::new();
        if event != WorldEvent::HardBounce && touch.channel != Channel::Linkedin {
            out.push(Happening {
                at: touch.sent_at + chrono::Duration::minutes(1),
                event: WorldEvent::Delivered,
            });
        }
        out.push(Happening {
            at: touch.sent_at + chrono::Duration::hours(1),
            event,
        });
        out
    }

    /// Delivers every answer due at `now`, oldest first. Returns how many.
    pub async fn deliver_due(&mut self, now: DateTime<Utc>) -> usize {
        let mut delivered = 0;
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > now {
                break;
            }
            let Some(Reverse(pending)) = self.queue.pop() else {
                break;
            };
            self.deliver(pending).await;
            delivered += 1;
        }
        delivered
    }

    async fn deliver(&mut self, p: Pending) {
        let id = format!("world:{}:{}", p.touch_key, event_name(&p.event));
        if p.event == WorldEvent::TaskDone {
            self.stats.tasks_done += 1;
            let key = format!("lead:{}", p.lead.id);
            let payload = json!({"at": p.at});
            let published = match &self.tenant {
                Some(t) => {
                    self.engine
                        .publish_tenant_event(t, &key, "linkedin.done", payload, &id)
                        .await
                }
                None => {
                    self.engine
                        .publish_event(&key, "linkedin.done", payload, &id)
                        .await
                }
            };
            if let Err(err) = published {
                tracing::warn!(error = %err, lead = %p.lead.id, "linkedin.done not published");
            }
            return;
        }
        let Some(input) = self.handler_input(&p, &id) else {
            self.stats.refused += 1;
            return;
        };
        match &p.event {
            WorldEvent::Delivered => self.stats.delivered += 1,
            WorldEvent::HardBounce => self.stats.bounces += 1,
            WorldEvent::Complaint => self.stats.complaints += 1,
            WorldEvent::Reply { .. } => self.stats.replies += 1,
            WorldEvent::SmsStop { .. } => self.stats.stops += 1,
            WorldEvent::Booked => self.stats.bookings += 1,
            WorldEvent::TaskDone => {}
        }
        if let Err(err) = self.events.handle(&input).await {
            self.stats.refused += 1;
            tracing::warn!(error = %err.message, lead = %p.lead.id, "world event refused");
        }
    }

    /// The `outreach.handle_event` input a provider's webhook would have produced.
    fn handler_input(&self, p: &Pending, id: &str) -> Option<Map<String, Value>> {
        let email = p.lead.email.clone();
        let phone = p.lead.phone.clone();
        let (source, kind, channel, address, text) = match (&p.event, p.channel) {
            (WorldEvent::Delivered, Channel::Sms) => ("twilio", "delivered", "sms", phone, None),
            (WorldEvent::Delivered, _) => ("sendgrid", "delivered", "email", email, None),
            (WorldEvent::HardBounce, _) => ("sendgrid", "bounce", "email", email, None),
            (WorldEvent::Complaint, _) => ("sendgrid", "spamreport", "email", email, None),
            (WorldEvent::SmsStop { text }, _) => (
                "inbound_sms",
                "sms_inbound",
                "sms",
                phone,
                Some(text.clone()),
            ),
            (WorldEvent::Reply { text, .. }, Channel::Sms) => (
                "inbound_sms",
                "sms_inbound",
                "sms",
                phone,
                Some(text.clone()),
            ),
            // an email reply, or a LinkedIn answer the rep logs against the lead's email
            (WorldEvent::Reply { text, .. }, _) => {
                ("inbound_email", "reply", "email", email, Some(text.clone()))
            }
            (WorldEvent::Booked, _) => ("calendly", "booking", "email", email, None),
            (WorldEvent::TaskDone, _) => return None,
        };
        let mut event = json!({
            "kind": kind,
            "id": id,
            "lead_id": p.lead.id,
            "channel": channel,
            "at": p.at,
        });
        let e = event.as_object_mut()?;
        if let Some(a) = address {
            e.insert("address".into(), a.into());
        }
        if let Some(t) = text {
            e.insert("text".into(), t.into());
        }
        if let Some(m) = &p.record_id {
            e.insert("message_id".into(), m.clone().into());
        }
        if let Some(z) = &p.lead.timezone {
            e.insert("timezone".into(), z.clone().into());
        }
        if p.event == WorldEvent::HardBounce {
            e.insert("bounce_type".into(), "hard".into());
            e.insert("reason".into(), "550 5.1.1 user unknown".into());
        }
        if p.event == WorldEvent::Booked {
            e.insert("event_uri".into(), format!("sim://{id}").into());
            e.insert("start_time".into(), json!(p.at + chrono::Duration::days(2)));
        }
        let mut input = Map::new();
        input.insert("source".into(), source.into());
        input.insert("event".into(), event);
        if let Some(t) = &self.tenant {
            input.insert("tenant".into(), t.clone().into());
        }
        Some(input)
    }
}

fn event_name(e: &WorldEvent) -> &'static str {
    match e {
        WorldEvent::Delivered => "delivered",
        WorldEvent::HardBounce => "bounce",
        WorldEvent::Complaint => "complaint",
        WorldEvent::Reply { .. } => "reply",
        WorldEvent::SmsStop { .. } => "stop",
        WorldEvent::Booked => "booked",
        WorldEvent::TaskDone => "task-done",
    }
}

/// The touch an outreach step made, from its input and output; `None` for any other
/// step, or a send that did not go out (skipped, deferred, suppressed).
fn touch_of(
    input: &Value,
    output: &Value,
    finished_at: Option<DateTime<Utc>>,
) -> Option<(Touch, Features, LeadRef)> {
    let status = output.get("status")?.as_str()?;
    let channel = match status {
        "sent" => serde_json::from_value::<Channel>(input.get("channel")?.clone()).ok()?,
        "task_created" => Channel::Linkedin,
        _ => return None,
    };
    // a send answered from the record of an earlier attempt was answered then
    if output.get("replayed").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let lead = input.get("lead")?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = text(lead, "id")?;
    let step = u8::try_from(input.get("step")?.as_u64()?).ok()?;
    let framework = input
        .get("framework")
        .and_then(|f| serde_json::from_value::<Framework>(f.clone()).ok())
        .unwrap_or(Framework::Pas);
    let score = lead
        .get("score")
        .and_then(|s| s.get("total").or(Some(s)))
        .and_then(Value::as_u64)
        .map_or(50, |s| u8::try_from(s.min(100)).unwrap_or(50));
    let email_status = lead
        .get("email_status")
        .and_then(|s| serde_json::from_value::<EmailVerification>(s.clone()).ok())
        .unwrap_or(EmailVerification::Unknown);
    let company_domain = lead
        .get("company")
        .and_then(|c| text(c, "domain"))
        .unwrap_or_else(|| "example.com".into());
    let touch = Touch {
        lead_id: id.clone(),
        step,
        channel,
        framework,
        sent_at: finished_at?,
    };
    let features = Features {
        score,
        email_status,
        first_name: text(lead, "first_name").unwrap_or_else(|| "there".into()),
        company_domain,
    };
    let lead_ref = LeadRef {
        id,
        email: text(lead, "email"),
        phone: text(lead, "phone"),
        timezone: text(lead, "timezone"),
    };
    Some((touch, features, lead_ref))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_input(channel: &str) -> Value {
        json!({
            "channel": channel, "step": 2, "framework": "fab",
            "lead": {"id": "lead-0001", "email": "ana@acme.test", "phone": "+14155550100",
                     "timezone": "America/New_York", "first_name": "Ana",
                     "email_status": "valid", "score": {"total": 71},
                     "company": {"domain": "acme.test"}}
        })
    }

    #[test]
    fn a_sent_message_is_a_touch_with_the_leads_features() {
        let at = Utc::now();
        let (touch, features, lead) =
            touch_of(&send_input("email"), &json!({"status": "sent"}), Some(at)).unwrap();
        assert_eq!(touch.step, 2);
        assert_eq!(touch.channel, Channel::Email);
        assert_eq!(touch.framework, Framework::Fab);
        assert_eq!(touch.sent_at, at);
        assert_eq!(features.score, 71);
        assert_eq!(features.email_status, EmailVerification::Valid);
        assert_eq!(features.company_domain, "acme.test");
        assert_eq!(lead.phone.as_deref(), Some("+14155550100"));
    }

    #[test]
    fn sends_that_did_not_go_out_are_not_touches() {
        for status in ["skipped", "deferred", "suppressed"] {
            let out = json!({"status": status});
            assert!(
                touch_of(&send_input("sms"), &out, Some(Utc::now())).is_none(),
                "{status}"
            );
        }
        let replayed = json!({"status": "sent", "replayed": true});
        assert!(touch_of(&send_input("sms"), &replayed, Some(Utc::now())).is_none());
        // a step of another agent
        assert!(
            touch_of(
                &json!({"leads": []}),
                &json!({"leads": []}),
                Some(Utc::now())
            )
            .is_none()
        );
    }

    #[test]
    fn a_linkedin_task_is_a_touch() {
        let out = json!({"status": "task_created", "task_id": "li-1"});
        let (touch, _, _) = touch_of(&send_input("linkedin"), &out, Some(Utc::now())).unwrap();
        assert_eq!(touch.channel, Channel::Linkedin);
    }
}
