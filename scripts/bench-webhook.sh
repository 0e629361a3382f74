#!/usr/bin/env bash
# Webhook ingest benchmark. Measures, in one run on this machine:
#   1. axum hello world (the HTTP ceiling of this machine and load generator),
#   2. pgbench running our ledger transaction shape (the database's ceiling),
#   3. signed Stripe webhooks into the api (release build, Postgres, Redis; no worker
#      running, so the ingest path alone is measured).
# Each at CONNECTIONS connections for SECONDS seconds. Prints one JSON line per part and
# the ratios. Usage: scripts/bench-webhook.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-30}
CONNECTIONS=${2:-64}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench
SECRET=whsec_bench_secret
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/pg.sh

cleanup() { kill "${HELLO:-}" "${API:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

source scripts/bench/hello.sh

echo "# pgbench: ledger transaction (insert transfer + two balance updates)"
pgbench_ledger "$DB" "$CONNECTIONS" "$SECONDS_RUN"

echo "# webhook ingest"
recreate_db "$DB"
export DATABASE_URL="$PG/$DB" REDIS_PREFIX="tgbench:$$:" BIND_ADDR=127.0.0.1:18080 \
  STRIPE_WEBHOOK_SECRET=$SECRET JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 RUST_LOG=error \
  JOB_REDIS_WINDOW=1000 WEBHOOK_RATE_PER_SECOND=1000000
./target/release/migrate
./target/release/api & API=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
WEBHOOK_OUT=$(./target/release/loadgen http://127.0.0.1:18080/payment/webhook/stripe --connections "$CONNECTIONS" \
  --seconds "$SECONDS_RUN" --webhook "$SECRET")
echo "$WEBHOOK_OUT"
STORED=$(psql -tA "$PG/$DB" -c "select count(*) from stripe_events")
echo "{\"events_stored\": $STORED}"
kill $API; wait $API 2>/dev/null || true
redis-cli --scan --pattern "tgbench:$$:*" | xargs -r redis-cli del >/dev/null
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

python3 - "$HELLO_OUT" "$WEBHOOK_OUT" "$PGBENCH_TPS" <<'PY'
import json, sys
hello, hook, tps = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
print(f"# summary: webhook {hook['req_per_s']:.0f} req/s (p50 {hook['p50_ms']} ms, p99 {hook['p99_ms']} ms); "
      f"hello world {hello['req_per_s']:.0f} req/s; pgbench ledger {tps:.0f} tps")
print(f"# ratios: webhook/hello = {hook['req_per_s']/hello['req_per_s']:.3f}, webhook/pgbench = {hook['req_per_s']/tps:.2f}")
PY
