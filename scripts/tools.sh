#!/usr/bin/env bash
# Installs the PyPI tools (SAM CLI, cfn-lint, cargo-lambda, zig) into a cached venv and runs the
# given command with them on PATH:  scripts/tools.sh sam validate --lint
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
use_tools
use_arm64_target # sam build cross-compiles the functions for arm64
"$@"
