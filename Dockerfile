# syntax=docker/dockerfile:1

# Build stage: TypeScript and the other dev dependencies stay here.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` would run the build before the sources are here; it runs below instead. No dependency
# needs its install script to compile.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Final stage: production dependencies, the compiled code, the migrations. Nothing else.
FROM node:24-bookworm-slim
# Probes and Prometheus reach the container from outside it: listen on every interface here.
ENV NODE_ENV=production SUTRO_HTTP_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional leaves out the embedded PostgreSQL server binaries (about 60 MB): in a container
# DATABASE_URL (or DATABASE_URL_FILE) is always set.
RUN npm ci --omit=dev --omit=optional --ignore-scripts \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY drizzle ./drizzle
COPY docker/healthcheck.js ./docker/healthcheck.js

# The node user (uid 1000) of the base image; the application files stay root-owned and read-only to it.
USER node
EXPOSE 9464
# /healthz answers while the process is alive. With SUTRO_HTTP_PORT=0 there is no endpoint: override
# the healthcheck (compose: healthcheck: disable: true).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "docker/healthcheck.js"]
CMD ["node", "bin/sutro-sync.js", "start"]
