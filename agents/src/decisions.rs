//! The decision engine's layers as the agents use them, each decision counted in
//! `rex_decisions_total{layer, rule}`.
//!
//! - Reply classification ([`ReplyClassifier`]): rules first (an SMS STOP keyword, or
//!   an explicit unsubscribe that `classify` matches with confidence at least
//!   [`RULES_CONFIDENCE`]) → layer `rules`; then the LLM, through the same
//!   `rex-adapters` client the personalizer uses (it redacts emails, phone numbers and
//!   the names given before the call), its answer checked by
//!   `validate_llm_classification` → layer `llm`; else the deterministic `classify` →
//!   layer `fallback` (no LLM configured, the call failed, or the answer was invalid).
//!   Validated answers are cached in process, keyed by the SHA-256 of the normalized
//!   reply text: a bounded map that evicts the oldest entry (FIFO, not a true LRU), lost
//!   on restart. The adapter's own response cache sits behind it.
//! - The send path ([`send_facts`], [`record`]): `rules::evaluate` over what
//!   `outreach.send` knows once its own gates have passed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rex_adapters::llm::{LlmClient, Prompt};
use rex_domain::Channel;
use rex_domain::ConsentFlags;
use rex_domain::outreach::SendWindow;
use rex_domain::replies::{
    Classification, ReplyCategory, classify, is_sms_stop, validate_llm_classification,
};
use rex_domain::rules::{Facts, Layer, Pending};
use rex_observability::DecisionLayer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The lowest rules confidence that decides an unsubscribe without asking the LLM
/// (chosen: `classify` gives its explicit patterns and STOP keywords 0.9 and above).
pub const RULES_CONFIDENCE: f64 = 0.9;
/// Classified replies kept in the in-process cache.
pub const CACHE_CAPACITY: usize = 1000;

/// The rule names a reply classification reports (`rules::catalog` where one exists).
pub const RULE_SMS_STOP: &str = "suppress_on_sms_stop";
pub const RULE_UNSUBSCRIBE: &str = "suppress_on_unsubscribe";
pub const RULE_LLM: &str = "llm_reasoner";
pub const RULE_FALLBACK: &str = "llm_unavailable_use_classifier";

/// A classification with the layer and rule that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub classification: Classification,
    pub layer: Layer,
    pub rule: &'static str,
    pub reason: String,
}

/// The metrics label of a domain layer.
pub fn metric_layer(layer: Layer) -> DecisionLayer {
    match layer {
        Layer::StateMachine => DecisionLayer::StateMachine,
        Layer::Rules => DecisionLayer::Rules,
        Layer::Llm => DecisionLayer::Llm,
        Layer::Fallback => DecisionLayer::Fallback,
    }
}

/// Counts one decision.
pub fn record(layer: Layer, rule: &str) {
    rex_observability::metrics().decision(metric_layer(layer), rule);
}

fn layer_name(layer: Layer) -> &'static str {
    metric_layer(layer).as_str()
}

/// `{layer, rule, reason}` for an action's output.
pub fn decision_json(layer: Layer, rule: &str, reason: &str) -> Value {
    json!({"layer": layer_name(layer), "rule": rule, "reason": reason})
}

