# syntax=docker/dockerfile:1
# Damascus: one image for every process (serve, worker, scheduler, init, …); the command picks the role.
#   docker build -t damascus .
#   docker build --build-arg AGENT_PACKAGE=@anthropic-ai/claude-code@2.1.332 -t damascus .   # with a coding agent CLI

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript (needs the dev dependencies) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` build needs the sources, which are copied next
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build

# ---- runtime dependencies only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# git: worktrees, commits and pushes of the build phase; tini: signals reach node (SIGTERM = graceful stop);
# bubblewrap: the coding agent's sandbox (src/agent/sandbox.ts)
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini bubblewrap \
 && rm -rf /var/lib/apt/lists/*

# The coding agent CLI the build phase runs (the builder's preset: @anthropic-ai/claude-code@2.1.332, @openai/codex@0.171.0
# or opencode-ai@1.18.33). Empty (the default): no agent in the image, and
# `damascus doctor` and /readyz say so; mount or install one yourself.
ARG AGENT_PACKAGE=""
RUN if [ -n "$AGENT_PACKAGE" ]; then npm install -g --no-audit --no-fund "$AGENT_PACKAGE" && npm cache clean --force; fi

WORKDIR /app
ENV NODE_ENV=production \
    DAMASCUS_DATA_DIR=/var/lib/damascus \
    DAMASCUS_PORT=8787
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY schema ./schema
COPY app.yml ./
RUN chmod 0755 dist/src/cli/index.js \
 && ln -s /app/dist/src/cli/index.js /usr/local/bin/damascus \
 && mkdir -p /var/lib/damascus \
 && chown node:node /var/lib/damascus

# The node image's unprivileged user (uid 1000). Damascus never needs root.
USER node
VOLUME ["/var/lib/damascus"]
EXPOSE 8787
ENTRYPOINT ["/usr/bin/tini", "--", "damascus"]
CMD ["start"]
