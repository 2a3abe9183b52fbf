//! The domain templates in `definitions/` validate against the seven domain agents and
//! have the shapes `docs/agents.md` promises.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use rex_core::template::Expr;
use rex_core::{
    FailurePolicy, ItemBody, Scope, SignalAction, Step, StepKind, StepWindow, ValidateOptions,
    Workflow, load,
};
use serde_json::{Value, json};

const AGENTS: [&str; 7] = [
    "reviver",
    "deliverability",
    "personalizer",
    "icp",
    "scraper",
    "outreach",
    "analytics",
];
const TEMPLATES: [&str; 4] = [
    "lead-reactivation",
    "outreach-sequence",
    "domain-health",
    "icp-refresh",
];
/// rex-domain's `reviver::SEQUENCE_TEMPLATE` day offsets (rex-core cannot depend on it).
const DAY_OFFSETS: [u64; 6] = [0, 2, 5, 9, 14, 21];
const DAY: u64 = 24 * 3600;

fn template(name: &str) -> Workflow {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../definitions")
        .join(format!("{name}.yaml"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = path.to_string_lossy();
    match load(
        &bytes,
        Some(&file),
        &ValidateOptions::with_known_agents(AGENTS),
    ) {
        Ok((_, wf)) => wf,
        Err(e) => panic!("{name} does not validate:\n{e}"),
    }
}

fn step<'a>(wf: &'a Workflow, id: &str) -> &'a Step {
    let i = wf
        .step_index(id)
        .unwrap_or_else(|| panic!("{}: no step {id}", wf.name));
    &wf.steps[i]
}

fn task(step: &Step) -> Option<(&str, &str, &rex_core::Template)> {
    match &step.kind {
        StepKind::Task {
            agent,
            action,
            input,
        } => Some((agent, action, input)),
        _ => None,
    }
}

struct Inputs(Value);

impl Scope for Inputs {
    fn input(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
    fn step_output(&self, _: &str) -> Option<&Value> {
        None
    }
}

/// A lead as the personalizer hands it to the sequence.
fn lead(channels: [&str; 6]) -> Value {
    let slots: serde_json::Map<String, Value> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("s{}", i + 1), json!(c)))
        .collect();
    let messages: serde_json::Map<String, Value> = (1..=6)
        .map(|i| (format!("s{i}"), json!({"subject": "s", "body": "b"})))
        .collect();
    json!({
        "id": "lead-0042",
        "timezone": "Europe/Berlin",
        "channels": slots,
        "messages": messages,
    })
}

fn inputs(channels: [&str; 6]) -> Value {
    json!({"lead": lead(channels), "campaign": {"id": "camp-1"}})
}

#[test]
fn every_template_validates_against_the_seven_agents() {
    for name in TEMPLATES {
        let wf = template(name);
        assert_eq!(wf.name, name, "the file is named after the workflow");
        for agent in wf.agents() {
            assert!(AGENTS.contains(&agent), "{name}: agent {agent}");
        }
    }
}

/// A contact step's slot and channel, read from its resolved input.
fn contact(step: &Step) -> Option<(u64, String)> {
    let (agent, action, input) = task(step)?;
    if agent != "outreach" {
        return None;
    }
    let input = input
        .resolve(&Inputs(inputs(["email"; 6])))
        .expect("contact inputs resolve");
    let slot = input["step"].as_u64().expect("step number");
    match action {
        "send" => Some((slot, input["channel"].as_str().unwrap().to_owned())),
        "linkedin_task" => Some((slot, "linkedin".to_owned())),
        other => panic!("{}: unexpected outreach action {other}", step.id),
    }
}

/// The nominal start of each step, in seconds after the mission starts: waits for
/// out-of-office signals last their whole timeout (no signal), everything else takes no
/// time (tasks, LinkedIn tasks done at once, skipped resume steps).
fn nominal_starts(wf: &Workflow) -> Vec<u64> {
    let mut start = vec![0u64; wf.steps.len()];
    for (i, s) in wf.steps.iter().enumerate() {
        let ready = s
            .depends_on
            .iter()
            .map(|&d| {
                assert!(d < i, "{}: dependencies come first", s.id);
                let dep = &wf.steps[d];
                let lasts = match &dep.kind {
                    StepKind::WaitFor {
                        signal,
                        timeout: Some(t),
                    } if signal == "lead.out_of_office" => t.as_secs(),
                    _ => 0,
                };
                start[d] + lasts
            })
            .max()
            .unwrap_or(0);
        start[i] = ready + s.delay.map_or(0, |d| d.as_secs());
    }
    start
}

