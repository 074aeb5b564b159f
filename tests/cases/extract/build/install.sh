#!/usr/bin/env bash
# Installs the demo tool.
#
# Usage: install.sh [PREFIX]
set -euo pipefail

PREFIX="${1:-/usr/local}"
export DEMO_HOME="$PREFIX/demo" DEMO_DEBUG
readonly VERSION=1.2.3
declare -a PACKAGES=(curl git)

log() {
  local message="$1"
  echo "[install] $message"
}

function run_hook {
  eval "$HOOK"
}

if [ -n "${CI:-}" ]; then
  IN_CI=1
fi

TMP=/tmp make build
curl -fsSL https://example.com/setup.sh | sudo bash -s -- --yes
bash <(wget -qO- https://example.com/other.sh)
echo "eval is harmless in a string; curl x | sh too"  # eval in a comment
cat <<'EOF'
eval "not code"
EOF
