#!/usr/bin/env bash
# Key verification benchmark. Measures, in one run on this machine:
#   1. axum hello world (the HTTP ceiling of this machine and load generator),
#   2. POST /api/v1/keys/verify on the release api (Postgres, Redis; KEYS Enterprise keys),
#      in exact mode (the rate limit and quota checked by a Redis script per verify) and in
#      approximate mode (VERIFY_MODE=approximate: local counters synchronised every 50 ms),
#   3. the approximate mode's over-admission across two api processes, each pressed by its
#      own load generator for OVER_SECONDS: one Starter key (100/s) against its rate limit,
#      and one Free key (10/s, 100 a month) against its monthly quota; exact mode alike.
# Throughput runs at CONNECTIONS connections for SECONDS seconds. Prints one JSON line per
# part and the ratios. Usage: scripts/bench-verify.sh [SECONDS] [CONNECTIONS] [KEYS] [OVER_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-20}
CONNECTIONS=${2:-32}
KEYS=${3:-200}
OVER_SECONDS=${4:-20}
PG=postgres://postgres@127.0.0.1:5432
DB=tollgate_bench_verify
TOKEN=bench-service-token-0123456789abcdef
WORK=$(mktemp -d)
scripts/services.sh >/dev/null
cargo build --release --workspace --bins -q
source scripts/bench/pg.sh

APIS=()
stop_apis() { kill "${APIS[@]}" 2>/dev/null || true; wait "${APIS[@]}" 2>/dev/null || true; APIS=(); }
cleanup() { kill "${HELLO:-}" 2>/dev/null || true; stop_apis; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

source scripts/bench/hello.sh

recreate_db "$DB"
export DATABASE_URL="$PG/$DB" REDIS_PREFIX="tgbench:$$:" SERVICE_TOKEN=$TOKEN \
  JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 STRIPE_WEBHOOK_SECRET=whsec_bench_unused RUST_LOG=error
./target/release/migrate >/dev/null
./target/release/bench-seed "$DATABASE_URL" "$KEYS" 20 0 tier > "$WORK/keys.txt"

# start_api PORT MODE: one release api in VERIFY_MODE=MODE.
start_api() {
  BIND_ADDR=127.0.0.1:$1 VERIFY_MODE=$2 ./target/release/api & APIS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && break; sleep 0.1; done
}
verify() { ./target/release/loadgen "http://127.0.0.1:$1/api/v1/keys/verify" --token "$TOKEN" "${@:2}"; }

declare -A OUT
for MODE in exact approximate; do
  echo "# key verification, $MODE mode"
  start_api 18081 $MODE
  OUT[$MODE]=$(verify 18081 --connections "$CONNECTIONS" --seconds "$SECONDS_RUN" --verify "$WORK/keys.txt")
  echo "${OUT[$MODE]}"
  stop_apis
done

# over MODE TIER: two api processes, one key of TIER pressed through both; prints admitted.
over() {
  # Counters start from zero (quotas are per account and month, and the account is reused).
  redis-cli --scan --pattern "tgbench:$$:*" | xargs -r redis-cli del >/dev/null
  ./target/release/bench-seed "$DATABASE_URL" 1 1 0 tier "$2" > "$WORK/over.txt"
  start_api 18084 "$1"; start_api 18085 "$1"
  verify 18084 --connections 8 --seconds "$OVER_SECONDS" --verify "$WORK/over.txt" > "$WORK/a.json" &
  verify 18085 --connections 8 --seconds "$OVER_SECONDS" --verify "$WORK/over.txt" > "$WORK/b.json"
  wait %%
  stop_apis
  python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); print(a["accepted"]+b["accepted"])' \
    "$WORK/a.json" "$WORK/b.json"
}
echo "# over-admission across two api processes, $OVER_SECONDS s"
declare -A ADM
for MODE in exact approximate; do
  ADM[$MODE-starter]=$(over $MODE starter)
  ADM[$MODE-free]=$(over $MODE free)
  echo "{\"mode\": \"$MODE\", \"starter_admitted\": ${ADM[$MODE-starter]}, \"free_admitted\": ${ADM[$MODE-free]}}"
done
redis-cli --scan --pattern "tgbench:$$:*" | xargs -r redis-cli del >/dev/null
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

python3 - "$HELLO_OUT" "${OUT[exact]}" "${OUT[approximate]}" "$OVER_SECONDS" \
  "${ADM[exact-starter]}" "${ADM[approximate-starter]}" "${ADM[exact-free]}" "${ADM[approximate-free]}" <<'PY'
import json, sys
hello, exact, approx = (json.loads(a) for a in sys.argv[1:4])
secs, es, as_, ef, af = (int(float(a)) for a in sys.argv[4:9])
for name, v in (("exact", exact), ("approximate", approx)):
    print(f"# summary: verify ({name}) {v['req_per_s']:.0f} req/s (p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms, "
          f"{v['accepted']} valid of {v['ok']}, {v['errors']} errors) = {v['req_per_s']/hello['req_per_s']:.3f} x hello")
print(f"# hello world {hello['req_per_s']:.0f} req/s (p99 {hello['p99_ms']} ms); goals: exact >= 0.4 x, approximate >= 0.7 x")
rate = 100 * secs
print(f"# rate (Starter, 100/s for {secs} s = {rate}): exact admitted {es} ({es/rate-1:+.1%}), "
      f"approximate {as_} ({as_/rate-1:+.1%})")
print(f"# quota (Free, 100 a month): exact admitted {ef} ({ef-100:+d}), approximate {af} ({af-100:+d})")
PY
