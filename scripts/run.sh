#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and opens the Keyport portal.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

install_system_packages gnome-keyring
ensure_node
check_rust
use_build_cache
npm ci --no-audit --no-fund --loglevel=error
npm run --silent ui:build
cargo build --locked -p keyport --bin keyport
exec "$CARGO_TARGET_DIR/debug/keyport" "$@"
