//! The OpenAI-compatible client and the LLM pipeline against a local server.

use crate::fixtures::{base_url, http, received, usage};
use crate::scenarios::Scenario;
use async_trait::async_trait;
use rex_adapters::http::HttpConfig;
use rex_adapters::llm::{
    ChatMessage, ChatModel, ChatRequest, LlmClient, LlmConfig, OpenAiCompatible, Origin, Prompt,
};
use rex_adapters::{DryRunLog, Provider, ProviderError, Secret, UsageSink};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const KEY: &str = "sk-test-0123456789abcdef";

fn config(server: &MockServer, http: HttpConfig) -> LlmConfig {
    let mut config = LlmConfig::new(base_url(server), "llama3.1:8b");
    config.api_key = Some(Secret::new(KEY));
    config.http = http;
    config
}

fn model(server: &MockServer, http: HttpConfig, usage: Arc<dyn UsageSink>) -> OpenAiCompatible {
    OpenAiCompatible::new(config(server, http), usage).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "llama3.1:8b".into(),
        messages: vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Say hi."),
        ],
        temperature: Some(0.2),
        max_tokens: Some(64),
        json: false,
    }
}

fn chat_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(json!({
            "model": "llama3.1:8b",
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Say hi." }
            ],
            "max_tokens": 64
        })))
}

pub fn completion(content: &str, usage: bool) -> ResponseTemplate {
    let mut body = json!({
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "llama3.1:8b",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop"
        }]
    });
    if usage {
        body["usage"] = json!({ "prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28 });
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn openai_error(status: u16, message: &str, kind: &str, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    }))
}

struct Chat;

#[async_trait]
impl Scenario for Chat {
    fn expected(&self) -> MockBuilder {
        chat_request()
    }
    fn success(&self) -> ResponseTemplate {
        completion("Hi!", true)
    }
    fn bad_request(&self) -> ResponseTemplate {
        openai_error(
            400,
            "Invalid value for 'temperature': must be between 0 and 2.",
            "invalid_request_error",
            "invalid_value",
        )
    }
    fn bad_request_says(&self) -> &'static str {
        "code invalid_value): Invalid value for 'temperature'"
    }
    fn unauthorized(&self) -> ResponseTemplate {
        openai_error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            "invalid_api_key",
        )
    }
    fn too_large(&self) -> ResponseTemplate {
        ResponseTemplate::new(413).set_body_string("request body too large")
    }
    fn rate_limited(&self) -> ResponseTemplate {
        openai_error(
            429,
            "Rate limit reached for requests",
            "requests",
            "rate_limit_exceeded",
        )
        .insert_header("retry-after", "1")
        .insert_header("x-ratelimit-limit-requests", "500")
        .insert_header("x-ratelimit-remaining-requests", "0")
        .insert_header("x-ratelimit-reset-requests", "1s")
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        server: &MockServer,
        http: HttpConfig,
        usage: Arc<dyn UsageSink>,
    ) -> Result<(), ProviderError> {
        model(server, http, usage)
            .chat(&request())
            .await
            .map(|_| ())
    }
}

mod chat_completions {
    crate::response_matrix!(super::Chat);
}

#[tokio::test]
async fn tokens_are_counted_and_missing_usage_is_tolerated() {
    let server = MockServer::start().await;
    chat_request()
        .respond_with(completion("Hi!", true))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    chat_request()
        .respond_with(completion("Hello!", false))
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let model = model(&server, http(), sink);
    let first = model.chat(&request()).await.unwrap();
    assert_eq!(first.content, "Hi!");
    assert_eq!(first.usage.unwrap().prompt_tokens, 21);
    let second = model.chat(&request()).await.unwrap();
    assert_eq!(second.usage, None);
    let total = log.total(Provider::Llm);
    assert_eq!((total.prompt_tokens, total.completion_tokens), (21, 7));
}

