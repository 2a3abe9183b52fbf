//! The stand-in for an unconfigured LLM endpoint: it records the (already
//! redacted) request and answers with [`ProviderError::DryRun`], so callers
//! take their deterministic template fallback. It never makes text up. Each
//! call is reported to the usage sink as a dry-run `chat_completion`.

use super::{ChatCompletion, ChatModel, ChatRequest};
use crate::dry_run::{self, DryRunLog, Mode};
use crate::error::ProviderError;
use crate::operation;
use crate::provider::Provider;
use crate::usage::SharedUsageSink;
use async_trait::async_trait;
use std::time::Instant;

#[derive(Clone)]
pub struct DryRunChatModel {
    log: DryRunLog,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for DryRunChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunChatModel").finish_non_exhaustive()
    }
}

impl DryRunChatModel {
    pub fn new(log: DryRunLog, usage: SharedUsageSink) -> Self {
        Self { log, usage }
    }
}

#[async_trait]
impl ChatModel for DryRunChatModel {
    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, ProviderError> {
        let started = Instant::now();
        let rendered = serde_json::to_string_pretty(request).unwrap_or_default();
        let entry = self.log.record(
            Provider::Llm,
            "chat_completion",
            request.model.clone(),
            vec![],
            rendered,
        );
        self.usage.record(dry_run::usage(
            Provider::Llm,
            operation::CHAT_COMPLETION,
            started.elapsed(),
        ));
        Err(ProviderError::DryRun {
            provider: Provider::Llm,
            entry,
        })
    }
}
