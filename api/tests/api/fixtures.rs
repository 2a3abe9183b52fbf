//! A whole API for a test: its own database (SQLite or PostgreSQL), its own broker (a
//! fresh in-process broker, or RabbitMQ under a random prefix), three tenants' keys,
//! and on demand an orchestrator and a worker so missions really run.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use rex_api::{ApiConfig, ApiState, Scope, create_api_key};
use rex_broker::{AmqpBroker, Broker, BrokerConfig, MemoryBroker};
use rex_core::protocol::SystemClock;
use rex_core::validate::ValidateOptions;
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig};
use rex_store::testing::{TestDb, fresh_postgres, fresh_sqlite};
use rex_workers::{Registry, Worker, WorkerConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use uuid::Uuid;

pub const HELLO: &str = r#"{
  "name": "hello", "version": 1,
  "inputs": {"name": {"type": "string", "required": true}},
  "steps": [
    {"id": "start", "agent": "noop", "action": "noop"},
    {"id": "greet", "agent": "echo", "action": "echo", "depends_on": ["start"],
     "input": {"greeting": "Hello, ${inputs.name}"}},
    {"id": "repeat", "agent": "echo", "action": "echo", "depends_on": ["greet"],
     "input": {"said": "${steps.greet.output.greeting}"}}
  ]
}"#;

/// Waits for a signal for an hour: stays running until steered.
pub const WAITER: &str = r#"{
  "name": "waiter", "version": 1,
  "steps": [
    {"id": "first", "agent": "noop", "action": "noop"},
    {"id": "reply", "wait_for": {"signal": "lead.replied", "timeout": "1h"}, "depends_on": ["first"]},
    {"id": "after", "agent": "echo", "action": "echo", "depends_on": ["reply"]}
  ]
}"#;