/// Lower case, whitespace collapsed: replies that differ only there share an entry.
fn cache_key(text: &str) -> String {
    let normalized = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// Validated model answers by reply hash; the oldest goes first.
#[derive(Default)]
struct Cache {
    answers: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Cache {
    fn put(&mut self, key: String, answer: String) {
        if self.answers.insert(key.clone(), answer).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CACHE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
    }
}

/// The three-layer reply classifier.
pub struct ReplyClassifier {
    llm: Option<Arc<LlmClient>>,
    cache: Mutex<Cache>,
}

impl ReplyClassifier {
    /// `llm`: `None` classifies with the rules and the deterministic fallback only.
    pub fn new(llm: Option<LlmClient>) -> Self {
        Self::shared(llm.map(Arc::new))
    }

    /// As [`ReplyClassifier::new`], with a client shared with others (a tenant's).
    pub fn shared(llm: Option<Arc<LlmClient>>) -> Self {
        Self {
            llm,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn cached(&self, key: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.answers.get(key).cloned()
    }

    /// Classifies `text` received on `received`, hiding `names` from the model, and
    /// counts the decision.
    pub async fn classify(&self, text: &str, received: NaiveDate, names: &[String]) -> Classified {
        let classified = self.layers(text, received, names).await;
        record(classified.layer, classified.rule);
        classified
    }

    async fn layers(&self, text: &str, received: NaiveDate, names: &[String]) -> Classified {
        let rules = classify(text, received);
        if is_sms_stop(text) {
            return Classified {
                classification: rules,
                layer: Layer::Rules,
                rule: RULE_SMS_STOP,
                reason: "an SMS STOP keyword".into(),
            };
        }
        if rules.category == ReplyCategory::Unsubscribe && rules.confidence >= RULES_CONFIDENCE {
            return Classified {
                reason: format!("explicit unsubscribe: {:?}", rules.evidence),
                classification: rules,
                layer: Layer::Rules,
                rule: RULE_UNSUBSCRIBE,
            };
        }
        let fallback = |classification: Classification, reason: String| Classified {
            classification,
            layer: Layer::Fallback,
            rule: RULE_FALLBACK,
            reason,
        };
        let Some(llm) = &self.llm else {
            return fallback(rules, "no LLM configured".into());
        };
        let key = cache_key(text);
        if let Some(answer) = self.cached(&key)
            && let Ok(c) = validate_llm_classification(&answer, received)
        {
            return Classified {
                classification: c,
                layer: Layer::Llm,
                rule: RULE_LLM,
                reason: "llm classification (cached)".into(),
            };
        }
        let answer = match llm
            .complete_json(&prompt(text, received, names), &schema())
            .await
        {
            Ok(a) => a.value.to_string(),
            Err(e) => {
                let error = rex_observability::redact_pii(&e.to_string()).into_owned();
                tracing::warn!(%error, "llm classification failed: deterministic fallback");
                return fallback(rules, format!("llm unavailable ({})", e.kind()));
            }
        };
        match validate_llm_classification(&answer, received) {
            Ok(c) => {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put(key, answer);
                Classified {
                    classification: c,
                    layer: Layer::Llm,
                    rule: RULE_LLM,
                    reason: "llm classification passed validation".into(),
                }
            }
            Err(e) => fallback(rules, format!("llm answer invalid: {e}")),
        }
    }
}

fn prompt(text: &str, received: NaiveDate, names: &[String]) -> Prompt {
    let system = format!(
        "You classify one reply to a B2B sales email. Answer with one JSON object: \
         {{\"category\": one of interested, objection, not_interested, out_of_office, \
         unsubscribe, referral; \"confidence\": a number from 0 to 1; \"return_date\": \
         YYYY-MM-DD or null (out_of_office only, not before {received}); \
         \"referral_name\" and \"referral_email\": strings or null (referral only); \
         \"objection\": budget, timing, competitor, other or null (objection only); \
         \"reason\": a few words}}. No prose."
    );
    Prompt::new(system, format!("Reply received {received}:\n{text}"))
        .hiding_names(names.iter().cloned())
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["category", "confidence"],
        "properties": {
            "category": {"type": "string"},
            "confidence": {"type": "number"}
        }
    })
}

/// What the send path knows once its own gates have passed, as rule facts. The
/// mailbox and domain counters are not read here (the slot and the deliverability
/// agent enforce them), so those rules see an empty history.
pub struct SendKnown<'a> {
    pub now: DateTime<Utc>,
    pub channel: Channel,
    pub suppressed: bool,
    pub country: Option<&'a str>,
    pub consent: ConsentFlags,
    pub time_zone: Option<&'a str>,
    pub mailbox: Option<&'a str>,
}

pub fn send_facts(k: &SendKnown<'_>) -> Facts {
    let domain = k
        .mailbox
        .and_then(|m| m.rsplit_once('@'))
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    Facts {
        now: k.now,
        pending: Pending::Send { channel: k.channel },
        signal: None,
        sequence_active: true,
        paused_until: None,
        suppressed: k.suppressed,
        country: k.country.map(str::to_owned),
        consent: k.consent,
        time_zone: k.time_zone.unwrap_or_default().to_owned(),
        send_window: SendWindow::default(),
        domain,
        domain_stats: Default::default(),
        mailbox_age_days: 365,
        mailbox_sent_today: 0,
        mailbox_stats: Default::default(),
        enrichment_budget: Default::default(),
        llm_available: false,
    }
}

/// The rule layer's decision on a send whose own gates passed: counted, and logged
/// at warn when a rule would not proceed (the path's gates stay authoritative).
pub fn send_decision(k: &SendKnown<'_>) -> Value {
    let d = rex_domain::rules::evaluate(&send_facts(k));
    record(d.layer, d.rule);
    if d.action != rex_domain::rules::Action::Proceed {
        tracing::warn!(
            rule = d.rule,
            action = ?d.action,
            reason = %d.reason,
            "a rule disagrees with the send path's gates; the gates decide"
        );
    }
    decision_json(d.layer, d.rule, &d.reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rex_adapters::llm::LlmConfig;
    use rex_adapters::{DryRunLog, NoUsage};
    use std::sync::Arc;
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    fn completion(content: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }))
    }

    async fn classifier(server: &MockServer) -> ReplyClassifier {
        let config = LlmConfig::new(server.uri().parse().unwrap(), "gpt-4o-mini");
        let llm = LlmClient::from_config(Some(config), DryRunLog::new(), Arc::new(NoUsage))
            .expect("client");
        ReplyClassifier::new(Some(llm))
    }

    const INTERESTED: &str =
        r#"{"category": "interested", "confidence": 0.9, "reason": "asks for a call"}"#;

    #[tokio::test]
    async fn a_valid_llm_answer_decides_and_a_second_call_is_served_from_the_cache() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex("chat/completions$"))
            .respond_with(completion(INTERESTED))
            .expect(1)
            .mount(&server)
            .await;
        let c = classifier(&server).await;
        let reply = "Sounds useful, could we talk next Tuesday?";
        let first = c.classify(reply, day(), &[]).await;
        assert_eq!(first.layer, Layer::Llm);
        assert_eq!(first.rule, RULE_LLM);
        assert_eq!(first.classification.category, ReplyCategory::Interested);
        let again = c
            .classify("  sounds useful, could we talk NEXT Tuesday? ", day(), &[])
            .await;
        assert_eq!(again.layer, Layer::Llm);
        assert_eq!(again.reason, "llm classification (cached)");
        server.verify().await;
    }

    #[tokio::test]
    async fn a_garbage_answer_falls_back_to_the_deterministic_classifier() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex("chat/completions$"))
            .respond_with(completion("I think they like it!"))
            .mount(&server)
            .await;
        let c = classifier(&server).await;
        let got = c
            .classify("Sounds useful, could we talk next week?", day(), &[])
            .await;
        assert_eq!(got.layer, Layer::Fallback);
        assert_eq!(got.rule, RULE_FALLBACK);
    }

    #[tokio::test]
    async fn an_answer_the_validator_refuses_falls_back() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex("chat/completions$"))
            .respond_with(completion(r#"{"category": "maybe", "confidence": 0.9}"#))
            .mount(&server)
            .await;
        let got = classifier(&server)
            .await
            .classify("Sounds useful, could we talk next week?", day(), &[])
            .await;
        assert_eq!(got.layer, Layer::Fallback);
        assert!(
            got.reason.starts_with("llm answer invalid"),
            "{}",
            got.reason
        );
    }

    #[tokio::test]
    async fn without_an_llm_the_fallback_decides() {
        let got = ReplyClassifier::new(None)
            .classify("Sounds useful, could we talk next week?", day(), &[])
            .await;
        assert_eq!(got.layer, Layer::Fallback);
        assert_eq!(got.reason, "no LLM configured");
    }

    #[tokio::test]
    async fn a_stop_never_reaches_the_llm() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(completion(INTERESTED))
            .expect(0)
            .mount(&server)
            .await;
        let c = classifier(&server).await;
        let stop = c.classify("STOP", day(), &[]).await;
        assert_eq!((stop.layer, stop.rule), (Layer::Rules, RULE_SMS_STOP));
        assert_eq!(stop.classification.category, ReplyCategory::Unsubscribe);
        let unsub = c
            .classify("Please remove me from your list", day(), &[])
            .await;
        assert_eq!(unsub.layer, Layer::Rules);
        server.verify().await;
    }

    #[test]
    fn the_send_facts_of_a_send_that_passed_its_gates_proceed() {
        let facts = send_facts(&SendKnown {
            now: "2026-12-01T15:00:00Z".parse().unwrap(),
            channel: Channel::Email,
            suppressed: false,
            country: Some("US"),
            consent: ConsentFlags::default(),
            time_zone: Some("America/New_York"),
            mailbox: Some("ana@mail.acme.com"),
        });
        let d = rex_domain::rules::evaluate(&facts);
        assert_eq!((d.layer, d.rule), (Layer::Rules, "all_gates_passed"));
        assert_eq!(facts.domain, "mail.acme.com");
    }
}
