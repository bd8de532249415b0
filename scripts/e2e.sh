#!/usr/bin/env bash
# Real-window E2E tests of the desktop portal (tests/e2e): the built app under
# Xvfb, driven over WebDriver by tauri-driver + WebKitWebDriver, with a
# private D-Bus session and a throwaway unlocked GNOME Keyring as the OS
# keychain. Screenshots of every step go to $E2E_SHOTS (default
# $CARGO_TARGET_DIR/e2e-shots; not in the repository).
#
# Needs the Debian packages of scripts/lib.sh plus webkit2gtk-driver
# (WebKitWebDriver), xvfb + xauth (xvfb-run), dbus + gnome-keyring.
#   scripts/e2e.sh                 # build what is missing or stale, run the tests
#   scripts/e2e.sh embedded        # only tests whose name contains "embedded"
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
use_build_cache
export E2E_SHOTS="${E2E_SHOTS:-$CARGO_TARGET_DIR/e2e-shots}"

for tool in cargo xvfb-run WebKitWebDriver; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      WebKitWebDriver) hint="install the Debian package webkit2gtk-driver" ;;
      xvfb-run) hint="install the Debian packages xvfb and xauth" ;;
      *) hint="install Rust 1.90 or newer" ;;
    esac
    echo "$0: $tool not found: $hint" >&2
    exit 1
  fi
done

# tauri-driver from crates.io, installed once into a cache outside the clone.
TOOLS="$(dirname "$CARGO_TARGET_DIR")/tools"
export PATH="$TOOLS/bin:$PATH"
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "==> cargo install tauri-driver (into $TOOLS)"
  cargo install tauri-driver --version '^2' --locked --root "$TOOLS"
fi

# The app embeds ui/dist at compile time.
if [ ! -f ui/dist/index.html ]; then
  echo "==> npm run ui:build"
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
  npm run --silent ui:build
fi

echo "==> cargo build (the app and the key service, debug)"
cargo build --locked -p keyport -p keyport-server --bins

echo "==> E2E tests (Xvfb + Secret Service; screenshots in $E2E_SHOTS)"
mkdir -p "$E2E_SHOTS"
scripts/with-secret-service.sh \
  xvfb-run -a -s "-screen 0 1280x800x24" \
  env KEYPORT_E2E=1 cargo test --locked -p keyport-e2e -- --test-threads=1 --nocapture "$@"
