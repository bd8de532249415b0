#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every check and test:
# formatting, clippy, unit + property tests, HTTP integration tests on
# loopback with real SQLite files, and the desktop app's window-free tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

install_system_packages
check_rust
use_build_cache
echo "==> build cache: $CARGO_TARGET_DIR"

# The app writes WebKit data under XDG folders: keep them out of $HOME.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked
