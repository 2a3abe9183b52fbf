//! A whole engine for a test: its own database (PostgreSQL or SQLite) and its own broker
//! namespace (a RabbitMQ queue prefix, or a fresh in-process broker), with orchestrators
//! and workers started on demand, each with its own connections as separate processes
//! would have.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rex_broker::{AmqpBroker, Broker, BrokerConfig, MemoryBroker};
use rex_core::protocol::SystemClock;
use rex_core::validate::ValidateOptions;
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::Store;
use rex_store::entity::{attempts, missions, steps};
use rex_store::testing::{TestDb, fresh_postgres, fresh_sqlite};
use rex_workers::{Registry, Worker, WorkerConfig};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const DELIVERY_LIMIT: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL + RabbitMQ on loopback.
    Production,
    /// SQLite + the in-process broker.
    Embedded,
}

pub fn amqp_url() -> String {
    std::env::var("REX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

pub struct Harness {
    pub backend: Backend,
    pub db: TestDb,
    pub prefix: String,
    memory: Option<MemoryBroker>,
    /// The test's own handle, as an API process would have: starts missions.
    pub engine: Engine,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    pub async fn new(backend: Backend) -> Harness {
        let db = match backend {
            Backend::Production => fresh_postgres().await,
            Backend::Embedded => fresh_sqlite().await,
        };
        let prefix = format!("test-{}", Uuid::new_v4().simple());
        let memory = (backend == Backend::Embedded).then(|| MemoryBroker::new(DELIVERY_LIMIT));
        let mut h = Harness {
            backend,
            engine: dummy_engine(db.store().clone()),
            db,
            prefix,
            memory,
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
        };
        let broker = h.broker().await;
        broker
            .declare(&Registry::builtin().names())
            .await
            .expect("declaring the topology");
        h.engine = engine(h.db.store().clone(), broker);
        h
    }

    /// A broker handle of its own (a new AMQP connection), like another process's.
    pub async fn broker(&self) -> Arc<dyn Broker> {
        match &self.memory {
            Some(m) => Arc::new(m.clone()),
            None => Arc::new(
                AmqpBroker::connect(BrokerConfig {
                    url: amqp_url(),
                    prefix: self.prefix.clone(),
                    delivery_limit: DELIVERY_LIMIT,
                })
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "RabbitMQ not reachable at {} ({e}) — start it with `rabbitmq-server -detached`",
                        amqp_url()
                    )
                }),
            ),
        }
    }

    /// A store with a pool of its own.
    pub async fn store(&self) -> Store {
        Store::connect(self.db.url(), 8)
            .await
            .expect("connecting to the test database")
    }

    pub async fn spawn_orchestrator(&mut self) -> CancellationToken {
        let engine = engine(self.store().await, self.broker().await);
        let config = OrchestratorConfig {
            relay_grace: Duration::from_millis(300),
            relay_interval: Duration::from_millis(100),
            timer_poll: Duration::from_millis(20),
            ..OrchestratorConfig::default()
        };
        let token = self.shutdown.child_token();
        let t = token.clone();
        self.tasks.push(tokio::spawn(async move {
            Orchestrator::new(engine, config)
                .run(t)
                .await
                .expect("orchestrator failed");
        }));
        token
    }

    pub async fn spawn_worker(&mut self, concurrency: usize) -> CancellationToken {
        let worker = Worker::new(
            self.store().await,
            self.broker().await,
            WorkerConfig {
                concurrency,
                prefetch: (concurrency * 2) as u16,
                shutdown_grace: Duration::from_secs(5),
                worker_id: format!("test-worker-{}", self.tasks.len()),
                lease: Duration::from_secs(5),
                ..WorkerConfig::default()
            },
        );
        let registry = Registry::builtin();
        let agents = registry.select(&registry.names()).expect("built-in agents");
        let token = self.shutdown.child_token();
        let t = token.clone();
        self.tasks.push(tokio::spawn(async move {
            worker.run(agents, t).await.expect("worker failed");
        }));
        token
    }

    pub async fn push(&self, yaml: &str) {
        self.engine
            .catalog()
            .push(yaml.as_bytes(), Some("test.yaml"))
            .await
            .expect("pushing the definition");
    }

    pub async fn start(&self, definition: &str, input: Value) -> Uuid {
        self.engine
            .start_mission(StartMission {
                definition: definition.to_owned(),
                input,
                ..StartMission::default()
            })
            .await
            .expect("starting the mission")
            .id
    }

    /// Waits until the mission is terminal; panics with its timeline after `timeout`.
    pub async fn wait(&self, id: Uuid, timeout: Duration) -> missions::Model {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self
                .db
                .get_mission(id)
                .await
                .unwrap()
                .expect("mission exists");
            if matches!(m.status.as_str(), "succeeded" | "failed" | "cancelled") {
                return m;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "mission {id} still {} after {timeout:?}; steps: {:#?}",
                    m.status,
                    self.db.mission_steps(id).await.unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn steps(&self, id: Uuid) -> HashMap<String, steps::Model> {
        self.db
            .mission_steps(id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.step_id.clone(), s))
            .collect()
    }

    /// Every attempt checkpoint of the mission.
    pub async fn attempts(&self, id: Uuid) -> Vec<attempts::Model> {
        attempts::Entity::find()
            .filter(attempts::Column::MissionId.eq(id))
            .all(self.db.conn())
            .await
            .unwrap()
    }

    /// Stops every component, then removes the database and the queues.
    pub async fn finish(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.db.cleanup().await;
        if self.backend == Backend::Production {
            delete_queues(&self.prefix).await;
        }
    }
}

/// Removes a test's exchanges and queues from RabbitMQ.
pub async fn delete_queues(prefix: &str) {
    if let Ok(broker) = AmqpBroker::connect(BrokerConfig {
        url: amqp_url(),
        prefix: prefix.to_owned(),
        delivery_limit: DELIVERY_LIMIT,
    })
    .await
    {
        let _ = broker.delete_topology(&Registry::builtin().names()).await;
        broker.shutdown().await;
    }
}

pub fn engine(store: Store, broker: Arc<dyn Broker>) -> Engine {
    let catalog = Catalog::new(store.clone(), ValidateOptions::default());
    Engine::new(store, broker, catalog, Arc::new(SystemClock))
}

fn dummy_engine(store: Store) -> Engine {
    engine(store, Arc::new(MemoryBroker::new(DELIVERY_LIMIT)))
}

/// Runs an async test body on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod production {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Backend::Production).await
                }
            )+
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Backend::Embedded).await
                }
            )+
        }
    };
}

/// Removes the queues of extra agents a test declared itself.
pub async fn delete_queues_of(prefix: &str, agents: &[String]) {
    if let Ok(broker) = AmqpBroker::connect(BrokerConfig {
        url: amqp_url(),
        prefix: prefix.to_owned(),
        delivery_limit: DELIVERY_LIMIT,
    })
    .await
    {
        let _ = broker.delete_topology(agents).await;
        broker.shutdown().await;
    }
}
