#!/usr/bin/env bash
# Key verification benchmark. Measures, in one run on this machine:
#   1. axum hello world (the HTTP ceiling of this machine and load generator),
#   2. POST /api/v1/keys/verify on the release api (Postgres, Redis; KEYS Enterprise keys,
#      each verify checked against the rate limit and quota in Redis, as in production).
# Each at CONNECTIONS connections for SECONDS seconds. Prints one JSON line per part and
# the ratio. Usage: scripts/bench-verify.sh [SECONDS] [CONNECTIONS] [KEYS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-20}
CONNECTIONS=${2:-32}
KEYS=${3:-200}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_verify
TOKEN=bench-service-token-0123456789abcdef
WORK=$(mktemp -d)
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q

cleanup() { kill "${HELLO:-}" "${API:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

source scripts/bench/hello.sh

echo "# key verification"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB" REDIS_PREFIX="tgbench:$$:" BIND_ADDR=127.0.0.1:18081 SERVICE_TOKEN=$TOKEN \
  JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 STRIPE_WEBHOOK_SECRET=whsec_bench_unused RUST_LOG=error
./target/release/migrate >/dev/null
./target/release/bench-seed "$DATABASE_URL" "$KEYS" 20 0 tier > "$WORK/keys.txt"
./target/release/api & API=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/health >/dev/null && break; sleep 0.1; done
VERIFY_OUT=$(./target/release/loadgen http://127.0.0.1:18081/api/v1/keys/verify --connections "$CONNECTIONS" \
  --seconds "$SECONDS_RUN" --token "$TOKEN" --verify "$WORK/keys.txt")
echo "$VERIFY_OUT"
kill $API; wait $API 2>/dev/null || true
redis-cli --scan --pattern "tgbench:$$:*" | xargs -r redis-cli del >/dev/null
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

python3 - "$HELLO_OUT" "$VERIFY_OUT" <<'PY'
import json, sys
hello, verify = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"# summary: verify {verify['req_per_s']:.0f} req/s (p50 {verify['p50_ms']} ms, p99 {verify['p99_ms']} ms, "
      f"{verify['accepted']} valid of {verify['ok']}, {verify['errors']} errors); "
      f"hello world {hello['req_per_s']:.0f} req/s (p99 {hello['p99_ms']} ms)")
print(f"# ratio: verify/hello = {verify['req_per_s']/hello['req_per_s']:.3f} (goal >= 0.5); p99 goal <= 5 ms")
PY
