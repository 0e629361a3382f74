# Shared by the job-spine benchmarks (bench-queue.sh, bench-backlog.sh); sourced, not run.
# Expects PG (the server URL) to be set.

source scripts/bench/pg.sh

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap cleanup EXIT

# fresh_db NAME: an empty database, migrated, with the workers' environment pointing at it.
# Every job of the `noop` kind gets CONCURRENCY slots per worker.
fresh_db() {
  recreate_db "$1"
  export DATABASE_URL="$PG/$1" RUST_LOG=error QUEUE_NOOP_CONCURRENCY=$CONCURRENCY \
    JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 STRIPE_WEBHOOK_SECRET=whsec_bench_secret
  ./target/release/migrate >/dev/null
}

# start_workers N: N release workers in the background.
start_workers() { for _ in $(seq 1 "$1"); do ./target/release/worker & PIDS+=($!); done; }

# wait_noop_drained SECONDS: returns once no noop job is unfinished, looking every SECONDS
# from one session (a psql per look would take CPU from the workers), through the partial
# index of unfinished jobs: a count over the table would scan every finished job each time.
# Each look commits: one transaction for the whole wait would hold back the horizon of what
# Postgres may prune, so no dead row version left by the drain could be reclaimed until it
# ended, and the drain would slow under its own debris.
wait_noop_drained() {
  psql -q "$DATABASE_URL" -c "DO \$\$ BEGIN
    WHILE EXISTS (SELECT 1 FROM jobs WHERE queue = 'noop' AND finished_at IS NULL) LOOP
      PERFORM pg_sleep($1);
      COMMIT;
    END LOOP; END \$\$" >/dev/null
}

# noop_ran_once: how many noop jobs are done after exactly one attempt.
noop_ran_once() { psql -tA "$DATABASE_URL" -c "select count(*) from jobs where queue = 'noop' and status = 'done' and attempts = 1"; }

# drop_db NAME, with the Redis keys of REDIS_PREFIX.
drop_db() {
  redis-cli --scan --pattern "${REDIS_PREFIX}*" | xargs -r redis-cli del >/dev/null
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
}
