#!/usr/bin/env bash
# Job spine benchmark: N no-op jobs (the `noop` kind, through the same outbox, claim, run
# and completion as every job) enqueued in bulk with no worker running, then drained by
# WORKERS release worker processes. In the same run, graphile-worker (pinned in tools/,
# batched: local queue 500, completions batched with no delay) drains N no-op jobs on the
# same Postgres. Prints one JSON line per part, then both rates and their ratio; fails if
# any job ran twice or never. ROUNDS rounds (3 unless set) alternate the two; the ratio is
# of their medians, since the machine's pace moves between runs.
# Usage: [ROUNDS=3] scripts/bench-queue.sh [N=60000] [WORKERS=2] [CONCURRENCY=64]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-60000}
WORKERS=${2:-2}
CONCURRENCY=${3:-64}
ROUNDS=${ROUNDS:-3}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_queue
GDB=tollgate_bench_graphile
scripts/services.sh >/dev/null
[ -d tools/node_modules/graphile-worker ] || npm ci --prefix tools >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/spine.sh

# One round: tollgate, then graphile-worker, each on a fresh database. Prints two JSON lines.
round() {
  echo "# tollgate: $N noop jobs, $WORKERS workers x $CONCURRENCY" >&2
  export REDIS_PREFIX="tgbenchq:$$:"
  fresh_db "$DB"
  local t0 t1 enqueue_ms xact0 redis0 redis1 xact1 once other first hot
  t0=$(date +%s%N)
  psql -q "$PG/$DB" -c "INSERT INTO jobs (id, queue, job_key, payload, status, attempts, max_attempts, available_at,
      created_at, updated_at)
    SELECT gen_random_uuid(), 'noop', 'noop:' || i, jsonb_build_object('type', 'noop', 'id', i::text), 'pending', 0, 3,
      now(), now(), now() FROM generate_series(1, $N) i" >/dev/null
  enqueue_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  psql -q "$PG/$DB" -c "VACUUM ANALYZE jobs" >/dev/null
  xact0=$(psql -tA "$PG/$DB" -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$DB'")
  redis0=$(redis-cli info stats | awk -F: '/^total_commands_processed/ {print $2+0}')
  t0=$(date +%s%N)
  start_workers "$WORKERS"
  wait_noop_drained 0.02
  t1=$(date +%s%N)
  redis1=$(redis-cli info stats | awk -F: '/^total_commands_processed/ {print $2+0}')
  # Timed from the first claim, as graphile-worker is timed from the moment its workers are
  # up: a process's start-up is not the queue's cost (with it: `drain_with_startup_ms`).
  first=$(psql -tA "$PG/$DB" -c "select (extract(epoch from min(started_at)) * 1e9)::bigint from jobs where queue = 'noop'")
  # Read once the workers are gone: a backend reports its transaction counts when it exits
  # (and otherwise at most once a second), so a live count would be short.
  cleanup
  sleep 0.5
  xact1=$(psql -tA "$PG/$DB" -c "select xact_commit + xact_rollback from pg_stat_database where datname = '$DB'")
  once=$(noop_ran_once)
  other=$(psql -tA "$PG/$DB" -c "select count(*) from jobs where queue = 'noop' and not (status = 'done' and attempts = 1)")
  hot=$(psql -tA "$PG/$DB" -c "select round(100.0 * n_tup_hot_upd / greatest(n_tup_upd, 1)) from pg_stat_user_tables where relname = 'jobs'")
  drop_db "$DB"
  python3 - "$N" "$enqueue_ms" "$(( (t1 - first) / 1000000 ))" "$(( (t1 - t0) / 1000000 ))" "$once" "$other" \
    "$((xact1 - xact0))" "$((redis1 - redis0))" "$WORKERS" "$CONCURRENCY" "$hot" <<'PY'
import json, sys
n, enq, drain, with_startup, once, other, xacts, redis, workers, conc, hot = map(int, sys.argv[1:])
print(json.dumps({"tollgate": "noop", "jobs": n, "workers": workers, "concurrency": conc, "enqueue_ms": enq,
  "drain_ms": drain, "drain_with_startup_ms": with_startup, "jobs_per_s": round(n * 1000 / max(drain, 1)),
  "ran_once": once, "not_once": other, "db_transactions_per_job": round(xacts / n, 3),
  "redis_commands_per_job": round(redis / n, 3), "heap_only_updates_pct": hot}))
PY

  echo "# graphile-worker: $N noop jobs (baseline, same run)" >&2
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $GDB WITH (FORCE)" -c "CREATE DATABASE $GDB" >/dev/null
  node scripts/bench/graphile.mjs "$PG/$GDB" "$N" 2 24
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $GDB WITH (FORCE)" >/dev/null
}

RESULTS=""
for r in $(seq 1 "$ROUNDS"); do
  echo "# round $r of $ROUNDS" >&2
  OUT=$(round)
  echo "$OUT"
  RESULTS+="$OUT"$'\n'
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
ours = [l for l in lines if "tollgate" in l]
gw = [l for l in lines if "graphile_worker" in l]
for i, (o, g) in enumerate(zip(ours, gw), 1):
    print(f"# round {i}: tollgate {o['jobs_per_s']} jobs/s ({o['db_transactions_per_job']} db transactions and "
          f"{o['redis_commands_per_job']} redis commands per job, {o['heap_only_updates_pct']} % of updates heap-only); "
          f"graphile-worker {g['jobs_per_s']} jobs/s; ratio {o['jobs_per_s'] / g['jobs_per_s']:.2f}")
mo = statistics.median(o["jobs_per_s"] for o in ours)
mg = statistics.median(g["jobs_per_s"] for g in gw)
print(f"# summary (median of {len(ours)} rounds): tollgate {mo:.0f} jobs/s; graphile-worker {mg:.0f} jobs/s")
print(f"# ratio: tollgate/graphile-worker = {mo / mg:.2f}")
ok = all(o["not_once"] == 0 and o["ran_once"] == o["jobs"] for o in ours) and \
     all(g["ran_twice"] == 0 and g["never_ran"] == 0 for g in gw)
sys.exit(0 if ok else 1)
PY
