#!/usr/bin/env bash
# Credit benchmark: Stripe events with a ledger effect, end to end. N pending card top-up
# orders over ACCOUNTS accounts; their signed `checkout.session.completed` events posted
# to the release api (64 at a time) while WORKERS workers run; timed until every order is
# completed, then the books are checked (one transfer and one payment per order, balances
# exactly what was paid). pgbench runs our ledger transaction in the same run as the
# database's one-transfer-per-transaction baseline.
# With BACKLOG=1 the events are all delivered first, with no worker running, and the timing
# starts when the workers do (the credit path alone, without ingest beside it).
# Usage: [BACKLOG=1] scripts/bench-credit.sh [N] [WORKERS] [ACCOUNTS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
WORKERS=${2:-2}
ACCOUNTS=${3:-100}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_credit
SECRET=whsec_bench_secret
PORT=18086
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/pg.sh

PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "# pgbench: ledger transaction (insert transfer + two balance updates), 64 connections, 15 s"
pgbench_ledger "$DB" 64 15

echo "# $N card top-ups, end to end, $WORKERS workers"
recreate_db "$DB"
export DATABASE_URL="$PG/$DB${DB_URL_OPTS:-}" REDIS_PREFIX="tgbench:$$:" BIND_ADDR=127.0.0.1:$PORT \
  STRIPE_WEBHOOK_SECRET=$SECRET JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 RUST_LOG=error \
  WEBHOOK_RATE_PER_SECOND=1000000
./target/release/migrate >/dev/null
./target/release/api & PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
# In backlog mode the driver starts the workers itself once every event is delivered.
[ "${BACKLOG:-0}" = 1 ] || for _ in $(seq 1 "$WORKERS"); do ./target/release/worker & PIDS+=($!); done
OUT=$(BENCH_CREDIT_WORKERS="$([ "${BACKLOG:-0}" = 1 ] && echo "$WORKERS")" \
  ./target/release/bench-credit "$DATABASE_URL" "http://127.0.0.1:$PORT" "$SECRET" "$N" "$ACCOUNTS" 64)
echo "$OUT"
cleanup
redis-cli --scan --pattern "tgbench:$$:*" | xargs -r redis-cli del >/dev/null
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

python3 - "$OUT" "$PGBENCH_TPS" <<'PY'
import json, sys
out, tps = json.loads(sys.argv[1]), float(sys.argv[2])
print(f"# summary: {out['orders']} top-ups credited in {out['credited_s']:.1f} s = {out['credits_per_s']:.0f} credits/s "
      f"(delivered in {out['delivered_s']:.1f} s); books right: {out['books_right']}; pgbench ledger {tps:.0f} tps")
print(f"# ratio: credits/pgbench = {out['credits_per_s']/tps:.2f} (goal >= 3)")
PY
