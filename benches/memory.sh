#!/usr/bin/env bash
# Memory benchmark of the local server (embedded backend, standard password cost): resident
# memory at rest, then peak and settled (1, 3 and 5 s after) around 64 concurrent logins,
# 2,000 idle connections (half of them sending half a request line) and a 1 GiB form upload and
# download, all in one run of one server. First, issue 14's measure: at rest after 15 logins and
# 100 small uploads. Targets (issues 12, 14): at rest < 40 MiB, peak < 150 MiB, back under
# 64 MiB within a few seconds. Figures only; nothing is asserted.
#
#   benches/memory.sh [logins, default 64] [connections, default 2000] [MiB, default 1024]
#   BENCH_RELEASE=1 benches/memory.sh   # the release build (what the figures in README are)
#   BENCH_REST_ONLY=1 benches/memory.sh # only the at-rest measures
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
# The perf profile (release optimisation, no LTO) by default; BENCH_RELEASE=1 for release.
profile="${BENCH_PROFILE:-perf}"
[ "${BENCH_RELEASE:-0}" = 1 ] && profile=release
cargo build -q --profile "$profile" --bin vertexcloud
bin="target/$profile/vertexcloud"
data="$VC_TMP/bench"
mkdir -p "$data"
# The server may hold up to 1,000 connections (VERTEX_MAX_CONNECTIONS) plus its own files.
ulimit -n "$(ulimit -Hn)"
# The logins are one account's, from one address: above the login throttle's counts.
VERTEX_LOGIN_MAX_FAILURES=100000 VERTEX_LOGIN_MAX_FAILURES_PER_ADDRESS=100000 \
  VERTEX_DEFAULT_QUOTA_BYTES=none start_server "$bin" "$data/server"
python3 benches/memory.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" \
  --logins "${1:-64}" --connections "${2:-2000}" --mib "${3:-1024}" \
  ${BENCH_REST_ONLY:+--rest-only}
