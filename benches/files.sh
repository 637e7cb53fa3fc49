#!/usr/bin/env bash
# Files benchmark through the local server (embedded backend, release build): upload and
# download of a large file (throughput, and the server's peak RSS during each), a direct upload
# of the same file, listing latency of a folder of 100 vs 100,000 files, and the copy of a folder
# of 2,000 small files. Figures only; nothing is asserted.
#
#   benches/files.sh [size in MiB, default 1024]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
mib="${1:-1024}"

cargo build -q --release --bin vertexcloud
bin=target/release/vertexcloud
data="$VC_TMP/bench"
mkdir -p "$data"
start_server "$bin" "$data/server"
python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --mib "$mib" --phase transfer
python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --phase copy
# The 100,000-file folder is written straight into the store's index (through HTTP it would
# take a long time to set up; what is measured is the listing, through HTTP).
stop_process "$VC_SERVER_PID"
python3 benches/files.py --work "$data" --phase populate
start_server "$bin" "$data/server"
python3 benches/files.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --phase list
