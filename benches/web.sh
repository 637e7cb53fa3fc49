#!/usr/bin/env bash
# The web app's first screens in headless Chromium against the local server: from navigation
# to the sign-in form ready for input (empty cache, and again revalidated), and from a reload of
# /files/ to the listing shown for a signed-in tab (session restored: refresh, profile, list).
# Target (issue 16): interactive in under a second. Figures only; nothing is asserted.
#
#   benches/web.sh [runs, default 7]
#   BENCH_PROFILE=release benches/web.sh   # the build the published figures use (default perf)
#   BENCH_BIN=path benches/web.sh          # that server binary as it is
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
profile="${BENCH_PROFILE:-perf}"
bin="${BENCH_BIN:-target/$profile/vertexcloud}"
[ -n "${BENCH_BIN:-}" ] || cargo build -q --profile "$profile" --bin vertexcloud
use_chromium
use_web_packages
echo "load: $(uptime)"
VERTEX_WEB_BIN="$(realpath "$bin")" node benches/web.mjs "${1:-7}"
