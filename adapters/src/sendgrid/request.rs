//! Building `POST /v3/mail/send` bodies (pure): personalizations carrying
//! Rex's message id in `custom_args`, the one-click unsubscribe headers and
//! `send_at`; batches split at 1,000 personalizations per request.

use crate::email::{EmailBatch, Mailbox, OutboundEmail, Unsubscribe};
use crate::error::ProviderError;
use crate::http::ApiRequest;
use crate::operation;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const SEND_PATH: &str = "/v3/mail/send";
/// SendGrid's limit of personalizations per request.
pub const MAX_PERSONALIZATIONS: usize = 1000;
/// The `custom_args` key carrying Rex's message id; SendGrid returns custom
/// args as top-level fields of every event.
pub const MESSAGE_ID_ARG: &str = "rex_message_id";

fn mailbox(m: &Mailbox) -> Value {
    match &m.name {
        Some(name) => json!({ "email": m.email, "name": name }),
        None => json!({ "email": m.email }),
    }
}

fn personalization(
    message_id: &str,
    to: &Mailbox,
    unsubscribe: &Unsubscribe,
    send_at: Option<DateTime<Utc>>,
    substitutions: Option<&BTreeMap<String, String>>,
) -> Value {
    let headers: Map<String, Value> = unsubscribe
        .headers()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut p = json!({
        "to": [mailbox(to)],
        "custom_args": { MESSAGE_ID_ARG: message_id },
        "headers": headers,
    });
    if let Some(at) = send_at {
        p["send_at"] = json!(at.timestamp());
    }
    if let Some(subs) = substitutions.filter(|s| !s.is_empty()) {
        p["substitutions"] = json!(subs);
    }
    p
}

/// What a request's personalizations share.
struct Content<'a> {
    from: &'a Mailbox,
    reply_to: Option<&'a Mailbox>,
    subject: &'a str,
    text: &'a str,
    html: Option<&'a str>,
    categories: &'a [String],
}

fn envelope(c: &Content<'_>, sandbox: bool, personalizations: Vec<Value>) -> Value {
    let Content {
        from,
        reply_to,
        subject,
        text,
        html,
        categories,
    } = *c;
    let mut content = vec![json!({ "type": "text/plain", "value": text })];
    if let Some(html) = html {
        content.push(json!({ "type": "text/html", "value": html }));
    }
    let mut body = json!({
        "personalizations": personalizations,
        "from": mailbox(from),
        "subject": subject,
        "content": content,
    });
    if let Some(reply_to) = reply_to {
        body["reply_to"] = mailbox(reply_to);
    }
    if !categories.is_empty() {
        body["categories"] = json!(categories);
    }
    if sandbox {
        body["mail_settings"] = json!({ "sandbox_mode": { "enable": true } });
    }
    body
}

/// The request for one email.
pub fn build_send(
    email: &OutboundEmail,
    now: DateTime<Utc>,
    sandbox: bool,
) -> Result<ApiRequest, ProviderError> {
    email.validate(now)?;
    let p = personalization(
        &email.message_id,
        &email.to,
        &email.unsubscribe,
        email.send_at,
        None,
    );
    let content = Content {
        from: &email.from,
        reply_to: email.reply_to.as_ref(),
        subject: &email.subject,
        text: &email.text,
        html: email.html.as_deref(),
        categories: &email.categories,
    };
    let body = envelope(&content, sandbox, vec![p]);
    Ok(ApiRequest::post_json(
        operation::SEND_EMAIL,
        SEND_PATH,
        body,
    ))
}

