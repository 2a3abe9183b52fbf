//! Bad definitions are refused with their error and leave nothing in the store.

mod support;

use rex_core::validate::ValidateOptions;
use rex_engine::{Catalog, EngineError};
use support::{Backend, Harness};

fn catalogue() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/bad");
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("the catalogue of bad definitions")
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    cases.sort();
    let mut huge = String::from("name: huge\nversion: 1\nsteps:\n");
    for i in 0..10_000 {
        huge.push_str(&format!("  - {{id: s{i}, agent: noop, action: noop}}\n"));
    }
    cases.push(("10000-steps.yaml".into(), huge.into_bytes()));
    cases.push((
        "deep.yaml".into(),
        format!("name: deep\nversion: 1\nsteps: {}", "[".repeat(10_000)).into_bytes(),
    ));
    cases.push((
        "not-utf8.yaml".into(),
        b"name: bad\nversion: 1\nsteps: [\xff\xfe]\n".to_vec(),
    ));
    cases
}

async fn every_bad_definition_is_refused_and_nothing_is_stored(backend: Backend) {
    let h = Harness::new(backend).await;
    let catalog = Catalog::new(
        h.db.store().clone(),
        ValidateOptions {
            known_agents: Some(vec![
                "noop".into(),
                "echo".into(),
                "sleep".into(),
                "fail".into(),
            ]),
            ..ValidateOptions::default()
        },
    );
    let cases = catalogue();
    assert!(cases.len() >= 20, "only {} bad definitions", cases.len());
    for (name, bytes) in &cases {
        match catalog.push(bytes, Some(name)).await {
            Err(EngineError::Invalid(message)) => {
                assert!(!message.is_empty(), "{name}: empty error");
            }
            Err(other) => panic!("{name}: not a validation error: {other}"),
            Ok(reg) => panic!("{name}: accepted as {} v{}", reg.row.name, reg.row.version),
        }
    }
    assert!(h.db.list_definitions().await.unwrap().is_empty());
    h.finish().await;
}

both_backends!(every_bad_definition_is_refused_and_nothing_is_stored);
