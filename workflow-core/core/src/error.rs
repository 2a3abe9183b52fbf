//! Errors of reading and validating workflow definitions.
//!
//! Validation never stops at the first problem: it collects every [`Problem`] it finds
//! (except when the text cannot be parsed at all) and returns them together in one
//! [`ValidationError`]. Each problem carries a stable [`ProblemCode`] that the HTTP API
//! returns as its error code, and the path of the field at fault.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! problem_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// What kind of problem a definition (or a mission's input) has.
        ///
        /// The snake_case names are a stable API: clients match on them. New kinds may be
        /// added; existing names never change meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ProblemCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ProblemCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant,)*];

            /// The stable snake_case name, as serialized.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $name,)*
                }
            }
        }
    };
}

problem_codes! {
    // Reading the text.
    /// The bytes are not UTF-8.
    NotUtf8 = "not_utf8",
    /// The definition is larger than `ValidateOptions::max_bytes`, or expands too much.
    TooLarge = "too_large",
    /// The text is empty or blank.
    EmptyDefinition = "empty_definition",
    /// YAML or JSON syntax error.
    Syntax = "syntax",
    /// Lists and maps are nested deeper than the parser allows.
    TooDeep = "too_deep",
    /// A field that the format does not have.
    UnknownField = "unknown_field",
    /// A required field is absent.
    MissingField = "missing_field",
    /// The same field appears twice in one map.
    DuplicateField = "duplicate_field",
    /// A value of the wrong type (`version: "one"`).
    WrongType = "wrong_type",
    /// A value of the right type that is not allowed (`type: strnig`).
    InvalidValue = "invalid_value",

    // The definition as a whole.
    /// `name` is empty.
    EmptyName = "empty_name",
    /// `name` does not match `^[a-z][a-z0-9_-]{0,63}$`.
    InvalidName = "invalid_name",
    /// `version` is 0.
    InvalidVersion = "invalid_version",
    /// `steps` is empty.
    NoSteps = "no_steps",
    /// More steps than `ValidateOptions::max_steps`.
    TooManySteps = "too_many_steps",
    /// An input name that cannot be referenced as `${inputs.<name>}`.
    InvalidInputName = "invalid_input_name",
    /// An input's `default` does not have the input's `type`.
    DefaultTypeMismatch = "default_type_mismatch",
    /// An input is `required` and also has a `default`, which would never be used.
    RequiredWithDefault = "required_with_default",

    // Steps.
    /// Two steps share an id.
    DuplicateStepId = "duplicate_step_id",
    /// A step id does not match `^[a-z][a-z0-9_-]{0,63}$`.
    InvalidStepId = "invalid_step_id",
    /// `agent` is empty.
    EmptyAgent = "empty_agent",
    /// `agent` does not match `^[a-z][a-z0-9_-]{0,63}$`.
    InvalidAgent = "invalid_agent",
    /// `agent` names a queue the engine reserves for itself (`results`).
    ReservedAgent = "reserved_agent",
    /// `agent` is not one of the agents the engine knows.
    UnknownAgent = "unknown_agent",
    /// `action` is empty.
    EmptyAction = "empty_action",
    /// `depends_on` names a step that does not exist.
    UnknownDependency = "unknown_dependency",
    /// A step depends on itself.
    SelfDependency = "self_dependency",
    /// `depends_on` lists the same step twice.
    DuplicateDependency = "duplicate_dependency",
    /// `depends_on` edges form a cycle.
    Cycle = "cycle",
    /// A `${…}` expression that cannot be parsed.
    InvalidTemplate = "invalid_template",
    /// `${inputs.x}` names an input the definition does not declare.
    UndeclaredInput = "undeclared_input",
    /// `${steps.x.output}` names a step that does not exist.
    UnknownStepReference = "unknown_step_reference",
    /// `${steps.x.output}` names a step that does not run before this one.
    NotAnAncestor = "not_an_ancestor",
    /// A duration that cannot be parsed (`5x`, `-1s`, `400d`).
    InvalidDuration = "invalid_duration",
    /// `timeout: 0s`.
    ZeroTimeout = "zero_timeout",
    /// `retry.max_attempts` outside 1..=100.
    InvalidMaxAttempts = "invalid_max_attempts",
    /// `retry.multiplier` below 1 or not finite.
    InvalidMultiplier = "invalid_multiplier",
    /// `retry.jitter` outside [0, 1].
    InvalidJitter = "invalid_jitter",
    /// `retry.initial_delay` is longer than `retry.max_delay`.
    DelayOutOfOrder = "delay_out_of_order",
    /// A step is more than one of: a task (`agent` + `action`), `wait_until`, `wait_for`.
    ConflictingStepKind = "conflicting_step_kind",
    /// A field that the step's kind does not use (`input` on a `wait_for` step).
    FieldNotForStepKind = "field_not_for_step_kind",
    /// A signal name that is empty or has characters other than letters, digits, `.`,
    /// `_` and `-`.
    InvalidSignalName = "invalid_signal_name",
    /// An `on_signal` action other than `cancel`, `fail` or `skip_to <step>`.
    InvalidSignalAction = "invalid_signal_action",
    /// A `wait_until` that is neither an RFC 3339 time nor one `${…}` expression.
    InvalidWaitUntil = "invalid_wait_until",
    /// A `correlation_keys` entry that is empty or reads step outputs.
    InvalidCorrelationKey = "invalid_correlation_key",
    /// A `window` with bad days, hours, time zone or holidays, or on a non-task step.
    InvalidWindow = "invalid_window",
    /// A `when` condition that does not parse, or reads what the step cannot see.
    InvalidCondition = "invalid_condition",
    /// A `for_each` that is not one `${…}` expression over inputs or an ancestor's output,
    /// or that is used with a `wait_until`/`wait_for` step.
    InvalidForEach = "invalid_for_each",
    /// `${item…}` or `${item_index}` outside the input of a `for_each` step.
    ItemOutsideForEach = "item_outside_for_each",
    /// `max_concurrency` outside 1 to 10000.
    InvalidMaxConcurrency = "invalid_max_concurrency",
    /// A `workflow` (child mission) name that is not a valid workflow name.
    InvalidChildWorkflow = "invalid_child_workflow",

    // A mission's input, checked against the definition's declared inputs.
    /// The mission input is not a JSON object.
    InputsNotObject = "inputs_not_object",
    /// A mission input the definition does not declare.
    UnknownInput = "unknown_input",
    /// A required mission input is absent.
    MissingInput = "missing_input",
    /// A mission input of the wrong type.
    InputTypeMismatch = "input_type_mismatch",
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    pub code: ProblemCode,
    /// The id of the step at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Path of the field at fault from the document root, e.g. `steps[2].depends_on[0]`
    /// or `steps[0].retry.initial_delay`; empty for the document as a whole.
    pub field: String,
    /// 1-based line in the source text; best effort for problems found after parsing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column; only known for parse errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Lowercase, no trailing period, specific: `"scrape" is not a step (did you mean
    /// "scraper"?)`.
    pub message: String,
}

