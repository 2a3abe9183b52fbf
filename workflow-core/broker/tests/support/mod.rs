//! Harness of the behaviour suite: builds a broker per backend, runs one case
//! against it with a time limit, and cleans up after it (also when it fails).

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use rex_broker::{AmqpBroker, Broker, BrokerConfig, Consumer, Delivery, Destination, MemoryBroker};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Small, so that the delivery-limit case stays fast.
pub const DELIVERY_LIMIT: u32 = 2;
/// The only agents cases may declare or consume (cleanup deletes exactly these).
pub const AGENTS: [&str; 2] = ["alpha", "beta"];
/// No case ever declares it.
pub const UNDECLARED: &str = "ghost";
/// Longer than any case should take.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn agent(name: &str) -> Destination {
    Destination::Agent(name.into())
}

pub fn agents() -> Vec<String> {
    AGENTS.iter().map(|a| a.to_string()).collect()
}

pub fn amqp_url() -> String {
    std::env::var("REX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A RabbitMQ broker on its own random prefix. Panics — never skips — when
/// RabbitMQ is not there.
pub async fn rabbitmq() -> (AmqpBroker, String) {
    rabbitmq_at(amqp_url()).await
}

/// [`rabbitmq`], connecting through `url` (e.g. a [`Proxy`]).
pub async fn rabbitmq_at(url: String) -> (AmqpBroker, String) {
    let prefix = format!("test-{}", uuid::Uuid::new_v4());
    let config = BrokerConfig {
        url: url.clone(),
        prefix: prefix.clone(),
        delivery_limit: DELIVERY_LIMIT,
    };
    match AmqpBroker::connect(config).await {
        Ok(broker) => (broker, prefix),
        Err(err) => panic!(
            "RabbitMQ not reachable at {url} ({err}) — start it with \
             `rabbitmq-server -detached && rabbitmqctl await_startup`, \
             or point REX_TEST_AMQP_URL at one"
        ),
    }
}

/// Deletes everything a case may have created under `prefix` (best effort).
pub async fn delete_topology(prefix: &str) {
    let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
    else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    let mut queues = vec![
        format!("{prefix}.results"),
        format!("{prefix}.results.dlq"),
        format!("{prefix}.inbox"),
        format!("{prefix}.inbox.dlq"),
    ];
    for agent in AGENTS {
        queues.push(format!("{prefix}.agent.{agent}"));
        queues.push(format!("{prefix}.agent.{agent}.dlq"));
    }
    for queue in queues {
        let _ = channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
    for exchange in [format!("{prefix}.tasks"), format!("{prefix}.dlx")] {
        let _ = channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "cleanup".into()).await;
}

/// Runs `case` under a time limit, then `cleanup`; re-raises the case's panic.
pub async fn guarded<Fut, C>(case: Fut, cleanup: C)
where
    Fut: Future<Output = ()> + Send + 'static,
    C: Future<Output = ()>,
{
    let outcome = tokio::time::timeout(CASE_TIMEOUT, tokio::spawn(case)).await;
    if tokio::time::timeout(CASE_TIMEOUT, cleanup).await.is_err() {
        panic!("cleanup did not finish within {CASE_TIMEOUT:?}");
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Ok(Err(join)) => panic!("case aborted: {join}"),
        Err(_) => panic!("case did not finish within {CASE_TIMEOUT:?}"),
    }
}

pub async fn run_memory<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Broker>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(DELIVERY_LIMIT));
    guarded(case(broker.clone()), async move { broker.shutdown().await }).await;
}

pub async fn run_rabbitmq<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Broker>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (broker, prefix) = rabbitmq().await;
    let broker: Arc<dyn Broker> = Arc::new(broker);
    let for_cleanup = broker.clone();
    let cleanup = async move {
        for_cleanup.shutdown().await;
        delete_topology(&prefix).await;
    };
    guarded(case(broker), cleanup).await;
}

/// The next delivery, or `None` if none arrives within `wait`.
pub async fn next_within(consumer: &mut Box<dyn Consumer>, wait: Duration) -> Option<Delivery> {
    tokio::time::timeout(wait, consumer.next())
        .await
        .ok()
        .flatten()
}

/// The next delivery; fails the case if none arrives within 5 s.
pub async fn next(consumer: &mut Box<dyn Consumer>) -> Delivery {
    next_within(consumer, Duration::from_secs(5))
        .await
        .expect("no delivery within 5 s")
}

/// Polls `probe` until it returns `expected` (RabbitMQ's counters trail the
/// confirms by a few milliseconds); fails with the last value after 5 s.
pub async fn eventually<T, F, Fut>(what: &str, expected: T, mut probe: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let value = probe().await;
        if value == expected {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: expected {expected:?}, still {value:?} after 5 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Closes, from the server side, the connection of the broker using `prefix`
/// (its connection name contains the prefix) — and only that one, so tests
/// running in parallel are not disturbed.
pub async fn kill_connection_of(prefix: &str) {
    let listing = tokio::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "-q",
            "--no-table-headers",
            "pid",
            "client_properties",
        ])
        .output()
        .await
        .expect("rabbitmqctl must be installed to force a connection loss");
    assert!(
        listing.status.success(),
        "rabbitmqctl list_connections failed: {}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    let pids: Vec<&str> = listing
        .lines()
        .filter(|line| line.contains(&format!("rex {prefix} (pid")))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "expected one connection named after {prefix}:\n{listing}"
    );
    let closed = tokio::process::Command::new("rabbitmqctl")
        .args([
            "close_connection",
            pids[0],
            "rex broker test: forced connection loss",
        ])
        .output()
        .await
        .expect("rabbitmqctl close_connection");
    assert!(
        closed.status.success(),
        "rabbitmqctl close_connection failed: {}",
        String::from_utf8_lossy(&closed.stderr)
    );
}

/// A TCP forwarder in front of RabbitMQ whose connections the test can cut
/// at once — a network failure as the client sees it, without the second or
/// so that `rabbitmqctl` takes to start.
pub struct Proxy {
    /// The AMQP URL to connect through the proxy.
    pub url: String,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let target: lapin::uri::AMQPUri = amqp_url().parse().expect("REX_TEST_AMQP_URL");
        let upstream = format!("{}:{}", target.authority.host, target.authority.port);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let vhost = if target.vhost == "/" {
            "%2f".to_string()
        } else {
            target.vhost.clone()
        };
        let user = &target.authority.userinfo;
        let url = format!(
            "amqp://{}:{}@127.0.0.1:{port}/{vhost}",
            user.username, user.password
        );
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = tokio::spawn({
            let links = links.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            // without it Nagle + delayed ACKs add 40 ms per batch
                            let _ = client.set_nodelay(true);
                            let _ = server.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Proxy {
            url,
            links,
            acceptor,
        }
    }

    /// Drops every open connection (both sides see the socket close); new
    /// connections are accepted as before.
    pub fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}