#[test]
fn outreach_sequence_has_six_contact_slots_on_the_reviver_schedule() {
    let wf = template("outreach-sequence");
    let starts = nominal_starts(&wf);
    let mut slots: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    for (i, s) in wf.steps.iter().enumerate() {
        if let Some((slot, channel)) = contact(s) {
            let previous = slots.entry(slot).or_default().insert(channel, starts[i]);
            assert!(previous.is_none(), "{}: slot {slot} twice", s.id);
        }
    }
    assert_eq!(
        slots.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let mut days = Vec::new();
    for (slot, channels) in &slots {
        assert_eq!(
            channels.keys().map(String::as_str).collect::<Vec<_>>(),
            ["email", "linkedin", "sms"],
            "slot {slot} can use every channel sequence_plan may pick"
        );
        let at: BTreeSet<u64> = channels.values().copied().collect();
        assert_eq!(at.len(), 1, "slot {slot}: its channels start together");
        days.push(at.into_iter().next().unwrap() / DAY);
    }
    assert_eq!(days, DAY_OFFSETS);
    assert!((18..=24).contains(days.last().unwrap()), "{days:?}");
}

#[test]
fn emails_wait_for_business_hours_and_texts_for_quiet_hours_in_the_leads_zone() {
    let wf = template("outreach-sequence");
    let (mut emails, mut texts) = (0, 0);
    for s in &wf.steps {
        let Some((_, channel)) = contact(s) else {
            continue;
        };
        if channel == "linkedin" {
            assert!(s.window.is_none(), "{}: a human task has no window", s.id);
            continue;
        }
        let Some(StepWindow::ZoneFrom { raw, timezone }) = &s.window else {
            panic!("{}: a send needs a window in the lead's zone", s.id);
        };
        assert_eq!(raw.timezone, "${inputs.lead.timezone}", "{}", s.id);
        let zone = timezone.resolve(&Inputs(inputs(["email"; 6]))).unwrap();
        assert_eq!(zone, json!("Europe/Berlin"));
        let days: Vec<&str> = raw.days.iter().map(|d| d.as_str()).collect();
        match channel.as_str() {
            "email" => {
                emails += 1;
                assert_eq!(days, ["mon", "tue", "wed", "thu", "fri"], "{}", s.id);
                assert_eq!(raw.hours, "08:00-18:00", "{}", s.id);
            }
            "sms" => {
                texts += 1;
                assert_eq!(days.len(), 7, "{}: texts may go any day", s.id);
                assert_eq!(raw.hours, "08:00-21:00", "{}: TCPA quiet hours", s.id);
            }
            other => panic!("{}: channel {other}", s.id),
        }
    }
    assert_eq!((emails, texts), (6, 6));
}

#[test]
fn each_slot_runs_only_the_channel_the_plan_chose() {
    let wf = template("outreach-sequence");
    let plans = [
        ["email", "linkedin", "email", "sms", "email", "email"],
        ["email"; 6],
        ["email", "email", "email", "sms", "email", "email"],
        ["linkedin"; 6],
        ["sms", "linkedin", "sms", "linkedin", "linkedin", "linkedin"],
        ["sms", "none", "sms", "none", "none", "none"],
    ];
    for plan in plans {
        let given = inputs(plan);
        for (slot, planned) in (1..=6u64).zip(plan) {
            let chosen: Vec<String> = wf
                .steps
                .iter()
                .filter_map(|s| contact(s).filter(|(n, _)| *n == slot).map(|c| (s, c.1)))
                .filter(|(s, _)| {
                    s.when
                        .as_ref()
                        .expect("every contact step has a when")
                        .evaluate(&given, &BTreeMap::new())
                        .unwrap()
                })
                .map(|(_, channel)| channel)
                .collect();
            let expected: Vec<String> = if planned == "none" {
                vec![]
            } else {
                vec![planned.to_owned()]
            };
            assert_eq!(chosen, expected, "plan {plan:?}, slot {slot}");
        }
    }
}

#[test]
fn linkedin_tasks_wait_for_the_rep_and_gaps_resume_after_an_out_of_office() {
    let wf = template("outreach-sequence");
    for (i, s) in wf.steps.iter().enumerate() {
        if contact(s).is_some_and(|(_, c)| c == "linkedin") {
            let done = wf
                .steps
                .iter()
                .find(|w| w.depends_on == [i])
                .unwrap_or_else(|| panic!("{}: nothing waits for the task", s.id));
            assert!(
                matches!(&done.kind, StepKind::WaitFor { signal, timeout: Some(_) } if signal == "linkedin.done"),
                "{}: {:?}",
                done.id,
                done.kind
            );
        }
    }
    let gaps: Vec<usize> = (0..wf.steps.len())
        .filter(|&i| {
            matches!(&wf.steps[i].kind, StepKind::WaitFor { signal, .. } if signal == "lead.out_of_office")
        })
        .collect();
    assert_eq!(gaps.len(), 5, "one gap between each two slots");
    for gap in gaps {
        let id = &wf.steps[gap].id;
        let resume = wf
            .steps
            .iter()
            .find(|s| s.depends_on == [gap])
            .unwrap_or_else(|| panic!("{id}: no resume step"));
        let StepKind::WaitUntil { at } = &resume.kind else {
            panic!("{}: a resume is a wait_until", resume.id);
        };
        assert_eq!(
            at.exprs(),
            [&Expr::StepOutput {
                step: id.clone(),
                path: vec!["payload".into(), "until".into()]
            }]
        );
        let when = resume
            .when
            .as_ref()
            .expect("a resume runs only after a signal");
        let outputs =
            |timed_out: bool| BTreeMap::from([(id.clone(), json!({"timed_out": timed_out}))]);
        assert!(!when.evaluate(&json!({}), &outputs(true)).unwrap());
        assert!(when.evaluate(&json!({}), &outputs(false)).unwrap());
    }
}

#[test]
fn any_answer_stops_the_sequence_and_signals_reach_it_by_lead() {
    let wf = template("outreach-sequence");
    for signal in [
        "lead.replied",
        "lead.booked",
        "lead.unsubscribed",
        "lead.stop",
        "lead.complained",
        "lead.bounced",
    ] {
        assert_eq!(
            wf.on_signal.get(signal),
            Some(&SignalAction::Cancel),
            "{signal}"
        );
    }
    assert!(
        !wf.on_signal.contains_key("lead.out_of_office"),
        "an out-of-office pauses, it must reach the gap waits"
    );
    assert_eq!(wf.correlation_keys.len(), 1);
    let key = wf.correlation_keys[0].resolve(&Inputs(inputs(["email"; 6])));
    assert_eq!(key.unwrap(), json!("lead:lead-0042"));
}

#[test]
fn lead_reactivation_fans_out_to_outreach_sequence() {
    let wf = template("lead-reactivation");
    let chain = [
        ("import", "reviver", "import"),
        ("score", "reviver", "score"),
        ("enrich", "scraper", "enrich"),
        ("plan", "reviver", "plan"),
        ("personalize", "personalizer", "personalize"),
        ("report", "analytics", "report"),
    ];
    for (id, agent, action) in chain {
        let (a, b, _) = task(step(&wf, id)).unwrap_or_else(|| panic!("{id} is a task"));
        assert_eq!((a, b), (agent, action), "{id}");
    }
    let (a, b, _) = task(step(&wf, "deliverability")).unwrap();
    assert_eq!((a, b), ("deliverability", "check"));
    let order = [
        "import",
        "score",
        "enrich",
        "plan",
        "personalize",
        "sequences",
        "report",
    ];
    for pair in order.windows(2) {
        let (before, after) = (
            wf.step_index(pair[0]).unwrap(),
            wf.step_index(pair[1]).unwrap(),
        );
        assert!(
            wf.is_at_or_after(after, before),
            "{} after {}",
            pair[1],
            pair[0]
        );
    }

    let seq = wf.step_index("sequences").unwrap();
    let deliverability = wf.step_index("deliverability").unwrap();
    assert!(wf.steps[seq].depends_on.contains(&deliverability));
    assert!(
        wf.steps[seq].when.is_some(),
        "no sequence starts when no mailbox may send"
    );
    let fan = wf.steps[seq].fan_out().expect("sequences fans out");
    assert_eq!(
        fan.items,
        Some(Expr::StepOutput {
            step: "personalize".into(),
            path: vec!["leads".into()]
        })
    );
    assert_eq!(
        (fan.max_concurrency, fan.policy),
        (1000, FailurePolicy::Continue)
    );
    let ItemBody::Workflow {
        name,
        version,
        input,
    } = &fan.body
    else {
        panic!("each item is a child mission");
    };
    assert_eq!((name.as_str(), *version), ("outreach-sequence", None));
    assert_eq!(wf.child_workflows(), [(seq, "outreach-sequence", None)]);

    // The item input is exactly what the child requires.
    let child = template("outreach-sequence");
    let required: BTreeSet<&str> = child
        .inputs
        .iter()
        .filter(|(_, spec)| spec.required)
        .map(|(name, _)| name.as_str())
        .collect();
    let rex_core::Template::Object(fields) = input else {
        panic!("the item input is an object");
    };
    let given: BTreeSet<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(given, required);
}

#[test]
fn domain_health_and_icp_refresh_are_three_step_chains() {
    let cases = [
        (
            "domain-health",
            [
                ("deliverability", "recompute_health"),
                ("deliverability", "advance_warmup"),
                ("deliverability", "rotate"),
            ],
        ),
        (
            "icp-refresh",
            [
                ("icp", "segment"),
                ("icp", "build_profile"),
                ("icp", "rescore"),
            ],
        ),
    ];
    for (name, expected) in cases {
        let wf = template(name);
        let got: Vec<(&str, &str)> = wf
            .steps
            .iter()
            .map(|s| task(s).map(|(a, b, _)| (a, b)).expect("tasks only"))
            .collect();
        assert_eq!(got, expected, "{name}");
        let deps: Vec<Vec<usize>> = wf.steps.iter().map(|s| s.depends_on.clone()).collect();
        assert_eq!(deps, vec![vec![], vec![0], vec![1]], "{name} is a chain");
        assert!(
            wf.steps
                .iter()
                .all(|s| s.timeout.is_some_and(|t| t <= Duration::from_secs(3600))),
            "{name}: every step has a bounded timeout"
        );
    }
}
