#!/usr/bin/env bash
# The web app's checks: JSDoc types (tsc --checkJs), then the browser tests (web/tests/*.test.mjs:
# the size budget, accessibility, every flow) in Debian's headless Chromium against a local
# server each. Run by scripts/test.sh; alone: scripts/web-test.sh [test files...].
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

use_chromium
use_web_packages
echo "== web: tsc --checkJs"
(cd web && node_modules/.bin/tsc -p tsconfig.json)
cargo build -q --bin vertexcloud
export VERTEX_WEB_BIN="$PWD/target/debug/vertexcloud"
echo "== web: browser tests"
cd web
# A test that hangs fails after 5 minutes instead of holding the run (node:test's default is
# no limit); two files at a time, each with its own server and browser.
if [ $# -gt 0 ]; then
  node --test --test-concurrency=2 --test-timeout=300000 "$@"
else
  node --test --test-concurrency=2 --test-timeout=300000 tests/
fi
