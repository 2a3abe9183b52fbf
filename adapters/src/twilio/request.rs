//! Building the form-encoded `Messages.json` request (pure).

use super::config::{SenderId, TwilioConfig};
use crate::error::ProviderError;
use crate::http::ApiRequest;
use crate::operation;
use crate::sms::{OutboundSms, is_e164};

/// The query parameter carrying Rex's message id on the status callback URL.
pub const MESSAGE_ID_PARAM: &str = "rex_message_id";

fn valid_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with `To`,
/// `From` or `MessagingServiceSid`, `Body` and `StatusCallback`.
pub fn build_send(config: &TwilioConfig, sms: &OutboundSms) -> Result<ApiRequest, ProviderError> {
    sms.validate()?;
    if !valid_sid(&config.account_sid, "AC") {
        return Err(ProviderError::invalid_input(
            "TWILIO_ACCOUNT_SID",
            "expected AC followed by 32 letters or digits",
        ));
    }
    let mut form = vec![("To".to_owned(), sms.to.clone())];
    match &config.sender {
        SenderId::Number(number) => {
            if !is_e164(number) {
                return Err(ProviderError::invalid_input(
                    "TWILIO_FROM_NUMBER",
                    "not an E.164 phone number",
                ));
            }
            form.push(("From".to_owned(), number.clone()));
        }
        SenderId::MessagingService(sid) => {
            if !valid_sid(sid, "MG") {
                return Err(ProviderError::invalid_input(
                    "TWILIO_MESSAGING_SERVICE_SID",
                    "expected MG followed by 32 letters or digits",
                ));
            }
            form.push(("MessagingServiceSid".to_owned(), sid.clone()));
        }
    }
    form.push(("Body".to_owned(), sms.body.clone()));
    if let Some(callback) = &config.status_callback {
        let mut callback = callback.clone();
        callback
            .query_pairs_mut()
            .append_pair(MESSAGE_ID_PARAM, &sms.message_id);
        form.push(("StatusCallback".to_owned(), callback.to_string()));
    }
    Ok(ApiRequest::post_form(
        operation::SEND_SMS,
        format!("/2010-04-01/Accounts/{}/Messages.json", config.account_sid),
        form,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;

    const SID: &str = "AC00000000000000000000000000000001";

    fn sms() -> OutboundSms {
        OutboundSms {
            message_id: "m-1".into(),
            to: "+14155550123".into(),
            body: "Hi Lee, quick one".into(),
        }
    }

    #[test]
    fn the_form_has_to_from_body_and_a_tagged_status_callback() {
        let mut config = TwilioConfig::new(SID, "token", SenderId::Number("+14155550100".into()));
        config.status_callback = Some(url::Url::parse("https://rex.example/hooks/twilio").unwrap());
        let req = build_send(&config, &sms()).unwrap();
        assert_eq!(
            req.path,
            format!("/2010-04-01/Accounts/{SID}/Messages.json")
        );
        let Body::Form(form) = &req.body else {
            panic!("form expected")
        };
        assert_eq!(
            form,
            &vec![
                ("To".to_owned(), "+14155550123".to_owned()),
                ("From".to_owned(), "+14155550100".to_owned()),
                ("Body".to_owned(), "Hi Lee, quick one".to_owned()),
                (
                    "StatusCallback".to_owned(),
                    "https://rex.example/hooks/twilio?rex_message_id=m-1".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_messaging_service_replaces_from() {
        let config = TwilioConfig::new(
            SID,
            "token",
            SenderId::MessagingService("MG00000000000000000000000000000002".into()),
        );
        let req = build_send(&config, &sms()).unwrap();
        let Body::Form(form) = &req.body else {
            panic!("form expected")
        };
        assert!(form.iter().any(|(k, _)| k == "MessagingServiceSid"));
        assert!(!form.iter().any(|(k, _)| k == "From"));
    }

    #[test]
    fn bad_numbers_and_sids_are_refused_before_sending() {
        let config = TwilioConfig::new(SID, "token", SenderId::Number("+14155550100".into()));
        let mut bad = sms();
        bad.to = "0044 20 7183 8750".into();
        assert_eq!(
            build_send(&config, &bad).unwrap_err().kind(),
            "invalid_input"
        );
        let config = TwilioConfig::new("AC/../x", "token", SenderId::Number("+14155550100".into()));
        assert!(build_send(&config, &sms()).is_err());
    }
}
