#!/usr/bin/env bash
# A deep backlog: N no-op jobs enqueued as producers do (outbox rows in transactions of
# 1,000, one Redis wake-up each) with no worker running, then drained by WORKERS release
# workers. Reports the enqueue and drain rates, Redis's peak memory throughout (INFO memory,
# sampled every 100 ms, and the baseline before), the database size before and after, and
# checks every job ran exactly once (done, one attempt) with none dead.
# Usage: scripts/bench-backlog.sh [N=1000000] [WORKERS=2] [CONCURRENCY=256]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
WORKERS=${2:-2}
CONCURRENCY=${3:-256}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_backlog
REDIS=redis://127.0.0.1:6379
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/spine.sh

export REDIS_PREFIX="tgbacklog:$$:"
fresh_db "$DB"
DB_BEFORE=$(psql -tA "$PG/$DB" -c "select pg_database_size('$DB')")
redis_mem() { redis-cli info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
REDIS_BASE=$(redis_mem)
PEAK_FILE=$(mktemp)
( peak=0; while :; do m=$(redis_mem); [ "$m" -gt "$peak" ] && peak=$m && echo "$peak" > "$PEAK_FILE"; sleep 0.1; done ) &
SAMPLER=$!; PIDS+=($SAMPLER)

echo "# enqueue $N noop jobs (no worker running)"
ENQ=$(./target/release/enqueue "$DATABASE_URL" "$REDIS" "$REDIS_PREFIX" "$N" 1000)
echo "$ENQ"
DB_BACKLOG=$(psql -tA "$PG/$DB" -c "select pg_database_size('$DB')")
psql -q "$PG/$DB" -c "VACUUM ANALYZE jobs" >/dev/null

echo "# drain with $WORKERS workers x $CONCURRENCY"
T0=$(date +%s%N)
start_workers "$WORKERS"
wait_noop_drained 0.1
DRAIN_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
cleanup
PEAK=$(cat "$PEAK_FILE" 2>/dev/null || echo "$REDIS_BASE"); rm -f "$PEAK_FILE"
DB_AFTER=$(psql -tA "$PG/$DB" -c "select pg_database_size('$DB')")
ONCE=$(noop_ran_once)
DEAD=$(psql -tA "$PG/$DB" -c "select count(*) from jobs where status = 'dead'")
drop_db "$DB"

python3 - "$N" "$ENQ" "$DRAIN_MS" "$REDIS_BASE" "$PEAK" "$DB_BEFORE" "$DB_BACKLOG" "$DB_AFTER" "$ONCE" "$DEAD" <<'PY'
import json, sys
n = int(sys.argv[1]); enq = json.loads(sys.argv[2])
drain, base, peak, before, backlog, after, once, dead = map(int, sys.argv[3:])
mb = lambda b: round(b / 1048576, 1)
print(json.dumps({"jobs": n, "enqueue_per_s": enq["enqueue_per_s"], "drain_ms": drain,
  "drain_per_s": round(n * 1000 / max(drain, 1)), "redis_base_mb": mb(base), "redis_peak_mb": mb(peak),
  "db_mb_before": mb(before), "db_mb_with_backlog": mb(backlog), "db_mb_after": mb(after),
  "ran_once": once, "dead": dead}))
ok = once == n and dead == 0
print(f"# summary: {n} jobs enqueued at {enq['enqueue_per_s']}/s, drained at {round(n * 1000 / max(drain, 1))}/s; "
      f"Redis peak {mb(peak)} MB (baseline {mb(base)} MB); database {mb(before)} -> {mb(backlog)} -> {mb(after)} MB; "
      f"{'every job ran once' if ok else 'NOT every job ran exactly once'}")
sys.exit(0 if ok else 1)
PY
