#!/usr/bin/env bash
# The test command: installs and starts the emulators the suite needs (cached between runs),
# runs every test on every backend, the slow tier included, and stops what it started, also on
# failure or Ctrl-C.
#
#   scripts/test.sh [cargo test arguments] [-- test binary arguments]
#
# A plain `cargo test` runs the embedded cases only and lists the others as ignored: the AWS
# cases (they need the emulators) and the slow tier. This script runs those too
# (`--include-ignored`), except the cases that wait on an open issue (`::waiting::`).
#
# Needs: cargo, java (17+), node + npm, curl, python3, unzip, Python 3.13 (pyenv) for LocalStack,
# and apt for Debian's chromium (the web app's browser tests).
# Downloads are cached in $VERTEX_CACHE_DIR (default ~/.cache/vertexcloud).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

# Our arguments go to cargo, those after `--` to the test binaries, after ours.
cargo_args=()
test_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    test_args=("$@")
    break
  fi
  cargo_args+=("$1")
  shift
done

ddb_port="$(free_port)"
s3_port="$(free_port)"
start_dynamodb_local "$ddb_port"
start_localstack "$s3_port"
use_7zip
export VERTEX_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
export VERTEX_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"

export VERTEX_TEST_BACKENDS=all
# Most cases wait on the emulators rather than on a core: twice as many at once as there are
# cores on the 2-core reference machine (api suite: 50 s → 33 s).
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
# Every AWS call the AWS-backend cases make, by function, for the IAM check below.
export VERTEX_TEST_AWS_CALLS="${VERTEX_TEST_AWS_CALLS:-$VC_TMP/aws-calls.jsonl}"
: >"$VERTEX_TEST_AWS_CALLS" # this run's calls only
# The IAM check is ignored too, but it needs the calls of a whole run: it runs after it.
iam_check=every_recorded_call_is_allowed_and_every_grant_is_used
cargo test --workspace ${cargo_args[@]+"${cargo_args[@]}"} -- --include-ignored \
  --skip ::waiting:: --skip "$iam_check" ${test_args[@]+"${test_args[@]}"}
if [ ${#cargo_args[@]} -eq 0 ] && [ ${#test_args[@]} -eq 0 ]; then
  # Only a whole run has exercised every call: hold them against the template's policies.
  cargo test --workspace --test iam -- --ignored
  # ...and the served OpenAPI document against the server (schemathesis).
  scripts/api-fuzz.sh
  # The web app in headless Chromium (Debian's, installed with apt when missing).
  scripts/web-test.sh
fi
