//! Names of the exchanges, queues and routing keys. Pure: no IO.
//!
//! ```text
//! {prefix}.tasks   (direct) --agent.{a}--> {prefix}.agent.{a}      (quorum, delivery limit, DLX)
//!                           --results---> {prefix}.results         (quorum, delivery limit, DLX)
//!                           --inbox-----> {prefix}.inbox           (quorum, delivery limit, DLX)
//! {prefix}.dlx     (direct) --agent.{a}--> {prefix}.agent.{a}.dlq  (quorum)
//!                           --results---> {prefix}.results.dlq     (quorum)
//!                           --inbox-----> {prefix}.inbox.dlq       (quorum)
//! ```

use crate::error::BrokerError;
use crate::message::{Destination, MAX_SHORT_STRING};

/// Longest agent name: leaves room for the prefix and the `.dlq` suffix
/// inside AMQP's 255-byte queue names.
const MAX_AGENT_NAME: usize = 100;
const MAX_PREFIX: usize = 100;

#[derive(Clone, Debug)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Result<Self, BrokerError> {
        check_name(prefix, MAX_PREFIX, true).map_err(|reason| BrokerError::InvalidAgent {
            name: prefix.into(),
            reason: format!("as a prefix: {reason}"),
        })?;
        Ok(Self {
            prefix: prefix.into(),
        })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn exchange(&self) -> String {
        format!("{}.tasks", self.prefix)
    }

    pub(crate) fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    pub(crate) fn queue(&self, destination: &Destination) -> String {
        match destination {
            Destination::Agent(agent) => format!("{}.agent.{agent}", self.prefix),
            Destination::Results => format!("{}.results", self.prefix),
            Destination::Inbox => format!("{}.inbox", self.prefix),
        }
    }

    pub(crate) fn dead_letter_queue(&self, destination: &Destination) -> String {
        format!("{}.dlq", self.queue(destination))
    }
}

/// The routing key, used both on the task exchange and on the dead-letter exchange.
pub(crate) fn routing_key(destination: &Destination) -> String {
    match destination {
        Destination::Agent(agent) => format!("agent.{agent}"),
        Destination::Results => "results".into(),
        Destination::Inbox => "inbox".into(),
    }
}

/// Every destination the topology declares for `agents`: their task queues, the
/// results queue and the inbox, each with its dead-letter queue.
pub(crate) fn destinations(agents: &[String]) -> Vec<Destination> {
    agents
        .iter()
        .map(|agent| Destination::Agent(agent.clone()))
        .chain([Destination::Results, Destination::Inbox])
        .collect()
}

/// Agent names become part of queue names and routing keys: ASCII letters,
/// digits, `-` and `_` only (a `.` could make `a.dlq` collide with the
/// dead-letter queue of `a`).
pub(crate) fn validate_destination(destination: &Destination) -> Result<(), BrokerError> {
    match destination {
        Destination::Results | Destination::Inbox => Ok(()),
        Destination::Agent(agent) => {
            check_name(agent, MAX_AGENT_NAME, false).map_err(|reason| BrokerError::InvalidAgent {
                name: agent.clone(),
                reason,
            })
        }
    }
}

fn check_name(name: &str, max: usize, allow_dot: bool) -> Result<(), String> {
    debug_assert!(max < MAX_SHORT_STRING);
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > max {
        return Err(format!("is {} bytes long (at most {max})", name.len()));
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (allow_dot && c == '.');
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "contains {bad:?} (allowed: ASCII letters, digits, '-', '_'{})",
            if allow_dot { ", '.'" } else { "" }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_topology() {
        let names = Names::new("rex").unwrap();
        let scraper = Destination::Agent("scraper".into());
        assert_eq!(names.exchange(), "rex.tasks");
        assert_eq!(names.dead_letter_exchange(), "rex.dlx");
        assert_eq!(names.queue(&scraper), "rex.agent.scraper");
        assert_eq!(names.dead_letter_queue(&scraper), "rex.agent.scraper.dlq");
        assert_eq!(names.queue(&Destination::Results), "rex.results");
        assert_eq!(
            names.dead_letter_queue(&Destination::Results),
            "rex.results.dlq"
        );
        assert_eq!(routing_key(&scraper), "agent.scraper");
        assert_eq!(routing_key(&Destination::Results), "results");
        assert_eq!(names.queue(&Destination::Inbox), "rex.inbox");
        assert_eq!(
            names.dead_letter_queue(&Destination::Inbox),
            "rex.inbox.dlq"
        );
        assert_eq!(routing_key(&Destination::Inbox), "inbox");
    }

    #[test]
    fn the_topology_declares_the_inbox_with_the_agents_and_results() {
        let all = destinations(&["alpha".to_owned()]);
        assert_eq!(
            all,
            vec![
                Destination::Agent("alpha".into()),
                Destination::Results,
                Destination::Inbox
            ]
        );
        assert!(validate_destination(&Destination::Inbox).is_ok());
    }

    #[test]
    fn an_agent_name_with_a_dot_is_refused() {
        let err = validate_destination(&Destination::Agent("a.dlq".into())).unwrap_err();
        assert!(
            err.to_string().contains("'.'") || err.to_string().contains("contains"),
            "{err}"
        );
        assert!(validate_destination(&Destination::Agent(String::new())).is_err());
        assert!(validate_destination(&Destination::Agent("x".repeat(101))).is_err());
        assert!(validate_destination(&Destination::Agent("lead-scorer_2".into())).is_ok());
    }

    #[test]
    fn a_prefix_may_contain_dots_but_not_spaces() {
        assert!(Names::new("acme.rex").is_ok());
        assert!(Names::new("acme rex").is_err());
        assert!(Names::new("").is_err());
    }
}
