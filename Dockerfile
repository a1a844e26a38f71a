# superset-ha sidecar image: one runtime stage. Node 24 runs the TypeScript sources directly (type
# stripping), so there is no build stage and no compiler in the image. The stripped sources are kept in
# Node's compile cache, warmed below, so the sidecar never loads Node's own transpiler either.
#   docker build -t superset-ha:0.1.0 .
#   docker build --build-arg BASE_IMAGE=registry.example.com/node:24-bookworm-slim -t superset-ha:0.1.0 .
# The base must provide node 24 and npm on PATH and a `node` user with uid 1000 (as the official image does).
ARG BASE_IMAGE=docker.io/library/node:24-bookworm-slim
FROM ${BASE_IMAGE}

ENV NODE_ENV=production
WORKDIR /app

# Production dependencies only, exactly as locked. --ignore-scripts: no install script may run, and the
# `node` devDependency (a second Node binary) is not installed anyway.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

COPY src ./src
COPY config ./config

# Node's compile cache, warmed by uid 1000 (Node keeps one cache per uid, and a pod's runAsUser must
# match for it to be used): every module a sidecar loads at start is read from here, type-stripped and
# compiled already. Without it Node loads its WebAssembly TypeScript transpiler at each start, ~25 MiB
# of RSS for the life of the process. A read-only root filesystem is fine: the cache is only read.
# Warmed with the ENTRYPOINT's flags: Node keys the cache by some V8 flags (--heap-growing-percent is one).
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN install -d -o 1000 -g 1000 /app/.node-compile-cache

# Non-root, numerically, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
RUN node --max-semi-space-size=16 --max-old-space-size=160 --heap-growing-percent=100 src/main.ts --help >/dev/null

# 8080: proxy (user traffic); 9090: admin (/healthz /readyz /replicas /metrics POST /drain).
EXPOSE 8080 9090

# The config file is mounted at /etc/superset-ha/config.yaml; any field can be overridden from the
# environment (SHA_<SECTION>__<FIELD>, e.g. SHA_REPLICA__ID, SHA_METADATADB__URL from a secret).
# SIGTERM drains: deregister, keep serving for shutdown.drainDelayMs, finish in-flight requests, exit 0.
STOPSIGNAL SIGTERM

# Liveness of the process on its admin port (SHA_ADMIN__PORT when the port is overridden, else 9090).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.SHA_ADMIN__PORT ?? 9090}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Heap sized for a sidecar from bench/proxy.sh and bench/scale.sh peaks (bin/superset-ha.js explains the
# flags; test/launcher.test.ts keeps the two lists equal).
ENTRYPOINT ["node", "--max-semi-space-size=16", "--max-old-space-size=160", "--heap-growing-percent=100", "src/main.ts"]
CMD ["run", "--config", "/etc/superset-ha/config.yaml"]
