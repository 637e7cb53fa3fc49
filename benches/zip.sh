#!/usr/bin/env bash
# ZIP benchmark on the local server (embedded backend, release build): for folders of 1,000
# files of mixed sizes and content (compressible text, already-compressed media) totalling 0.5,
# 1 and 2 GiB, the wall time of the archive job next to `zip -r -0` and `zip -r` on the same
# files, and the server's peak RSS while it writes the archive. Figures only; nothing asserted.
#
#   benches/zip.sh [sizes in MiB, default "512 1024 2048"]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-512 1024 2048}"

cargo build -q --release --bin vertexcloud
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# Every archive becomes a background job, as large folders do.
start() {
  VERTEX_ZIP_SYNC_MAX_BYTES=0 RUST_LOG=warn target/release/vertexcloud serve \
    --addr "127.0.0.1:$port" --data-dir "$data/server" >/dev/null &
  pid=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/api/health"; do sleep 0.2; done
}
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for mib in $sizes; do
  start
  python3 benches/zip.py --port "$port" --pid "$pid" --work "$data" --mib "$mib" --phase upload
  # A fresh process for the archive, so its peak RSS is the archive's and not the uploads'.
  kill "$pid"; wait "$pid" 2>/dev/null || true
  start
  python3 benches/zip.py --port "$port" --pid "$pid" --work "$data" --mib "$mib" --phase zip
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