pub fn amqp_url() -> String {
    std::env::var("REX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

pub struct Keys {
    /// Tenant `acme`: read, write, admin.
    pub a: String,
    /// Tenant `globex`: read, write, admin.
    pub b: String,
    /// Tenant `acme`: read only.
    pub reader: String,
    /// Tenant `acme`: write only.
    pub writer: String,
}

pub struct TestApi {
    pub db: TestDb,
    pub state: ApiState,
    pub router: Router,
    pub keys: Keys,
    pub broker: Arc<dyn Broker>,
    /// Set for RabbitMQ: its topology is deleted by `cleanup`.
    pub amqp: Option<AmqpBroker>,
    shutdown: CancellationToken,
}

pub fn agents() -> Vec<String> {
    Registry::builtin().names()
}

impl TestApi {
    /// SQLite and the in-process broker.
    pub async fn embedded(config: ApiConfig) -> TestApi {
        let db = fresh_sqlite().await;
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(5));
        Self::build(db, broker, None, config).await
    }

    /// PostgreSQL and the in-process broker.
    pub async fn on_postgres(config: ApiConfig) -> TestApi {
        let db = fresh_postgres().await;
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(5));
        Self::build(db, broker, None, config).await
    }

    /// PostgreSQL and RabbitMQ under a prefix of its own.
    pub async fn production(config: ApiConfig) -> TestApi {
        let db = fresh_postgres().await;
        let amqp = AmqpBroker::connect(BrokerConfig {
            url: amqp_url(),
            prefix: format!("api-test-{}", Uuid::new_v4().simple()),
            delivery_limit: 5,
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RabbitMQ not reachable at {} ({e}) — start it with `rabbitmq-server -detached`",
                amqp_url()
            )
        });
        let broker: Arc<dyn Broker> = Arc::new(amqp.clone());
        Self::build(db, broker, Some(amqp), config).await
    }

    async fn build(
        db: TestDb,
        broker: Arc<dyn Broker>,
        amqp: Option<AmqpBroker>,
        config: ApiConfig,
    ) -> TestApi {
        broker
            .declare(&agents())
            .await
            .expect("declaring the topology");
        let store = db.store().clone();
        let catalog = Catalog::new(store.clone(), ValidateOptions::with_known_agents(agents()));
        let engine = Engine::new(
            store.clone(),
            broker.clone(),
            catalog,
            Arc::new(SystemClock),
        );
        let state = ApiState::new(store.clone(), engine, broker.clone(), config);
        let key = |tenant: &'static str, scopes: &'static [Scope]| {
            let store = store.clone();
            async move {
                create_api_key(&store, tenant, "test", scopes)
                    .await
                    .expect("creating a key")
                    .key
            }
        };
        let keys = Keys {
            a: key("acme", &[Scope::Read, Scope::Write, Scope::Admin]).await,
            b: key("globex", &[Scope::Read, Scope::Write, Scope::Admin]).await,
            reader: key("acme", &[Scope::Read]).await,
            writer: key("acme", &[Scope::Write]).await,
        };
        TestApi {
            router: rex_api::router(state.clone()),
            db,
            state,
            keys,
            broker,
            amqp,
            shutdown: CancellationToken::new(),
        }
    }

    /// Runs an orchestrator (on the API's engine, as `rex dev` does) and a worker of
    /// the built-in agents until the test ends.
    pub fn run_engine(&self) {
        self.run_orchestrator();
        self.run_worker();
    }

    /// Runs an orchestrator only: dispatched tasks wait in their queues.
    pub fn run_orchestrator(&self) {
        let config = OrchestratorConfig {
            relay_grace: Duration::from_millis(300),
            relay_interval: Duration::from_millis(100),
            timer_poll: Duration::from_millis(20),
            agents: agents(),
            ..OrchestratorConfig::default()
        };
        let orchestrator = Orchestrator::new(self.state.engine.clone(), config);
        let token = self.shutdown.child_token();
        tokio::spawn(async move {
            if let Err(e) = orchestrator.run(token).await {
                eprintln!("orchestrator failed: {e}");
            }
        });
    }

    /// Runs a worker of the built-in agents until the test ends.
    pub fn run_worker(&self) {
        let worker = Worker::new(
            self.db.store().clone(),
            self.broker.clone(),
            WorkerConfig {
                concurrency: 4,
                prefetch: 8,
                shutdown_grace: Duration::from_secs(2),
                worker_id: "api-test-worker".to_owned(),
                ..WorkerConfig::default()
            },
        );
        let registry = Registry::builtin();
        let agents = registry.select(&registry.names()).expect("built-in agents");
        let token = self.shutdown.child_token();
        tokio::spawn(async move {
            if let Err(e) = worker.run(agents, token).await {
                eprintln!("worker failed: {e}");
            }
        });
    }

    /// Stops the engine, deletes the RabbitMQ topology and the database.
    pub async fn cleanup(self) {
        self.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(amqp) = &self.amqp {
            let mut names = agents();
            names.sort();
            if let Err(e) = amqp.delete_topology(&names).await {
                eprintln!("deleting the test topology: {e}");
            }
            amqp.shutdown().await;
        }
        self.db.cleanup().await;
    }

    /// One request through `Router::oneshot`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        let req = match body {
            Some(body) => req
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("a request")).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let response = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("reading the body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Stores a definition (JSON text) with tenant A's admin key.
    pub async fn push(&self, definition: &str) {
        let definition: Value = serde_json::from_str(definition).expect("definition JSON");
        let r = self
            .call(
                "POST",
                "/v1/definitions",
                Some(&self.keys.a),
                Some(json!({"definition": definition})),
            )
            .await;
        assert!(r.status.is_success(), "{r:?}");
    }

    /// Starts a mission with `key`; returns its id.
    pub async fn start(&self, key: &str, definition: &str, input: Value) -> Uuid {
        let r = self
            .call(
                "POST",
                "/v1/missions",
                Some(key),
                Some(json!({"definition": definition, "input": input})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.id()
    }

    /// Reads a mission until `done` holds for it (at most 20 s).
    pub async fn wait_for(&self, key: &str, id: Uuid, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = self
                .call("GET", &format!("/v1/missions/{id}"), Some(key), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            if done(&r.body) {
                return r.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mission {id} never got there: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no id in {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn status_of(mission: &Value) -> &str {
    mission["status"].as_str().unwrap_or("")
}
