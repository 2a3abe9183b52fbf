//! Chat-completions request bodies, response reading, cache keys and JSON
//! extraction (pure).

use super::{ChatCompletion, ChatRequest, TokenUsage};
use crate::dry_run::Delivery;
use crate::error::ProviderError;
use crate::http::ApiRequest;
use crate::operation;
use crate::provider::Provider;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

/// `v1/chat/completions` under the base URL, or `chat/completions` when the
/// base already ends in `/v1` (as `OPENAI_BASE_URL` usually does).
pub fn completions_path(base: &Url) -> &'static str {
    if base.path().trim_end_matches('/').ends_with("/v1") {
        "/chat/completions"
    } else {
        "/v1/chat/completions"
    }
}

/// The request body: only fields every compatible server accepts.
pub fn build_chat(base: &Url, request: &ChatRequest) -> ApiRequest {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages,
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        body["max_tokens"] = json!(m);
    }
    if request.json {
        body["response_format"] = json!({ "type": "json_object" });
    }
    // A completion has no side effect: safe to repeat after a timeout.
    ApiRequest::post_json(operation::CHAT_COMPLETION, completions_path(base), body).idempotent(true)
}

/// SHA-256 (hex) of the canonical JSON of (model, messages, params).
pub fn cache_key(request: &ChatRequest) -> String {
    let canonical = json!({
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "json": request.json,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

/// Reads a response body.
pub(super) fn parse_completion(body: &[u8]) -> Result<ChatCompletion, ProviderError> {
    let response: Response = serde_json::from_slice(body).map_err(|e| {
        ProviderError::invalid_response(Provider::Llm, format!("not a chat completion: {e}"))
    })?;
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::invalid_response(Provider::Llm, "no choices"))?;
    let content = choice.message.content.ok_or_else(|| {
        ProviderError::invalid_response(Provider::Llm, "the answer has no content")
    })?;
    Ok(ChatCompletion {
        content,
        finish_reason: choice.finish_reason,
        usage: response.usage.map(|u| TokenUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }),
        delivery: Delivery::Sent,
    })
}

/// The JSON value in a model's answer: the whole text, else the text inside
/// a ```json fence, else the outermost `{…}`.
pub fn extract_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Some(v);
    }
    if let Some(start) = trimmed.find("```") {
        let after = &trimmed[start + 3..];
        let after = after.strip_prefix("json").unwrap_or(after);
        if let Some(end) = after.find("```")
            && let Ok(v) = serde_json::from_str(after[..end].trim())
        {
            return Some(v);
        }
    }
    let (start, end) = (trimmed.find('{')?, trimmed.rfind('}')?);
    if start < end {
        serde_json::from_str(&trimmed[start..=end]).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;
    use crate::llm::ChatMessage;
    use proptest::prelude::*;

    fn request() -> ChatRequest {
        ChatRequest {
            model: "llama3.1".into(),
            messages: vec![ChatMessage::system("be brief"), ChatMessage::user("hi")],
            temperature: Some(0.2),
            max_tokens: Some(100),
            json: true,
        }
    }

    #[test]
    fn the_path_works_with_and_without_v1_in_the_base() {
        assert_eq!(
            completions_path(&Url::parse("http://localhost:11434").unwrap()),
            "/v1/chat/completions"
        );
        assert_eq!(
            completions_path(&Url::parse("https://api.openai.com/v1").unwrap()),
            "/chat/completions"
        );
        assert_eq!(
            completions_path(&Url::parse("http://vllm:8000/v1/").unwrap()),
            "/chat/completions"
        );
    }

    #[test]
    fn the_body_is_the_common_subset() {
        let req = build_chat(&Url::parse("http://localhost:11434").unwrap(), &request());
        let Body::Json(body) = &req.body else {
            panic!("json expected")
        };
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["response_format"]["type"], "json_object");
        assert_eq!(body["max_tokens"], 100);
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
    }

    #[test]
    fn the_cache_key_changes_with_model_prompt_or_params() {
        let base = cache_key(&request());
        assert_eq!(base.len(), 64);
        assert_eq!(base, cache_key(&request()));
        let mut other = request();
        other.model = "gpt-4o-mini".into();
        assert_ne!(base, cache_key(&other));
        let mut other = request();
        other.temperature = Some(0.3);
        assert_ne!(base, cache_key(&other));
        let mut other = request();
        other.messages[1].content = "hi!".into();
        assert_ne!(base, cache_key(&other));
    }

    #[test]
    fn usage_is_optional_and_content_required() {
        let c = parse_completion(br#"{"choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#).unwrap();
        assert_eq!(c.content, "ok");
        assert_eq!(c.usage, None);
        let c = parse_completion(br#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#).unwrap();
        assert_eq!(
            c.usage,
            Some(TokenUsage {
                prompt_tokens: 12,
                completion_tokens: 3
            })
        );
        assert!(parse_completion(br#"{"choices":[]}"#).is_err());
        assert!(parse_completion(br#"{"choices":[{"message":{"content":null}}]}"#).is_err());
    }

    #[test]
    fn json_is_found_in_fences_and_prose() {
        assert_eq!(extract_json(r#"{"a":1}"#), Some(json!({"a":1})));
        assert_eq!(
            extract_json("```json\n{\"a\":1}\n```"),
            Some(json!({"a":1}))
        );
        assert_eq!(
            extract_json("Sure! Here it is: {\"a\": [1]} Hope that helps."),
            Some(json!({"a":[1]}))
        );
        assert_eq!(extract_json("no json here"), None);
        assert_eq!(extract_json("} {"), None);
    }

    proptest! {
        #[test]
        fn reading_answers_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256), text in "\\PC{0,200}") {
            let _ = parse_completion(&body);
            let _ = extract_json(&text);
        }
    }
}
