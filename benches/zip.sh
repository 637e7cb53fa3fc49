#!/usr/bin/env bash
# ZIP benchmark on the local server (embedded backend, release build): for folders of 1,000
# files of mixed sizes and content (compressible text, already-compressed media) totalling 0.5,
# 1 and 2 GiB, the wall time of the archive job next to `zip -r -0` and `zip -r` on the same
# files, and the server's peak RSS while it writes the archive. Figures only; nothing asserted.
#
#   benches/zip.sh [sizes in MiB, default "512 1024 2048"]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
sizes="${1:-512 1024 2048}"

cargo build -q --release --bin vertexcloud
bin=target/release/vertexcloud
data="$VC_TMP/bench"
mkdir -p "$data"
# Every archive becomes a background job, as large folders do.
export VERTEX_ZIP_SYNC_MAX_BYTES=0
for mib in $sizes; do
  start_server "$bin" "$data/server"
  python3 benches/zip.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --mib "$mib" --phase upload
  # A fresh process for the archive, so its peak RSS is the archive's and not the uploads'.
  stop_process "$VC_SERVER_PID"
  start_server "$bin" "$data/server"
  python3 benches/zip.py --port "$VC_SERVER_PORT" --pid "$VC_SERVER_PID" --work "$data" --mib "$mib" --phase zip
  stop_process "$VC_SERVER_PID"
done
