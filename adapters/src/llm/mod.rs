//! An OpenAI-compatible chat-completions client (OpenAI, Ollama, vLLM) and
//! [`LlmClient`], which wraps any [`ChatModel`] with what every call needs:
//! PII redaction before the prompt leaves the process (restored in the
//! answer), a response cache keyed by SHA-256 of (model, prompt, params),
//! JSON answers validated against a schema, and token accounting.

mod cache;
mod client;
mod config;
mod dry_run;
mod redact;
mod request;
mod schema;
mod service;

pub use cache::{MemoryResponseCache, ResponseCache};
pub use client::{Answer, JsonAnswer, LlmClient, Origin, Prompt};
pub use config::{DEFAULT_BASE_URL, DEFAULT_MODEL, LlmConfig};
pub use dry_run::DryRunChatModel;
pub use redact::{Redaction, Redactor};
pub use request::{build_chat, cache_key, completions_path, extract_json};
pub use schema::{SchemaError, validate};
pub use service::OpenAiCompatible;

use crate::dry_run::{Delivery, Mode};
use crate::error::ProviderError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// The common subset of a chat-completions request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Ask for a JSON object (`response_format: {"type": "json_object"}`).
    pub json: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatCompletion {
    pub content: String,
    pub finish_reason: Option<String>,
    /// Optional in the wire format (some servers omit it).
    pub usage: Option<TokenUsage>,
    pub delivery: Delivery,
}

/// One chat-completions endpoint. Implementations send the request as
/// given; redaction and caching are [`LlmClient`]'s job.
#[async_trait]
pub trait ChatModel: Send + Sync {
    fn mode(&self) -> Mode;
    async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, ProviderError>;
}
