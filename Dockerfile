# Build stage: the same install and build scripts CI and the README use.
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN bash scripts/install-deps.sh && bash scripts/build.sh release
# The unit and integration tests run here too (they start their own PostgreSQL);
# build with --build-arg RUN_TESTS=0 to skip them.
ARG RUN_TESTS=1
RUN if [ "$RUN_TESTS" = 1 ]; then ctest --test-dir build --output-on-failure; fi

# Runtime stage: the binary, the libraries it links, and a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sse-gateway
COPY --from=build /src/build/gateway/sse-gateway /usr/local/bin/sse-gateway
USER 10001
EXPOSE 8080
ENV SSE_GATEWAY_LISTEN=0.0.0.0:8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/sse-gateway"]
