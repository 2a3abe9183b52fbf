//! The message itself: the personalizer's draft made compliant for its channel, the
//! recipient's display name, and the hash an intent records of what was sent.

use super::*;

pub(super) struct Composed {
    pub(super) subject: Option<String>,
    pub(super) body: String,
    pub(super) unsubscribe_url: String,
}

pub(super) fn hash_body(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

pub(super) fn recipient_address(lead: &Obj, email: &str) -> Address {
    let name: Vec<String> = ["first_name", "last_name"]
        .iter()
        .filter_map(|f| text(lead, "input.lead", f).ok().flatten())
        .collect();
    if name.is_empty() {
        Address::new(email)
    } else {
        Address::named(email, name.join(" "))
    }
}

impl Outreach {
    pub(super) fn compose(
        &self,
        tenant: Uuid,
        req: &SendRequest<'_>,
        out: &Out,
        country: Option<String>,
        first: bool,
        mode: Mode,
    ) -> Result<Composed, StepError> {
        // a signed token, never the guessable message id: the API's `/u/{token}` checks it
        let token = rex_domain::unsubscribe::sign(
            self.settings.unsubscribe_secret.expose(),
            tenant,
            &out.message_id,
        );
        let unsubscribe_url = format!("{}/{token}", self.settings.unsubscribe_url);
        if req.channel == Channel::Sms {
            let mut body = req.body.clone();
            if first && !body.to_ascii_uppercase().contains("STOP") {
                body.push('\n');
                body.push_str(SMS_OPT_OUT);
            }
            return Ok(Composed {
                subject: None,
                body,
                unsubscribe_url,
            });
        }
        let postal_address = match (&self.settings.postal_address, mode) {
            (Some(a), _) => a.clone(),
            (None, Mode::DryRun) => DRY_RUN_POSTAL_ADDRESS.to_owned(),
            // finalize_email refuses it: no live email without a postal address
            (None, Mode::Live) => String::new(),
        };
        let settings = ComplianceSettings {
            sender_company: self.settings.sender_company.clone(),
            postal_address,
            unsubscribe_url: unsubscribe_url.clone(),
            unsubscribe_mailto: None,
        };
        let recipient = Recipient {
            country,
            first_message: first,
            data_sources: parse::<Vec<String>>(req.lead, "input.lead", "data_sources")?
                .unwrap_or_default(),
        };
        let draft = Draft {
            subject: req.subject.clone().unwrap_or_default(),
            body: req.body.clone(),
        };
        let email = finalize_email(&draft, &settings, &recipient)
            .map_err(|e| StepError::permanent(format!("compliance: {e}")))?;
        Ok(Composed {
            subject: Some(email.subject),
            body: email.body,
            unsubscribe_url,
        })
    }
}
