//! `when:` conditions: parsing checks, references, evaluation, and that no input makes
//! parsing or evaluation panic or overflow the stack.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rex_core::condition::{Condition, ConditionError, MAX_CONDITION_BYTES, MAX_DEPTH, Reference};
use serde_json::{Value, json};

fn inputs() -> Value {
    json!({
        "lead": {"name": "Ada Lovelace", "country": "DE", "score": 72, "tags": ["vip", "ai"]},
        "min_score": 50,
        "ratio": 0.5,
        "big": 18_000_000_000_000_000_000u64,
        "nothing": null,
    })
}

fn steps() -> BTreeMap<String, Value> {
    BTreeMap::from([
        (
            "enrich".to_owned(),
            json!({"email": "ada@example.com", "verified": true, "employees": 40}),
        ),
        (
            "score".to_owned(),
            json!({"value": 0.82, "reasons": ["fit", "intent"]}),
        ),
    ])
}

fn eval(expr: &str) -> Result<bool, ConditionError> {
    Condition::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .evaluate(&inputs(), &steps())
}

fn holds(expr: &str) -> bool {
    eval(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

#[test]
fn comparisons_work_across_number_types() {
    assert!(holds("inputs.lead.score > inputs.min_score"));
    assert!(holds(
        "inputs.lead.score >= 72 && inputs.lead.score <= 72.0"
    ));
    assert!(holds("steps.score.output.value > 0.8"));
    assert!(holds("inputs.big > 1"));
    assert!(holds("inputs.ratio * 2.0 == 1.0"));
    assert!(holds("inputs.lead.country != 'US'"));
    assert!(holds("inputs.nothing == null"));
    assert!(!holds(
        "steps.enrich.output.employees < 10 || !steps.enrich.output.verified"
    ));
    assert!(holds("inputs.lead.score > 100 ? false : true"));
}

#[test]
fn in_tests_lists_and_map_keys() {
    assert!(holds("inputs.lead.country in ['DE', 'AT', 'CH']"));
    assert!(holds("'vip' in inputs.lead.tags"));
    assert!(!holds("'intent' in inputs.lead.tags"));
    assert!(holds("'email' in steps.enrich.output"));
    assert!(holds("'min_score' in inputs"));
}

#[test]
fn string_functions_are_available() {
    assert!(holds("steps.enrich.output.email.endsWith('@example.com')"));
    assert!(holds(
        "inputs.lead.name.startsWith('Ada') && inputs.lead.name.contains('Love')"
    ));
    assert!(holds("inputs.lead.name.matches('^[A-Z][a-z]+ [A-Z]')"));
    assert!(holds("size(inputs.lead.name) == 12"));
    assert!(holds("inputs.lead.country.lowerAscii() == 'de'"));
    assert!(holds("steps.score.output.reasons.exists(r, r == 'intent')"));
    assert!(holds(
        "inputs.lead.tags.all(t, size(t) == 2 || size(t) == 3)"
    ));
}

#[test]
fn has_tests_presence_and_absent_steps() {
    assert!(holds("has(inputs.lead.tags)"));
    assert!(!holds("has(inputs.lead.phone)"));
    assert!(holds("has(steps.enrich.output.email)"));
    let c = Condition::parse("has(steps.send) && steps.send.output.ok").unwrap();
    assert_eq!(c.evaluate(&inputs(), &steps()), Ok(false));
}

#[test]
fn a_missing_value_is_an_error_not_a_panic() {
    assert_eq!(
        eval("inputs.lead.phone == '1'"),
        Err(ConditionError::MissingField {
            key: "phone".to_owned()
        })
    );
    let err = eval("steps.send.output.ok").unwrap_err();
    assert_eq!(
        err,
        ConditionError::StepNotRun {
            step: "send".to_owned()
        }
    );
    assert!(err.to_string().contains("has(steps.send)"), "{err}");
    // An input the mission did not get.
    assert!(matches!(
        eval("inputs.absent > 1"),
        Err(ConditionError::MissingField { .. })
    ));
    // Out of range, overflow, division by zero, bad conversions.
    for expr in [
        "inputs.lead.tags[5] == 'x'",
        "9223372036854775807 + inputs.lead.score > 0",
        "inputs.lead.score / 0 == 1",
        "int(inputs.lead.name) == 1",
        "inputs.lead.name > 3",
    ] {
        let err = eval(expr).unwrap_err();
        assert!(
            matches!(err, ConditionError::Evaluation(_)),
            "{expr}: {err:?}"
        );
        assert!(err.to_string().starts_with("evaluation failed: "), "{err}");
    }
    assert_eq!(
        eval("inputs.lead.name.shout()"),
        Err(ConditionError::UnknownFunction("shout".to_owned()))
    );
}

#[test]
fn a_non_bool_result_says_what_type_it_got() {
    let err = eval("inputs.lead.score + 1").unwrap_err();
    assert_eq!(
        err,
        ConditionError::NotBool {
            got: "int".to_owned()
        }
    );
    assert_eq!(
        err.to_string(),
        "condition must evaluate to a bool, got int"
    );
    assert_eq!(
        eval("inputs.lead.name"),
        Err(ConditionError::NotBool {
            got: "string".to_owned()
        })
    );
    assert_eq!(
        eval("inputs.nothing"),
        Err(ConditionError::NotBool {
            got: "null".to_owned()
        })
    );
}

#[test]
fn references_list_inputs_and_steps_read() {
    let c = Condition::parse(
        "inputs.lead.score > inputs['min_score'] && has(steps.enrich.output.email) \
         && steps['score'].output.value > 0.5 && steps.score.output.reasons.exists(r, r == inputs.want)",
    )
    .unwrap();
    assert_eq!(
        c.references(),
        vec![
            Reference::Input("lead".to_owned()),
            Reference::Input("min_score".to_owned()),
            Reference::Input("want".to_owned()),
            Reference::Step("enrich".to_owned()),
            Reference::Step("score".to_owned()),
        ]
    );
    let c = Condition::parse("'x' in inputs || inputs[inputs.key] == 1").unwrap();
    assert!(c.references().contains(&Reference::AllInputs));
    assert_eq!(Condition::parse("true").unwrap().references(), vec![]);
    // A comprehension variable may shadow a root.
    let c = Condition::parse("[1, 2].exists(steps, steps > 1)").unwrap();
    assert_eq!(c.references(), vec![]);
    assert_eq!(c.evaluate(&json!({}), &BTreeMap::new()), Ok(true));
}

#[test]
fn syntax_errors_have_a_position() {
    let err = Condition::parse("inputs.a >").unwrap_err();
    assert_eq!(
        err,
        ConditionError::Syntax {
            line: 1,
            column: 11,
            message: "the condition ends too early".to_owned()
        }
    );
    let err = Condition::parse("inputs.a = 1").unwrap_err();
    assert!(
        matches!(
            err,
            ConditionError::Syntax {
                line: 1,
                column: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let err = Condition::parse("inputs.a == 1 &&\n  inputs.b == 'x").unwrap_err();
    assert!(
        matches!(err, ConditionError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("syntax error at line 2, column "),
        "{err}"
    );
}

#[test]
fn parse_rejects_what_cannot_run() {
    assert_eq!(Condition::parse("  "), Err(ConditionError::Empty));
    let long = format!("true{}", " && true".repeat(200));
    assert_eq!(
        Condition::parse(&long),
        Err(ConditionError::TooLong { len: long.len() })
    );
    assert!(long.len() > MAX_CONDITION_BYTES);

    let err = Condition::parse("lead.score > 1").unwrap_err();
    assert_eq!(
        err,
        ConditionError::UnknownVariable {
            name: "lead".to_owned(),
            column: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown variable \"lead\" at column 1 (a condition reads inputs and steps)"
    );
    for expr in [
        "size(steps) > 0",
        "steps[inputs.id].output.ok",
        "'a' in steps",
    ] {
        let err = Condition::parse(expr).unwrap_err();
        assert!(
            matches!(err, ConditionError::StepWithoutId { .. }),
            "{expr}: {err:?}"
        );
    }
    let err = Condition::parse("steps.enrich.outptu.ok").unwrap_err();
    assert!(
        matches!(&err, ConditionError::UnknownStepField { step, field, .. } if step == "enrich" && field == "outptu"),
        "{err:?}"
    );
    assert!(Condition::parse("steps.enrich['output'].ok").is_ok());
    assert!(Condition::parse("steps.enrich[inputs.f]").is_err());
    assert!(matches!(
        Condition::parse("google.Foo{a: 1} == 1"),
        Err(ConditionError::Unsupported { .. })
    ));
    assert!(
        Condition::parse("inputs.?x").is_err(),
        "optional syntax is off"
    );
    assert_eq!(
        Condition::parse("[[1]].exists(a, a.exists(b, [b].exists(c, c > 0)))"),
        Err(ConditionError::TooManyComprehensions)
    );
    assert!(Condition::parse("[[1]].exists(a, a.exists(b, b > 0))").is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for expr in [
        format!("{}1{} == 1", "(".repeat(400), ")".repeat(400)),
        format!("{}1{}", "[".repeat(500), "]".repeat(500)),
        "(".repeat(MAX_CONDITION_BYTES),
        format!("{}1 > 0", "1 + ".repeat(200)),
        format!("{}1", "true ? 1 : ".repeat(90)),
        format!("{}true{}", "size(".repeat(150), ")".repeat(150)),
    ] {
        let err = Condition::parse(&expr).unwrap_err();
        assert!(
            matches!(err, ConditionError::TooDeep | ConditionError::Syntax { .. }),
            "{}…: {err:?}",
            &expr[..20]
        );
    }
    // Repeated negations fold into at most one: long, but not deep.
    assert!(holds(&format!("{}true", "!".repeat(1000))));
    assert!(holds(&format!("{}1 == 1", "-".repeat(1000))));
}

/// The deepest conditions allowed, of the kinds that use the most stack per level,
/// evaluate within 1 MiB in a debug build: half a default thread's stack.
#[test]
fn the_deepest_allowed_condition_evaluates_on_a_small_stack() {
    let add = format!("{}1 > 0", "1 + ".repeat(MAX_DEPTH - 2));
    let list = format!(
        "{}1{} != []",
        "[".repeat(MAX_DEPTH - 2),
        "]".repeat(MAX_DEPTH - 2)
    );
    let size = format!(
        "{}'x'{} > 0",
        "size([".repeat(MAX_DEPTH / 2 - 1),
        "])".repeat(MAX_DEPTH / 2 - 1)
    );
    let exists = format!(
        "[[1]].exists(a, a.exists(b, {}b > 0))",
        "b + ".repeat(MAX_DEPTH - 8)
    );
    let conditions: Vec<Condition> = [add, list, size, exists]
        .iter()
        .map(|e| Condition::parse(e).unwrap_or_else(|err| panic!("{e}: {err}")))
        .collect();
    assert!(Condition::parse(&format!("{}1 > 0", "1 + ".repeat(MAX_DEPTH))).is_err());
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for c in &conditions {
                assert_eq!(c.evaluate(&json!({}), &BTreeMap::new()), Ok(true), "{c}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z]{0,3}".prop_map(Value::from),
        Just(Value::from("ada@example.com")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-c]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings built from CEL's tokens, to reach deeper into the parser and interpreter than
/// random characters do.
fn arb_cel_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("inputs"),
        Just("steps"),
        Just("a"),
        Just("b"),
        Just("output"),
        Just("."),
        Just("("),
        Just(")"),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just(","),
        Just(":"),
        Just("?"),
        Just("+"),
        Just("-"),
        Just("*"),
        Just("/"),
        Just("%"),
        Just("!"),
        Just("=="),
        Just("!="),
        Just("<"),
        Just(">="),
        Just("&&"),
        Just("||"),
        Just(" in "),
        Just("1"),
        Just("-9223372036854775808"),
        Just("2.5"),
        Just("1u"),
        Just("'x'"),
        Just("\"\""),
        Just("b'\\xff'"),
        Just("null"),
        Just("true"),
        Just("has("),
        Just("size("),
        Just(".exists(x, "),
        Just(".map(x, "),
        Just("x"),
        Just(".matches("),
        Just("'[a-"),
        Just(".substring("),
        Just(".split("),
        Just(".lowerAscii()"),
        Just("int("),
        Just("double("),
        Just("type("),
        Just("string"),
        Just(".format("),
        Just("dyn("),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics_on_any_text(text in "\\PC{0,300}") {
        let _ = Condition::parse(&text);
    }

    #[test]
    fn nothing_panics_on_cel_like_text_and_any_data(
        text in arb_cel_like(),
        a in arb_json(),
        b in arb_json(),
        output in arb_json(),
    ) {
        match Condition::parse(&text) {
            Ok(c) => {
                let inputs = json!({"a": a, "b": b});
                let steps = BTreeMap::from([("a".to_owned(), output)]);
                let result = c.evaluate(&inputs, &steps);
                prop_assert!(!matches!(result, Err(ConditionError::Internal(_))), "{text}: {result:?}");
            }
            Err(e) => prop_assert!(!matches!(e, ConditionError::Internal(_)), "{text}: {e:?}"),
        }
    }

    #[test]
    fn evaluate_never_panics_on_any_data(inputs in arb_json(), output in arb_json()) {
        let steps = BTreeMap::from([("a".to_owned(), output)]);
        for expr in [
            "inputs.a == steps.a.output",
            "has(inputs.a) && inputs.a.b > 1",
            "size(steps.a.output) > 0",
            "steps.a.output.exists(k, k in inputs)",
            "'ada' in inputs.a || inputs.a.c.startsWith('x')",
            "inputs.a[0] + steps.a.output[1] == 2",
        ] {
            let result = Condition::parse(expr).unwrap().evaluate(&inputs, &steps);
            prop_assert!(!matches!(result, Err(ConditionError::Internal(_))), "{expr}: {result:?}");
        }
    }
}

#[test]
fn conditions_and_windows_can_cross_threads() {
    fn shareable<T: Send + Sync + Clone + PartialEq + std::fmt::Debug>() {}
    shareable::<Condition>();
    shareable::<ConditionError>();
    shareable::<rex_core::window::Window>();
    shareable::<rex_core::window::RawWindow>();
}
