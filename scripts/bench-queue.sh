#!/usr/bin/env bash
# Job spine benchmark: N no-op jobs (the `noop` kind, through the same outbox, claim, run
# and completion as every job) enqueued in bulk with no worker running, then drained by
# WORKERS release worker processes. In the same run, graphile-worker (pinned in tools/,
# batched: local queue 500, completions batched with no delay) drains N no-op jobs on the
# same Postgres. Prints one JSON line per part, then both rates and their ratio; fails if
# any job ran twice or never.
# Usage: scripts/bench-queue.sh [N=60000] [WORKERS=2] [CONCURRENCY=64]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-60000}
WORKERS=${2:-2}
CONCURRENCY=${3:-64}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_queue
GDB=tollgate_bench_graphile
scripts/services.sh >/dev/null
[ -d tools/node_modules/graphile-worker ] || npm ci --prefix tools >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/spine.sh

echo "# tollgate: $N noop jobs, $WORKERS workers x $CONCURRENCY"
export REDIS_PREFIX="tgbenchq:$$:"
fresh_db "$DB"
T0=$(date +%s%N)
psql -q "$PG/$DB" -c "INSERT INTO jobs (id, queue, job_key, payload, status, attempts, max_attempts, available_at,
    created_at, updated_at)
  SELECT gen_random_uuid(), 'noop', 'noop:' || i, jsonb_build_object('type', 'noop', 'id', i::text), 'pending', 0, 3,
    now(), now(), now() FROM generate_series(1, $N) i" >/dev/null
ENQUEUE_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
psql -q "$PG/$DB" -c "VACUUM ANALYZE jobs" >/dev/null
XACT0=$(psql -tA "$PG/$DB" -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$DB'")
REDIS0=$(redis-cli info stats | awk -F: '/^total_commands_processed/ {print $2+0}')
T0=$(date +%s%N)
start_workers "$WORKERS"
wait_noop_drained 0.02
DRAIN_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
REDIS1=$(redis-cli info stats | awk -F: '/^total_commands_processed/ {print $2+0}')
# Read once the workers are gone: a backend reports its transaction counts when it exits
# (and otherwise at most once a second), so a live count would be short.
cleanup
sleep 0.5
XACT1=$(psql -tA "$PG/$DB" -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$DB'")
ONCE=$(noop_ran_once)
OTHER=$(psql -tA "$PG/$DB" -c "select count(*) from jobs where queue = 'noop' and not (status = 'done' and attempts = 1)")
drop_db "$DB"
OURS=$(python3 - "$N" "$ENQUEUE_MS" "$DRAIN_MS" "$ONCE" "$OTHER" "$((XACT1 - XACT0))" "$((REDIS1 - REDIS0))" "$WORKERS" "$CONCURRENCY" <<'PY'
import json, sys
n, enq, drain, once, other, xacts, redis, workers, conc = map(int, sys.argv[1:])
print(json.dumps({"tollgate": "noop", "jobs": n, "workers": workers, "concurrency": conc, "enqueue_ms": enq,
  "drain_ms": drain, "jobs_per_s": round(n * 1000 / max(drain, 1)), "ran_once": once, "not_once": other,
  "db_transactions_per_job": round(xacts / n, 3), "redis_commands_per_job": round(redis / n, 3)}))
PY
)
echo "$OURS"

echo "# graphile-worker: $N noop jobs (baseline, same run)"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $GDB WITH (FORCE)" -c "CREATE DATABASE $GDB" >/dev/null
GRAPHILE=$(node scripts/bench/graphile.mjs "$PG/$GDB" "$N" 2 24)
echo "$GRAPHILE"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $GDB WITH (FORCE)" >/dev/null

python3 - "$OURS" "$GRAPHILE" <<'PY'
import json, sys
ours, gw = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"# summary: tollgate {ours['jobs_per_s']} jobs/s ({ours['db_transactions_per_job']} db transactions and "
      f"{ours['redis_commands_per_job']} redis commands per job); graphile-worker {gw['jobs_per_s']} jobs/s")
print(f"# ratio: tollgate/graphile-worker = {ours['jobs_per_s'] / gw['jobs_per_s']:.2f}")
ok = ours["not_once"] == 0 and ours["ran_once"] == ours["jobs"] and gw["ran_twice"] == 0 and gw["never_ran"] == 0
sys.exit(0 if ok else 1)
PY
