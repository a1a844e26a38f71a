# superset-ha sidecar image. Build: docker build -t superset-ha .
# Stage 1 compiles TypeScript to dist/; stage 2 carries only dist/ and production dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would fetch a second Node binary; the base image has Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
USER node
# 8080: proxy (user traffic); 9090: admin (/healthz /readyz /replicas /metrics /drain).
EXPOSE 8080 9090
# SIGTERM drains: deregister, keep serving for shutdown.drainDelayMs, then finish in-flight requests.
STOPSIGNAL SIGTERM
# Heap sized for a sidecar from bench/scale.sh peaks (bin/superset-ha.js explains the flags).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--max-old-space-size=160", "dist/main.js"]
CMD ["run", "--config", "/etc/superset-ha/config.yaml"]
