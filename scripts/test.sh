#!/usr/bin/env bash
# The test command: installs and starts the emulators the suite needs (cached between runs),
# runs every test on every backend, and stops what it started, also on failure or Ctrl-C.
#
#   scripts/test.sh [extra cargo test arguments]
#
# Needs: cargo, java (17+), npm, curl, python3. Downloads are cached in $VERTEX_CACHE_DIR
# (default ~/.cache/vertexcloud).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

port="$(free_port)"
start_dynamodb_local "$port"
export VERTEX_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"

export VERTEX_TEST_BACKENDS=all
cargo test --workspace "$@"