#[tokio::test]
async fn ollama_style_servers_need_no_key_and_no_v1_in_the_base_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion("Hi!", false))
        .expect(1)
        .mount(&server)
        .await;
    let model =
        OpenAiCompatible::new(LlmConfig::new(base_url(&server), "llama3.1:8b"), usage().1).unwrap();
    model.chat(&request()).await.unwrap();
    assert!(
        received(&server).await[0]
            .headers
            .get("authorization")
            .is_none()
    );
}

fn lead_prompt() -> Prompt {
    Prompt::new(
        "You write one short, friendly reactivation email.",
        "Lead: Lee Doe, VP Sales at Acme, email lee.doe@acme.com, mobile +1 (415) 555-0123. \
         Lee last replied in 2024 and asked to be contacted again by Lee's assistant at assistant@acme.com.",
    )
    .hiding_names(["Lee Doe", "Lee", "Doe"])
}

const RAW: [&str; 6] = [
    "lee.doe@acme.com",
    "assistant@acme.com",
    "555-0123",
    "415",
    "Lee",
    "Doe",
];

#[tokio::test]
async fn no_raw_address_number_or_name_leaves_the_process_and_the_answer_gets_them_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion(
            r#"{"subject": "Still on your list, [NAME_1]?", "body": "Hi [NAME_2], shall I call [PHONE_1] or write to [EMAIL_1]?"}"#,
            true,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let client =
        LlmClient::from_config(Some(config(&server, http())), DryRunLog::new(), sink).unwrap();
    let schema = json!({
        "type": "object",
        "required": ["subject", "body"],
        "properties": { "subject": { "type": "string" }, "body": { "type": "string" } }
    });
    let answer = client.complete_json(&lead_prompt(), &schema).await.unwrap();

    let sent = String::from_utf8(received(&server).await[0].body.clone()).unwrap();
    for raw in RAW {
        assert!(!sent.contains(raw), "{raw:?} left the process: {sent}");
    }
    assert!(sent.contains("[EMAIL_1]") && sent.contains("[PHONE_1]") && sent.contains("[NAME_1]"));
    assert!(sent.contains(r#""response_format":{"type":"json_object"}"#));

    assert_eq!(answer.value["subject"], "Still on your list, Lee Doe?");
    assert_eq!(
        answer.value["body"],
        "Hi Lee, shall I call +1 (415) 555-0123 or write to lee.doe@acme.com?"
    );
    assert_eq!(answer.origin, Origin::Model);
    assert_eq!(answer.usage.completion_tokens, 7);
    assert_eq!(log.total(Provider::Llm).prompt_tokens, 21);
}

#[tokio::test]
async fn the_same_prompt_is_answered_from_the_cache_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion("Hi [NAME_1]!", true))
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let client =
        LlmClient::from_config(Some(config(&server, http())), DryRunLog::new(), sink).unwrap();
    let first = client.complete(&lead_prompt()).await.unwrap();
    let second = client.complete(&lead_prompt()).await.unwrap();
    assert_eq!(
        (first.origin, second.origin),
        (Origin::Model, Origin::Cache)
    );
    assert_eq!(second.text, "Hi Lee Doe!");
    let ops: Vec<&str> = log.records().iter().map(|r| r.operation).collect();
    assert_eq!(ops, vec!["chat_completion", "chat_completion_cached"]);
}

#[tokio::test]
async fn an_answer_that_breaks_the_schema_is_an_error_so_the_caller_falls_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion(r#"{"subject": 42}"#, true))
        .expect(2)
        .mount(&server)
        .await;
    let client =
        LlmClient::from_config(Some(config(&server, http())), DryRunLog::new(), usage().1).unwrap();
    let schema = json!({ "type": "object", "required": ["subject"], "properties": { "subject": { "type": "string" } } });
    let err = client
        .complete_json(&lead_prompt(), &schema)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_output");
    assert!(err.to_string().contains("$.subject"), "{err}");
    // Not cached: the second call asks the model again.
    assert!(client.complete_json(&lead_prompt(), &schema).await.is_err());
}
