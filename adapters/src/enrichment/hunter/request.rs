//! Hunter requests and response shapes (pure).

use crate::enrichment::{Contact, EmailStatus, PersonQuery, Sourced, non_empty};
use crate::error::ProviderError;
use crate::http::ApiRequest;
use crate::operation;
use crate::provider::Provider;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// `GET /v2/email-finder?domain&first_name&last_name`.
pub fn build_find(query: &PersonQuery) -> Result<ApiRequest, ProviderError> {
    let domain = non_empty(query.domain.clone());
    let company = non_empty(query.company.clone());
    let (Some(first), Some(last)) = (
        non_empty(query.first_name.clone()),
        non_empty(query.last_name.clone()),
    ) else {
        return Err(ProviderError::invalid_input(
            "query",
            "hunter's email finder needs a first and a last name",
        ));
    };
    let mut request = ApiRequest::get(operation::EMAIL_FINDER, "/v2/email-finder");
    request = match (domain, company) {
        (Some(domain), _) => request.query("domain", domain),
        (None, Some(company)) => request.query("company", company),
        (None, None) => {
            return Err(ProviderError::invalid_input(
                "query",
                "hunter's email finder needs a domain or a company",
            ));
        }
    };
    Ok(request.query("first_name", first).query("last_name", last))
}

/// `GET /v2/email-verifier?email`.
pub fn build_verify(email: &str) -> Result<ApiRequest, ProviderError> {
    if !email.contains('@') {
        return Err(ProviderError::invalid_input(
            "email",
            "not an email address",
        ));
    }
    Ok(
        ApiRequest::get(operation::EMAIL_VERIFIER, "/v2/email-verifier")
            .query("email", email.trim()),
    )
}

#[derive(Deserialize)]
pub(super) struct Envelope<T> {
    pub data: T,
}

#[derive(Deserialize)]
pub(super) struct FinderData {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub score: Option<u8>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub linkedin_url: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub verification: Option<FinderVerification>,
}

#[derive(Deserialize)]
pub(super) struct FinderVerification {
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct VerifierData {
    pub status: String,
    #[serde(default)]
    pub score: Option<u8>,
}

/// The contact a finder answer describes; empty when no email was found.
pub(super) fn finder_contact(data: FinderData, at: DateTime<Utc>) -> Contact {
    let Some(email) = non_empty(data.email) else {
        return Contact::default();
    };
    let s = |v: Option<String>| non_empty(v).map(|v| Sourced::new(v, Provider::Hunter, at));
    Contact {
        email: Some(Sourced::new(email, Provider::Hunter, at)),
        email_score: data.score.map(|v| Sourced::new(v, Provider::Hunter, at)),
        email_status: data
            .verification
            .and_then(|v| v.status)
            .map(|v| Sourced::new(EmailStatus::parse(&v), Provider::Hunter, at)),
        first_name: s(data.first_name),
        last_name: s(data.last_name),
        title: s(data.position),
        phone: s(data.phone_number),
        linkedin_url: s(data.linkedin_url),
        company: s(data.company),
        company_domain: s(data.domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finder_needs_names_and_a_domain_or_company() {
        let mut q = PersonQuery {
            first_name: Some("Lee".into()),
            last_name: Some("Doe".into()),
            domain: Some("acme.com".into()),
            ..PersonQuery::default()
        };
        let req = build_find(&q).unwrap();
        assert_eq!(req.path, "/v2/email-finder");
        assert!(
            req.query.iter().all(|(k, _)| k != "api_key"),
            "the key never goes in the query"
        );
        q.domain = None;
        assert!(build_find(&q).is_err());
        q.company = Some("Acme".into());
        assert!(
            build_find(&q)
                .unwrap()
                .query
                .contains(&("company".into(), "Acme".into()))
        );
    }
}
