# Database helpers shared by the benchmarks; sourced, not run. Expects PG (the server URL).

# recreate_db NAME: an empty database NAME (dropped first, its sessions ended).
recreate_db() {
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

# pgbench_ledger DB CONNECTIONS SECONDS: the single-transaction baseline every Tollgate figure
# is set against — pgbench running a ledger transaction of our shape (scripts/bench/ledger.sql:
# insert a transfer, move two balances) in a fresh DB. Prints it as JSON, sets PGBENCH_TPS.
pgbench_ledger() {
  recreate_db "$1"
  psql -q "$PG/$1" -f scripts/bench/ledger_init.sql >/dev/null
  PGBENCH_TPS=$(pgbench -n -c "$2" -j 2 -T "$3" -f scripts/bench/ledger.sql "$PG/$1" 2>/dev/null \
    | awk '/^tps/ {print int($3); exit}')
  echo "{\"pgbench_ledger_tps\": $PGBENCH_TPS}"
}
