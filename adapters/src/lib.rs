//! Rex's clients for the outside world: SendGrid (email), Twilio (SMS),
//! Calendly (booking links), Hunter and Apollo (enrichment) and any
//! OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM), plus
//! verification and parsing of the webhooks those providers send back.
//!
//! This is a leaf library: it must not depend on the engine crates
//! (`rex-core`, store, broker, workers); of Rex it uses only `rex-observability`
//! (itself a leaf), to keep personal data out of its logs. The agents call it through the
//! provider-neutral traits [`EmailSender`], [`SmsSender`], [`Scheduler`],
//! [`enrichment::EnrichmentProvider`] and [`llm::ChatModel`].
//!
//! Shape of every provider folder: `config.rs` (settings, read from the
//! provider's usual environment variables), `request.rs` (pure request
//! building), `service.rs` (the IO, through the shared [`http`] layer) and
//! `webhook.rs` (pure verification and parsing of inbound requests).
//!
//! A provider whose credentials are absent runs in dry-run: a stand-in
//! implementing the same trait records what would have been sent in a
//! [`DryRunLog`] and labels its receipts [`Delivery::DryRun`]. See
//! [`Adapters::from_env`].

pub mod calendly;
pub mod clock;
pub mod dry_run;
pub mod email;
pub mod enrichment;
pub mod env;
mod error;
pub mod http;
pub mod llm;
pub mod operation;
mod provider;
pub mod scheduling;
mod secret;
pub mod sendgrid;
pub mod signature;
pub mod sms;
pub mod twilio;
pub mod usage;
mod wiring;

pub use dry_run::{Delivery, DryRunEntry, DryRunLog, Mode};
pub use email::{EmailReceipt, EmailSender, OutboundEmail};
pub use error::{FieldError, ProviderError, WebhookError};
pub use provider::Provider;
pub use scheduling::{BookingLink, Scheduler};
pub use secret::Secret;
pub use sms::{OutboundSms, SmsReceipt, SmsSender};
pub use usage::{Cost, Credits, NoUsage, Usage, UsageLog, UsageSink};
pub use wiring::{Adapters, AdaptersConfig};
