# uma-cedar in a container: built in the Rust image, run from a slim Debian image as a non-root user.
#
#   docker build -t uma-cedar .
#   docker run -p 8080:8080 -v uma-data:/data -e UMA_CEDAR_ISSUER=https://as.example.com uma-cedar
#
# Admin commands run in the same container and find the data directory through UMA_CEDAR_DATA_DIR:
#   docker exec -i CONTAINER uma-cedar user add --username alice --password-stdin
# docs/deploy.md has the details (issuer, TLS-terminating proxy, volumes and their permissions).

# The toolchain the crate's `rust-version` names, on the same Debian release as the runtime image, so the
# binary links against the OpenSSL (libssl3) the runtime image installs.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole source tree (.dockerignore leaves out build output, virtualenvs and data directories): the manifest
# names benches and workspace members that must be present for cargo to read it.
COPY . .
RUN cargo build --release --locked --bin uma-cedar \
    && install -m 0755 target/release/uma-cedar /usr/local/bin/uma-cedar

FROM debian:bookworm-slim
# libssl3: the binary's TLS and crypto; ca-certificates: trusted issuers' JWKS and webhooks over https;
# curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin uma-cedar \
    && mkdir -p /data \
    && chown uma-cedar:uma-cedar /data \
    && chmod 0700 /data
COPY --from=build /usr/local/bin/uma-cedar /usr/local/bin/uma-cedar

# The database and the private signing keys. The server refuses a data directory others can read: a named
# volume takes this directory's owner and mode 0700; a bind mount must be owned by uid 10001, mode 0700.
VOLUME ["/data"]
ENV UMA_CEDAR_DATA_DIR=/data \
    UMA_CEDAR_LISTEN=0.0.0.0:8080 \
    RUST_LOG=info
USER uma-cedar:uma-cedar
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["uma-cedar"]
CMD ["serve"]
