//! A minimal `/metrics` endpoint for processes that run no HTTP server of their own
//! (the orchestrator, the workers). The API process routes `/metrics` to
//! [`crate::render`] in its own router instead.
//!
//! It speaks just enough HTTP/1.1 for a Prometheus scrape: one `GET` per
//! connection, answered and closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::{CONTENT_TYPE, render};

/// A request head larger than this is refused: a scrape sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// A client that does not finish its request in this time is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers `/readyz`: `Ok` when the process can do its work (its database and broker
/// answer), else why not.
pub type Readiness =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Serves `GET /metrics` (the process-wide [`crate::metrics()`]) on `listener`
/// until `shutdown` completes. Connections are handled concurrently; a failing
/// connection never stops the server.
pub async fn serve_metrics(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let always: Readiness = Arc::new(|| Box::pin(async { Ok(()) }));
    serve_http(listener, shutdown, always).await
}

/// Serves a process's operational endpoints until `shutdown`: `GET /metrics`,
/// `GET /healthz` (the process answers) and `GET /readyz` (`ready` says whether it
/// can work; 503 with the reason when not), for Prometheus and Kubernetes probes.
pub async fn serve_http(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    ready: Readiness,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let ready = ready.clone();
                    tokio::spawn(async move {
                        if let Err(err) = answer(stream, ready).await {
                            tracing::debug!(error = %err, "metrics connection failed");
                        }
                    });
                }
                // Running out of file descriptors must not end the endpoint.
                Err(err) => {
                    tracing::warn!(error = %err, "metrics endpoint cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn answer(mut stream: TcpStream, ready: Readiness) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", CONTENT_TYPE, render()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/readyz") => match tokio::time::timeout(READ_TIMEOUT, ready()).await {
            Ok(Ok(())) => ("200 OK", "text/plain", "ready\n".to_owned()),
            Ok(Err(why)) => ("503 Service Unavailable", "text/plain", format!("{why}\n")),
            Err(_) => (
                "503 Service Unavailable",
                "text/plain",
                "readiness check timed out\n".to_owned(),
            ),
        },
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads until the blank line that ends the request head.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > MAX_HEAD {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_scrape_gets_the_metrics_and_other_paths_do_not() {
        crate::metrics().suppression("scrape-test");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_metrics(listener, async {
            let _ = stopped.await;
        }));

        let ok = get(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(
            ok.contains(r#"rex_suppressions_total{reason="scrape-test"} 1"#),
            "{ok}"
        );

        let missing = get(addr, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = get(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn health_answers_and_readiness_reports_why_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let not_ready: Readiness =
            Arc::new(|| Box::pin(async { Err("database not reachable: refused".to_owned()) }));
        let server = tokio::spawn(serve_http(
            listener,
            async {
                let _ = stopped.await;
            },
            not_ready,
        ));
        let health = get(addr, "GET /healthz HTTP/1.1\r\n\r\n").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let ready = get(addr, "GET /readyz HTTP/1.1\r\n\r\n").await;
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(
            ready.ends_with("database not reachable: refused\n"),
            "{ready}"
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