impl Problem {
    pub fn new(code: ProblemCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            step: None,
            field: field.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Attributes the problem to a step.
    pub fn in_step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    /// Sets the source position, keeping any already known.
    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = self.line.or(line);
        self.column = self.column.or(column);
        self
    }

    /// The field path relative to the problem's step: `depends_on[0]` for
    /// `steps[2].depends_on[0]`, since the step is already named.
    pub fn relative_field(&self) -> &str {
        if self.step.is_none() {
            return &self.field;
        }
        match self.field.strip_prefix("steps[") {
            Some(rest) => match rest.find(']') {
                Some(end) => rest[end + 1..].trim_start_matches('.'),
                None => &self.field,
            },
            None => &self.field,
        }
    }

    /// Displays the problem prefixed by `file` (`defs/x.yaml:12: step "a": …`).
    pub fn display_in<'a>(&'a self, file: Option<&'a str>) -> impl fmt::Display + 'a {
        InFile(self, file)
    }
}

struct InFile<'a>(&'a Problem, Option<&'a str>);

impl fmt::Display for InFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let InFile(p, file) = *self;
        match (file, p.line) {
            (Some(file), Some(line)) => {
                write!(f, "{file}:{line}")?;
                if let Some(column) = p.column {
                    write!(f, ":{column}")?;
                }
                f.write_str(": ")?;
            }
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => {
                write!(f, "line {line}")?;
                if let Some(column) = p.column {
                    write!(f, " column {column}")?;
                }
                f.write_str(": ")?;
            }
            (None, None) => {}
        }
        if let Some(step) = &p.step {
            write!(f, "step {step:?}: ")?;
        }
        let field = p.relative_field();
        if !field.is_empty() {
            write!(f, "{field}: ")?;
        }
        f.write_str(&p.message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        InFile(self, None).fmt(f)
    }
}

