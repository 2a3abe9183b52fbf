//! The raw definition: the YAML or JSON document as written, checked for shape only.
//!
//! Every struct denies unknown fields, so a typo (`depend_on`) is an error rather than a
//! silently ignored key. Durations stay strings here and templates stay JSON: parsing them
//! is the job of [validation](mod@crate::validate), which reports every problem at once
//! with its field path and turns a [`RawDefinition`] into a [`crate::Workflow`].
//!
//! The store keeps [`canonical_json`] of the raw definition and its [`content_hash`], and
//! validates the body again when it loads it, so a definition saved by an older Rex that a
//! newer one would reject is caught at load time rather than half-way through a mission.
//!
//! To add a step field (`delay`, `when`, …): add an `Option` field to [`RawStep`] with a doc
//! comment (it becomes the schema's description), a check in `validate/steps.rs`, then
//! regenerate the committed schema (`REX_BLESS=1 cargo test -p rex-core --test schema`).

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::workflow::InputType;

/// What workflow names, step ids and agent names look like.
pub const NAME_PATTERN: &str = "^[a-z][a-z0-9_-]{0,63}$";

/// What input names look like: usable as `${inputs.<name>}`.
pub const INPUT_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_-]{0,63}$";

/// Whether `s` matches [`NAME_PATTERN`].
pub fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
}

/// Whether `s` matches [`INPUT_NAME_PATTERN`].
pub fn is_valid_input_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | 'A'..='Z' | '_'))
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A Rex workflow definition: a named, versioned DAG of steps, each run by an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Rex workflow definition", rename = "WorkflowDefinition")]
pub struct RawDefinition {
    /// Name of the workflow: a lowercase letter, then up to 63 lowercase letters, digits,
    /// `_` or `-`. Missions are started by name.
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub name: String,
    /// Version of this definition, from 1. A running mission keeps the version it started
    /// with; submit a higher version to change a workflow.
    #[schemars(range(min = 1))]
    pub version: u32,
    /// Free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The mission's typed inputs, by name; steps read them as `${inputs.<name>}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": INPUT_NAME_PATTERN}))]
    pub inputs: BTreeMap<String, RawInput>,
    /// The steps, at least one. Order does not matter for execution: `depends_on` does.
    #[schemars(length(min = 1))]
    pub steps: Vec<RawStep>,
    /// What a signal does to the whole mission whenever it arrives, by signal name:
    /// `cancel` (stop everything not finished), `fail`, or `skip_to <step>` (skip every
    /// unfinished step that is not that step or after it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_signal: BTreeMap<String, String>,
    /// Keys this mission listens on, e.g. `lead:${inputs.lead_id}`: an event published
    /// to a key reaches every running mission that has it, as a signal. Only inputs may
    /// be referenced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub correlation_keys: Vec<String>,
}

/// One declared mission input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Input")]
pub struct RawInput {
    /// The JSON type the value must have. `integer` means a number without a fraction.
    #[serde(rename = "type")]
    pub kind: RawInputType,
    /// Whether a mission must supply this input. A required input may not have a default.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Value used when a mission does not supply the input; must have the input's type.
    /// An optional input without a default is `null` when not supplied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The type of a mission input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "InputType")]
pub enum RawInputType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

impl From<RawInputType> for InputType {
    fn from(t: RawInputType) -> Self {
        match t {
            RawInputType::String => InputType::String,
            RawInputType::Integer => InputType::Integer,
            RawInputType::Number => InputType::Number,
            RawInputType::Boolean => InputType::Boolean,
            RawInputType::Object => InputType::Object,
            RawInputType::Array => InputType::Array,
        }
    }
}

/// One step: a task for an agent, run once all of `depends_on` have succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct RawStep {
    /// Unique id within the workflow, same pattern as the workflow name. Other steps refer
    /// to it in `depends_on` and `${steps.<id>.output…}`.
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub id: String,
    /// The agent (worker queue) that runs the step, e.g. `scraper`. `results` is reserved.
    /// A step is a task (`agent` + `action`), a `wait_until` or a `wait_for`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub agent: Option<String>,
    /// What the agent should do, e.g. `enrich`; the agent decides what actions it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub action: Option<String>,
    /// A durable wait before the step starts, once its dependencies are done (`3d`).
    /// Survives restarts: it is a timer row, not a sleeping process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<RawDuration>,
    /// Makes the step a wait until this moment: an RFC 3339 time or one `${…}`
    /// expression that resolves to one. The step succeeds with `{"waited_until": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<String>,
    /// Send window: the step (a task) is dispatched only inside these local days and
    /// hours; outside them it waits, as a timer, for the next opening. The time zone may
    /// be a template (`${inputs.lead.timezone}`) resolved when the step starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<crate::window::RawWindow>,
    /// A CEL condition over `inputs` and ancestors' outputs (`steps.<id>.output…`),
    /// evaluated when the step's dependencies are done: false skips the step, and a
    /// skipped step counts as done for the steps after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Makes the step a wait for a signal sent to the mission (or published to one of its
    /// correlation keys). A signal that arrived earlier and was not used yet counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<RawWaitFor>,
    /// Fans the step out over a list: one `${…}` expression naming an array in the
    /// inputs or an ancestor's output (`${steps.import.output.leads}`). Each item runs
    /// as a child mission of its own — the step's task (`agent` + `action`) or the
    /// `workflow` — with `${item…}` and `${item_index}` available in `input`. The step
    /// succeeds once every item has finished, with `{"results": [...in item order],
    /// "failures": [{"index", "error"}], "total", "succeeded", "failed"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// With `for_each`: most items running at once, 1 to 10000. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_concurrency: Option<u32>,
    /// With `for_each`: `fail_fast` (default) fails the step at the first failed item
    /// and cancels the items still running; `continue` runs every item and lists the
    /// failures in the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<RawFailurePolicy>,
    /// Makes the step a child mission of this workflow (by name), whose output becomes
    /// the step's; with `for_each`, one child mission per item. `input` is the child's
    /// mission input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN))]
    pub workflow: Option<String>,
    /// With `workflow`: the child definition's version; the latest stored one when the
    /// child starts if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub workflow_version: Option<u32>,
    /// The task's input: any JSON. Strings may hold `${inputs.<name>…}` and
    /// `${steps.<id>.output…}` expressions; a string that is exactly one expression keeps
    /// the referenced value's type. Defaults to `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Ids of the steps that must succeed before this one starts. A step may only read the
    /// output of steps it depends on, directly or transitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// How a failed attempt is retried. Missing fields take their defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
    /// How long one attempt may run before it counts as a retryable failure. No limit when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<RawDuration>,
}

