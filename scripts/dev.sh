#!/usr/bin/env bash
# Starts the whole system (api + worker) on the embedded default: a SQLite file in the
# working directory and Redis at REDIS_URL (default redis://127.0.0.1:6379). Stripe cannot
# be reached from a development machine without keys, so unless STRIPE_SECRET_KEY is set,
# the project's fake Stripe runs beside them (open a checkout URL and press Pay).
set -euo pipefail
cd "$(dirname "$0")/.."
# Development mode: the published development secrets are allowed (never outside it).
export TOLLGATE_ENV="${TOLLGATE_ENV:-development}"
if ! redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" ping >/dev/null 2>&1; then
  echo "Redis is not answering at ${REDIS_URL:-redis://127.0.0.1:6379}; starting a local one"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  sleep 0.5
fi
cargo build --workspace --bins
PIDS=()
if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
  export STRIPE_SECRET_KEY=sk_test_quickstart STRIPE_API_BASE=http://127.0.0.1:12111
  ./target/debug/fake-stripe 127.0.0.1:12111 &
  PIDS+=($!)
fi
./target/debug/migrate
./target/debug/api &
PIDS+=($!)
./target/debug/worker &
PIDS+=($!)
# Development only: links that sign in a demo account and a demo admin, and a token for curl.
BASE="http://${BIND_ADDR:-127.0.0.1:8080}"
for _ in $(seq 50); do curl -fs "$BASE/health" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN=$(curl -fs -o /dev/null -w '%{redirect_url}' "$BASE/dev/sign-in" | sed -n 's/.*#token=//p')
cat <<EOT

  Tollgate is running at $BASE (development mode)
  Sign in as a demo customer:  $BASE/dev/sign-in
  Sign in as a demo admin:     $BASE/dev/sign-in?as=admin
  A token for curl:            curl -H "Authorization: Bearer $TOKEN" $BASE/credits/balance

EOT
trap 'kill -TERM "${PIDS[@]}" 2>/dev/null; wait' INT TERM EXIT
wait