/// A definition was rejected; `problems` lists every reason found, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationError {
    /// The file the definition came from, when known; prefixes every displayed problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub problems: Vec<Problem>,
}

impl ValidationError {
    pub fn new(file: Option<&str>, problems: Vec<Problem>) -> Self {
        Self {
            file: file.map(str::to_owned),
            problems,
        }
    }

    /// The codes of all problems, in report order.
    pub fn codes(&self) -> Vec<ProblemCode> {
        self.problems.iter().map(|p| p.code).collect()
    }

    /// The first problem of the given kind, if any.
    pub fn find(&self, code: ProblemCode) -> Option<&Problem> {
        self.problems.iter().find(|p| p.code == code)
    }
}

impl std::error::Error for ValidationError {}

/// One problem per line.
impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            p.display_in(self.file.as_deref()).fmt(f)?;
        }
        Ok(())
    }
}

const DURATION_HINT: &str = "expected e.g. 250ms, 30s, 5m, 2h, 3d";

/// Why a string is not a duration (see [`crate::duration::parse_duration`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration ({DURATION_HINT})")]
    Empty,
    #[error("{0:?} is not a duration ({DURATION_HINT})")]
    Invalid(String),
    #[error("{0:?} is not a duration: it is negative")]
    Negative(String),
    #[error("{0:?} is not a duration: a number needs a unit ({DURATION_HINT})")]
    MissingUnit(String),
    #[error("{input:?} is not a duration: unknown unit {unit:?} (units: ms, s, m, h, d, w)")]
    UnknownUnit { input: String, unit: String },
    #[error("{0:?} is too long (at most 365d)")]
    TooLong(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_match_their_serde_names() {
        for &code in ProblemCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::json!(code.as_str()));
        }
    }

    #[test]
    fn a_problem_displays_file_line_step_and_relative_field() {
        let p = Problem::new(
            ProblemCode::UnknownDependency,
            "steps[2].depends_on[0]",
            "\"scrape\" is not a step (did you mean \"scraper\"?)",
        )
        .in_step("enrich")
        .at(Some(12), None);
        assert_eq!(
            p.display_in(Some("defs/x.yaml")).to_string(),
            "defs/x.yaml:12: step \"enrich\": depends_on[0]: \"scrape\" is not a step \
             (did you mean \"scraper\"?)"
        );
        assert_eq!(
            p.to_string(),
            "line 12: step \"enrich\": depends_on[0]: \"scrape\" is not a step \
             (did you mean \"scraper\"?)"
        );
    }

    #[test]
    fn missing_pieces_are_omitted() {
        let p = Problem::new(
            ProblemCode::NoSteps,
            "",
            "a workflow needs at least one step",
        );
        assert_eq!(p.to_string(), "a workflow needs at least one step");
        let whole_step = Problem::new(ProblemCode::DuplicateStepId, "steps[3]", "dup").in_step("a");
        assert_eq!(whole_step.to_string(), "step \"a\": dup");
    }

    #[test]
    fn the_error_lists_one_problem_per_line() {
        let err = ValidationError::new(
            Some("x.yaml"),
            vec![
                Problem::new(
                    ProblemCode::InvalidVersion,
                    "version",
                    "version must be at least 1",
                ),
                Problem::new(
                    ProblemCode::NoSteps,
                    "steps",
                    "a workflow needs at least one step",
                )
                .at(Some(4), Some(1)),
            ],
        );
        assert_eq!(
            err.to_string(),
            "x.yaml: version: version must be at least 1\n\
             x.yaml:4:1: steps: a workflow needs at least one step"
        );
    }
}
