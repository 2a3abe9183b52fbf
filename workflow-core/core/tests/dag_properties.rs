//! Properties of validation over random graphs: every acyclic graph whose steps read only
//! their ancestors' outputs validates, and one back-edge makes validation report a cycle
//! whose printed path is a real cycle of the definition.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use rex_core::definition::{RawDefinition, RawStep};
use rex_core::{ProblemCode, ValidateOptions, canonical_json, load, validate};
use serde_json::{Map, Value, json};

/// A random DAG: `deps[i]` holds nodes below `i` (so no cycle), plus the order in which
/// the steps are listed, so that definition order and dependency order differ.
#[derive(Debug, Clone)]
struct Dag {
    deps: Vec<Vec<usize>>,
    order: Vec<usize>,
}

fn dag() -> impl Strategy<Value = Dag> {
    (1usize..30)
        .prop_flat_map(|n| {
            let picks =
                proptest::collection::vec(proptest::collection::vec(any::<Index>(), 0..4), n);
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            (picks, order)
        })
        .prop_map(|(picks, order)| {
            let deps = picks
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let set: BTreeSet<usize> = if i == 0 {
                        BTreeSet::new()
                    } else {
                        p.iter().map(|x| x.index(i)).collect()
                    };
                    set.into_iter().collect()
                })
                .collect();
            Dag { deps, order }
        })
}

fn id(node: usize) -> String {
    format!("s{node}")
}

/// Every node `node` reaches through `deps`, excluding itself unless on a cycle.
fn ancestors(deps: &[Vec<usize>], node: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = deps[node].clone();
    while let Some(n) = todo.pop() {
        if seen.insert(n) {
            todo.extend(deps[n].iter().copied());
        }
    }
    seen
}

/// The definition of a DAG: each step reads the output of every direct dependency and
/// of one transitive ancestor.
fn definition(dag: &Dag) -> RawDefinition {
    let steps = dag
        .order
        .iter()
        .map(|&node| {
            let mut input = Map::new();
            for &d in &dag.deps[node] {
                input.insert(
                    format!("from_{d}"),
                    json!(format!("${{steps.{}.output}}", id(d))),
                );
            }
            if let Some(&far) = ancestors(&dag.deps, node).iter().next() {
                let text = format!("far ${{steps.{}.output.x.0}}", id(far));
                input.insert("far".into(), json!(text));
            }
            RawStep {
                id: id(node),
                agent: Some("noop".into()),
                action: Some("noop".into()),
                input: Some(Value::Object(input)),
                depends_on: dag.deps[node].iter().map(|&d| id(d)).collect(),
                retry: None,
                timeout: None,
                delay: None,
                wait_until: None,
                wait_for: None,
                window: None,
                when: None,
                for_each: None,
                max_concurrency: None,
                failure_policy: None,
                workflow: None,
                workflow_version: None,
            }
        })
        .collect();
    RawDefinition {
        name: "random".into(),
        version: 1,
        description: None,
        inputs: Default::default(),
        steps,
        on_signal: Default::default(),
        correlation_keys: Vec::new(),
    }
}

/// The steps of a `cycle in depends_on: a -> b -> a …` message.
fn cycle_path(message: &str) -> Vec<String> {
    let rest = message
        .strip_prefix("cycle in depends_on: ")
        .unwrap_or_else(|| panic!("not a cycle message: {message}"));
    let path = rest.split(" (").next().unwrap();
    path.split(" -> ").map(str::to_owned).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn acyclic_graphs_validate_with_sorted_dependencies(dag in dag()) {
        let raw = definition(&dag);
        let wf = match validate(&raw, None, &ValidateOptions::default()) {
            Ok(wf) => wf,
            Err(e) => return Err(TestCaseError::fail(format!("rejected:\n{e}"))),
        };
        // Position of each node in the listed order.
        let mut position = vec![0; dag.order.len()];
        for (pos, &node) in dag.order.iter().enumerate() {
            position[node] = pos;
        }
        for (pos, &node) in dag.order.iter().enumerate() {
            let mut want: Vec<usize> = dag.deps[node].iter().map(|&d| position[d]).collect();
            want.sort_unstable();
            prop_assert_eq!(&wf.steps[pos].depends_on, &want);
        }
        // The stored form validates to the same workflow.
        let (_, again) = load(canonical_json(&raw).as_bytes(), None, &ValidateOptions::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, wf);
    }

    #[test]
    fn a_back_edge_is_reported_as_a_real_cycle(
        dag in dag().prop_filter("needs two steps", |d| d.deps.len() >= 2),
        pick_node in any::<Index>(),
        pick_ancestor in any::<Index>(),
    ) {
        let mut dag = dag;
        if dag.deps.iter().all(Vec::is_empty) {
            dag.deps[1].push(0);
        }
        // u depends (transitively) on v; making v depend on u closes a cycle.
        let with_deps: Vec<usize> =
            (0..dag.deps.len()).filter(|&n| !dag.deps[n].is_empty()).collect();
        let u = with_deps[pick_node.index(with_deps.len())];
        let above: Vec<usize> = ancestors(&dag.deps, u).into_iter().collect();
        let v = above[pick_ancestor.index(above.len())];

        let mut raw = definition(&dag);
        let v_step = raw.steps.iter_mut().find(|s| s.id == id(v)).unwrap();
        v_step.depends_on.push(id(u));

        let err = match validate(&raw, None, &ValidateOptions::default()) {
            Ok(_) => return Err(TestCaseError::fail("a cyclic definition was accepted")),
            Err(e) => e,
        };
        prop_assert_eq!(err.codes(), vec![ProblemCode::Cycle], "{}", err);
        let problem = &err.problems[0];
        let path = cycle_path(&problem.message);
        prop_assert!(path.len() >= 3, "{:?}", path);
        prop_assert_eq!(path.first(), path.last());
        prop_assert_eq!(problem.step.as_deref(), Some(path[0].as_str()));
        let distinct: BTreeSet<&String> = path[..path.len() - 1].iter().collect();
        prop_assert_eq!(distinct.len(), path.len() - 1, "a cycle visits each step once");
        for pair in path.windows(2) {
            let from = raw.steps.iter().find(|s| s.id == pair[0]).unwrap();
            prop_assert!(
                from.depends_on.contains(&pair[1]),
                "{} does not depend on {} in {:?}", pair[0], pair[1], path
            );
        }
        // The cycle runs through the back-edge.
        let closes = path.windows(2).any(|p| p[0] == id(v) && p[1] == id(u));
        prop_assert!(closes, "{:?} does not use {} -> {}", path, id(v), id(u));
    }
}
