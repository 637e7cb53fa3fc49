#!/usr/bin/env bash
# Every measure of issue 14 beside its peer in the same run (nginx, rclone, cp + sync, one
# argon2id hash), printed as one table: benches/compare.py does the measuring. Figures only;
# nothing is asserted. Installs nginx-light, wrk and rclone from Debian's packages when missing.
#
#   benches/compare.sh                  the perf profile (release optimisation, no LTO)
#   BENCH_PROFILE=release benches/compare.sh   for published figures
#   BENCH_REPS=5 BENCH_MIB=1024 BENCH_AWS=0 benches/compare.sh
#   BENCH_BIN=path benches/compare.sh   that server binary as it is (the profile's argon2 example
#                                       is still built)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
profile="${BENCH_PROFILE:-perf}"

missing=()
for tool in nginx:nginx-light wrk:wrk rclone:rclone; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} (apt)..."
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
export PATH="$PATH:/usr/sbin"

bin="${BENCH_BIN:-target/$profile/vertexcloud}"
[ -n "${BENCH_BIN:-}" ] || cargo build -q --profile "$profile" --bin vertexcloud
cargo build -q --profile "$profile" -p vertexcloud-shared --example argon2_cost

aws=()
if [ "${BENCH_AWS:-1}" = 1 ]; then
  ddb="$(free_port)" s3="$(free_port)"
  start_dynamodb_local "$ddb" >/dev/null
  start_localstack "$s3" >/dev/null
  aws=(--ddb "http://127.0.0.1:$ddb" --s3 "http://127.0.0.1:$s3")
fi

echo "$(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $bin ($profile)"
# In the background so that the trap (which stops it, and it its servers) runs at once.
python3 benches/compare.py --bin "$bin" --argon2 "target/$profile/examples/argon2_cost" \
  --work "$VC_TMP" --mib "${BENCH_MIB:-1024}" --reps "${BENCH_REPS:-3}" ${aws[@]+"${aws[@]}"} &
VC_PIDS+=($!)
wait $!
