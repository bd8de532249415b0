#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every check and test:
# formatting, clippy, TypeScript types generated from Rust (drift check), the
# UI's type check and unit tests, schemathesis, webhook signatures checked by
# the reference Standard Webhooks library, fuzzing, unit + property tests, HTTP integration
# tests on loopback with real SQLite files and then, with the server's store
# tests, on PostgreSQL at 127.0.0.1:5432, the desktop app's command tests,
# and the real-window E2E tests of the built app under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

install_system_packages $KEYCHAIN_PACKAGES $E2E_PACKAGES $POSTGRES_CLIENT_PACKAGES $CLUSTER_PACKAGES
ensure_node
check_rust
use_build_cache
echo "==> build cache: $CARGO_TARGET_DIR"

# The app writes WebKit data under XDG folders: keep them out of $HOME.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache

echo "==> npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "==> UI: type check, unit tests, build (the app embeds ui/dist)"
npm run --silent ui:check
npm run --silent ui:test
npm run --silent ui:build

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> TypeScript bindings generated from Rust are committed and current"
bindings=ui/src/lib/bindings
scripts/bindings.sh >/dev/null
if [ -n "$(git status --porcelain -- "$bindings")" ]; then
  git status --short -- "$bindings"
  git --no-pager diff --stat -- "$bindings"
  echo "error: $bindings is out of date: run scripts/bindings.sh and commit" >&2
  exit 1
fi

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> schemathesis against the served OpenAPI document (bounded)"
scripts/schemathesis.sh

echo "==> webhook signatures verified by the reference Standard Webhooks library"
scripts/webhook-interop.sh

echo "==> fuzzing the parsers strangers reach (cargo-fuzz, bounded)"
scripts/fuzz.sh

echo "==> keychain tests against the real Secret Service (private D-Bus + gnome-keyring)"
scripts/with-secret-service.sh cargo test --locked -p keyport-portal --features keyport-portal/keychain-tests --test keychain

echo "==> real-window E2E (Xvfb + tauri-driver + WebKitWebDriver + Secret Service; one against scripts/cluster.sh)"
require_test_postgres
require_test_redis
scripts/e2e.sh

echo "==> cargo test (the shared rate-limit tests use Redis at 127.0.0.1:6379)"
cargo test --workspace --locked

echo "==> HTTP and store tests on PostgreSQL (127.0.0.1:5432)"
require_test_postgres
KEYPORT_TEST_DATABASE=$TEST_POSTGRES_URL cargo test --locked -p keyport-server
