#!/usr/bin/env bash
# Alternated A/B of keyport-server builds on one hot path, over the database
# and keys the shared harness leaves behind (../shared/bench/run.sh with
# KEYPORT_BIN set writes $WORK/keyport.db and $KEYS_FILE).
#
#   bench/ab.sh verify|gateway SECONDS "LABEL|BIN|EXTRA SERVE ARGS" ...
#   bench/ab.sh gateway 8 "old|/tmp/old|" "new|/tmp/new|" "old|/tmp/old|" "new|/tmp/new|"
#
# Each spec: a copy of the database, the server and the upstream (bench-hello
# from the harness's build) on CPU 1, a 2 s warm-up, then `wrk -t1 -c64` on
# CPU 0 for SECONDS with the harness's wrk script. Prints req/s, p99 and the
# server's CPU time per request (utime + stime from /proc), the figure that
# moves least with this VM's noise. Run the specs alternated.
#
#   AB_DB (/tmp/bench-run/keyport.db), KEYS_FILE (/tmp/bench-keys.txt),
#   AB_HELLO (/var/cache/keyport/bench-target/release/bench-hello),
#   AB_WRK_DIR (../shared/bench/wrk next to this repo)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
T=${1:?verify or gateway}; SECS=${2:?seconds}; shift 2
DB=${AB_DB:-/tmp/bench-run/keyport.db}
export KEYS_FILE=${KEYS_FILE:-/tmp/bench-keys.txt}
HELLO=${AB_HELLO:-/var/cache/keyport/bench-target/release/bench-hello}
WRK_DIR=${AB_WRK_DIR:-$HERE/../../shared/bench/wrk}
for f in "$DB" "$KEYS_FILE" "$HELLO" "$WRK_DIR/post_verify.lua"; do
  [[ -e $f ]] || { echo "ab.sh: $f is missing: run ../shared/bench/run.sh with KEYPORT_BIN first" >&2; exit 1; }
done
UP=18091; P=18086
taskset -c 1 "$HELLO" 127.0.0.1:$UP >/dev/null 2>&1 & UPPID=$!
trap 'kill $UPPID 2>/dev/null' EXIT
if [[ $T == verify ]]; then URL=http://127.0.0.1:$P/v1/verify; S=$WRK_DIR/post_verify.lua
else URL=http://127.0.0.1:$P/anything; S=$WRK_DIR/get_bearer.lua; fi
# "TID:NAME TICKS" per thread of PID (utime + stime).
threads() {
  local f line name tid
  for f in /proc/"$1"/task/*/stat; do
    line=$(cat "$f" 2>/dev/null) || continue
    name=${line#*(}; name=${name%)*}
    # shellcheck disable=SC2086
    set -- ${line##*) }
    tid=${f%/stat}; tid=${tid##*/}
    echo "$tid:${name// /_} $((${12} + ${13}))"
  done
}
for spec in "$@"; do
  IFS='|' read -r label bin args <<<"$spec"
  W=$(mktemp -d); cp "$DB" "$W/k.db"
  # shellcheck disable=SC2086
  taskset -c 1 "$bin" serve --listen 127.0.0.1:$P --database "sqlite://$W/k.db" \
    --upstream http://127.0.0.1:$UP $args >"$W/log" 2>&1 & SP=$!
  for _ in $(seq 300); do curl -s -o /dev/null -m 1 http://127.0.0.1:$P/healthz && break; sleep 0.1; done
  taskset -c 0 wrk -t1 -c64 -d2s -s "$S" "$URL" >/dev/null 2>&1
  t0=$(awk '{print $14+$15}' /proc/$SP/stat); th0=$(threads $SP)
  out=$(taskset -c 0 wrk -t1 -c64 -d"${SECS}s" --latency -s "$S" "$URL" 2>&1)
  t1=$(awk '{print $14+$15}' /proc/$SP/stat); th1=$(threads $SP)
  rps=$(grep -oE 'Requests/sec: +[0-9.]+' <<<"$out" | grep -oE '[0-9.]+$')
  n=$(grep -oE '^ +[0-9]+ requests' <<<"$out" | grep -oE '[0-9]+')
  p99=$(grep -E '^ +99%' <<<"$out" | awk '{print $2}')
  tick=$(getconf CLK_TCK)
  cpu=$(python3 -c "print(round(($t1-$t0)*1e6/$tick/$n,2))")
  echo "$label $T req/s=$rps p99=$p99 server_cpu_us_per_req=$cpu"
  # The same per thread (by name), the threads that used any CPU.
  join <(sort <<<"$th0") <(sort <<<"$th1") | awk -v n="$n" -v tick="$tick" \
    '{ d = $3 - $2; if (d > 0) printf "    %s %.2f us/req\n", $1, d * 1e6 / tick / n }'
  kill $SP; wait $SP 2>/dev/null; rm -rf "$W"
done
