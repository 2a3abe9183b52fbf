//! `personalizer.personalize` against a local server speaking OpenAI chat completions.

use std::sync::Arc;

use rex_adapters::llm::{LlmClient, LlmConfig};
use rex_adapters::{DryRunLog, NoUsage, Secret};
use rex_agents::personalizer::Personalizer;
use rex_domain::personalizer::assign_variant;
use rex_workers::Agent;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{ctx, http, leads, reachable_lead};

fn planned(id: &str) -> Value {
    let mut lead = reachable_lead(id);
    lead["plan"] = json!([
        {"step": 1, "day_offset": 0, "channel": "email", "framework": "pas", "purpose": "reopen"},
        {"step": 4, "day_offset": 9, "channel": "sms", "framework": "baf", "purpose": "nudge"}
    ]);
    lead
}

fn campaign() -> Value {
    json!({"id": "camp-1",
           "sender": {"name": "Sam", "company": "Rex Labs", "value_prop": "route every inbound lead in seconds",
                      "proof_point": "Northwind cut response times by 40%"},
           "experiment": {"name": "subject-v1", "variants": ["a", "b"]}})
}

fn llm(server: &MockServer) -> Personalizer {
    let mut config = LlmConfig::new(Url::parse(&server.uri()).unwrap(), "llama3.1:8b");
    config.api_key = Some(Secret::new("sk-test"));
    config.http = http();
    let client = LlmClient::from_config(Some(config), DryRunLog::new(), Arc::new(NoUsage)).unwrap();
    Personalizer::new(Some(client))
}

fn completion(answer: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "llama3.1:8b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.to_string()}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 90, "total_tokens": 210}
    }))
}

fn chat() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test"))
}

const GOOD_BODY: &str = "Hi Ana,\n\nLast spring Acme was losing hours to manual lead routing. Northwind had the \
same problem and cut response times by 40% once every inbound lead was routed in seconds. \
Would a short call next week help you see whether the same could work for Acme?\n\nSam";

#[tokio::test]
async fn a_valid_llm_draft_is_used_and_the_sms_is_a_template_that_fits() {
    let server = MockServer::start().await;
    chat()
        .respond_with(completion(
            json!({"subject": "Acme and manual lead routing", "body": GOOD_BODY}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let out = llm(&server)
        .run(
            &ctx("personalize"),
            json!({"leads": [planned("lead-0042")], "campaign": campaign()}),
        )
        .await
        .unwrap();
    let lead = &leads(&out)[0];
    let s1 = &lead["messages"]["s1"];
    assert_eq!(s1["source"], "llm", "{s1}");
    assert_eq!(s1["subject"], "Acme and manual lead routing");
    assert_eq!(s1["body"], GOOD_BODY);
    assert_eq!(s1["framework"], "pas");
    let s4 = &lead["messages"]["s4"];
    assert_eq!(s4["source"], "template");
    assert!(
        s4["segments"].as_u64().unwrap() <= 2 && s4["fits"] == true,
        "{s4}"
    );
    assert!(s4["body"].as_str().unwrap().starts_with("Hi Ana,"));
    let variants = ["a".to_owned(), "b".to_owned()];
    assert_eq!(
        lead["variant"],
        assign_variant("lead-0042", "subject-v1", &variants).unwrap()
    );
    assert_eq!(out["fallbacks"], 0);
    assert_eq!(out["llm"], "live");
    // The lead's name never left the process.
    let sent =
        String::from_utf8(server.received_requests().await.unwrap()[0].body.clone()).unwrap();
    assert!(!sent.contains("Ana") && sent.contains("[NAME_1]"), "{sent}");
}

#[tokio::test]
async fn a_draft_with_a_placeholder_or_too_long_falls_back_to_the_template() {
    let server = MockServer::start().await;
    let long = format!(
        "Hi Ana, {}",
        "Acme could route every lead faster. ".repeat(40)
    );
    chat()
        .respond_with(completion(
            json!({"subject": "Hi {{first_name}}", "body": long}),
        ))
        .mount(&server)
        .await;
    let out = llm(&server)
        .run(
            &ctx("personalize"),
            json!({"leads": [planned("lead-1")], "campaign": campaign()}),
        )
        .await
        .unwrap();
    let s1 = &leads(&out)[0]["messages"]["s1"];
    assert_eq!(s1["source"], "template");
    assert_eq!(
        s1["subject"], "Acme and manual lead routing",
        "the PAS template"
    );
    let problems: Vec<&str> = s1["rejected_because"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"unresolved_placeholder") && problems.contains(&"body_too_long"),
        "{problems:?}"
    );
    assert_eq!(out["fallbacks"], 1);
}

#[tokio::test]
async fn a_500_falls_back_to_templates_and_the_llm_is_not_asked_again() {
    let server = MockServer::start().await;
    chat()
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"message": "boom", "type": "server_error"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = llm(&server)
        .run(
            &ctx("personalize"),
            json!({"leads": [planned("lead-1"), planned("lead-2")], "campaign": campaign()}),
        )
        .await
        .unwrap();
    for lead in leads(&out) {
        let s1 = &lead["messages"]["s1"];
        assert_eq!(s1["source"], "template");
        assert!(
            s1["reason"]
                .as_str()
                .unwrap()
                .starts_with("llm_unavailable_use_template"),
            "{s1}"
        );
    }
    assert_eq!(out["fallbacks"], 2);
    assert_eq!(out["llm"], "unavailable");
}

#[tokio::test]
async fn without_an_llm_the_template_is_used_directly() {
    let out = Personalizer::new(None)
        .run(
            &ctx("personalize"),
            json!({"leads": [planned("lead-1")], "campaign": campaign()}),
        )
        .await
        .unwrap();
    let s1 = &leads(&out)[0]["messages"]["s1"];
    assert_eq!(s1["source"], "template");
    assert!(s1["reason"].as_str().unwrap().starts_with("dry_run"));
    assert_eq!(
        (out["llm"].as_str(), out["fallbacks"].as_u64()),
        (Some("dry_run"), Some(0))
    );
}

#[tokio::test]
async fn missing_campaign_fields_and_plans_are_permanent_errors_naming_them() {
    let p = Personalizer::new(None);
    let mut c = campaign();
    c["sender"].as_object_mut().unwrap().remove("value_prop");
    let err = p
        .run(&ctx("personalize"), json!({"leads": [], "campaign": c}))
        .await
        .unwrap_err();
    assert_eq!(err.message, "input.campaign.sender.value_prop: required");
    let err = p
        .run(
            &ctx("personalize"),
            json!({"leads": [reachable_lead("x")], "campaign": campaign()}),
        )
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("input.leads[0].plan: required"),
        "{}",
        err.message
    );
    let mut c = campaign();
    c["experiment"]["variants"] = json!([]);
    let err = p
        .run(&ctx("personalize"), json!({"leads": [], "campaign": c}))
        .await
        .unwrap_err();
    assert!(err.message.contains("has no variants") && !err.retryable);
}
