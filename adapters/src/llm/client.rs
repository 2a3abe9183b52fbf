//! [`LlmClient`]: what every LLM call goes through. Order of work:
//! redact the prompt, look the redacted request up in the cache, call the
//! model on a miss, validate JSON answers against their schema, cache only
//! valid answers, restore the redacted values, account tokens.

use super::cache::{MemoryResponseCache, ResponseCache};
use super::config::LlmConfig;
use super::dry_run::DryRunChatModel;
use super::redact::{Redaction, Redactor};
use super::request::{cache_key, extract_json};
use super::schema::validate;
use super::service::OpenAiCompatible;
use super::{ChatMessage, ChatModel, ChatRequest, TokenUsage};
use crate::dry_run::{DryRunLog, Mode};
use crate::error::ProviderError;
use crate::operation;
use crate::provider::Provider;
use crate::usage::{Cost, NoUsage, SharedUsageSink, Usage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What to ask. `names` are personal names to hide from the model (emails
/// and phone numbers are found without help).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
    pub names: Vec<String>,
    /// Overrides the client's default when set.
    pub temperature: Option<f32>,
    /// Overrides the client's default when set.
    pub max_tokens: Option<u32>,
}

impl Prompt {
    pub fn new(system: impl Into<String>, user: impl Into<String>) -> Self {
        Self {
            system: system.into(),
            user: user.into(),
            ..Self::default()
        }
    }

    pub fn hiding_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names.extend(names.into_iter().map(Into::into));
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Model,
    Cache,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The answer with the redacted values restored.
    pub text: String,
    pub origin: Origin,
    /// Tokens this call used (zero for a cache hit).
    pub usage: TokenUsage,
    pub finish_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JsonAnswer {
    /// Valid against the schema, redacted values restored.
    pub value: Value,
    pub origin: Origin,
    pub usage: TokenUsage,
}

pub struct LlmClient {
    model: Arc<dyn ChatModel>,
    cache: Arc<dyn ResponseCache>,
    model_name: String,
    temperature: f32,
    max_tokens: u32,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("model", &self.model_name)
            .field("mode", &self.model.mode())
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// Wraps `model` with an in-memory cache and no usage sink.
    pub fn new(model: Arc<dyn ChatModel>, model_name: impl Into<String>) -> Self {
        Self {
            model,
            cache: Arc::new(MemoryResponseCache::new()),
            model_name: model_name.into(),
            temperature: 0.2,
            max_tokens: 800,
            usage: Arc::new(NoUsage),
        }
    }

    /// The live client for `config`, or the dry-run one when `None`.
    pub fn from_config(
        config: Option<LlmConfig>,
        dry_run: DryRunLog,
        usage: SharedUsageSink,
    ) -> Result<Self, ProviderError> {
        match config {
            Some(config) => {
                let (name, temperature, max_tokens) =
                    (config.model.clone(), config.temperature, config.max_tokens);
                let model = OpenAiCompatible::new(config, usage.clone())?;
                Ok(Self::new(Arc::new(model), name)
                    .with_defaults(temperature, max_tokens)
                    .with_usage(usage))
            }
            None => Ok(Self::new(
                Arc::new(DryRunChatModel::new(dry_run, usage.clone())),
                super::DEFAULT_MODEL,
            )
            .with_usage(usage)),
        }
    }

    pub fn with_cache(mut self, cache: Arc<dyn ResponseCache>) -> Self {
        self.cache = cache;
        self
    }

    pub fn with_usage(mut self, usage: SharedUsageSink) -> Self {
        self.usage = usage;
        self
    }

    pub fn with_defaults(mut self, temperature: f32, max_tokens: u32) -> Self {
        self.temperature = temperature;
        self.max_tokens = max_tokens;
        self
    }

    pub fn mode(&self) -> Mode {
        self.model.mode()
    }

    /// A free-text answer.
    pub async fn complete(&self, prompt: &Prompt) -> Result<Answer, ProviderError> {
        let (request, redaction) = self.redacted_request(prompt, None);
        let key = cache_key(&request);
        if let Some(text) = self.cache.get(&key).await {
            self.record_cache_hit();
            return Ok(Answer {
                text: redaction.restore(&text),
                origin: Origin::Cache,
                usage: TokenUsage::default(),
                finish_reason: None,
            });
        }
        let completion = self.model.chat(&request).await?;
        self.cache.put(&key, &completion.content).await;
        Ok(Answer {
            text: redaction.restore(&completion.content),
            origin: Origin::Model,
            usage: completion.usage.unwrap_or_default(),
            finish_reason: completion.finish_reason,
        })
    }

    /// A JSON answer valid against `schema`. An answer that is not JSON or
    /// breaks the schema is [`ProviderError::InvalidOutput`] (and not
    /// cached): the caller falls back to its template.
    pub async fn complete_json(
        &self,
        prompt: &Prompt,
        schema: &Value,
    ) -> Result<JsonAnswer, ProviderError> {
        let (request, redaction) = self.redacted_request(prompt, Some(schema));
        let key = cache_key(&request);
        let (mut value, origin, usage) = match self.cache.get(&key).await {
            Some(text) => {
                self.record_cache_hit();
                let value = checked(&text, schema)?;
                (value, Origin::Cache, TokenUsage::default())
            }
            None => {
                let completion = self.model.chat(&request).await?;
                let value = checked(&completion.content, schema)?;
                self.cache.put(&key, &value.to_string()).await;
                (value, Origin::Model, completion.usage.unwrap_or_default())
            }
        };
        redaction.restore_json(&mut value);
        Ok(JsonAnswer {
            value,
            origin,
            usage,
        })
    }

    /// A typed answer: the schema comes from `T`'s `JsonSchema`.
    pub async fn complete_typed<T>(&self, prompt: &Prompt) -> Result<(T, JsonAnswer), ProviderError>
    where
        T: DeserializeOwned + schemars::JsonSchema,
    {
        let schema = schemars::schema_for!(T).to_value();
        let answer = self.complete_json(prompt, &schema).await?;
        let typed = serde_json::from_value(answer.value.clone()).map_err(|e| {
            ProviderError::InvalidOutput {
                provider: Provider::Llm,
                reason: format!("does not fit the answer type: {e}"),
            }
        })?;
        Ok((typed, answer))
    }

    fn redacted_request(
        &self,
        prompt: &Prompt,
        schema: Option<&Value>,
    ) -> (ChatRequest, Redaction) {
        let mut redactor = Redactor::new(&prompt.names);
        let mut system = redactor.redact(&prompt.system);
        let user = redactor.redact(&prompt.user);
        if let Some(schema) = schema {
            // OpenAI's JSON mode needs the word "JSON" in the prompt; the
            // schema tells every model the shape.
            system.push_str("\n\nAnswer with one JSON object, and nothing else, valid against this JSON Schema:\n");
            system.push_str(&schema.to_string());
        }
        let request = ChatRequest {
            model: self.model_name.clone(),
            messages: vec![ChatMessage::system(system), ChatMessage::user(user)],
            temperature: Some(prompt.temperature.unwrap_or(self.temperature)),
            max_tokens: Some(prompt.max_tokens.unwrap_or(self.max_tokens)),
            json: schema.is_some(),
        };
        (request, redactor.into_redaction())
    }

    fn record_cache_hit(&self) {
        self.usage.record(Usage {
            provider: Provider::Llm,
            operation: operation::CHAT_COMPLETION_CACHED,
            attempts: 0,
            status: None,
            error: None,
            latency: Duration::ZERO,
            cost: Cost::default(),
            dry_run: self.model.mode() == Mode::DryRun,
        });
    }
}

fn checked(text: &str, schema: &Value) -> Result<Value, ProviderError> {
    let value = extract_json(text).ok_or_else(|| ProviderError::InvalidOutput {
        provider: Provider::Llm,
        reason: "the answer is not JSON".into(),
    })?;
    validate(schema, &value).map_err(|e| ProviderError::InvalidOutput {
        provider: Provider::Llm,
        reason: format!("schema violation at {e}"),
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dry_run::Delivery;
    use crate::llm::ChatCompletion;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Records what it was sent and answers from a script. The HTTP client
    /// itself is tested against a local server in tests/providers/llm.rs.
    struct Echo {
        answers: Mutex<Vec<String>>,
        seen: Mutex<Vec<ChatRequest>>,
    }

    impl Echo {
        fn new(answers: &[&str]) -> Arc<Self> {
            Arc::new(Self {
                answers: Mutex::new(answers.iter().rev().map(|s| s.to_string()).collect()),
                seen: Mutex::new(Vec::new()),
            })
        }
    }

    #[async_trait]
    impl ChatModel for Echo {
        fn mode(&self) -> Mode {
            Mode::Live
        }
        async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, ProviderError> {
            self.seen.lock().unwrap().push(request.clone());
            Ok(ChatCompletion {
                content: self.answers.lock().unwrap().pop().unwrap_or_default(),
                finish_reason: Some("stop".into()),
                usage: Some(TokenUsage {
                    prompt_tokens: 10,
                    completion_tokens: 5,
                }),
                delivery: Delivery::Sent,
            })
        }
    }

    fn prompt() -> Prompt {
        Prompt::new(
            "You write short emails.",
            "Write to Lee Doe <lee@acme.com>, phone +1 415 555 0123.",
        )
        .hiding_names(["Lee Doe", "Lee"])
    }

    #[tokio::test]
    async fn the_model_sees_placeholders_and_the_caller_gets_the_real_values() {
        let echo = Echo::new(&["Hi [NAME_1], I will call [PHONE_1]."]);
        let client = LlmClient::new(echo.clone(), "m");
        let answer = client.complete(&prompt()).await.unwrap();
        assert_eq!(answer.text, "Hi Lee Doe, I will call +1 415 555 0123.");
        let seen = serde_json::to_string(&*echo.seen.lock().unwrap()).unwrap();
        for secret in ["lee@acme.com", "415 555 0123", "Lee"] {
            assert!(!seen.contains(secret), "{secret} leaked: {seen}");
        }
    }

    #[tokio::test]
    async fn a_second_identical_prompt_is_answered_from_the_cache() {
        let echo = Echo::new(&["first", "second"]);
        let client = LlmClient::new(echo.clone(), "m");
        let a = client.complete(&prompt()).await.unwrap();
        let b = client.complete(&prompt()).await.unwrap();
        assert_eq!((a.origin, b.origin), (Origin::Model, Origin::Cache));
        assert_eq!(b.text, "first");
        assert_eq!(b.usage, TokenUsage::default());
        assert_eq!(echo.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn invalid_json_is_refused_and_not_cached() {
        let schema = serde_json::json!({"type": "object", "required": ["subject"], "properties": {"subject": {"type": "string"}}});
        let echo = Echo::new(&[
            "not json",
            "{\"body\": 1}",
            "```json\n{\"subject\": \"Hi [NAME_1]\"}\n```",
        ]);
        let client = LlmClient::new(echo.clone(), "m");
        let e1 = client.complete_json(&prompt(), &schema).await.unwrap_err();
        assert_eq!(e1.kind(), "invalid_output");
        let e2 = client.complete_json(&prompt(), &schema).await.unwrap_err();
        assert!(e2.to_string().contains("subject"), "{e2}");
        let ok = client.complete_json(&prompt(), &schema).await.unwrap();
        assert_eq!(ok.value["subject"], "Hi Lee Doe");
        assert_eq!(ok.origin, Origin::Model);
        let cached = client.complete_json(&prompt(), &schema).await.unwrap();
        assert_eq!(cached.origin, Origin::Cache);
        let seen = echo.seen.lock().unwrap();
        assert!(seen[0].json);
        assert!(seen[0].messages[0].content.contains("JSON Schema"));
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Draft {
        subject: String,
        framework: Framework,
        score: Option<f64>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    enum Framework {
        #[serde(rename = "PAS")]
        Pas,
        #[serde(rename = "AIDA")]
        Aida,
    }

    #[tokio::test]
    async fn typed_answers_use_the_types_schema() {
        let echo = Echo::new(&[
            r#"{"subject": "x", "framework": "XYZ"}"#,
            r#"{"subject": "x", "framework": "AIDA", "score": null}"#,
        ]);
        let client = LlmClient::new(echo, "m");
        assert!(client.complete_typed::<Draft>(&prompt()).await.is_err());
        let mut p = prompt();
        p.temperature = Some(0.9);
        let (draft, _) = client.complete_typed::<Draft>(&p).await.unwrap();
        assert!(matches!(draft.framework, Framework::Aida));
    }

    #[tokio::test]
    async fn dry_run_records_the_redacted_prompt_and_says_dry_run() {
        let log = DryRunLog::new();
        let usage = crate::UsageLog::new();
        let client = LlmClient::from_config(None, log.clone(), Arc::new(usage.clone())).unwrap();
        assert_eq!(client.mode(), Mode::DryRun);
        let err = client.complete(&prompt()).await.unwrap_err();
        assert_eq!(err.kind(), "dry_run");
        let records = usage.records();
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].operation, records[0].dry_run),
            ("chat_completion", true)
        );
        let entry = &log.entries()[0];
        assert!(!entry.rendered.contains("lee@acme.com"));
        assert!(entry.rendered.contains("[EMAIL_1]"));
    }
}
