//! A provider request as plain data, built by pure code and sent by
//! [`super::HttpClient`]. Credentials are not part of it: they travel in
//! [`Auth`], which the client writes into sensitive headers.

use crate::error::ProviderError;
use crate::secret::Secret;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Empty,
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`, in the given order.
    Form(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiRequest {
    /// Name used in spans, usage records and the dry-run log.
    pub operation: &'static str,
    pub method: Method,
    /// Path relative to the provider's base URL, starting with `/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Non-secret headers only.
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// True when repeating the request cannot cause a second side effect.
    /// Timeouts of non-idempotent requests are not retried: the outcome is
    /// unknown and the caller must reconcile.
    pub idempotent: bool,
}

impl ApiRequest {
    pub fn get(operation: &'static str, path: impl Into<String>) -> Self {
        Self {
            operation,
            method: Method::Get,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            idempotent: true,
        }
    }

    pub fn post_json(
        operation: &'static str,
        path: impl Into<String>,
        body: serde_json::Value,
    ) -> Self {
        Self {
            method: Method::Post,
            body: Body::Json(body),
            idempotent: false,
            ..Self::get(operation, path)
        }
    }

    pub fn post_form(
        operation: &'static str,
        path: impl Into<String>,
        form: Vec<(String, String)>,
    ) -> Self {
        Self {
            method: Method::Post,
            body: Body::Form(form),
            idempotent: false,
            ..Self::get(operation, path)
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// The full URL under `base` (whose own path, e.g. a proxy prefix, is kept).
    pub fn url(&self, base: &Url) -> Result<Url, ProviderError> {
        let joined = format!(
            "{}/{}",
            base.as_str().trim_end_matches('/'),
            self.path.trim_start_matches('/')
        );
        let mut url = Url::parse(&joined)
            .map_err(|e| ProviderError::invalid_input("base_url", e.to_string()))?;
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(self.query.iter());
        }
        Ok(url)
    }

    /// The content type and bytes of the body.
    pub fn encoded_body(&self) -> Option<(&'static str, Vec<u8>)> {
        match &self.body {
            Body::Empty => None,
            Body::Json(value) => Some(("application/json", value.to_string().into_bytes())),
            Body::Form(pairs) => Some((
                "application/x-www-form-urlencoded",
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.iter())
                    .finish()
                    .into_bytes(),
            )),
        }
    }
}

/// How a request authenticates. Values are [`Secret`]s and end up in headers
/// marked sensitive, so reqwest never prints them either.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Bearer(Secret),
    Basic {
        user: String,
        password: Secret,
    },
    /// An API-key header such as Hunter's `X-API-KEY` or Apollo's `x-api-key`.
    Header {
        name: &'static str,
        value: Secret,
    },
}

impl Auth {
    /// The secrets this auth carries, to scrub from anything we report.
    pub fn secrets(&self) -> Vec<&Secret> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(s) => vec![s],
            Auth::Basic { password, .. } => vec![password],
            Auth::Header { value, .. } => vec![value],
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        self.secrets()
            .iter()
            .fold(text.to_owned(), |acc, secret| secret.scrub(&acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_the_base_path_and_encodes_the_query() {
        let base = Url::parse("http://localhost:8080/proxy/").unwrap();
        let req = ApiRequest::get("t", "/v2/email-finder").query("first_name", "Zoë & co");
        assert_eq!(
            req.url(&base).unwrap().as_str(),
            "http://localhost:8080/proxy/v2/email-finder?first_name=Zo%C3%AB+%26+co"
        );
    }

    #[test]
    fn form_bodies_are_url_encoded_in_order() {
        let req = ApiRequest::post_form(
            "t",
            "/x",
            vec![
                ("To".into(), "+15551234567".into()),
                ("Body".into(), "hi & bye".into()),
            ],
        );
        let (ty, bytes) = req.encoded_body().unwrap();
        assert_eq!(ty, "application/x-www-form-urlencoded");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "To=%2B15551234567&Body=hi+%26+bye"
        );
    }
}
