#!/usr/bin/env bash
# Portal startup and memory benchmark: the release portal (embedded mode)
# against a bare Tauri 2 window (bench/bare-tauri) built in the same run with
# the same Tauri, under Xvfb and a private Secret Service. Prints the medians
# of cold start (exec → first rendered key list / page) and total RSS of each
# app's process tree, and the two ratios portal/bare (target ≤ 1.2× each).
# See README.md.
#
# Environment:
#   BENCH_RUNS      measured launches per app                 (default 5)
#   BENCH_SETTLE    seconds after "ready" to sample memory     (default 3)
#   CARGO_TARGET_DIR                                           (default /var/cache/keyport/target)
#
# Exit status: 0 when the runs completed (targets missed are reported, not
# failed); 1 on setup failure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/keyport/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$PWD/$TARGET_DIR ;; esac
export CARGO_TARGET_DIR=$TARGET_DIR
PORTAL=$TARGET_DIR/release/keyport
BARE=$TARGET_DIR/release/bare-tauri

if [ -z "${_KEYPORT_BENCH_INNER:-}" ]; then
  cd "$ROOT"
  for tool in cargo npm python3 xvfb-run dbus-run-session gnome-keyring-daemon; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$0: $tool not found (Debian: python3, xvfb, xauth, dbus, gnome-keyring; Rust; Node 20)" >&2
      exit 1
    fi
  done
  echo "==> UI build (the portal embeds ui/dist)"
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
  npm run --silent ui:build
  # Release builds as `tauri build` makes them: the custom-protocol feature
  # serves the embedded, compressed assets.
  echo "==> cargo build --release: the portal"
  cargo build --release --locked -p keyport --bin keyport --features tauri/custom-protocol
  echo "==> cargo build --release: the bare Tauri app (bench/bare-tauri)"
  cargo build --release --locked --manifest-path bench/bare-tauri/Cargo.toml \
    --features tauri/custom-protocol
  echo "==> measuring under Xvfb with a private Secret Service ($TARGET_DIR)"
  echo "    source tree: $(git describe --always --dirty 2>/dev/null || echo unknown)," \
    "load average: $(cut -d' ' -f1-3 /proc/loadavg), compilers running: $(pgrep -c -x rustc || true)"
  export _KEYPORT_BENCH_INNER=1
  exec "$ROOT/scripts/with-secret-service.sh" \
    xvfb-run -a -s "-screen 0 1280x800x24" "$0" "$@"
fi

unset _KEYPORT_BENCH_INNER
exec python3 "$BENCH_DIR/portal_measure.py" \
  --portal "$PORTAL" --bare "$BARE" \
  --runs "${BENCH_RUNS:-5}" --settle "${BENCH_SETTLE:-3}" \
  --out "$BENCH_DIR/out" --label "$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || true)"
