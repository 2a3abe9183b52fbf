//! Rex's pure core: the workflow definition model, its validation, and the mission state
//! machine.
//!
//! Everything here is plain functions over plain data. This crate must never depend on
//! tokio, lapin, sea-orm, axum or any other IO crate: the store, the broker and the
//! orchestrator loop live in their own crates and call into this one. Time comes in as
//! an argument (`now`), randomness is derived from ids, so every decision is
//! reproducible in a test.

pub mod definition;
pub mod duration;
pub mod error;
pub mod inputs;
pub mod machine;
pub mod protocol;
pub mod schema;
pub mod template;
pub mod validate;
pub mod workflow;

pub use definition::{RawDefinition, canonical_json, content_hash};
pub use duration::{format_duration, parse_duration};
pub use error::{DurationError, Problem, ProblemCode, ValidationError};
pub use inputs::bind_inputs;
pub use schema::definition_schema;
pub use template::{Expr, Scope, Template};
pub use validate::{ValidateOptions, load, validate};
pub use workflow::{
    FailurePolicy, FanOut, InputSpec, InputType, ItemBody, RetryPolicy, SignalAction, Step,
    StepIndex, StepKind, StepWindow, Workflow,
};
pub mod condition;
pub mod window;
