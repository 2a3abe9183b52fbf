//! An OTLP/gRPC trace receiver that only counts what it is sent: the far end of the
//! exporter in `rex bench tracing`. It speaks the real protocol (the generated
//! `TraceService` of `opentelemetry-proto`, served by tonic), so the exporter under
//! measurement does all its real work — batching, protobuf encoding, HTTP/2 — while
//! the receiver keeps nothing but two counters, and so adds as little as possible to
//! the machine being measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the receiver has been sent so far.
#[derive(Debug, Default)]
pub struct Counts {
    requests: AtomicU64,
    spans: AtomicU64,
}

impl Counts {
    /// Export requests received.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Spans in them.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

/// Spans in one export request.
fn spans_in(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

struct Counter(Arc<Counts>);

#[tonic::async_trait]
impl TraceService for Counter {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = spans_in(request.get_ref());
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        self.0.spans.fetch_add(spans, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A running receiver; stops when dropped or [`Receiver::stop`]ped.
pub struct Receiver {
    endpoint: String,
    counts: Arc<Counts>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        let shutdown = CancellationToken::new();
        let incoming = futures::stream::unfold(listener, |listener| async move {
            let accepted = listener.accept().await.map(|(stream, _)| {
                // spans arrive in small batches: do not wait to fill a segment
                let _ = stream.set_nodelay(true);
                stream
            });
            Some((accepted, listener))
        });
        let service = TraceServiceServer::new(Counter(counts.clone()));
        let stop = shutdown.clone();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned()),
        );
        Ok(Self {
            endpoint,
            counts,
            shutdown,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn request(spans_per_scope: &[usize]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: spans_per_scope
                    .iter()
                    .map(|&n| ScopeSpans {
                        spans: vec![Span::default(); n],
                        ..ScopeSpans::default()
                    })
                    .collect(),
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn the_spans_of_every_scope_are_counted() {
        assert_eq!(spans_in(&request(&[2, 3])), 5);
        assert_eq!(spans_in(&ExportTraceServiceRequest::default()), 0);
    }

    #[tokio::test]
    async fn an_export_over_grpc_is_counted_and_acknowledged() -> anyhow::Result<()> {
        let receiver = Receiver::start().await?;
        let mut client = TraceServiceClient::connect(receiver.endpoint().to_owned()).await?;
        client.export(request(&[4])).await?;
        client.export(request(&[1, 2])).await?;
        assert_eq!(receiver.counts().requests(), 2);
        assert_eq!(receiver.counts().spans(), 7);
        receiver.stop().await
    }
}
