#!/usr/bin/env bash
# Instructions per request (callgrind's Ir) of one keyport-server build on
# one path: repeatable whatever else the machine does, unlike req/s here.
# Uses the database and keys the shared harness leaves behind (see ab.sh).
#
#   bench/callgrind.sh BIN verify|gateway|hello [SECONDS=10] [CONNS=16]
#   CG_ARGS="--record-usage false" bench/callgrind.sh ...   (extra serve args)
#
# The server runs under `valgrind --tool=callgrind --separate-threads=yes`
# on CPU 1 (the upstream natively beside it); after a 5 s warm-up the
# counters are zeroed, wrk runs SECONDS, and the counters are dumped. Prints
# Ir per request for each thread: the first is the request thread (the
# one to compare), the others are SQLite's and the usage flusher's, whose
# share per request is inflated here (valgrind runs ~50x slower, so every
# flush covers fewer requests). Valgrind hides SHA-NI: a key hash costs
# ~7,000 Ir of portable SHA-256 here, a fraction of that natively.
# Build BIN with CARGO_PROFILE_RELEASE_STRIP=false
# CARGO_PROFILE_RELEASE_DEBUG=line-tables-only to read the files by function
# (callgrind_annotate --inclusive=yes DIR/cg.out.1-01).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:?binary}; T=${2:?verify, gateway or hello}; SECS=${3:-10}; CONNS=${4:-16}
DB=${AB_DB:-/tmp/bench-run/keyport.db}
export KEYS_FILE=${KEYS_FILE:-/tmp/bench-keys.txt}
HELLO=${AB_HELLO:-/var/cache/keyport/bench-target/release/bench-hello}
WRK_DIR=${AB_WRK_DIR:-$HERE/../../shared/bench/wrk}
command -v valgrind >/dev/null || { echo "callgrind.sh: apt-get install valgrind" >&2; exit 1; }
W=$(mktemp -d)
UP=18091; P=18085
taskset -c 1 "$HELLO" 127.0.0.1:$UP >/dev/null 2>&1 & UPPID=$!
VG=(taskset -c 1 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$W/cg.out")
if [[ $T == hello ]]; then
  "${VG[@]}" "$HELLO" 127.0.0.1:$P >"$W/server.log" 2>&1 &
  URL=http://127.0.0.1:$P/v1/verify; S=$WRK_DIR/post_verify.lua
else
  cp "$DB" "$W/k.db"
  # shellcheck disable=SC2086
  "${VG[@]}" "$BIN" serve --listen 127.0.0.1:$P --database "sqlite://$W/k.db" \
    --upstream http://127.0.0.1:$UP ${CG_ARGS:-} >"$W/server.log" 2>&1 &
  if [[ $T == verify ]]; then URL=http://127.0.0.1:$P/v1/verify; S=$WRK_DIR/post_verify.lua
  else URL=http://127.0.0.1:$P/anything; S=$WRK_DIR/get_bearer.lua; fi
fi
VPID=$!
for _ in $(seq 600); do curl -s -o /dev/null -m 1 http://127.0.0.1:$P/ && break; sleep 0.5; done
taskset -c 0 wrk -t1 -c"$CONNS" -d5s -s "$S" "$URL" >"$W/warm.txt" 2>&1
callgrind_control -z $VPID >/dev/null
taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$S" "$URL" >"$W/wrk.txt" 2>&1
callgrind_control -d $VPID >/dev/null
sleep 1
kill -9 $VPID; kill $UPPID; wait $VPID 2>/dev/null
N=$(grep -oE '^ +[0-9]+ requests' "$W/wrk.txt" | grep -oE '[0-9]+')
echo "$T requests=$N files=$W"
tot=0
for f in "$W"/cg.out*-*; do
  ir=$(callgrind_annotate "$f" 2>/dev/null | grep -m1 "PROGRAM TOTALS" | grep -oE '^[0-9,]+' | tr -d ,)
  ir=${ir:-0}; tot=$((tot + ir))
  ((ir > 0)) && echo "  thread $(basename "$f") Ir/req=$((ir / N))"
done
echo "  all threads Ir/req=$((tot / N))"
