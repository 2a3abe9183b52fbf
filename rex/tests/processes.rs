//! The real `rex` binary as separate processes on PostgreSQL + RabbitMQ: a worker killed
//! mid-step, a worker stopped with SIGTERM mid-step, an orchestrator crashing between
//! commit and publish, an orchestrator stopped with SIGTERM.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rex_broker::{AmqpBroker, BrokerConfig, Destination};
use rex_core::protocol::SystemClock;
use rex_core::validate::ValidateOptions;
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::entity::attempts;
use rex_store::testing::{TestDb, fresh_postgres};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const DEFINITION: &str = r#"
name: long
version: 1
steps:
  - {id: long, agent: sleep, action: sleep, input: {ms: 2500}}
  - {id: after, agent: noop, action: noop, depends_on: [long]}
"#;

fn amqp_url() -> String {
    std::env::var("REX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

struct Setup {
    db: TestDb,
    prefix: String,
    engine: Engine,
    amqp: AmqpBroker,
    shutdown: CancellationToken,
}

async fn setup() -> Setup {
    setup_with(true).await
}

/// `with_orchestrator`: run an orchestrator inside the test process.
async fn setup_with(with_orchestrator: bool) -> Setup {
    let db = fresh_postgres().await;
    let prefix = format!("test-{}", Uuid::new_v4().simple());
    let amqp = AmqpBroker::connect(BrokerConfig {
        url: amqp_url(),
        prefix: prefix.clone(),
        delivery_limit: 5,
    })
    .await
    .expect("RabbitMQ not reachable — start it with `rabbitmq-server -detached`");
    let broker = Arc::new(amqp.clone());
    let store = db.store().clone();
    let engine = Engine::new(
        store.clone(),
        broker,
        Catalog::new(store, ValidateOptions::default()),
        Arc::new(SystemClock),
    );
    engine
        .broker()
        .declare(&["sleep".into(), "noop".into()])
        .await
        .unwrap();
    engine
        .catalog()
        .push(DEFINITION.as_bytes(), None)
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    if with_orchestrator {
        let orchestrator = Orchestrator::new(
            engine.clone(),
            OrchestratorConfig {
                timer_poll: Duration::from_millis(50),
                ..OrchestratorConfig::default()
            },
        );
        tokio::spawn(orchestrator.run(shutdown.clone()));
    }
    Setup {
        db,
        prefix,
        engine,
        amqp,
        shutdown,
    }
}

impl Setup {
    fn worker(&self) -> Child {
        self.rex(&[
            "worker",
            "--agent",
            "sleep",
            "--agent",
            "noop",
            "--shutdown-grace-secs",
            "10",
            "--lease-secs",
            "2",
        ])
        .spawn()
        .expect("starting `rex worker`")
    }

    fn orchestrator(&self, fault_points: &str) -> Child {
        self.rex(&["orchestrator", "--relay-grace-ms", "300"])
            .env("REX_FAULT_POINTS", fault_points)
            .spawn()
            .expect("starting `rex orchestrator`")
    }

    fn rex(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rex"));
        cmd.args(args)
            .env("REX_DATABASE_URL", self.db.url())
            .env("REX_AMQP_URL", amqp_url())
            .env("REX_QUEUE_PREFIX", &self.prefix)
            .env("REX_LOG", "warn")
            .stdout(Stdio::null());
        cmd
    }

    async fn start(&self) -> Uuid {
        self.engine
            .start_mission(StartMission {
                definition: "long".into(),
                input: json!({}),
                ..StartMission::default()
            })
            .await
            .unwrap()
            .id
    }

    async fn attempts(&self, id: Uuid) -> Vec<attempts::Model> {
        attempts::Entity::find()
            .filter(attempts::Column::MissionId.eq(id))
            .all(self.db.conn())
            .await
            .unwrap()
    }

    /// Waits until a worker holds the `long` step's task: the step is dispatched and
    /// its queue has no ready message left (the task is delivered, not yet acked).
    /// Waits until `dest` has `n` consumers: the process consuming it is running.
    async fn wait_consumers(&self, dest: &Destination, n: u32) {
        for _ in 0..400 {
            let stats = self.engine.broker().queue_stats(dest).await.unwrap();
            if stats.consumers >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{dest} never had {n} consumer(s)");
    }

    async fn wait_running(&self, id: Uuid) {
        for _ in 0..400 {
            let dispatched = self
                .db
                .mission_steps(id)
                .await
                .unwrap()
                .iter()
                .any(|s| s.step_id == "long" && s.status == "running");
            let ready = self
                .engine
                .broker()
                .queue_stats(&Destination::Agent("sleep".into()))
                .await
                .unwrap()
                .ready;
            if dispatched && ready == 0 {
                // Let the worker get into the agent's sleep.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no worker took the step");
    }

    async fn wait_status(&self, id: Uuid, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self.db.get_mission(id).await.unwrap().unwrap();
            if m.is_finished() || tokio::time::Instant::now() > deadline {
                return m.status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish(self) {
        self.shutdown.cancel();
        self.db.cleanup().await;
        // the processes declared the queues of every agent this build knows
        let agents: Vec<String> = rex_workers::builtin::NAMES
            .iter()
            .chain(rex_agents::NAMES.iter())
            .map(|s| (*s).to_owned())
            .collect();
        let _ = self.amqp.delete_topology(&agents).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_step_is_redelivered_and_runs_to_completion_once() {
    let s = setup().await;
    let mut first = s.worker();
    let id = s.start().await;
    s.wait_running(id).await;
    first.kill().expect("SIGKILL the worker"); // SIGKILL on Unix
    first.wait().unwrap();

    let mut second = s.worker();
    let status = s.wait_status(id, Duration::from_secs(30)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(status, "succeeded");
    let long: Vec<_> = s
        .attempts(id)
        .await
        .into_iter()
        .filter(|a| a.step_id == "long")
        .collect();
    assert_eq!(
        long.len(),
        1,
        "one attempt: the task was redelivered, not retried"
    );
    assert_eq!(long[0].executions, 1, "the step completed exactly once");
    assert_eq!(long[0].status, "succeeded");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_stopped_with_sigterm_finishes_its_step_and_exits_zero() {
    let s = setup().await;
    let mut worker = s.worker();
    let id = s.start().await;
    s.wait_running(id).await;
    let pid = worker.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let exit = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "worker exited with {exit}");
    // The in-flight step finished before exit: its checkpoint is complete.
    let long: Vec<_> = s
        .attempts(id)
        .await
        .into_iter()
        .filter(|a| a.step_id == "long")
        .collect();
    assert_eq!(long.len(), 1);
    assert_eq!(
        (long[0].status.as_str(), long[0].executions),
        ("succeeded", 1)
    );
    // A new worker runs the rest.
    let mut next = s.worker();
    let status = s.wait_status(id, Duration::from_secs(30)).await;
    next.kill().unwrap();
    next.wait().unwrap();
    assert_eq!(status, "succeeded");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_killed_between_commit_and_publish_is_healed_by_the_relay() {
    let s = setup_with(false).await;
    let mut worker = s.worker();
    // This orchestrator aborts right after its first commit that has tasks to publish:
    // the result of `long` is applied and `after`'s task sits unpublished in the outbox.
    let mut doomed = s.orchestrator("orchestrator.after_commit");
    let id = s.start().await;
    let exit = tokio::task::spawn_blocking(move || doomed.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !exit.success(),
        "the orchestrator was meant to crash, exited {exit}"
    );
    let steps = s.db.mission_steps(id).await.unwrap();
    let after = steps.iter().find(|st| st.step_id == "after").unwrap();
    assert_eq!(
        (after.status.as_str(), after.attempt),
        ("running", 1),
        "committed, not published"
    );
    assert_eq!(s.db.count_outbox().await.unwrap(), 1);

    // A healthy orchestrator's relay publishes the row; the mission completes.
    let mut healthy = s.orchestrator("");
    let status = s.wait_status(id, Duration::from_secs(30)).await;
    for child in [&mut healthy, &mut worker] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(status, "succeeded");
    assert_eq!(s.db.count_outbox().await.unwrap(), 0);
    for a in s.attempts(id).await {
        assert_eq!(
            a.executions, 1,
            "{} ran {} times",
            a.idempotency_key, a.executions
        );
    }
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_stopped_with_sigterm_exits_zero_and_a_new_one_finishes_the_missions() {
    let s = setup_with(false).await;
    let mut worker = s.worker();
    let mut first = s.orchestrator("");
    // SIGTERM is meant for a running orchestrator, not one still starting up.
    s.wait_consumers(&Destination::Results, 1).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(s.start().await);
    }
    // Stop the orchestrator while the `long` steps run: their results arrive while it
    // is gone, and wait in the results queue.
    s.wait_running(ids[0]).await;
    let pid = first.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let exit = tokio::task::spawn_blocking(move || first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the orchestrator exited with {exit}");

    let mut second = s.orchestrator("");
    for id in &ids {
        let status = s.wait_status(*id, Duration::from_secs(40)).await;
        assert_eq!(status, "succeeded", "mission {id}");
    }
    for child in [&mut second, &mut worker] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    for id in &ids {
        let attempts = s.attempts(*id).await;
        assert_eq!(attempts.len(), 2, "mission {id}: one attempt per step");
        for a in attempts {
            assert_eq!(
                a.executions, 1,
                "{} ran {} times",
                a.idempotency_key, a.executions
            );
        }
    }
    s.finish().await;
}
