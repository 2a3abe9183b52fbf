//! Engine agents for tests, demos and benchmarks. They have no side effect on the
//! outside world, which makes them the measuring stick of the engine itself.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::{Agent, StepError, TaskContext};

/// All built-in agents.
pub fn all() -> Vec<Arc<dyn Agent>> {
    vec![
        Arc::new(Noop),
        Arc::new(Echo),
        Arc::new(Sleep),
        Arc::new(Fail),
    ]
}

/// Names of the built-in agents.
pub const NAMES: [&str; 4] = ["echo", "fail", "noop", "sleep"];

/// Does nothing and answers `{}`.
pub struct Noop;

#[async_trait]
impl Agent for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }
    fn actions(&self) -> &'static [&'static str] {
        &["noop"]
    }
    async fn run(&self, _ctx: &TaskContext, _input: Value) -> Result<Value, StepError> {
        Ok(json!({}))
    }
}

/// Answers its input unchanged.
pub struct Echo;

#[async_trait]
impl Agent for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn actions(&self) -> &'static [&'static str] {
        &["echo"]
    }
    async fn run(&self, _ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        Ok(input)
    }
}

/// Sleeps `input.ms` milliseconds (at most ten minutes), then answers
/// `{"slept_ms": ms}`.
pub struct Sleep;

#[async_trait]
impl Agent for Sleep {
    fn name(&self) -> &'static str {
        "sleep"
    }
    fn actions(&self) -> &'static [&'static str] {
        &["sleep"]
    }
    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let ms = input.get("ms").and_then(Value::as_u64).ok_or_else(|| {
            StepError::permanent("input.ms: expected a whole number of milliseconds")
        })?;
        if ms > 600_000 {
            return Err(StepError::permanent("input.ms: at most 600000"));
        }
        let started = tokio::time::Instant::now();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(json!({"slept_ms": ms})),
            // Mission ended or worker shutting down: stop now. Retryable, for the
            // shutdown case (the runtime never retries a step of an ended mission).
            _ = ctx.cancel.cancelled() => Err(StepError::retryable(format!(
                "cancelled after {} of {ms} ms",
                started.elapsed().as_millis()
            ))),
        }
    }
}

/// Fails by a pattern: `input.pattern` is a comma-separated list read by attempt number
/// (the last entry repeats). `ok` succeeds, `retry` fails retryably, `fail` fails
/// permanently. `"retry,retry,ok"` fails twice, then succeeds.
pub struct Fail;

#[async_trait]
impl Agent for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn actions(&self) -> &'static [&'static str] {
        &["fail"]
    }
    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let pattern = input
            .get("pattern")
            .and_then(Value::as_str)
            .unwrap_or("fail");
        let entries: Vec<&str> = pattern.split(',').map(str::trim).collect();
        let index = (ctx.attempt as usize)
            .saturating_sub(1)
            .min(entries.len() - 1);
        match entries[index] {
            "ok" => Ok(json!({"attempt": ctx.attempt})),
            "retry" => Err(StepError::retryable(format!(
                "planned retryable failure on attempt {}",
                ctx.attempt
            ))),
            "fail" => Err(StepError::permanent(format!(
                "planned permanent failure on attempt {}",
                ctx.attempt
            ))),
            other => Err(StepError::permanent(format!(
                "input.pattern: unknown entry {other:?} (expected ok, retry or fail)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn ctx(attempt: u32) -> TaskContext {
        TaskContext {
            mission_id: "m".into(),
            step_id: "s".into(),
            attempt,
            action: "fail".into(),
            idempotency_key: format!("m:s:{attempt}"),
            tenant: "default".into(),
            cancel: CancellationToken::new(),
        }
    }

    #[tokio::test]
    async fn fail_follows_its_pattern_by_attempt_and_repeats_the_last_entry() {
        let input = json!({"pattern": "retry, fail ,ok"});
        assert!(
            Fail.run(&ctx(1), input.clone())
                .await
                .unwrap_err()
                .retryable
        );
        assert!(
            !Fail
                .run(&ctx(2), input.clone())
                .await
                .unwrap_err()
                .retryable
        );
        assert_eq!(
            Fail.run(&ctx(3), input.clone()).await.unwrap(),
            json!({"attempt": 3})
        );
        assert!(Fail.run(&ctx(9), input).await.is_ok());
    }

    #[tokio::test]
    async fn sleep_stops_as_soon_as_its_token_is_cancelled() {
        let ctx = ctx(1);
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            cancel.cancel();
        });
        let began = std::time::Instant::now();
        let err = Sleep.run(&ctx, json!({"ms": 60_000})).await.unwrap_err();
        assert!(began.elapsed() < Duration::from_secs(5));
        assert!(
            err.message.starts_with("cancelled after"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn sleep_rejects_missing_input_permanently() {
        let err = Sleep.run(&ctx(1), json!({})).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("input.ms"));
    }
}
