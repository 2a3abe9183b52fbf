//! The enrichment waterfall with the real Hunter and Apollo clients, each
//! against its own local server.

use crate::fixtures::{http, received, usage};
use crate::{apollo, hunter};
use rex_adapters::enrichment::{Budget, EmailStatus, MemoryCache, StepOutcome, Waterfall};
use rex_adapters::{Credits, Provider};
use serde_json::json;
use std::sync::Arc;
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn hunter_then_apollo_then_verification_with_provenance_and_cost() {
    let hunter_server = MockServer::start().await;
    let apollo_server = MockServer::start().await;
    hunter::finder_request()
        .respond_with(hunter::found(None))
        .expect(1)
        .mount(&hunter_server)
        .await;
    hunter::verifier_request()
        .respond_with(hunter::verified("valid"))
        .expect(1)
        .mount(&hunter_server)
        .await;
    // Apollo found the address but only guessed it: Hunter must verify it.
    let mut person = apollo::person(Some("lee@acme.com"), json!([]));
    person["email_status"] = json!("extrapolated");
    apollo::match_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "person": person })))
        .expect(1)
        .mount(&apollo_server)
        .await;
    let (log, sink) = usage();
    let hunter = Arc::new(hunter::client(&hunter_server, http(), sink.clone()));
    let apollo = Arc::new(apollo::client(&apollo_server, http(), sink));
    let cache = Arc::new(MemoryCache::new());
    let waterfall =
        Waterfall::new(cache.clone(), vec![hunter.clone(), apollo]).with_verifier(hunter);
    let mut budget = Budget::new(Credits::whole(5));

    let result = waterfall.enrich(&hunter::query(), &mut budget).await;
    let outcomes: Vec<&StepOutcome> = result.steps.iter().map(|s| &s.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            &StepOutcome::NotFound,
            &StepOutcome::Found,
            &StepOutcome::Verified
        ]
    );
    let email = result.contact.email.as_ref().unwrap();
    assert_eq!(
        (email.value.as_str(), email.source),
        ("lee@acme.com", Provider::Apollo)
    );
    let status = result.contact.email_status.as_ref().unwrap();
    assert_eq!(
        (status.value, status.source),
        (EmailStatus::Valid, Provider::Hunter)
    );
    assert_eq!(result.spent, Credits::from_millis(1500));
    assert_eq!(budget.spent, Credits::from_millis(1500));
    assert_eq!(
        log.total(Provider::Hunter).credits + log.total(Provider::Apollo).credits,
        Credits::from_millis(1500)
    );

    // The second time comes from the cache, at no cost and with no request.
    let again = waterfall.enrich(&hunter::query(), &mut budget).await;
    assert!(again.from_cache);
    assert_eq!(again.contact, result.contact);
    assert_eq!(received(&apollo_server).await.len(), 1);
    assert_eq!(budget.spent, Credits::from_millis(1500));
}

#[tokio::test]
async fn an_exhausted_budget_stops_the_waterfall_before_any_paid_call() {
    let hunter_server = MockServer::start().await;
    let apollo_server = MockServer::start().await;
    let hunter = Arc::new(hunter::client(&hunter_server, http(), usage().1));
    let apollo = Arc::new(apollo::client(&apollo_server, http(), usage().1));
    let waterfall = Waterfall::new(Arc::new(MemoryCache::new()), vec![hunter, apollo]);
    let mut budget = Budget {
        limit: Credits::whole(10),
        spent: Credits::from_millis(9500),
    };
    let result = waterfall.enrich(&hunter::query(), &mut budget).await;
    assert!(result.stopped_by_budget);
    assert_eq!(result.steps[0].outcome, StepOutcome::SkippedBudget);
    assert!(received(&hunter_server).await.is_empty());
    assert!(received(&apollo_server).await.is_empty());
}
