#!/usr/bin/env bash
# Files benchmark through the local server (embedded backend, release build): upload and
# download of a large file (throughput, and the server's peak RSS during each), a direct upload
# of the same file, listing latency of a folder of 100 vs 100,000 files, and the copy of a folder
# of 2,000 small files. Figures only; nothing is asserted.
#
#   benches/files.sh [size in MiB, default 1024]
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-1024}"

cargo build -q --release --bin vertexcloud
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
start() {
  RUST_LOG=warn target/release/vertexcloud serve --addr "127.0.0.1:$port" --data-dir "$data/server" >/dev/null &
  pid=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/api/health"; do sleep 0.2; done
}
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
start
python3 benches/files.py --port "$port" --pid "$pid" --work "$data" --mib "$mib" --phase transfer
python3 benches/files.py --port "$port" --pid "$pid" --work "$data" --phase copy
# The 100,000-file folder is written straight into the store's index (through HTTP it would
# take a long time to set up; what is measured is the listing, through HTTP).
kill "$pid"; wait "$pid" 2>/dev/null || true
python3 benches/files.py --work "$data" --phase populate
start
python3 benches/files.py --port "$port" --pid "$pid" --work "$data" --phase list