/// The requests for a batch, at most [`MAX_PERSONALIZATIONS`] recipients each,
/// in recipient order.
pub fn build_batch(
    batch: &EmailBatch,
    now: DateTime<Utc>,
    sandbox: bool,
) -> Result<Vec<ApiRequest>, ProviderError> {
    batch.validate(now)?;
    let content = Content {
        from: &batch.from,
        reply_to: batch.reply_to.as_ref(),
        subject: &batch.subject,
        text: &batch.text,
        html: batch.html.as_deref(),
        categories: &batch.categories,
    };
    Ok(batch
        .recipients
        .chunks(MAX_PERSONALIZATIONS)
        .map(|chunk| {
            let personalizations = chunk
                .iter()
                .map(|r| {
                    personalization(
                        &r.message_id,
                        &r.to,
                        &r.unsubscribe,
                        r.send_at,
                        Some(&r.substitutions),
                    )
                })
                .collect();
            let body = envelope(&content, sandbox, personalizations);
            ApiRequest::post_json(operation::SEND_EMAIL_BATCH, SEND_PATH, body)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::BatchRecipient;
    use crate::email::tests::sample_email;
    use crate::http::Body;

    fn json_body(req: &ApiRequest) -> &Value {
        match &req.body {
            Body::Json(v) => v,
            other => panic!("expected json, got {other:?}"),
        }
    }

    #[test]
    fn a_single_send_carries_message_id_unsubscribe_headers_and_send_at() {
        let now = Utc::now();
        let mut email = sample_email();
        let at = now + chrono::Duration::hours(2);
        email.send_at = Some(at);
        let req = build_send(&email, now, false).unwrap();
        assert_eq!(req.path, "/v3/mail/send");
        assert!(!req.idempotent);
        let body = json_body(&req);
        let p = &body["personalizations"][0];
        assert_eq!(p["to"][0]["email"], "lead@acme.example");
        assert_eq!(p["custom_args"]["rex_message_id"], "msg-0001");
        assert_eq!(p["send_at"], at.timestamp());
        assert_eq!(
            p["headers"]["List-Unsubscribe"],
            "<https://rex.example/u/msg-0001>"
        );
        assert_eq!(
            p["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(body["from"]["name"], "Ana from Rex");
        assert_eq!(body["content"][0]["type"], "text/plain");
        assert!(body.get("mail_settings").is_none());
    }

    #[test]
    fn batches_split_at_one_thousand_personalizations() {
        let email = sample_email();
        let recipients: Vec<BatchRecipient> = (0..2500)
            .map(|i| BatchRecipient {
                message_id: format!("m{i}"),
                to: Mailbox::new(format!("lead{i}@acme.example")),
                unsubscribe: Unsubscribe::one_click(format!("https://rex.example/u/m{i}")),
                substitutions: BTreeMap::from([("-first-".to_owned(), format!("L{i}"))]),
                send_at: None,
            })
            .collect();
        let batch = EmailBatch {
            from: email.from,
            reply_to: None,
            subject: "Hi -first-".into(),
            text: "Hello -first-".into(),
            html: None,
            categories: vec!["reactivation".into()],
            recipients,
        };
        let requests = build_batch(&batch, Utc::now(), true).unwrap();
        let sizes: Vec<usize> = requests
            .iter()
            .map(|r| json_body(r)["personalizations"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        let second = json_body(&requests[1]);
        assert_eq!(
            second["personalizations"][0]["custom_args"]["rex_message_id"],
            "m1000"
        );
        assert_eq!(
            second["personalizations"][0]["substitutions"]["-first-"],
            "L1000"
        );
        assert_eq!(second["mail_settings"]["sandbox_mode"]["enable"], true);
    }

    #[test]
    fn one_bad_recipient_refuses_the_whole_batch_before_anything_is_sent() {
        let email = sample_email();
        let batch = EmailBatch {
            from: email.from,
            reply_to: None,
            subject: "s".into(),
            text: "t".into(),
            html: None,
            categories: vec![],
            recipients: vec![BatchRecipient {
                message_id: "m".into(),
                to: Mailbox::new("not-an-address"),
                unsubscribe: Unsubscribe::one_click("https://rex.example/u"),
                substitutions: BTreeMap::new(),
                send_at: None,
            }],
        };
        assert!(build_batch(&batch, Utc::now(), false).is_err());
    }
}
