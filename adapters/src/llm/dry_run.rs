//! The stand-in for an unconfigured LLM endpoint: it records the (already
//! redacted) request and answers with [`ProviderError::DryRun`], so callers
//! take their deterministic template fallback. It never makes text up.

use super::{ChatCompletion, ChatModel, ChatRequest};
use crate::dry_run::{DryRunLog, Mode};
use crate::error::ProviderError;
use crate::provider::Provider;
use async_trait::async_trait;

#[derive(Clone, Debug)]
pub struct DryRunChatModel {
    log: DryRunLog,
}

impl DryRunChatModel {
    pub fn new(log: DryRunLog) -> Self {
        Self { log }
    }
}

#[async_trait]
impl ChatModel for DryRunChatModel {
    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, ProviderError> {
        let rendered = serde_json::to_string_pretty(request).unwrap_or_default();
        let entry = self.log.record(
            Provider::Llm,
            "chat_completion",
            request.model.clone(),
            vec![],
            rendered,
        );
        Err(ProviderError::DryRun {
            provider: Provider::Llm,
            entry,
        })
    }
}
