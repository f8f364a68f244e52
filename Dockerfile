# syntax=docker/dockerfile:1
# callgate image: compiled once in a build stage, run as the unprivileged "node" user.
#   docker build -t callgate .
#   docker run --rm -e CALLGATE_ADMIN_TOKEN=... -e CALLGATE_REDIS_URL=... callgate
# docker-compose.yml runs it with Redis, drachtio-server and a SIPp switch.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the "prepare" script would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# drachtio-srf is a peer dependency: npm installs it as one (not as dev), so the prune below keeps it
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# CDR files (CALLGATE_CDR_DIR). Created here, owned by node, so a fresh named volume mounted on it is writable.
RUN mkdir -p /var/lib/callgate/cdr && chown -R node:node /var/lib/callgate
USER node
EXPOSE 8088
# /healthz on the admin listener's port (CALLGATE_ADMIN_LISTEN, default 8088), over loopback. The bearer token
# is sent when set, so the check passes whether or not /healthz requires it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const port=(process.env.CALLGATE_ADMIN_LISTEN||'').split(':').pop()||'8088';const token=process.env.CALLGATE_ADMIN_TOKEN;fetch('http://127.0.0.1:'+port+'/healthz',{headers:token?{authorization:'Bearer '+token}:{},signal:AbortSignal.timeout(4000)}).then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/cli/main.js", "serve"]
