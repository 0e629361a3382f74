#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end tests, which start the real api and
# worker binaries against Postgres and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# anvil (the local chain of the USDC tests) comes from npm.
[ -x tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || npm ci --prefix tools --no-audit --no-fund
# schemathesis and openapi-python-client (the OpenAPI contract tests), pinned, from PyPI.
{ command -v schemathesis && command -v openapi-python-client; } >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check -r tests/contract/requirements.txt
# Headless Chromium and its WebDriver (the page tests), from Debian's packages.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# The end-to-end tests spawn the binaries, so build them first.
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast "$@"
