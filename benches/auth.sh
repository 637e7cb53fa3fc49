#!/usr/bin/env bash
# Auth benchmark: the cost of one argon2 hash, and login latency (p50/p95) through the local
# server on the embedded backend. Figures only; nothing is asserted.
#
#   benches/auth.sh [number of logins, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100}"
profile_flag=()
[ "${BENCH_RELEASE:-0}" = 1 ] && profile_flag=(--release)

cargo run -q "${profile_flag[@]}" -p vertexcloud-shared --example argon2_cost

cargo build -q "${profile_flag[@]}" --bin vertexcloud
bin="target/$([ "${BENCH_RELEASE:-0}" = 1 ] && echo release || echo debug)/vertexcloud"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
RUST_LOG=warn "$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$port/api/health"; do sleep 0.2; done

base="http://127.0.0.1:$port/api/auth"
curl -s -o /dev/null -H 'content-type: application/json' "$base/register" \
  -d '{"username":"bench","email":"bench@example.com","password":"correct horse battery","password2":"correct horse battery"}'
for _ in $(seq "$n"); do
  curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' "$base/login" \
    -d '{"username":"bench","password":"correct horse battery"}'
done | python3 -c '
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
print(f"login over HTTP ({len(t)} sequential): p50 {t[len(t)//2]:.1f} ms, p95 {t[int(len(t)*0.95)]:.1f} ms, max {t[-1]:.1f} ms")
'
