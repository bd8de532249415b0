# Shared by scripts/run.sh and scripts/test.sh: system packages and the build cache.
# shellcheck shell=bash

# Node.js 20+ and npm for the UI build (Debian's nodejs when missing).
ensure_node() {
  if ! command -v npm >/dev/null 2>&1; then
    install_system_packages nodejs npm
  fi
}

# Debian 12 packages: Tauri's WebKitGTK stack, Xvfb for headless windows.
SYSTEM_PACKAGES="build-essential pkg-config file curl ca-certificates libwebkit2gtk-4.1-dev libgtk-3-dev
  libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev libdbus-1-dev xvfb xauth"
# The keychain tests: a private D-Bus session with a throwaway gnome-keyring.
KEYCHAIN_PACKAGES="dbus dbus-x11 gnome-keyring libsecret-tools"
# The real-window E2E tests: WebKitWebDriver, driven through tauri-driver.
E2E_PACKAGES="webkit2gtk-driver"
# The PostgreSQL run of the server's tests: pg_isready (the server itself runs on every machine).
POSTGRES_CLIENT_PACKAGES="postgresql-client"
# Several instances (scripts/cluster.sh, its E2E and the Redis tests): nginx in front,
# redis-cli, and redis-server for the tests that stop and restart a Redis of their own.
CLUSTER_PACKAGES="nginx redis-tools redis-server"

# The Redis the tests share limits through (each test under its own namespace).
TEST_REDIS_URL="redis://127.0.0.1:6379/0"

# Fails loudly, never skips, when Redis at 127.0.0.1:6379 does not answer.
require_test_redis() {
  if [ "$(redis-cli -u "$TEST_REDIS_URL" PING 2>&1)" != "PONG" ]; then
    echo "error: Redis is not reachable at 127.0.0.1:6379: the shared rate-limit tests need it." >&2
    echo "       Start it and run again." >&2
    exit 1
  fi
}

# The PostgreSQL server the tests use (trust auth); each test creates and drops its own database.
TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"

# Fails loudly, never skips, when PostgreSQL at 127.0.0.1:5432 does not answer.
require_test_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 -t 10; then
    pg_isready -h 127.0.0.1 -p 5432 >&2 || true
    echo "error: PostgreSQL is not reachable at 127.0.0.1:5432: the server's tests must also run" >&2
    echo "       on PostgreSQL. Start it (trust auth for user postgres on 127.0.0.1) and run again." >&2
    exit 1
  fi
  if ! psql "$TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null; then
    echo "error: PostgreSQL at 127.0.0.1:5432 answers but $TEST_POSTGRES_URL cannot log in" >&2
    echo "       (the tests need user postgres with trust auth, allowed to create databases)" >&2
    exit 1
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_packages() {
  # shellcheck disable=SC2086
  if dpkg -s $SYSTEM_PACKAGES $* >/dev/null 2>&1; then
    return 0
  fi
  echo "==> installing system packages"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $SYSTEM_PACKAGES $* >/dev/null
}

check_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust 1.90 or newer (https://rustup.rs), then run this again" >&2
    exit 1
  fi
  if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  fi
}

# Builds are cached outside the clone so repeat runs are fast.
use_build_cache() {
  if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    if mkdir -p /var/cache/keyport/target 2>/dev/null && [ -w /var/cache/keyport/target ]; then
      CARGO_TARGET_DIR=/var/cache/keyport/target
    else
      CARGO_TARGET_DIR="$HOME/.cache/keyport/target"
      mkdir -p "$CARGO_TARGET_DIR"
    fi
  fi
  export CARGO_TARGET_DIR
}

# The Python tools the tests use, in a venv outside the clone
# (/var/cache/keyport/venv, or ~/.cache/keyport/venv): schemathesis, and
# standardwebhooks (the reference library that checks our webhook
# signatures). Sets $venv.
SCHEMATHESIS_VERSION=4.32.5
STANDARDWEBHOOKS_VERSION=1.0.0
ensure_python_tools() {
  if mkdir -p /var/cache/keyport 2>/dev/null && [ -w /var/cache/keyport ]; then
    venv=/var/cache/keyport/venv
  else
    venv="$HOME/.cache/keyport/venv"
  fi
  if "$venv/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION" \
    && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('standardwebhooks') != '$STANDARDWEBHOOKS_VERSION')" 2>/dev/null; then
    return
  fi
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "==> installing python3-venv"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  echo "==> schemathesis $SCHEMATHESIS_VERSION and standardwebhooks $STANDARDWEBHOOKS_VERSION into $venv"
  if [ ! -x "$venv/bin/pip" ]; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
}

# The keyport-server binary a script runs: $KEYPORT_SERVER_BIN, or a debug
# build. Sets $bin.
keyport_server_bin() {
  if [ -n "${KEYPORT_SERVER_BIN:-}" ]; then
    bin=$KEYPORT_SERVER_BIN
  else
    use_build_cache
    cargo build -p keyport-server --locked
    bin="$CARGO_TARGET_DIR/debug/keyport-server"
  fi
}

# Starts "$bin" serve on a free loopback port with the given arguments,
# output in $tmp/server.out and server.log. Sets $server (its pid) and $base
# (http://127.0.0.1:PORT).
start_keyport_server() {
  "$bin" serve --listen 127.0.0.1:0 "$@" >"$tmp/server.out" 2>>"$tmp/server.log" &
  server=$!
  base=
  for _ in $(seq 1 100); do
    base=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$tmp/server.out")
    [ -n "$base" ] && return 0
    kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "error: keyport-server did not start" >&2; exit 1; }
    sleep 0.1
  done
  echo "error: keyport-server did not say where it listens" >&2
  exit 1
}

# Stops the server start_keyport_server started, if it runs.
stop_keyport_server() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
