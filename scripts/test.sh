#!/usr/bin/env bash
# The test command: installs and starts the emulators the suite needs (cached between runs),
# runs every test on every backend, and stops what it started — also on failure or Ctrl-C.
#
#   scripts/test.sh [extra cargo test arguments]
#
# Needs: cargo, java (17+), npm, curl, python3. Downloads go to $VERTEX_CACHE_DIR
# (default ~/.cache/vertexcloud).
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${VERTEX_CACHE_DIR:-$HOME/.cache/vertexcloud}"
ddb_version="2.9.30" # npm amplify-dynamodb-simulator: ships AWS's DynamoDB Local 1.25.x
ddb_dir="$cache/dynamodb-local-$ddb_version"
logs="$(mktemp -d)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until $1 answers HTTP at all (any status), for at most $2 seconds.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" != "000" ]; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.5
  done
}

install_dynamodb_local() {
  [ -f "$ddb_dir/DynamoDBLocal.jar" ] && return
  echo "Installing DynamoDB Local into $ddb_dir (one time)..."
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$ddb_version" >/dev/null)
  tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp"
  mkdir -p "$cache"
  rm -rf "$ddb_dir.partial"
  mv "$tmp/package/emulator" "$ddb_dir.partial"
  mv "$ddb_dir.partial" "$ddb_dir"
  rm -rf "$tmp"
}

start_dynamodb_local() {
  local port
  port="$(free_port)"
  (cd "$ddb_dir" && exec java -Xmx1g -Djava.library.path=./DynamoDBLocal_lib \
      -jar DynamoDBLocal.jar -inMemory -port "$port") >"$logs/dynamodb.log" 2>&1 &
  pids+=($!)
  if ! wait_http "http://127.0.0.1:$port" 60; then
    echo "DynamoDB Local did not start; its log:" >&2
    cat "$logs/dynamodb.log" >&2
    exit 1
  fi
  export VERTEX_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  echo "DynamoDB Local on $VERTEX_TEST_DYNAMODB_ENDPOINT"
}

install_dynamodb_local
start_dynamodb_local

export VERTEX_TEST_BACKENDS=all
cargo test --workspace "$@"
