#!/usr/bin/env bash
# Usage ingestion + metering benchmark. The gateway's load generator posts batches of
# usage events (unique ids, 1 unit and 1 micro-USD each, over KEYS keys of 50 accounts) to
# the release api for SECONDS seconds while WORKERS worker processes meter them; then it
# waits until every accepted event is metered and checks, exactly, that the events table,
# the counters and the ledger's usage debits each hold what was accepted — once.
# Alongside, pgbench runs our ledger transaction in the same run as the database's
# one-row-at-a-time baseline. Usage: scripts/bench-usage.sh [SECONDS] [BATCH] [CONNECTIONS] [WORKERS] [KEYS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-60}
BATCH=${2:-2000}
CONNECTIONS=${3:-4}
WORKERS=${4:-1}
KEYS=${5:-100}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_usage
TOKEN=bench-service-token-0123456789abcdef
WORK=$(mktemp -d)
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/pg.sh

PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
q() { psql -tA "$PG/$DB" -c "$1"; }

echo "# pgbench: ledger transaction (insert transfer + two balance updates), 10 s"
pgbench_ledger "$DB" 16 10

echo "# usage ingestion and metering"
recreate_db "$DB"
export DATABASE_URL="$PG/$DB" REDIS_PREFIX="tgbench:$$:" BIND_ADDR=127.0.0.1:18082 SERVICE_TOKEN=$TOKEN \
  JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 STRIPE_WEBHOOK_SECRET=whsec_bench_unused RUST_LOG=error MAX_BODY_BYTES=8388608
./target/release/migrate >/dev/null
./target/release/bench-seed "$DATABASE_URL" "$KEYS" 50 1000 tier > "$WORK/keys.txt"
./target/release/api & PIDS+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18082/health >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 "$WORKERS"); do ./target/release/worker & PIDS+=($!); done
START=$(date +%s.%N)
LOAD_OUT=$(./target/release/loadgen http://127.0.0.1:18082/api/v1/usage --connections "$CONNECTIONS" \
  --seconds "$SECONDS_RUN" --token "$TOKEN" --usage "$WORK/keys.txt" --batch "$BATCH")
echo "$LOAD_OUT"
ACCEPTED=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accepted"])' "$LOAD_OUT")
# Metering may lag ingestion: wait until no batch is left (at most 10 minutes).
for _ in $(seq 1 6000); do
  [ "$(q "select count(*) from usage_batches")" = "0" ] && break
  sleep 0.1
done
END=$(date +%s.%N)
EVENTS=$(q "select count(*) from usage_events")
UNITS=$(q "select coalesce(sum(quantity),0) from usage_counters")
DEBITED=$(q "select coalesce(sum(amount),0) from ledger_transfers where kind = 'usage'")
DEBITS=$(q "select count(*) from ledger_transfers where kind = 'usage'")
DEAD=$(q "select count(*) from jobs where status = 'dead'")
BALANCES=$(q "select coalesce(sum(balance),0) from ledger_accounts")
echo "{\"accepted\": $ACCEPTED, \"events_stored\": $EVENTS, \"counter_units\": $UNITS, \"debited_micros\": $DEBITED, \"debits\": $DEBITS, \"dead_jobs\": $DEAD, \"sum_of_balances\": $BALANCES}"
redis-cli --scan --pattern "tgbench:$$:*" | xargs -r redis-cli del >/dev/null

python3 - "$LOAD_OUT" "$ACCEPTED" "$EVENTS" "$UNITS" "$DEBITED" "$DEAD" "$BALANCES" "$START" "$END" "$PGBENCH_TPS" <<'PY'
import json, sys
load = json.loads(sys.argv[1])
accepted, events, units, debited, dead, balances = map(int, sys.argv[2:8])
start, end, tps = float(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10])
exact = accepted == events == units == debited and dead == 0 and balances == 0
metered_rate = accepted / (end - start)
print(f"# summary: ingested {load['accepted_per_s']:.0f} events/s for {load['seconds']:.0f} s "
      f"({load['req_per_s']:.1f} batches/s, p99 {load['p99_ms']} ms); every event metered after {end - start:.1f} s: "
      f"{metered_rate:.0f} events/s sustained end to end (goal >= 50,000)")
print(f"# exactly once: {'yes' if exact else 'NO'} (accepted {accepted}, stored {events}, counted {units}, "
      f"debited {debited} micro-USD, dead jobs {dead}, balances sum {balances}); "
      f"pgbench ledger {tps:.0f} tps, metered/pgbench = {metered_rate / tps:.1f}x")
sys.exit(0 if exact else 1)
PY
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
