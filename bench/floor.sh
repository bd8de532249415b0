#!/usr/bin/env bash
# How much of a request's cost is the HTTP framework: examples/hello (axum on
# hyper, the shared harness's ceiling) against examples/lean_hello (the least
# HTTP/1.1 a server can do: httparse and one buffer), alternated, each on
# CPU 1 with `wrk -t1 -c64` POSTing on CPU 0. Prints req/s, p99, the server's
# CPU time per request (utime + stime from /proc) and the system calls per
# request (perf stat, when perf is installed), then lean/hello ratios.
#
#   bench/floor.sh [ROUNDS] [SECONDS]        (default 3 rounds of 8 s)
#
# The CPU per request of the two is what bounds a leaner HTTP core: if lean
# is only a little cheaper, the kernel's socket work, not hyper, is the floor
# both hot paths stand on.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
ROUNDS=${1:-3}
SECS=${2:-8}
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/keyport/target}
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'floor.sh: %s\n' "$*" >&2; exit 1; }
(($(nproc) >= 2)) || die "needs 2 CPUs"
for t in wrk python3; do command -v "$t" >/dev/null || die "$t is needed (apt-get install $t)"; done
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

log "building examples hello and lean_hello in $TARGET_DIR"
CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" \
  -p keyport-server --example hello --example lean_hello

TMP=$(mktemp -d /tmp/keyport-floor.XXXXXX)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
cat >"$TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"key":"to_live_0123456789abcdef0123456789abcdef0123456789abcd"}'
wrk.headers["Content-Type"] = "application/json"
EOF

# measure NAME -> one line: NAME req/s p99 cpu_us syscalls_per_req
measure() {
  local name=$1 url t0 t1 out n rps p99 calls=n/a perf_pid=
  taskset -c 1 "$TARGET_DIR/release/examples/$name" >"$TMP/$name.out" 2>&1 &
  PID=$!
  url=$(listening "$PID" "$TMP/$name.out")
  taskset -c 0 wrk -t1 -c64 -d2s -s "$TMP/post.lua" "$url/" >/dev/null
  t0=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
  if command -v perf >/dev/null; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$PID" -o "$TMP/perf.txt" -- sleep "$SECS" &
    perf_pid=$!
  fi
  out=$(taskset -c 0 wrk -t1 -c64 -d"${SECS}s" --latency -s "$TMP/post.lua" "$url/")
  t1=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
  [[ -n $perf_pid ]] && { wait "$perf_pid" 2>/dev/null || true; }
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  n=$(grep -oE '^ +[0-9]+ requests' <<<"$out" | grep -oE '[0-9]+')
  rps=$(grep -oE 'Requests/sec: +[0-9.]+' <<<"$out" | grep -oE '[0-9.]+$')
  p99=$(grep -E '^ +99%' <<<"$out" | awk '{ print $2 }')
  if [[ -s $TMP/perf.txt ]]; then
    calls=$(awk -F, -v n="$n" '/raw_syscalls/ { printf "%.2f", $1 / n }' "$TMP/perf.txt")
  fi
  python3 -c "import sys; t=int(sys.argv[3])-int(sys.argv[2]); print(sys.argv[1], sys.argv[4], sys.argv[5], round(t*1e6/int(sys.argv[7])/int(sys.argv[6]), 2), sys.argv[8])" \
    "$name" "$t0" "$t1" "$rps" "$p99" "$n" "$(getconf CLK_TCK)" "$calls"
}

printf '| round | server | req/s | p99 | CPU µs/req | syscalls/req |\n| ---: | --- | ---: | ---: | ---: | ---: |\n'
for r in $(seq 1 "$ROUNDS"); do
  for name in hello lean_hello; do
    read -r s rps p99 cpu calls < <(measure "$name")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$r" "$s" "$rps" "$p99" "$cpu" "$calls"
    echo "$s $rps $cpu" >>"$TMP/all"
  done
done
python3 - "$TMP/all" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
print(f"\nmedians: hello {med('hello', 1):,.0f} req/s, {med('hello', 2)} µs/req; "
      f"lean_hello {med('lean_hello', 1):,.0f} req/s, {med('lean_hello', 2)} µs/req")
print(f"lean/hello: req/s {med('lean_hello', 1) / med('hello', 1):.3f}, "
      f"CPU per request {med('lean_hello', 2) / med('hello', 2):.3f}")
EOF
