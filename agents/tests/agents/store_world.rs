//! A tenant on a fresh database, a manual clock, and the store-backed agents built on
//! them, with SendGrid / Twilio either in dry-run or against a local server.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rex_adapters::DryRunLog;
use rex_adapters::clock::ManualClock;
use rex_adapters::sendgrid::SendGridConfig;
use rex_adapters::twilio::{SenderId, TwilioConfig};
use rex_agents::deliverability::Deliverability;
use rex_agents::outreach::Outreach;
use rex_agents::{AgentsConfig, OutreachSettings};
use rex_domain::unsubscribe::SigningKey;
use rex_domain_store::{NewMailbox, add_mailbox, add_sending_domain, create_tenant};
use rex_store::Store;
use rex_workers::TaskContext;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use url::Url;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::http;

pub const TENANT: &str = "acme";
pub const SENDGRID_KEY: &str = "SG.test-key";
/// Signs the unsubscribe tokens of the world's emails (live email refuses the default).
pub const UNSUBSCRIBE_SECRET: &str = "store-world-unsubscribe-secret-of-32-bytes";

/// Tuesday 2026-03-03 10:00 in New York (EST): inside every window.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-03T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn task(action: &str, mission: &str, step: &str, attempt: u32) -> TaskContext {
    TaskContext {
        mission_id: mission.into(),
        step_id: step.into(),
        attempt,
        action: action.into(),
        idempotency_key: format!("{mission}:{step}:{attempt}"),
        tenant: "default".into(),
        cancel: CancellationToken::new(),
    }
}

/// Which providers are live (against a local server) rather than dry-run.
#[derive(Default)]
pub struct Providers<'a> {
    pub sendgrid: Option<&'a MockServer>,
    pub twilio: Option<&'a MockServer>,
}

pub struct World {
    pub clock: ManualClock,
    pub log: DryRunLog,
    pub tenant: Uuid,
    pub domain: Uuid,
}

impl World {
    pub async fn new(store: &Store) -> anyhow::Result<World> {
        let tenant = create_tenant(store.conn(), TENANT, "Acme", t0()).await?.id;
        let domain = add_sending_domain(store.conn(), tenant, "mail.rex.example", t0())
            .await?
            .id;
        Ok(World {
            clock: ManualClock::new(t0()),
            log: DryRunLog::new(),
            tenant,
            domain,
        })
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        use rex_adapters::clock::Clock;
        self.clock.now()
    }

    pub fn config(&self, providers: &Providers<'_>) -> AgentsConfig {
        let sendgrid = providers.sendgrid.map(|server| {
            let mut c = SendGridConfig::new(SENDGRID_KEY);
            c.base_url = Url::parse(&server.uri()).unwrap();
            c.http = http();
            c
        });
        let twilio = providers.twilio.map(|server| {
            let mut c = TwilioConfig::new(
                "AC0123456789abcdef0123456789abcdef",
                "token",
                SenderId::Number("+15005550006".into()),
            );
            c.base_url = Url::parse(&server.uri()).unwrap();
            c.http = http();
            c
        });
        AgentsConfig {
            sendgrid,
            twilio,
            dry_run: self.log.clone(),
            outreach: OutreachSettings {
                postal_address: Some("1 Main St, Springfield, US".into()),
                unsubscribe_url: "https://rex.example/u".into(),
                unsubscribe_secret: SigningKey::new(UNSUBSCRIBE_SECRET),
                ..OutreachSettings::default()
            },
            ..AgentsConfig::default()
        }
        .with_clock(Arc::new(self.clock.clone()))
    }

    pub fn outreach(&self, store: &Store, providers: &Providers<'_>) -> Outreach {
        Outreach::from_config(store.clone(), &self.config(providers)).unwrap()
    }

    pub fn deliverability(&self, store: &Store) -> Deliverability {
        Deliverability::new(store.clone(), &self.config(&Providers::default()))
    }

    /// A mailbox `age_days` old with its own cap.
    pub async fn mailbox(
        &self,
        store: &Store,
        address: &str,
        age_days: i64,
        cap: u32,
    ) -> anyhow::Result<Uuid> {
        Ok(add_mailbox(
            store.conn(),
            &NewMailbox {
                tenant_id: self.tenant,
                domain_id: self.domain,
                address: address.into(),
                warmup_started_at: t0() - Duration::days(age_days),
                daily_cap: cap,
            },
            t0(),
        )
        .await?
        .id)
    }
}

/// A US lead in New York who may get email and texts.
pub fn lead(id: &str) -> Value {
    json!({
        "id": id, "first_name": "Ana", "last_name": "Lopez",
        "email": format!("{id}@acme.example"), "phone": "+14155550142",
        "linkedin_url": "https://www.linkedin.com/in/ana-lopez",
        "country": "US", "timezone": "America/New_York",
        "consent": {"email": "unknown", "sms": "granted", "linkedin": "unknown"},
        "data_sources": ["crm", "hunter"], "history": {"source": "webinar", "stage": "demo"}
    })
}

pub fn send_input(lead: Value, channel: &str) -> Value {
    json!({
        "tenant": TENANT, "lead": lead, "campaign_id": "camp-1", "channel": channel,
        "step": 1, "framework": "pas", "purpose": "reopen",
        "message": {"subject": "Acme and manual lead routing", "body": "Hi Ana, a quick question."}
    })
}

/// The `List-Unsubscribe` URL the world's emails carry for `message_id` of `tenant`.
pub fn unsubscribe_url(tenant: Uuid, message_id: &str) -> String {
    format!(
        "https://rex.example/u/{}",
        rex_domain::unsubscribe::sign(UNSUBSCRIBE_SECRET, tenant, message_id)
    )
}

/// A Twilio that refuses the one send it expects with error `code` (HTTP 400, Twilio's
/// error body).
pub async fn twilio_refusing(code: u32, message: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": 400
        })))
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// A SendGrid that refuses the recipient of the one send it expects (400 naming
/// `personalizations.0.to.0.email`).
pub async fn sendgrid_refusing_the_recipient() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"errors": [
            {"message": "Does not contain a valid address.",
             "field": "personalizations.0.to.0.email", "help": null}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    server
}
