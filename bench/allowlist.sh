#!/usr/bin/env bash
# The cost of an IP allowlist on both hot paths: one keyport-server (gateway
# in front of the hello example) holding two sets of keys, one plain and one
# limited to a 50-entry allowlist that admits the caller; wrk alternates
# between the sets, verify and gateway, BENCH_ROUNDS times, and prints the
# median requests/s of each and the ratio allowlist/plain. Same server, same
# process, interleaved runs: the ratio is what to read.
#
#   BENCH_KEYS (default 2000 per set), BENCH_SECONDS (8), BENCH_ROUNDS (3),
#   BENCH_CONNS (64); servers on CPU 0 and wrk on CPU 1 (2+ CPUs needed).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
KEYS=${BENCH_KEYS:-2000}
SECS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/keyport/target}
export BENCH_DIR BENCH_THREADS=1
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'allowlist.sh: %s\n' "$*" >&2; exit 1; }
(($(nproc) >= 2)) || die "needs 2 CPUs"
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"

log "building release binaries in $TARGET_DIR"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p keyport-server --bin keyport-server --example hello
SERVER_BIN=$TARGET_DIR/release/keyport-server
HELLO_BIN=$TARGET_DIR/release/examples/hello

TMP=$(mktemp -d /tmp/keyport-allowlist.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

DB="sqlite://$TMP/bench.db"
"$SERVER_BIN" account create --name Bench --plan enterprise --json --database "$DB" 2>>"$TMP/server.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["admin_key"])' >"$TMP/admin.key"
taskset -c 0 "$HELLO_BIN" --listen 127.0.0.1:0 >"$TMP/hello.out" 2>"$TMP/hello.log" &
PIDS+=($!)
HELLO_URL=$(listening "${PIDS[-1]}" "$TMP/hello.out")
export KEYPORT_ENTERPRISE_KEY_CAP=$((2 * KEYS + 10))
taskset -c 0 "$SERVER_BIN" serve --listen 127.0.0.1:0 --database "$DB" --upstream "$HELLO_URL" \
  >"$TMP/server.out" 2>>"$TMP/server.log" &
PIDS+=($!)
URL=$(listening "${PIDS[-1]}" "$TMP/server.out")
log "keyport-server at $URL, upstream $HELLO_URL"

# 49 networks that do not match, then the caller's (loopback): the check
# walks the whole list, its worst case for an admitted caller.
NETS=$(python3 -c 'print(",".join([f"10.{i}.0.0/16" for i in range(49)] + ["127.0.0.0/8"]))')
python3 "$BENCH_DIR/seed_keys.py" "$URL" "$TMP/admin.key" "$KEYS" "$TMP/plain.txt" >&2
BENCH_ALLOWED_IPS=$NETS python3 "$BENCH_DIR/seed_keys.py" "$URL" "$TMP/admin.key" "$KEYS" "$TMP/allow.txt" >&2

run() { # run SCRIPT PATH KEYFILE [ip] -> requests/s
  local script=$1 path=$2 keys=$3
  BENCH_VERIFY_IP=${4:-} taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$BENCH_DIR/$script" "$URL$path" -- "$keys" \
    >"$TMP/wrk.txt" 2>&1
  grep -q "Non-2xx" "$TMP/wrk.txt" && die "non-2xx responses: $(grep Non-2xx "$TMP/wrk.txt")"
  awk '/^Requests\/sec/ { print $2 }' "$TMP/wrk.txt"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -a vp va gp ga
for r in $(seq 1 "$ROUNDS"); do
  log "round $r of $ROUNDS"
  vp+=("$(run verify.lua /v1/verify "$TMP/plain.txt" 127.0.0.1)")
  va+=("$(run verify.lua /v1/verify "$TMP/allow.txt" 127.0.0.1)")
  gp+=("$(run gateway.lua / "$TMP/plain.txt")")
  ga+=("$(run gateway.lua / "$TMP/allow.txt")")
done
mv=$(median "${vp[@]}"); mva=$(median "${va[@]}"); mg=$(median "${gp[@]}"); mga=$(median "${ga[@]}")
printf '\nIP allowlist cost (50 entries, caller matches the last), %s keys per set, %s x %ss, median:\n' "$KEYS" "$ROUNDS" "$SECS"
printf '  verify   plain %10.0f req/s   allowlist %10.0f req/s   ratio %.3f   (rounds: %s | %s)\n' \
  "$mv" "$mva" "$(echo "$mva / $mv" | bc -l)" "${vp[*]}" "${va[*]}"
printf '  gateway  plain %10.0f req/s   allowlist %10.0f req/s   ratio %.3f   (rounds: %s | %s)\n' \
  "$mg" "$mga" "$(echo "$mga / $mg" | bc -l)" "${gp[*]}" "${ga[*]}"
