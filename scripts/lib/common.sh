# Shared by the project's scripts and benches: cache location, process cleanup, ports,
# emulators, tools. Source it. Sourcing sets no shell options; it makes a scratch directory
# ($VC_TMP) and installs EXIT/INT/TERM traps that stop every process whose pid is in $VC_PIDS
# and then delete $VC_TMP. Everything else is functions and settings.

VERTEX_CACHE_DIR="${VERTEX_CACHE_DIR:-$HOME/.cache/vertexcloud}"
DDB_PACKAGE_VERSION="2.9.30" # npm amplify-dynamodb-simulator, which ships AWS's DynamoDB Local 1.25
DDB_DIR="$VERTEX_CACHE_DIR/dynamodb-local-$DDB_PACKAGE_VERSION"
TOOLS_VENV="$VERTEX_CACHE_DIR/tools-venv"
LOCALSTACK_VENV="$VERTEX_CACHE_DIR/localstack-venv"
# LocalStack runs S3 without Docker from a Python 3.13 venv (its DynamoDB needs Docker: hence
# DynamoDB Local). These pins are the tested recipe.
LOCALSTACK_PACKAGES=('localstack-core[runtime]==2026.3.0' service_identity 'cbor2<6' 'pyopenssl<26' 'cryptography>=45.0.7,<47')
# Tools from PyPI, pinned: SAM CLI, cfn-lint, cargo-lambda (with zig for cross-linking).
TOOLS_PACKAGES=(aws-sam-cli==1.170.0 cfn-lint==1.58.0 cargo-lambda==1.9.2 ziglang==0.17.1)

VC_PIDS=()
VC_TMP="$(mktemp -d)"

vc_cleanup() {
  local pid
  for pid in "${VC_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${VC_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$VC_TMP"
}
trap vc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Stops the background process $1 (one of $VC_PIDS) now, rather than when the script exits.
stop_process() {
  local pid=$1 p kept=()
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${VC_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  VC_PIDS=(${kept[@]+"${kept[@]}"})
}

# Prints a TCP port that is free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until $1 answers HTTP at all (any status), for at most $2 seconds.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" != "000" ]; do
    if [ $SECONDS -ge "$deadline" ]; then return 1; fi
    sleep 0.5
  done
}

# Starts `$1 serve` (a vertexcloud binary) on a free port over the data dir $2, with any further
# arguments; stopped when the script exits (or by `stop_process "$VC_SERVER_PID"`). Sets
# VC_SERVER_PID, VC_SERVER_PORT and VC_SERVER_URL once it answers.
start_server() {
  local bin=$1 data=$2
  shift 2
  VC_SERVER_PORT="$(free_port)"
  VC_SERVER_URL="http://127.0.0.1:$VC_SERVER_PORT"
  local log="$VC_TMP/server-$VC_SERVER_PORT.log"
  RUST_LOG="${RUST_LOG:-warn}" "$bin" serve --addr "127.0.0.1:$VC_SERVER_PORT" --data-dir "$data" \
    "$@" >"$log" 2>&1 &
  VC_SERVER_PID=$!
  VC_PIDS+=("$VC_SERVER_PID")
  if ! wait_http "$VC_SERVER_URL/api/health" 60; then
    echo "The server did not start; its log:" >&2
    cat "$log" >&2
    return 1
  fi
}

