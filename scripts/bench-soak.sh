#!/usr/bin/env bash
# Soak benchmark: storage under a steady load levels off once retention windows pass.
# The release api and WORKERS workers take, for SECONDS seconds, a steady mix of signed
# Stripe webhooks (each an inbox row and a job), usage batches (events metered into the
# ledger) and key verifications, with every retention window shortened to a minute or two
# by configuration. Every 30 s it prints the size of the pruned tables (jobs, the Stripe
# inbox, usage events, idempotency records, with their indexes and TOAST), the size of the
# whole database, and the rows each pruned table holds; at the end, the rows written over the
# run beside the rows kept (the same run's baseline: what storage would hold with no
# retention), and the growth in the last third of the run against the first. The books
# (ledger, counters) are kept forever by design and grow with the traffic: few keys are
# used, so that a usage batch posts few ledger debits, as a real gateway's would.
# Usage: scripts/bench-soak.sh [SECONDS] [WEBHOOKS_PER_S] [USAGE_BATCHES_PER_S] [VERIFIES_PER_S] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-600}
HOOK_RATE=${2:-200}
USAGE_RATE=${3:-20}
VERIFY_RATE=${4:-500}
WORKERS=${5:-2}
BATCH=100
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_soak
SECRET=whsec_bench_secret
TOKEN=bench-service-token-0123456789abcdef
PORT=18083
WORK=$(mktemp -d)
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/pg.sh

PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
q() { psql -tA "$PG/$DB" -c "$1"; }

recreate_db "$DB"
export DATABASE_URL="$PG/$DB" REDIS_PREFIX="tgbench:$$:" BIND_ADDR=127.0.0.1:$PORT SERVICE_TOKEN=$TOKEN \
  STRIPE_WEBHOOK_SECRET=$SECRET JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 RUST_LOG=error \
  WEBHOOK_RATE_PER_SECOND=1000000 MAX_BODY_BYTES=8388608 \
  JOB_RETENTION=60s INBOX_RETENTION=60s USAGE_LATENESS_SECS=60 USAGE_EVENT_RETENTION=120s \
  RETENTION_INTERVAL_MS=15000
./target/release/migrate >/dev/null
./target/release/bench-seed "$DATABASE_URL" 5 5 1000000 tier > "$WORK/keys.txt"
./target/release/api & PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 "$WORKERS"); do ./target/release/worker & PIDS+=($!); done

echo "# soak: $SECONDS_RUN s at $HOOK_RATE webhooks/s, $USAGE_RATE usage batches/s of $BATCH, $VERIFY_RATE verifies/s"
LG=./target/release/loadgen
$LG "http://127.0.0.1:$PORT/payment/webhook/stripe" --connections 8 --seconds "$SECONDS_RUN" --rate "$HOOK_RATE" \
  --webhook "$SECRET" > "$WORK/hooks.json" & LOADS=($!)
$LG "http://127.0.0.1:$PORT/api/v1/usage" --connections 4 --seconds "$SECONDS_RUN" --rate "$USAGE_RATE" \
  --token "$TOKEN" --usage "$WORK/keys.txt" --batch $BATCH > "$WORK/usage.json" & LOADS+=($!)
$LG "http://127.0.0.1:$PORT/api/v1/keys/verify" --connections 8 --seconds "$SECONDS_RUN" --rate "$VERIFY_RATE" \
  --token "$TOKEN" --verify "$WORK/keys.txt" > "$WORK/verify.json" & LOADS+=($!)

SAMPLE="select (select sum(pg_total_relation_size(t)) from unnest(array['jobs', 'stripe_events', 'usage_events',
  'idempotency_keys']::regclass[]) t), pg_database_size(current_database()), (select count(*) from jobs),
  (select count(*) from stripe_events), (select count(*) from usage_events)"
echo "t_s,pruned_bytes,db_bytes,jobs,inbox,usage_events" | tee "$WORK/series.csv"
START=$(date +%s)
while :; do
  T=$(( $(date +%s) - START ))
  echo "$T,$(q "$SAMPLE" | tr '|' ',')" | tee -a "$WORK/series.csv"
  [ "$T" -ge "$SECONDS_RUN" ] && break
  sleep 30
done
wait "${LOADS[@]}"
cat "$WORK/hooks.json" "$WORK/usage.json" "$WORK/verify.json"
DEAD=$(q "select count(*) from jobs where status = 'dead'")

python3 - "$WORK" "$DEAD" <<'PY'
import csv, json, sys
work, dead = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(f"{work}/series.csv")))
hooks, usage, verify = (json.load(open(f"{work}/{n}.json")) for n in ("hooks", "usage", "verify"))
size = [int(r["pruned_bytes"]) for r in rows]
whole = [int(r["db_bytes"]) for r in rows]
t = [int(r["t_s"]) for r in rows]
third = max(1, len(rows) // 3)
first, last = size[third] - size[0], size[-1] - size[-1 - third]
mb = lambda b: f"{b / 1e6:.1f} MB"
print(f"# written over the run: {hooks['ok']} webhooks (an inbox row and a job each), "
      f"{usage['accepted']} usage events in {usage['ok']} batches (a job each), {verify['ok']} verifies")
print(f"# kept at the end: {rows[-1]['inbox']} inbox rows, {rows[-1]['usage_events']} usage events, "
      f"{rows[-1]['jobs']} jobs ({dead} dead)")
print(f"# pruned tables: {mb(size[0])} at start, {mb(max(size))} at most, {mb(size[-1])} at the end")
print(f"# growth of the pruned tables: first third ({t[0]}-{t[third]} s) {mb(first)}, "
      f"last third ({t[-1 - third]}-{t[-1]} s) {mb(last)}")
print(f"# whole database (the books grow with the traffic by design): {mb(whole[0])} -> {mb(whole[-1])}")
PY
