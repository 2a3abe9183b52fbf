//! The live OpenAI-compatible chat-completions client.

use super::config::LlmConfig;
use super::request::{build_chat, parse_completion};
use super::{ChatCompletion, ChatModel, ChatRequest};
use crate::dry_run::Mode;
use crate::error::ProviderError;
use crate::http::{Auth, ErrorBody, ErrorClass, ErrorPolicy, HttpClient};
use crate::provider::Provider;
use crate::usage::{Cost, SharedUsageSink};
use async_trait::async_trait;
use serde::Deserialize;
use url::Url;

/// `{"error": {"message", "type", "param", "code"}}` (OpenAI, vLLM);
/// Ollama sends `{"error": "..."}`.
#[derive(Deserialize)]
struct Envelope {
    error: WireError,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WireError {
    Detailed {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        code: Option<serde_json::Value>,
    },
    Text(String),
}

fn parse_error(body: &[u8]) -> ErrorBody {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error:
                WireError::Detailed {
                    message,
                    kind,
                    code,
                },
        }) => ErrorBody {
            code: code
                .and_then(|c| match c {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .or(kind),
            message: message.unwrap_or_default(),
            fields: Vec::new(),
        },
        Ok(Envelope {
            error: WireError::Text(message),
        }) => ErrorBody {
            code: None,
            message,
            fields: Vec::new(),
        },
        Err(_) => ErrorBody::default(),
    }
}

fn classify(status: u16, body: &ErrorBody) -> ErrorClass {
    match (status, body.code.as_deref()) {
        // OpenAI answers 429 both for rate limits and for an empty balance.
        (429, Some("insufficient_quota")) => ErrorClass::QuotaExhausted,
        _ => ErrorClass::from_status(status),
    }
}

pub(crate) const ERROR_POLICY: ErrorPolicy = ErrorPolicy {
    parse: parse_error,
    classify,
    pending_statuses: &[],
};

/// A chat-completions endpoint: OpenAI, Ollama, vLLM or anything alike.
#[derive(Clone)]
pub struct OpenAiCompatible {
    http: HttpClient,
    auth: Auth,
    base_url: Url,
}

impl OpenAiCompatible {
    pub fn new(config: LlmConfig, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Llm,
            config.base_url.clone(),
            config.http,
            ERROR_POLICY,
            usage,
        )?;
        Ok(Self {
            http,
            auth: config.api_key.map_or(Auth::None, Auth::Bearer),
            base_url: config.base_url,
        })
    }
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChatModel for OpenAiCompatible {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, ProviderError> {
        let api_request = build_chat(&self.base_url, request);
        self.http
            .call(&api_request, &self.auth, |exchange| {
                let completion = parse_completion(&exchange.body)?;
                let usage = completion.usage.unwrap_or_default();
                Ok((
                    completion,
                    Cost {
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                        ..Cost::default()
                    },
                ))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_and_ollama_error_shapes_are_both_read() {
        let openai = parse_error(br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#);
        assert_eq!(openai.code.as_deref(), Some("insufficient_quota"));
        assert_eq!(classify(429, &openai), ErrorClass::QuotaExhausted);
        let ollama =
            parse_error(br#"{"error":"model \"llama9\" not found, try pulling it first"}"#);
        assert!(ollama.message.contains("not found"));
        assert_eq!(classify(404, &ollama), ErrorClass::Rejected);
    }
}
