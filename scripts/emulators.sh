#!/usr/bin/env bash
# Starts the emulators for local development (DynamoDB Local on 127.0.0.1:8001), creates the
# table the functions use (see [workspace.metadata.lambda.env] in Cargo.toml), and keeps them
# running until Ctrl-C. Data lives in memory: a restart starts empty.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

start_dynamodb_local 8001
VERTEX_BACKEND=aws VERTEX_TABLE=vertexcloud-local AWS_ENDPOINT_URL=http://127.0.0.1:8001 \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  cargo run -q -- create-table
echo "Emulators ready; Ctrl-C stops them."
wait
