//! The names of the provider operations, as they appear in [`crate::Usage`] records,
//! in the `operation` label of the `rex_provider_*` metrics and on `provider_call`
//! spans. Named once, so that a live client and its dry-run stand-in report the same
//! operation and a dashboard shows them side by side (told apart by the outcome).

/// SendGrid `POST /v3/mail/send` with one recipient.
pub const SEND_EMAIL: &str = "send_email";
/// SendGrid `POST /v3/mail/send` with up to 1,000 personalizations.
pub const SEND_EMAIL_BATCH: &str = "send_email_batch";
/// Twilio `POST /Messages.json`.
pub const SEND_SMS: &str = "send_sms";
/// Calendly `POST /scheduling_links`.
pub const CREATE_SCHEDULING_LINK: &str = "create_scheduling_link";
/// Calendly `GET /event_type_available_times`.
pub const LIST_AVAILABLE_TIMES: &str = "list_available_times";
/// Hunter `GET /v2/email-finder`.
pub const EMAIL_FINDER: &str = "email_finder";
/// Hunter `GET /v2/email-verifier`.
pub const EMAIL_VERIFIER: &str = "email_verifier";
/// Apollo `POST /api/v1/people/match`.
pub const PEOPLE_MATCH: &str = "people_match";
/// An OpenAI-compatible `POST /chat/completions`.
pub const CHAT_COMPLETION: &str = "chat_completion";
/// An LLM answer served from the response cache (no request made).
pub const CHAT_COMPLETION_CACHED: &str = "chat_completion_cached";
