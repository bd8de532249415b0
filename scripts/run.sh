#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and opens the Keyport portal.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

install_system_packages
check_rust
use_build_cache
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi
exec cargo run --locked -p keyport --bin keyport "$@"
