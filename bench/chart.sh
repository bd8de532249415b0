#!/usr/bin/env bash
# Chart render benchmark: the Usage screen's uPlot chart, drawn by the app's
# own plotting code (ui/src/lib/usage.ts, usage-plot.ts) in WebKitGTK (the
# engine of the Linux app), for 1 day and 30 days of per-minute buckets.
# Prints medians per case and the ratio 30 days / 1 day per round.
# See README.md ("Chart render benchmark").
#
# Environment:
#   BENCH_ROUNDS    measured rounds (after one warm-up)          (default 9)
#   BENCH_MOVES     cursor moves timed per round and case        (default 60)
#   BENCH_DARK      1: dark theme                                (default 0)
#   WEBKIT_SKIA_ENABLE_CPU_RENDERING  set to 1 when the machine has no GPU
#                   render node, as the portal does (a value you set wins)
#
# Exit status: 0 done, 1 setup or page failure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT=$BENCH_DIR/chart/out
# Debian's python3 has the GObject bindings (a pyenv python3 may not).
PY=/usr/bin/python3

cd "$ROOT"

have_gi() {
  "$PY" - <<'EOF' 2>/dev/null
import gi
gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import Gtk, WebKit2
EOF
}

if ! command -v xvfb-run >/dev/null 2>&1 || ! have_gi; then
  echo "==> installing xvfb, python3-gi and gir1.2-webkit2-4.1 (apt-get)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends xvfb xauth python3-gi python3-gi-cairo gir1.2-webkit2-4.1 >/dev/null
fi

echo "==> building the page (bench/chart/out/index.html)"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npx --no-install vite build --config bench/chart/vite.config.ts

# The portal's painter choice (crates/keyport-portal/src/render.rs): Skia's
# CPU painter when there is no GPU render node.
if [ -z "${WEBKIT_SKIA_ENABLE_CPU_RENDERING+x}" ] && ! ls /dev/dri/renderD* >/dev/null 2>&1; then
  export WEBKIT_SKIA_ENABLE_CPU_RENDERING=1
fi

echo "==> measuring in WebKitGTK under Xvfb"
echo "    source tree: $(git describe --always --dirty 2>/dev/null || echo unknown)," \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
EXTRA=()
[ "${BENCH_DARK:-0}" = 1 ] && EXTRA+=(--dark)
exec xvfb-run -a -s "-screen 0 1280x800x24" "$PY" "$BENCH_DIR/chart/run.py" \
  --page "$OUT/index.html" \
  --rounds "${BENCH_ROUNDS:-9}" --moves "${BENCH_MOVES:-60}" \
  --json "$OUT/results.json" --snapshot "$OUT/last-round.png" "${EXTRA[@]}"
