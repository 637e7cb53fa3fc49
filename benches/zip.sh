#!/usr/bin/env bash
# ZIP benchmark on the local server (embedded backend): the wall time of the archive job next to
# `zip -r -0` and `zip -r` on the same files, and the server's peak RSS while it writes the
# archive, for
# - "incompressible": twenty 10 MiB files of random bytes named `.bin` (stored after a look);
# - "mixed": folders of 1,000 files of mixed sizes and content (compressible text,
#   already-compressed media) totalling 0.5, 1 and 2 GiB.
# Targets (issue 17), one PASS/FAIL line each; the script exits 1 when any is missed:
#   incompressible job <= 1.5 x `zip -r -0`; mixed job <= 0.6 x `zip -r` with the server on
#   VERTEX_BENCH_CPUS (default 2) CPUs; peak RSS - resting < 64 MiB at every size (flat).
#
#   benches/zip.sh [sizes in MiB, default "512 1024 2048"]
#
# BENCH_PROFILE=perf (default; release optimisation without LTO) or release (what the README
# figures are); BENCH_BIN=path runs that binary as it is; BENCH_CASES="incompressible mixed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
sizes="${1:-512 1024 2048}"
cases="${BENCH_CASES:-incompressible mixed}"
cpus="${VERTEX_BENCH_CPUS:-2}"

profile="${BENCH_PROFILE:-perf}"
bin="${BENCH_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q --profile "$profile" --bin vertexcloud
  bin="target/$profile/vertexcloud"
fi
data="$VC_TMP/bench"
mkdir -p "$data"
# Every archive becomes a background job, as large folders do.
export VERTEX_ZIP_SYNC_MAX_BYTES=0

# The server on the first `cpus` CPUs (every thread, and the threads they start), as on the
# 2-vCPU reference machine; `zip` is single-threaded anyway.
pin_server() {
  if [ "$cpus" -gt 0 ] && command -v taskset >/dev/null; then
    taskset -a -p -c "0-$((cpus - 1))" "$VC_SERVER_PID" >/dev/null
  fi
}

failed=0
# One folder: upload it, then archive it in a fresh process (so that its peak RSS is the
# archive's and not the uploads').
run_case() {
  local case=$1 mib=$2
  start_server "$bin" "$data/server"
  python3 benches/zip.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" \
    --mib "$mib" --case "$case" --phase upload
  stop_process "$VC_SERVER_PID"
  start_server "$bin" "$data/server"
  pin_server
  python3 benches/zip.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" \
    --mib "$mib" --case "$case" --phase zip || failed=1
  stop_process "$VC_SERVER_PID"
}

for case in $cases; do
  if [ "$case" = incompressible ]; then
    run_case incompressible 200
  else
    for mib in $sizes; do
      run_case mixed "$mib"
    done
  fi
done
if [ "$failed" = 1 ]; then
  echo "zip benchmark: a target was missed (FAIL above)" >&2
  exit 1
fi
