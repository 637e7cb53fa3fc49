#!/usr/bin/env bash
# The OpenAPI document tells the truth: schemathesis (pinned in scripts/lib/common.sh) runs every
# check, in every phase (examples, coverage, fuzzing, stateful), against the document the local
# server serves: as a normal user, as a superuser, then as a manager (the operations on other
# users only), and this script fails on any finding. Part of scripts/test.sh (about a minute).
#
#   scripts/api-fuzz.sh
#
# FUZZ_EXAMPLES (default 25) bounds the cases per operation and phase; FUZZ_SEED (default 1) fixes
# the generated data. Needs cargo, curl and python3 (3.10+).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

examples="${FUZZ_EXAMPLES:-25}"
seed="${FUZZ_SEED:-1}"

use_schemathesis
cargo build --quiet --bin vertexcloud
bin=target/debug/vertexcloud
data="$VC_TMP/data"
port="$(free_port)"
base="http://127.0.0.1:$port"

admin_password="fuzz-admin-$RANDOM-passphrase"
user_password="fuzz-user-$RANDOM-passphrase"
echo "$admin_password" | "$bin" --data-dir "$data" create-superuser \
  --username fuzzadmin --email fuzzadmin@example.com --password-stdin >/dev/null
RUST_LOG=warn "$bin" --data-dir "$data" serve --addr "127.0.0.1:$port" >"$VC_TMP/server.log" 2>&1 &
VC_PIDS+=($!)
if ! wait_http "$base/api/health" 60; then
  echo "The server did not start; its log:" >&2
  cat "$VC_TMP/server.log" >&2
  exit 1
fi

# POSTs JSON $2 to $base$1 and prints the answer's field $3 (fails unless 2xx).
post_json() {
  curl -sf "$base$1" -H 'content-type: application/json' -d "$2" \
    | python3 -c "import json, sys; print(json.load(sys.stdin)['$3'])"
}
post_json /api/auth/register "{\"username\": \"fuzzuser\", \"email\": \"fuzzuser@example.com\",
  \"password\": \"$user_password\", \"password2\": \"$user_password\"}" id >/dev/null
# Every login happens before any fuzzing: the fuzzer's failed logins may throttle this address.
admin_token="$(post_json /api/auth/login "{\"username\": \"fuzzadmin\", \"password\": \"$admin_password\"}" access)"
user_token="$(post_json /api/auth/login "{\"username\": \"fuzzuser\", \"password\": \"$user_password\"}" access)"
curl -sf "$base/api/users" -H 'content-type: application/json' -H "Authorization: Bearer $admin_token" \
  -d "{\"username\": \"fuzzmanager\", \"email\": \"fuzzmanager@example.com\",
       \"password\": \"$user_password\", \"role\": \"manager\"}" >/dev/null
manager_token="$(post_json /api/auth/login "{\"username\": \"fuzzmanager\", \"password\": \"$user_password\"}" access)"

# Exceptions: what a check cannot know, each with its reason. Everything else runs every check.
config="$VC_TMP/schemathesis.toml"
cat >"$config" <<TOML
hooks = "$VC_TMP/exceptions.py"
# 413 is how the API refuses a size over its limits (API.md): a rejection like 400.
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
TOML
cat >"$VC_TMP/exceptions.py" <<'PY'
import re

import schemathesis

# Rules across fields that JSON Schema cannot state: the generated bodies obey them.
SAME = {"/api/auth/register": ("password", "password2"),
        "/api/auth/change-password": ("new_password", "new_password2")}


# A form upload's files come after its other fields, as documented (a schema cannot say so).
LAST_PARTS = {"/api/files/upload": "files"}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    body, path = case.body, case.operation.path
    if not isinstance(body, dict):
        return
    pair = SAME.get(path)
    if pair and all(isinstance(body.get(f), str) for f in pair) and body[pair[1]] != body[pair[0]]:
        body[pair[1]] = body[pair[0]]
    last = LAST_PARTS.get(path)
    if last in body and list(body)[-1] != last:
        body[last] = body.pop(last)


# 400s that a schema-valid request may rightly get, by what decides them:
# - a secret the fuzzer cannot know and must not learn (it would end the session it fuzzes
#   with): the current password of change-password and delete-account;
# - the caller's files and uploads at the time: a file where a folder is needed or the reverse,
#   a folder moved into itself, parts never PUT, a cursor that only the server can issue;
# - two valid fields joined: a folder and a name each within the limits, together too long;
# - what no schema of a form describes: the file names of its parts (the fuzzer names them all
#   alike: `duplicate_name`), and field names that a part header cannot carry (control
#   characters: `invalid_form`);
# - the exact size of a part, fixed by the upload that signed its URL (`invalid_upload`);
# - the password policy beyond its schema: too common, too like the username or email;
# - serde's integers: JSON Schema counts `2.0` an integer, the server wants `2`.
STATEFUL_CODES = {"not_a_directory", "is_a_directory", "invalid_destination",
                  "incomplete_upload", "invalid_parts", "invalid_cursor"}
