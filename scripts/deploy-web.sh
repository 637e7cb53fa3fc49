#!/usr/bin/env bash
# Publishes the web app (web/app, served as is: no build step) to a deployed stack: its files to
# the stack's WebBucket, with config.json naming the stack's API, then a CloudFront invalidation
# so that every edge serves them at once.
#
#   scripts/deploy-web.sh [--dry-run] [--outputs FILE] [STACK]
#
# STACK defaults to samconfig.toml's (vertexcloud-dev). The stack's outputs (WebBucketName,
# WebDistributionId, ApiUrl, WebUrl) come from `aws cloudformation describe-stacks`, or from
# FILE: the JSON of that command's `Stacks[0].Outputs` (a list of {OutputKey, OutputValue}).
# --dry-run prints the commands instead of running them, and config.json as it would be.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

dry_run=false
outputs_file=""
stack=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true ;;
    --outputs) outputs_file="${2:?--outputs needs a file}"; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$stack" ] || { echo "one stack at a time" >&2; exit 2; }; stack="$1" ;;
  esac
  shift
done
if [ -z "$stack" ]; then
  stack="$(python3 -c 'import tomllib; print(tomllib.load(open("samconfig.toml", "rb"))["default"]["global"]["parameters"]["stack_name"])')"
fi

# Runs its arguments, or prints them (shell-quoted) under --dry-run.
run() {
  if $dry_run; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

if [ -z "$outputs_file" ] || ! $dry_run; then
  use_awscli
fi
outputs="$VC_TMP/outputs.json"
if [ -n "$outputs_file" ]; then
  cp "$outputs_file" "$outputs"
else
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query 'Stacks[0].Outputs' --output json >"$outputs"
fi

# One output of the stack, or a failure naming it.
output() {
  python3 - "$outputs" "$1" <<'EOF'
import json, sys
outputs = {o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1])) or []}
value = outputs.get(sys.argv[2])
if not value:
    sys.exit(f"the stack has no output {sys.argv[2]}: is it deployed with WebApp=enabled?")
print(value)
EOF
}
bucket="$(output WebBucketName)"
distribution="$(output WebDistributionId)"
api_url="$(output ApiUrl)"
web_url="$(output WebUrl)"

# What goes to the bucket: web/app as it is, and config.json naming the API. The app calls
# `${api}/auth/login` and so on: ApiUrl ends with a slash, the API's paths start with api/.
site="$VC_TMP/site"
cp -R web/app "$site"
python3 - "$site/config.json" "${api_url%/}/api" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    json.dump({"api": sys.argv[2]}, f)
    f.write("\n")
EOF
echo "Stack $stack: the web app to s3://$bucket, API at ${api_url%/}/api"
if $dry_run; then
  echo "config.json: $(cat "$site/config.json")"
fi

# Every file revalidates on each use (no hashed names; the distribution's cache policy keeps
# them at the edge until the invalidation below). Content types are set here, not guessed from
# the machine's MIME table: with nosniff a module script must be served as JavaScript.
cache=(--cache-control no-cache)
types=(
  "*.js=text/javascript; charset=utf-8"
  "*.css=text/css; charset=utf-8"
  "*.json=application/json"
  "*.svg=image/svg+xml"
  "*.png=image/png"
  "*.ico=image/x-icon"
  "*.map=application/json"
  "*.txt=text/plain; charset=utf-8"
  "*LICENSE=text/plain; charset=utf-8"
  # Last: a page is published after the files it names.
  "*.html=text/html; charset=utf-8"
)
for entry in "${types[@]}"; do
  run aws s3 sync "$site" "s3://$bucket/" --only-show-errors --exclude '*' --include "${entry%%=*}" \
    --content-type "${entry#*=}" "${cache[@]}"
done
# The rest (types guessed), and files no longer in web/app removed.
run aws s3 sync "$site" "s3://$bucket/" --only-show-errors --delete "${cache[@]}"
run aws cloudfront create-invalidation --distribution-id "$distribution" --paths '/*' \
  --query 'Invalidation.Id' --output text
echo "The web app is at $web_url"