/// A wait for a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WaitFor")]
pub struct RawWaitFor {
    /// The signal's name, e.g. `lead.replied`.
    pub signal: String,
    /// How long to wait. When it passes the step succeeds with `{"timed_out": true}`, so
    /// later steps (and their `when`) can tell. Waits forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<RawDuration>,
}

/// What a `for_each` step does when an item fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "FailurePolicy")]
pub enum RawFailurePolicy {
    /// Fail the step at the first failed item; cancel the items still running.
    FailFast,
    /// Run every item; the step succeeds with the failures listed.
    Continue,
}

/// Retry policy of a step; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RetryPolicy")]
pub struct RawRetry {
    /// Total attempts including the first, 1 to 100; 1 means no retry. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_attempts: Option<u32>,
    /// Delay before the second attempt. Default `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<RawDuration>,
    /// Factor applied to the delay after each further failure, at least 1. Default 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0))]
    pub multiplier: Option<f64>,
    /// Upper bound of any single delay, at least `initial_delay`. Default `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<RawDuration>,
    /// Fraction of each delay that is randomised, 0 to 1. Default 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub jitter: Option<f64>,
}

/// A duration as written (`30s`, `1h30m`); parsed by [`crate::duration::parse_duration`]
/// during validation so that a bad one is reported with its field path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RawDuration(pub String);

impl RawDuration {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for RawDuration {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Display for RawDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Deserializes from a string only, with an error that shows the expected syntax
/// (`timeout: 30` fails with "expected a duration such as \"30s\"").
impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_owned()))
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl JsonSchema for RawDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A whole number and a unit (ms, s, m, h, d, w), or a sum of them: \
                            250ms, 30s, 5m, 2h, 3d, 1h30m. At most 365d.",
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d|w))+$",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

/// The stable JSON text of a definition: compact, every object's keys sorted (struct
/// fields and the JSON inside `input`/`default` alike), absent optional fields omitted.
/// Two definitions that differ only in formatting, comments or key order have the same
/// text, hence the same [`content_hash`].
pub fn canonical_json(raw: &RawDefinition) -> String {
    // Serializing plain structs, strings and JSON values cannot fail.
    let value = serde_json::to_value(raw).unwrap_or(Value::Null);
    sort_keys(value).to_string()
}

/// Rebuilds every object with sorted keys, whether or not serde_json's `preserve_order`
/// feature is on somewhere in the build.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Lowercase hex SHA-256 of `body` (64 characters).
pub fn content_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawDefinition {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn names_follow_the_pattern() {
        assert!(is_valid_name("lead-reactivation"));
        assert!(is_valid_name("a"));
        assert!(is_valid_name(&format!("a{}", "b".repeat(63))));
        assert!(!is_valid_name(&format!("a{}", "b".repeat(64))));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("Lead"));
        assert!(!is_valid_name("a.b"));
        assert!(!is_valid_name("é"));
        assert!(is_valid_input_name("leadId"));
        assert!(is_valid_input_name("_x"));
        assert!(!is_valid_input_name("a.b"));
        assert!(!is_valid_input_name("9"));
    }

    #[test]
    fn canonical_json_ignores_formatting_and_key_order() {
        let a = raw(
            "name: x\nversion: 1\nsteps:\n  - {id: a, agent: noop, action: noop, \
                     input: {b: 1, a: [{z: 1, y: 2}]}}\n",
        );
        let b = raw(
            "# comment\nversion: 1\nname: x\nsteps:\n- action: noop\n  agent: noop\n  \
                     id: a\n  input:\n    a:\n    - y: 2\n      z: 1\n    b: 1\n",
        );
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            concat!(
                r#"{"name":"x","steps":[{"action":"noop","agent":"noop","id":"a","#,
                r#""input":{"a":[{"y":2,"z":1}],"b":1}}],"version":1}"#
            )
        );
    }

    #[test]
    fn canonical_json_reads_back_to_the_same_definition() {
        let a = raw(
            "name: x\nversion: 2\ninputs: {n: {type: integer, default: 3}}\nsteps:\n  \
                     - {id: a, agent: noop, action: noop, retry: {max_delay: 1m}, timeout: 5s}\n",
        );
        let back: RawDefinition = serde_json::from_str(&canonical_json(&a)).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn content_hash_is_sha256_hex() {
        assert_eq!(
            content_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_duration_must_be_a_string() {
        let err = serde_json::from_str::<RawDuration>("30").unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a duration such as \"30s\""),
            "{err}"
        );
    }
}
