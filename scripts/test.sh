#!/usr/bin/env bash
# The test command: installs and starts the emulators the suite needs (cached between runs),
# runs every test on every backend, and stops what it started, also on failure or Ctrl-C.
#
#   scripts/test.sh [extra cargo test arguments]
#
# Needs: cargo, java (17+), npm, curl, python3, unzip and Python 3.13 (pyenv) for LocalStack. Downloads are cached in $VERTEX_CACHE_DIR
# (default ~/.cache/vertexcloud).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

ddb_port="$(free_port)"
s3_port="$(free_port)"
start_dynamodb_local "$ddb_port"
start_localstack "$s3_port"
use_7zip
export VERTEX_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
export VERTEX_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"

export VERTEX_TEST_BACKENDS=all
# Every AWS call the AWS-backend cases make, by function, for the IAM check below.
export VERTEX_TEST_AWS_CALLS="${VERTEX_TEST_AWS_CALLS:-$VC_TMP/aws-calls.jsonl}"
: >"$VERTEX_TEST_AWS_CALLS" # this run's calls only
: >"$VERTEX_TEST_AWS_CALLS" # this run's calls only
cargo test --workspace "$@"
if [ $# -eq 0 ]; then
  # Only a whole run has exercised every call: hold them against the template's policies.
  cargo test --workspace --test iam -- --ignored
  # ...and the served OpenAPI document against the server (schemathesis).
  scripts/api-fuzz.sh
fi