install_dynamodb_local() {
  [ -f "$DDB_DIR/DynamoDBLocal.jar" ] && return
  echo "Installing DynamoDB Local into $DDB_DIR (one time)..."
  local tmp="$VC_TMP/ddb"
  mkdir -p "$tmp" "$VERTEX_CACHE_DIR"
  (cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$DDB_PACKAGE_VERSION" >/dev/null)
  tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp"
  rm -rf "$DDB_DIR.partial"
  mv "$tmp/package/emulator" "$DDB_DIR.partial"
  mv "$DDB_DIR.partial" "$DDB_DIR"
}

# Starts DynamoDB Local (in memory) on port $1; stopped when the script exits.
start_dynamodb_local() {
  local port=$1
  install_dynamodb_local
  (cd "$DDB_DIR" && exec java -Xmx1g -Djava.library.path=./DynamoDBLocal_lib \
      -jar DynamoDBLocal.jar -inMemory -port "$port") >"$VC_TMP/dynamodb.log" 2>&1 &
  VC_PIDS+=($!)
  if ! wait_http "http://127.0.0.1:$port" 60; then
    echo "DynamoDB Local did not start; its log:" >&2
    cat "$VC_TMP/dynamodb.log" >&2
    return 1
  fi
  echo "DynamoDB Local on http://127.0.0.1:$port"
}

python313() {
  local candidate
  for candidate in "$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13" "$(command -v python3.13 || true)"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo "LocalStack needs Python 3.13 (pyenv install 3.13.0, or python3.13 on PATH)" >&2
  return 1
}

install_localstack() {
  [ "$(cat "$LOCALSTACK_VENV/.packages" 2>/dev/null)" = "${LOCALSTACK_PACKAGES[*]}" ] && return
  echo "Installing LocalStack into $LOCALSTACK_VENV (one time, a few minutes)..."
  rm -rf "$LOCALSTACK_VENV"
  "$(python313)" -m venv "$LOCALSTACK_VENV"
  "$LOCALSTACK_VENV/bin/pip" install --quiet --disable-pip-version-check "${LOCALSTACK_PACKAGES[@]}"
  echo "${LOCALSTACK_PACKAGES[*]}" > "$LOCALSTACK_VENV/.packages"
}

# Starts LocalStack's S3 (signature validation on) on port $1; stopped when the script exits.
start_localstack() {
  local port=$1
  install_localstack
  mkdir -p "$VC_TMP/localstack"
  (cd "$VC_TMP/localstack" && OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$VC_TMP/localstack" \
      GATEWAY_LISTEN="127.0.0.1:$port" SERVICES=s3 S3_SKIP_SIGNATURE_VALIDATION=0 \
      DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
      exec "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main) >"$VC_TMP/localstack.log" 2>&1 &
  VC_PIDS+=($!)
  local deadline=$((SECONDS + 120))
  until curl -s --max-time 2 "http://127.0.0.1:$port/_localstack/health" | grep -q '"s3": "\(available\|running\)"'; do
    if [ $SECONDS -ge $deadline ]; then
      echo "LocalStack did not start; its log:" >&2
      cat "$VC_TMP/localstack.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "LocalStack S3 on http://127.0.0.1:$port"
}

# Makes $1 a venv of python3 holding exactly the pinned packages $2...: built on first use and
# again whenever the pins change.
ensure_venv() {
  local venv=$1
  shift
  if ! "$venv/bin/python" -c 'import sys' 2>/dev/null \
      || [ "$(cat "$venv/.packages" 2>/dev/null)" != "$*" ]; then
    echo "Installing $* into $venv (one time)..."
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$*" > "$venv/.packages"
  fi
}

# Installs the PyPI tools into a cached venv and puts it first on PATH.
use_tools() {
  ensure_venv "$TOOLS_VENV" "${TOOLS_PACKAGES[@]}"
  export PATH="$TOOLS_VENV/bin:$PATH"
  export SAM_CLI_TELEMETRY=0
}

# The Rust target of the deployed functions (arm64 Lambda), installed by rustup when missing.
use_arm64_target() {
  rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' \
    || rustup target add aarch64-unknown-linux-gnu
}

SEVENZIP_PACKAGE_VERSION="5.2.0" # npm 7zip-bin: 7-Zip's 7za for Linux x64/arm64

# Exports VERTEX_TEST_7Z: a 7-Zip the suite checks archives with (7z on PATH, or 7za from npm,
# cached).
use_7zip() {
  local found
  found="$(command -v 7z || command -v 7za || true)"
  if [ -z "$found" ]; then
    local arch dir="$VERTEX_CACHE_DIR/7zip-bin-$SEVENZIP_PACKAGE_VERSION"
    case "$(uname -m)" in aarch64|arm64) arch=arm64 ;; *) arch=x64 ;; esac
    if [ ! -x "$dir/linux/$arch/7za" ]; then
      echo "Installing 7-Zip (npm 7zip-bin) into $dir (one time)..."
      mkdir -p "$VC_TMP/7zip" "$VERTEX_CACHE_DIR"
      (cd "$VC_TMP/7zip" && npm pack --silent "7zip-bin@$SEVENZIP_PACKAGE_VERSION" >/dev/null)
      tar -xzf "$VC_TMP"/7zip/7zip-bin-*.tgz -C "$VC_TMP/7zip"
      chmod +x "$VC_TMP/7zip/package/linux/$arch/7za"
      rm -rf "$dir"
      mv "$VC_TMP/7zip/package" "$dir"
    fi
    found="$dir/linux/$arch/7za"
  fi
  export VERTEX_TEST_7Z="$found"
}

SCHEMATHESIS_VENV="$VERTEX_CACHE_DIR/schemathesis-venv"
# The OpenAPI fuzzer scripts/api-fuzz.sh runs, pinned (Python 3.10+).
SCHEMATHESIS_PACKAGES=(schemathesis==4.32.5)

# Installs schemathesis into its own cached venv and puts it first on PATH.
use_schemathesis() {
  ensure_venv "$SCHEMATHESIS_VENV" "${SCHEMATHESIS_PACKAGES[@]}"
  export PATH="$SCHEMATHESIS_VENV/bin:$PATH"
  export SCHEMATHESIS_TELEMETRY=false
}

# Debian's Chromium for the browser tests (playwright-core drives it: browser downloads are not
# reachable), installed with apt when missing. Exports VERTEX_CHROMIUM.
use_chromium() {
  if ! command -v chromium >/dev/null; then
    echo "Installing chromium (apt, one time)..."
    apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  fi
  export VERTEX_CHROMIUM="$(command -v chromium)"
}

# web/node_modules exactly as web/package-lock.json pins it (npm ci), redone when the lock changes.
use_web_packages() {
  local stamp=web/node_modules/.lock-sha
  local want
  want="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing the web app's test packages (npm ci)..."
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
}

AWSCLI_VENV="$VERTEX_CACHE_DIR/awscli-venv"
# The AWS CLI scripts/deploy-web.sh publishes the web app with, pinned (a venv of its own: it
# pins botocore, which SAM CLI's venv must not have to agree with).
AWSCLI_PACKAGES=(awscli==1.46.2)

# `aws` on PATH: the machine's, else the pinned one installed into its own cached venv.
use_awscli() {
  if ! command -v aws >/dev/null || ! aws --version >/dev/null 2>&1; then
    ensure_venv "$AWSCLI_VENV" "${AWSCLI_PACKAGES[@]}"
    export PATH="$AWSCLI_VENV/bin:$PATH"
  fi
}