OPERATION_CODES = {"/api/files/upload": {"duplicate_name"},
                   "/api/files/transfer/{ticket}": {"invalid_upload"}}
FORM_FIELDS = {"/api/files/upload": {"path", "overwrite", "files"}}


def unsendable_field(case):
    known = FORM_FIELDS.get(case.operation.path)
    return known is not None and isinstance(case.body, dict) and any(
        name not in known and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name)
        for name in case.body)
FIELD_RULES = {"Wrong password.", "This password is too common.",
               "This password is too similar to the username or email."}
WHOLE_FLOAT = re.compile(r"invalid type: floating point `-?\d+\.0`, expected [ui]\d+")


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    kind = type(failure).__name__
    # DELETE /api/jobs/{job_id} asks a job to stop: the job stays, readable with its outcome
    # (cancelled, or as it had ended), so a GET after it rightly answers 200.
    if kind == "UseAfterFree" and getattr(failure, "free", "").startswith("DELETE /api/jobs/"):
        return False
    if kind != "RejectedPositiveData" or response.status_code not in (400, 413):
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    code, details = body.get("code"), body.get("details")
    if response.status_code == 413:
        # The caller's quota and usage at the time (the superuser may change its own quota).
        return code != "quota_exceeded"
    if code in STATEFUL_CODES or code in OPERATION_CODES.get(case.operation.path, ()):
        return False
    if code == "invalid_form" and unsendable_field(case):
        return False
    if code == "invalid_path" and body.get("error", "").endswith("Path is too long."):
        return False
    if (code == "validation_error" and isinstance(details, dict) and details
            and set(details.values()) <= FIELD_RULES):
        return False
    if code == "invalid_json" and WHOLE_FLOAT.search(body.get("error", "")):
        return False
    return True
PY

# Exclusions: operations a run must not call, each with its reason. Every operation is fuzzed in
# at least one run.
common=(
  # Ends every session of the caller: every later request would answer 401 and test nothing.
  # (POST /api/auth/logout takes a refresh token, which the runs' fuzzed bodies never hold.)
  --exclude-operation-id logout_all
)
# The superuser may act on every account, its own too: the fuzzer finds its id in the listings,
# and once it has made a second superuser it can demote, disable or delete the first, or reset
# its password, which ends its session. A manager fuzzes these instead (last), who may act on
# users of role `user` only: never on itself.
self_changing=(update_user delete_user reset_password)
not_self_changing=()
for op in "${self_changing[@]}"; do not_self_changing+=(--exclude-operation-id "$op"); done

# Fuzzes as the bearer of token $2, whose role is $1; $3... narrow the operations.
fuzz() {
  local name=$1 token=$2 started=$SECONDS
  shift 2
  echo "schemathesis as the $name ($examples examples per operation, seed $seed)..."
  if ! (cd "$VC_TMP" && schemathesis --config-file "$config" run "$base/api/openapi.json" \
      --checks all --max-examples "$examples" --seed "$seed" --workers 1 \
      --generation-database none --no-color \
      --header "Authorization: Bearer $token" "${common[@]}" "$@" \
      >"$VC_TMP/fuzz-$name.log" 2>&1); then
    cat "$VC_TMP/fuzz-$name.log"
    echo "schemathesis found disagreements between the document and the server (as the $name)." >&2
    return 1
  fi
  grep -E '^ +(Selected|Tested):|generated,|Filtered:' "$VC_TMP/fuzz-$name.log" || true
  # The run must end as it began, or part of it tested nothing but 401s and 403s.
  local role
  role="$(curl -sf "$base/api/auth/profile" -H "Authorization: Bearer $token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["user_type"])' || true)"
  if [ "$role" != "$name" ]; then
    echo "The $name's session did not survive the run as it was (now: ${role:-none})." >&2
    return 1
  fi
  echo "... done in $((SECONDS - started)) s."
}

status=0
fuzz user "$user_token" || status=1
fuzz superuser "$admin_token" "${not_self_changing[@]}" || status=1
fuzz manager "$manager_token" --include-tag users || status=1
exit $status
