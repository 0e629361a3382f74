#!/usr/bin/env bash
# Starts the whole system (api + worker) on the embedded default: a SQLite file in the
# working directory and Redis at REDIS_URL (default redis://127.0.0.1:6379).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" ping >/dev/null 2>&1; then
  echo "Redis is not answering at ${REDIS_URL:-redis://127.0.0.1:6379}; starting a local one"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  sleep 0.5
fi
cargo build --workspace --bins
./target/debug/migrate
./target/debug/api &
API=$!
./target/debug/worker &
WORKER=$!
trap 'kill -TERM $API $WORKER 2>/dev/null; wait' INT TERM EXIT
wait
