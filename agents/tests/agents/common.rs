//! Shared fixtures: task contexts, the demo files, a clock at the demo's "today", fast
//! HTTP settings.

use std::sync::Arc;
use std::time::Duration;

use rex_adapters::clock::{Clock, ManualClock};
use rex_adapters::http::HttpConfig;
use rex_workers::TaskContext;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub fn ctx(action: &str) -> TaskContext {
    TaskContext {
        mission_id: "m".into(),
        step_id: "s".into(),
        attempt: 1,
        action: action.into(),
        idempotency_key: "m:s:1".into(),
        tenant: "default".into(),
        cancel: CancellationToken::new(),
    }
}

/// A demo file's path, as a worker started in the repository root would name it.
pub fn demo(file: &str) -> String {
    format!("{}/../data/demo/{file}", env!("CARGO_MANIFEST_DIR"))
}

pub fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(rex_domain::demo::as_of()))
}

/// One attempt, tiny timeouts: a failing provider answers in milliseconds.
pub fn http() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(2),
        max_retries: 0,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(1),
        user_agent: "rex-agents-test".into(),
    }
}

pub fn leads(output: &Value) -> &Vec<Value> {
    output["leads"].as_array().expect("leads")
}

/// A lead every channel can reach, in the import shape.
pub fn reachable_lead(id: &str) -> Value {
    serde_json::json!({
        "id": id, "first_name": "Ana", "last_name": "Lopez", "title": "VP Sales",
        "email": "ana@acme.example", "email_status": "valid", "phone": "+14155550142",
        "linkedin_url": "https://www.linkedin.com/in/ana-lopez",
        "company": {"name": "Acme", "domain": "acme.example", "industry": "logistics", "employees": 120},
        "country": "US", "region": "na", "timezone": "America/New_York",
        "consent": {"email": "unknown", "sms": "granted", "linkedin": "unknown"},
        "history": {"source": "webinar", "created_at": "2024-01-10T10:00:00Z", "stage": "demo",
                    "last_contact_at": "2026-05-01T10:00:00Z", "lost_reason": "timing",
                    "engagement": {"opens": 4, "clicks": 1, "replies": 1, "meetings": 0},
                    "pain_point": "manual lead routing"},
        "suppression": null
    })
}
