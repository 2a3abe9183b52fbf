# syntax=docker/dockerfile:1.7
#
# One image for every `rex` subcommand:
#   docker build -t rex .
#   docker run --rm rex migrate
#   docker run --rm rex orchestrator
#   docker run --rm rex worker --agent reviver
#   docker run --rm rex run /usr/share/rex/definitions/examples/hello.yaml
#
# The runtime stage is distroless (glibc, CA certificates, no shell, no package manager)
# and runs as an unprivileged user. It works with a read-only root filesystem: the only
# place Rex writes to is /tmp (mount a tmpfs or emptyDir there), which is also the
# working directory, so a relative SQLite path of the embedded mode lands there too.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

# ---- chef: the toolchain plus cargo-chef --------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# ---- planner: reduce the workspace to its dependency graph (recipe.json) -------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- builder: dependencies first (a cached layer while Cargo.lock and the manifests
# do not change), then the workspace's own crates ---------------------------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --package rex --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --package rex \
    && install -D -m 0755 target/release/rex /out/rex

# ---- probe: a static wget for container health checks (compose) ----------------------
# The runtime has no shell or HTTP client; Kubernetes probes need none, but a compose
# health check runs inside the container.
FROM busybox:1.37.0-musl AS probe

# ---- runtime ------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian13:nonroot AS runtime
LABEL org.opencontainers.image.title="rex" \
      org.opencontainers.image.description="Rex: durable workflow missions on RabbitMQ, checkpointed in PostgreSQL" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/rex /usr/local/bin/rex
COPY --from=probe /bin/busybox /usr/local/bin/wget
COPY definitions /usr/share/rex/definitions
# 65532 is distroless's `nonroot` user; numeric so that Kubernetes' runAsNonRoot can
# verify it without reading /etc/passwd.
USER 65532:65532
WORKDIR /tmp
ENV TMPDIR=/tmp
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rex"]
CMD ["--help"]
