#!/usr/bin/env bash
# Starts the emulators for local development (DynamoDB Local on 127.0.0.1:8001, LocalStack S3 on
# 127.0.0.1:4566), creates the table and bucket the functions use (see
# [workspace.metadata.lambda.env] in Cargo.toml), and keeps them running until Ctrl-C. Data
# lives in memory or a temporary directory: a restart starts empty.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

start_dynamodb_local 8001
start_localstack 4566
VERTEX_BACKEND=aws VERTEX_TABLE=vertexcloud-local VERTEX_BUCKET=vertexcloud-local \
  AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8001 AWS_ENDPOINT_URL_S3=http://127.0.0.1:4566 \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  cargo run -q -- create-storage
echo "Emulators ready; Ctrl-C stops them."
wait
