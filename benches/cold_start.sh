#!/usr/bin/env bash
# Cold starts of the five Lambda bootstraps, without AWS: each is started by a fake Lambda
# Runtime API (benches/cold_start.py) against the emulators, and handed one real event as a
# user. Reports size, init time (spawn → first /invocation/next), first response and peak RSS.
# Figures only; nothing is asserted.
#
#   benches/cold_start.sh [runs per function, default 10] [dir holding <fn>/bootstrap, default
#                         target/lambda]
#
# The bootstraps must run on this machine: build them with `make build-x86` on x86_64 (the
# arm64 ones that deploy are `make build`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
runs="${1:-10}"
dir="${2:-target/lambda}"

ddb_port="$(free_port)"
s3_port="$(free_port)"
start_dynamodb_local "$ddb_port"
start_localstack "$s3_port"
export VERTEX_BACKEND=aws VERTEX_TABLE=vertexcloud-bench VERTEX_BUCKET=vertexcloud-bench \
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port" AWS_ENDPOINT_URL_S3="http://127.0.0.1:$s3_port" \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test RUST_LOG=warn \
  VERTEX_JWT_SECRET="bench-only-secret-0123456789-0123456789" \
  VERTEX_ZIP_FUNCTION=vertexcloud-bench-zip # the shares function needs it named (never invoked here)

cargo build -q --bin vertexcloud
cli=target/debug/vertexcloud
"$cli" create-storage >/dev/null
echo 'correct horse battery staple' \
  | "$cli" create-superuser --username bench --email bench@example.com --password-stdin >/dev/null
token="$("$cli" issue-token --username bench --ttl 3600 2>/dev/null)"

# A folder with a file, for the files and zip events, through the same backend.
port="$(free_port)"
"$cli" serve --addr "127.0.0.1:$port" >"$VC_TMP/serve.log" 2>&1 &
VC_PIDS+=($!)
wait_http "http://127.0.0.1:$port/api/health" 60
curl -sf -o /dev/null "http://127.0.0.1:$port/api/files/upload" -H "authorization: Bearer $token" \
  -F path=docs -F files=@README.md
# A link to that folder, for the shares function's visitor event.
share="$(curl -sf "http://127.0.0.1:$port/api/shares" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"path": "docs", "kind": "download"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"

for pair in auth:events/auth/health.json users:events/users/list.json \
            files:events/files/list.json zip:events/zip/download-zip.json \
            shares:events/shares/info.json; do
  fn="${pair%%:*}"
  event="$VC_TMP/$fn.json"
  sed -e "s|{{TOKEN}}|$token|g" -e "s|{{SHARE}}|$share|g" "${pair#*:}" >"$event"
  python3 benches/cold_start.py "$dir/$fn/bootstrap" "$fn" "$event" "$runs"
done
