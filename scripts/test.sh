#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end tests, which start the real api and
# worker binaries against Postgres and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# anvil (the local chain of the USDC tests) comes from npm.
[ -x tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || npm ci --prefix tools --no-audit --no-fund
# The end-to-end tests spawn the binaries, so build them first.
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast "$@"
