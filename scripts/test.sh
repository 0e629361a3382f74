#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end tests, which start the real api and
# worker binaries against Postgres and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# The end-to-end tests spawn the binaries, so build them first.
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast "$@"
