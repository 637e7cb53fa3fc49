#!/usr/bin/env bash
# Auth benchmark: the cost of one argon2 hash, and login latency (p50/p95) through the local
# server on the embedded backend, one after another. Target (issue 14): login p50 <= 1.1x one
# hash. Figures only; nothing is asserted.
#
#   benches/auth.sh [number of logins, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
n="${1:-100}"
# The perf profile (release optimisation, no LTO) by default; BENCH_RELEASE=1 for release.
profile="${BENCH_PROFILE:-perf}"
[ "${BENCH_RELEASE:-0}" = 1 ] && profile=release

echo "load: $(uptime)"
cargo run -q --profile "$profile" -p vertexcloud-shared --example argon2_cost

cargo build -q --profile "$profile" --bin vertexcloud
bin="${BENCH_BIN:-target/$profile/vertexcloud}"
start_server "$bin" "$VC_TMP/data"

base="$VC_SERVER_URL/api/auth"
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
