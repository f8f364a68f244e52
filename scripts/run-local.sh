#!/usr/bin/env bash
# Runs callgate on this machine: installs what it needs when missing, starts Redis on loopback when none
# answers, starts drachtio-server on loopback when a `drachtio` binary is on PATH (or DRACHTIO_BIN), then
# `npm start`. Production runs the container images instead (Dockerfile, docker-compose.yml).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v sipp >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq redis-server sip-tester >/dev/null
fi
[ -d node_modules ] && [ -d dist ] || npm ci --no-audit --no-fund

export CALLGATE_REDIS_URL="${CALLGATE_REDIS_URL:-redis://127.0.0.1:6379}"
redis_port=$(node -e 'console.log(new URL(process.argv[1]).port || 6379)' "$CALLGATE_REDIS_URL")
if [ "$(redis-cli -p "$redis_port" PING 2>/dev/null)" != PONG ]; then
  echo "run-local: starting redis-server on 127.0.0.1:$redis_port"
  mkdir -p .local/redis
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$PWD/.local/redis" --daemonize yes >/dev/null
fi

drachtio_bin="${DRACHTIO_BIN:-$(command -v drachtio || true)}"
export CALLGATE_DRACHTIO_SECRET="${CALLGATE_DRACHTIO_SECRET:-cymru}"
if [ -n "$drachtio_bin" ]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/"${CALLGATE_DRACHTIO_PORT:-9022}") 2>/dev/null; then
    echo "run-local: starting drachtio-server (SIP on udp 127.0.0.1:${CALLGATE_SIP_PORT:-5060})"
    mkdir -p .local
    "$drachtio_bin" -f test/e2e/drachtio.conf.xml --contact "sip:127.0.0.1:${CALLGATE_SIP_PORT:-5060};transport=udp" \
      -p "${CALLGATE_DRACHTIO_PORT:-9022}" --address 127.0.0.1 --secret "$CALLGATE_DRACHTIO_SECRET" >.local/drachtio.log 2>&1 &
  fi
else
  echo "run-local: no drachtio binary found: callgate will keep retrying its drachtio-server connection." >&2
  echo "run-local: run drachtio-server from its container image (see README) or set DRACHTIO_BIN." >&2
fi
exec npm start
