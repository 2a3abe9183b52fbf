//! The list of outside services this crate talks to, named once.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    SendGrid,
    Twilio,
    Calendly,
    Hunter,
    Apollo,
    Llm,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::SendGrid => "sendgrid",
            Provider::Twilio => "twilio",
            Provider::Calendly => "calendly",
            Provider::Hunter => "hunter",
            Provider::Apollo => "apollo",
            Provider::Llm => "llm",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
