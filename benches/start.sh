#!/usr/bin/env bash
# Start-time benchmark of the local server (embedded backend): from spawning the process to
# its first 200 on /api/health, in a new data directory (database, migrations and secret
# created) and restarted on an existing one. Target (issue 14): < 30 ms. Figures only; nothing
# is asserted.
#
#   benches/start.sh [runs, default 15]
#   BENCH_PROFILE=release benches/start.sh   # the build the published figures use (default perf)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BENCH_PROFILE:-perf}"
cargo build -q --profile "$profile" --bin vertexcloud
echo "load: $(uptime)"
python3 benches/start.py --bin "target/$profile/vertexcloud" --runs "${1:-15}"
