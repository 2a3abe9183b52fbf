//! Apollo requests and response shapes (pure).

use crate::enrichment::{Contact, EmailStatus, PersonQuery, Sourced, non_empty};
use crate::error::ProviderError;
use crate::http::ApiRequest;
use crate::operation;
use crate::provider::Provider;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Apollo's limit of people per bulk match request.
pub const MAX_BULK_MATCH: usize = 10;

fn details(query: &PersonQuery) -> Result<Value, ProviderError> {
    let mut map = Map::new();
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = non_empty(value.clone()) {
            map.insert(key.to_owned(), Value::String(v));
        }
    };
    put("first_name", &query.first_name);
    put("last_name", &query.last_name);
    put("domain", &query.domain);
    put("organization_name", &query.company);
    put("email", &query.email);
    put("linkedin_url", &query.linkedin_url);
    let identifies = map.contains_key("email")
        || map.contains_key("linkedin_url")
        || (map.contains_key("last_name")
            && (map.contains_key("domain") || map.contains_key("organization_name")));
    if !identifies {
        return Err(ProviderError::invalid_input(
            "query",
            "apollo needs an email, a linkedin url, or a name with a domain or company",
        ));
    }
    Ok(Value::Object(map))
}

/// `POST /api/v1/people/match`.
pub fn build_match(query: &PersonQuery, reveal_phone: bool) -> Result<ApiRequest, ProviderError> {
    let mut body = details(query)?;
    body["reveal_personal_emails"] = json!(false);
    body["reveal_phone_number"] = json!(reveal_phone);
    // A match only reads (and charges); repeating it sends nothing anywhere.
    Ok(
        ApiRequest::post_json(operation::PEOPLE_MATCH, "/api/v1/people/match", body)
            .idempotent(true),
    )
}

/// `POST /api/v1/people/bulk_match`, at most [`MAX_BULK_MATCH`] people each.
pub fn build_bulk_match(
    queries: &[PersonQuery],
    reveal_phone: bool,
) -> Result<Vec<ApiRequest>, ProviderError> {
    queries
        .chunks(MAX_BULK_MATCH)
        .map(|chunk| {
            let details = chunk.iter().map(details).collect::<Result<Vec<_>, _>>()?;
            let body = json!({
                "details": details,
                "reveal_personal_emails": false,
                "reveal_phone_number": reveal_phone,
            });
            Ok(
                ApiRequest::post_json("people_bulk_match", "/api/v1/people/bulk_match", body)
                    .idempotent(true),
            )
        })
        .collect()
}

#[derive(Deserialize)]
pub(super) struct MatchEnvelope {
    #[serde(default)]
    pub person: Option<Person>,
}

#[derive(Deserialize)]
pub(super) struct BulkEnvelope {
    #[serde(default)]
    pub matches: Vec<Option<Person>>,
}

#[derive(Deserialize)]
pub(super) struct Person {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_status: Option<String>,
    #[serde(default)]
    pub linkedin_url: Option<String>,
    #[serde(default)]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub phone_numbers: Vec<PhoneNumber>,
}

#[derive(Deserialize)]
pub(super) struct Organization {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub primary_domain: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PhoneNumber {
    #[serde(default)]
    pub sanitized_number: Option<String>,
    #[serde(default)]
    pub raw_number: Option<String>,
}

/// Apollo hides unrevealed emails behind this placeholder.
const LOCKED_EMAIL: &str = "email_not_unlocked@domain.com";

/// The contact a match describes, and whether it included a phone number.
pub(super) fn person_contact(person: Person, at: DateTime<Utc>) -> (Contact, bool) {
    let s = |v: Option<String>| non_empty(v).map(|v| Sourced::new(v, Provider::Apollo, at));
    let email = non_empty(person.email).filter(|e| e != LOCKED_EMAIL);
    let phone = person
        .phone_numbers
        .into_iter()
        .find_map(|p| non_empty(p.sanitized_number).or_else(|| non_empty(p.raw_number)));
    let has_phone = phone.is_some();
    let (company, domain) = match person.organization {
        Some(org) => (org.name, org.primary_domain),
        None => (None, None),
    };
    let status = email.as_ref().and(person.email_status).map(|status| {
        let status = match status.as_str() {
            "verified" => EmailStatus::Valid,
            _ => EmailStatus::Unknown,
        };
        Sourced::new(status, Provider::Apollo, at)
    });
    let contact = Contact {
        email: s(email),
        email_score: None,
        email_status: status,
        first_name: s(person.first_name),
        last_name: s(person.last_name),
        title: s(person.title),
        phone: s(phone),
        linkedin_url: s(person.linkedin_url),
        company: s(company),
        company_domain: s(domain),
    };
    (contact, has_phone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;

    #[test]
    fn a_match_sends_what_identifies_the_person_and_never_reveals_personal_emails() {
        let q = PersonQuery {
            first_name: Some("Lee".into()),
            last_name: Some("Doe".into()),
            domain: Some("acme.com".into()),
            ..PersonQuery::default()
        };
        let req = build_match(&q, false).unwrap();
        let Body::Json(body) = &req.body else {
            panic!("json expected")
        };
        assert_eq!(body["domain"], "acme.com");
        assert_eq!(body["reveal_personal_emails"], false);
        assert!(body.get("organization_name").is_none());
        assert!(
            build_match(
                &PersonQuery {
                    first_name: Some("Lee".into()),
                    ..PersonQuery::default()
                },
                false
            )
            .is_err()
        );
    }

    #[test]
    fn bulk_matches_split_at_ten() {
        let q = PersonQuery {
            email: Some("lee@acme.com".into()),
            ..PersonQuery::default()
        };
        let requests = build_bulk_match(&vec![q; 23], false).unwrap();
        let sizes: Vec<usize> = requests
            .iter()
            .map(|r| match &r.body {
                Body::Json(v) => v["details"].as_array().unwrap().len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, vec![10, 10, 3]);
    }
}
