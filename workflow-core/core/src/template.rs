//! `${…}` expressions inside a step's `input` mapping.
//!
//! A string that is exactly one expression (`"${inputs.lead}"`) resolves to the referenced
//! JSON value with its type; a string that mixes text and expressions
//! (`"Hello ${inputs.name}"`) resolves to a string. The roots are
//! `inputs.<name>[.path…]`, `steps.<id>.output[.path…]` and, in the input of a `for_each`
//! step, `item[.path…]` (the current item) and `item_index` (its position, from 0). Path
//! segments are object keys or array indices (`steps.a.output.leads.0.email`).

use std::fmt;

use serde_json::{Map, Value};

/// A JSON value tree whose strings may hold expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Literal(Value),
    /// A string that is exactly one expression: resolves to the value itself.
    Expr(Expr),
    /// Text with embedded expressions: resolves to a string.
    Interpolated(Vec<Part>),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

/// A reference to a mission input or to an earlier step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Input {
        name: String,
        path: Vec<String>,
    },
    StepOutput {
        step: String,
        path: Vec<String>,
    },
    /// The current item of a `for_each` step.
    Item {
        path: Vec<String>,
    },
    /// The position of the current item of a `for_each` step, from 0.
    ItemIndex,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Input { name, .. } => write!(f, "${{inputs.{name}")?,
            Expr::StepOutput { step, .. } => write!(f, "${{steps.{step}.output")?,
            Expr::Item { .. } => write!(f, "${{item")?,
            Expr::ItemIndex => write!(f, "${{item_index")?,
        }
        for seg in self.path() {
            write!(f, ".{seg}")?;
        }
        write!(f, "}}")
    }
}

impl Expr {
    fn path(&self) -> &[String] {
        match self {
            Expr::Input { path, .. } | Expr::StepOutput { path, .. } | Expr::Item { path } => path,
            Expr::ItemIndex => &[],
        }
    }

    /// Whether the expression reads the current `for_each` item.
    pub fn reads_item(&self) -> bool {
        matches!(self, Expr::Item { .. } | Expr::ItemIndex)
    }
}

/// Why a string could not be read as a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed expression \"${{\" in {0:?}")]
    Unclosed(String),
    #[error("empty expression \"${{}}\"")]
    Empty,
    #[error(
        "expression \"${{{0}}}\" must start with \"inputs.<name>\", \"steps.<id>.output\", \"item\" or \"item_index\""
    )]
    BadRoot(String),
}

/// Why a template could not be resolved against a mission's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{expr} not found")]
    Missing { expr: String },
}

/// The data expressions resolve against.
pub trait Scope {
    fn input(&self, name: &str) -> Option<&Value>;
    fn step_output(&self, step: &str) -> Option<&Value>;
    /// The current `for_each` item; none outside a fan-out.
    fn item(&self) -> Option<&Value> {
        None
    }
    /// The current item's index as a JSON number; none outside a fan-out.
    fn item_index(&self) -> Option<&Value> {
        None
    }
}

impl Template {
    /// Reads a JSON value, parsing every `${…}` in its strings.
    pub fn parse(value: &Value) -> Result<Template, TemplateError> {
        Ok(match value {
            Value::String(s) => parse_string(s)?,
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(Template::parse)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Template::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Template::parse(v)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// Every expression in the template, in document order.
    pub fn exprs(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect_exprs(&mut out);
        out
    }

    fn collect_exprs<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Template::Literal(_) => {}
            Template::Expr(e) => out.push(e),
            Template::Interpolated(parts) => out.extend(parts.iter().filter_map(|p| match p {
                Part::Expr(e) => Some(e),
                Part::Text(_) => None,
            })),
            Template::Array(items) => items.iter().for_each(|t| t.collect_exprs(out)),
            Template::Object(fields) => fields.iter().for_each(|(_, t)| t.collect_exprs(out)),
        }
    }

    /// Substitutes every expression with its value from `scope`.
    pub fn resolve(&self, scope: &dyn Scope) -> Result<Value, ResolveError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Expr(e) => lookup(e, scope)?.clone(),
            Template::Interpolated(parts) => {
                let mut s = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => s.push_str(t),
                        Part::Expr(e) => match lookup(e, scope)? {
                            Value::String(v) => s.push_str(v),
                            other => s.push_str(&other.to_string()),
                        },
                    }
                }
                Value::String(s)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.resolve(scope))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    map.insert(k.clone(), t.resolve(scope)?);
                }
                Value::Object(map)
            }
        })
    }
}

/// The value one expression names, borrowed from `scope` (no copy of a large array).
pub fn lookup<'a>(expr: &Expr, scope: &'a dyn Scope) -> Result<&'a Value, ResolveError> {
    let missing = || ResolveError::Missing {
        expr: expr.to_string(),
    };
    let (root, path): (_, &[String]) = match expr {
        Expr::Input { name, path } => (scope.input(name), path),
        Expr::StepOutput { step, path } => (scope.step_output(step), path),
        Expr::Item { path } => (scope.item(), path),
        Expr::ItemIndex => (scope.item_index(), &[]),
    };
    let mut current = root.ok_or_else(missing)?;
    for seg in path {
        current = match current {
            Value::Object(map) => map.get(seg),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
        .ok_or_else(missing)?;
    }
    Ok(current)
}

