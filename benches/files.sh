#!/usr/bin/env bash
# Files benchmark through the local server (embedded backend, release build): uploads of a large
# file (form, direct in parts one and four at a time) beside `cp` + fsync of it on the same disk
# (medians of BENCH_REPS runs, and the server's peak RSS), its download, listing latency of a
# folder of 100 vs 100,000 files, and the copy of a folder of 2,000 small files. Figures only;
# nothing is asserted.
#
#   benches/files.sh [size in MiB, default 1024]
#
# BENCH_PROFILE=perf builds and runs target/perf (no LTO: quick to build, for profiling);
# BENCH_BIN=path runs that binary as it is; BENCH_ONLY=uploads stops after the uploads;
# BENCH_REPS (default 3) runs per upload measure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
mib="${1:-1024}"

profile="${BENCH_PROFILE:-release}"
bin="${BENCH_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q --profile "$profile" --bin vertexcloud
  bin="target/$profile/vertexcloud"
fi
reps="${BENCH_REPS:-3}"
# On the same disk as the server's data, so `cp` is measured where the uploads land.
data="$VC_TMP/bench"
mkdir -p "$data"
start_server "$bin" "$data/server"
if [ "${BENCH_ONLY:-}" = uploads ]; then
  python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --mib "$mib" --reps "$reps" ${BENCH_UPLOADS:+--only "$BENCH_UPLOADS"} --phase uploads
  exit 0
fi
python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --mib "$mib" --reps "$reps" --phase transfer
python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --phase copy
# The 100,000-file folder is written straight into the store's index (through HTTP it would
# take a long time to set up; what is measured is the listing, through HTTP).
stop_process "$VC_SERVER_PID"
python3 benches/files.py --work "$data" --phase populate
start_server "$bin" "$data/server"
python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --phase list
