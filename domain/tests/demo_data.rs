//! The committed demo data (`data/demo/*.json`) must be what `rex_domain::demo` generates,
//! and must have the shape the module docs promise.
//!
//! Regenerate after changing the generator with:
//!     REX_BLESS=1 cargo test -p rex-domain --test demo_data

use std::collections::BTreeMap;
use std::path::PathBuf;

use rex_domain::channel::{is_e164, is_email_address, parse_tz};
use rex_domain::demo::{
    self, DemoLead, DemoWonCustomer, LEAD_COUNT, Region, SEED, WON_COUNT, to_json_lines,
};
use rex_domain::icp;
use rex_domain::reviver::{
    NotRecoverable, channel_strategy, reactivation_score, recoverability, sequence_plan,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/demo")
}

fn check_file(name: &str, generated: &str) {
    let path = data_dir().join(name);
    if std::env::var_os("REX_BLESS").is_some() {
        std::fs::create_dir_all(data_dir()).expect("create data/demo");
        std::fs::write(&path, generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: the demo generator changed.\nRegenerate it with:\n    \
         REX_BLESS=1 cargo test -p rex-domain --test demo_data\nand commit the result.",
        path.display()
    );
}

fn leads() -> Vec<DemoLead> {
    demo::generate_leads(SEED, LEAD_COUNT)
}

fn won() -> Vec<DemoWonCustomer> {
    demo::generate_won_customers(SEED, WON_COUNT)
}

#[test]
fn the_committed_demo_files_are_up_to_date() {
    check_file("leads.json", &to_json_lines(&leads()).unwrap());
    check_file("won_customers.json", &to_json_lines(&won()).unwrap());
}

#[test]
fn the_committed_files_parse_back_into_the_same_records() {
    if std::env::var_os("REX_BLESS").is_some() {
        return;
    }
    let text = std::fs::read_to_string(data_dir().join("leads.json")).unwrap();
    let parsed: Vec<DemoLead> = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, leads());
    let text = std::fs::read_to_string(data_dir().join("won_customers.json")).unwrap();
    let parsed: Vec<DemoWonCustomer> = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, won());
}

fn share<T>(items: &[T], p: impl Fn(&T) -> bool) -> f64 {
    items.iter().filter(|i| p(i)).count() as f64 / items.len() as f64
}

#[test]
fn the_leads_span_regions_and_carry_the_promised_defects() {
    let leads = leads();
    assert_eq!(leads.len(), LEAD_COUNT);
    let ids: std::collections::BTreeSet<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids.len(), leads.len(), "ids are unique");

    for (region, lo, hi) in [
        (Region::Na, 0.40, 0.60),
        (Region::Eu, 0.22, 0.42),
        (Region::Apac, 0.10, 0.26),
    ] {
        let s = share(&leads, |l| l.region == region);
        assert!((lo..=hi).contains(&s), "{region:?}: {s}");
    }

    let bad_email = leads
        .iter()
        .filter(|l| l.email.as_deref().is_some_and(|e| !is_email_address(e)))
        .count();
    let bad_phone = leads
        .iter()
        .filter(|l| l.phone.as_deref().is_some_and(|p| !is_e164(p)))
        .count();
    let bad_zone = leads
        .iter()
        .filter(|l| parse_tz(&l.timezone).is_err())
        .count();
    let suppressed = leads.iter().filter(|l| l.suppression.is_some()).count();
    assert_eq!(
        (bad_email, bad_phone, bad_zone, suppressed),
        (6, 6, 5, 12),
        "malformed emails, phones, zones; suppressed"
    );
    assert!(
        leads
            .iter()
            .filter_map(|l| l.email.as_deref())
            .filter(|e| is_email_address(e))
            .all(|e| e.ends_with(".example")),
        "every well-formed address is on the reserved .example TLD"
    );
}

#[test]
fn the_leads_feed_the_reviver_and_the_icp() {
    let leads = leads();
    let won: Vec<icp::WonCustomer> = won().iter().map(|w| w.won_customer()).collect();
    assert_eq!(won.len(), WON_COUNT);
    let profile = icp::build_profile(&won);
    assert_eq!(profile.sample_size, WON_COUNT);
    assert!(
        icp::targeting_recommendations(&profile)
            .iter()
            .all(|t| !matches!(t, icp::Targeting::TentativeProfile { .. }))
    );

    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut scores = Vec::new();
    let mut full_plans = 0;
    for l in &leads {
        let points = reactivation_score(&l.dead_lead(0), demo::as_of()).engagement;
        let fit = icp::lead_score(&profile, &l.icp_lead(points)).total;
        let dead = l.dead_lead(fit);
        match recoverability(&dead) {
            Ok(()) => {
                scores.push(reactivation_score(&dead, demo::as_of()).total);
                full_plans +=
                    usize::from(sequence_plan(&channel_strategy(&dead.contact)).len() == 6);
            }
            Err(reason) => *reasons.entry(format!("{reason:?}")).or_default() += 1,
        }
    }
    let recoverable = scores.len();
    assert!(
        (800..=920).contains(&recoverable),
        "{recoverable} recoverable, excluded: {reasons:?}"
    );
    for reason in [
        NotRecoverable::BadFit,
        NotRecoverable::DoNotContact,
        NotRecoverable::Suppressed,
        NotRecoverable::NoUsableChannel,
    ] {
        assert!(
            reasons.contains_key(&format!("{reason:?}")),
            "{reason:?}: {reasons:?}"
        );
    }
    scores.sort_unstable();
    let median = scores[scores.len() / 2];
    assert!((35..=65).contains(&median), "median score {median}");
    assert!(
        full_plans * 10 >= recoverable * 8,
        "{full_plans} six-step plans"
    );
    eprintln!(
        "{recoverable} recoverable (median score {median}, min {}, max {}), excluded {reasons:?}",
        scores[0],
        scores[scores.len() - 1]
    );
}