fn parse_string(s: &str) -> Result<Template, TemplateError> {
    if !s.contains("${") {
        return Ok(Template::Literal(Value::String(s.to_owned())));
    }
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| TemplateError::Unclosed(s.to_owned()))?;
        parts.push(Part::Expr(parse_expr(after[..end].trim())?));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(match parts.as_slice() {
        [Part::Expr(e)] => Template::Expr(e.clone()),
        _ => Template::Interpolated(parts),
    })
}

fn parse_expr(body: &str) -> Result<Expr, TemplateError> {
    if body.is_empty() {
        return Err(TemplateError::Empty);
    }
    let segs: Vec<&str> = body.split('.').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(TemplateError::BadRoot(body.to_owned()));
    }
    let owned = |s: &[&str]| s.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    match segs.as_slice() {
        ["inputs", name, path @ ..] => Ok(Expr::Input {
            name: (*name).to_owned(),
            path: owned(path),
        }),
        ["steps", step, "output", path @ ..] => Ok(Expr::StepOutput {
            step: (*step).to_owned(),
            path: owned(path),
        }),
        ["item", path @ ..] => Ok(Expr::Item { path: owned(path) }),
        ["item_index"] => Ok(Expr::ItemIndex),
        _ => Err(TemplateError::BadRoot(body.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct TestScope {
        inputs: Value,
        outputs: Value,
    }

    impl Scope for TestScope {
        fn input(&self, name: &str) -> Option<&Value> {
            self.inputs.get(name)
        }
        fn step_output(&self, step: &str) -> Option<&Value> {
            self.outputs.get(step)
        }
    }

    fn scope() -> TestScope {
        TestScope {
            inputs: json!({"name": "Ada", "n": 3}),
            outputs: json!({"scrape": {"leads": [{"email": "a@x.io"}]}}),
        }
    }

    #[test]
    fn whole_expression_keeps_its_type() {
        let t = Template::parse(&json!({"count": "${inputs.n}"})).unwrap();
        assert_eq!(t.resolve(&scope()).unwrap(), json!({"count": 3}));
    }

    #[test]
    fn interpolation_builds_a_string_and_indexes_arrays() {
        let t = Template::parse(&json!(
            "Hi ${inputs.name} <${steps.scrape.output.leads.0.email}>"
        ))
        .unwrap();
        assert_eq!(t.resolve(&scope()).unwrap(), json!("Hi Ada <a@x.io>"));
        assert_eq!(t.exprs().len(), 2);
    }

    #[test]
    fn missing_path_names_the_expression() {
        let t = Template::parse(&json!("${steps.scrape.output.nope}")).unwrap();
        let err = t.resolve(&scope()).unwrap_err();
        assert_eq!(err.to_string(), "${steps.scrape.output.nope} not found");
    }

    struct ItemScope(TestScope, Value, Value);

    impl Scope for ItemScope {
        fn input(&self, name: &str) -> Option<&Value> {
            self.0.input(name)
        }
        fn step_output(&self, step: &str) -> Option<&Value> {
            self.0.step_output(step)
        }
        fn item(&self) -> Option<&Value> {
            Some(&self.1)
        }
        fn item_index(&self) -> Option<&Value> {
            Some(&self.2)
        }
    }

    #[test]
    fn item_and_item_index_resolve_in_a_fan_out_only() {
        let t = Template::parse(
            &json!({"to": "${item.email}", "n": "${item_index}", "who": "${inputs.name}"}),
        )
        .unwrap();
        assert!(t.exprs()[0].reads_item());
        let scope = ItemScope(scope(), json!({"email": "b@y.io"}), json!(7));
        assert_eq!(
            t.resolve(&scope).unwrap(),
            json!({"to": "b@y.io", "n": 7, "who": "Ada"})
        );
        let err = t.resolve(&super::tests::scope()).unwrap_err();
        assert_eq!(err.to_string(), "${item_index} not found"); // keys resolve in order
        assert!(matches!(
            Template::parse(&json!("${item_index.x}")),
            Err(TemplateError::BadRoot(_))
        ));
    }

    #[test]
    fn bad_roots_and_unclosed_expressions_are_rejected() {
        assert!(matches!(
            Template::parse(&json!("${outputs.x}")),
            Err(TemplateError::BadRoot(_))
        ));
        assert!(matches!(
            Template::parse(&json!("${steps.a.result}")),
            Err(TemplateError::BadRoot(_))
        ));
        assert!(matches!(
            Template::parse(&json!("x ${inputs.a")),
            Err(TemplateError::Unclosed(_))
        ));
        assert_eq!(Template::parse(&json!("${}")), Err(TemplateError::Empty));
    }
}
