# sse-gateway image. The deploy.container test builds it with podman and runs it
# (read-only, uid 10001, podman stop, kube play); test_dockerfile.py checks that every
# path, script, flag and variable named here is the current one. README: Deployment.
#   docker build -t sse-gateway .                        (runs every test; ~10 min)
#   docker build --build-arg RUN_TESTS=0 -t sse-gateway .
#   docker run --rm --read-only -p 8080:8080 -e DATABASE_URL=... -e SSE_GATEWAY_PROXY_SECRET=... sse-gateway
#   podman build --format docker ...  (podman's default OCI format drops the HEALTHCHECK)
# `docker stop -t 15` or more: SIGTERM drains streams over SSE_GATEWAY_DRAIN_SECONDS (10).

# ---- build stage: the same install and build scripts CI and the README use ----------
FROM debian:bookworm AS build
WORKDIR /src
# The unit, integration, browser (nginx + chromium; fetches playwright-core from the
# npm registry) and deploy tests run in this stage: they start their own PostgreSQL
# as the postgres user. --build-arg RUN_TESTS=0 skips them: then neither their
# packages are installed nor are they built.
ARG RUN_TESTS=1
# Dependencies first, so editing the sources does not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh build $([ "$RUN_TESTS" = 1 ] && echo test) \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash scripts/build.sh release -DSSE_GATEWAY_TESTS=$([ "$RUN_TESTS" = 1 ] && echo ON || echo OFF)
RUN if [ "$RUN_TESTS" = 1 ]; then ctest --test-dir build --output-on-failure; fi
# The image gets the symbols (backtraces name functions), not the 25 MB of DWARF.
RUN strip --strip-debug build/gateway/sse-gateway

# ---- runtime stage: the binary, the libraries it links, a non-root user --------------
FROM debian:bookworm-slim
# libpq5, libssl3: the binary's own libraries (libc6, libstdc++6, libgcc-s1 are in
# the base image); ca-certificates: sslmode=verify-full and an https --jwt-jwks-url;
# curl: the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libssl3 ca-certificates curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sse-gateway \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sse-gateway
COPY --from=build /src/build/gateway/sse-gateway /usr/local/bin/sse-gateway
# The NOTIFY trigger and the demo schema, for a migration job that wants them.
COPY --from=build /src/deploy/sql /usr/share/sse-gateway/sql
USER 10001:10001
EXPOSE 8080
ENV SSE_GATEWAY_LISTEN=0.0.0.0:8080
STOPSIGNAL SIGTERM
# The probe follows the ops port when SSE_GATEWAY_OPS_LISTEN is set (then /healthz
# is served there only: `-e SSE_GATEWAY_OPS_LISTEN=127.0.0.1:9090` keeps it, and
# /metrics, off the published port), else the port of SSE_GATEWAY_LISTEN, so a
# host-network run on a free port keeps it passing.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ops="${SSE_GATEWAY_OPS_LISTEN:-$SSE_GATEWAY_LISTEN}"; curl -fsS "http://127.0.0.1:${ops##*:}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/sse-gateway"]
