#!/usr/bin/env bash
# Cluster benchmark: POST /v1/verify throughput and latency, in one run, of
#   (a) one keyport-server on SQLite,
#   (b) one keyport-server on PostgreSQL + Redis (scripts/cluster.sh with one
#       instance, measured directly),
#   (c) CLUSTER_INSTANCES (3) on PostgreSQL + Redis behind nginx, round-robin
#       (scripts/cluster.sh, measured through nginx),
#   (d) (b) at half of (b)'s throughput, at a constant rate with latency from
#       each request's due time (examples/openloop.rs: open loop, as wrk2
#       measures; Debian has no wrk2),
#   (e) the bare axum hello-world (examples/hello.rs), pinned like the
#       servers, at the same constant rate: what this machine itself adds to
#       a request's latency at that rate (the floor for (d)).
# Reports b/a and c/a, and from each instance's GET /metrics the share of
# verifies that waited on a Redis round trip. See README.md, "Cluster
# benchmark". A benchmark, not a test: CI does not run it.
#
# Environment:
#   BENCH_KEYS        keys seeded into each setup and rotated over (default 3000)
#   BENCH_SECONDS     measured wrk run, per setup                 (default 10)
#   BENCH_WARMUP      unmeasured wrk run before each, 0=off       (default 2)
#   BENCH_ROUNDS      rounds of (a), (b), (c), (d); the round with the median
#                     c/a ratio is the one tabled                  (default 3)
#   BENCH_CONNS       wrk connections                             (default 64)
#   BENCH_THREADS     wrk threads                  (default: one per wrk CPU)
#   BENCH_PIN         1: every server process (instances, nginx) on CPU 0, wrk
#                     on the others; 0: all share every CPU (default 1 with
#                     2 or more CPUs). PostgreSQL and Redis are not pinned
#                     (pinned to wrk's CPU they slow wrk and openloop: tried)
#   BENCH_PG          PostgreSQL admin URL for (b) and (c)'s databases
#                     (default postgres://postgres@127.0.0.1:5432/postgres)
#   BENCH_REDIS_DB    Redis database of (b); (c) uses the next one (default 8)
#   CLUSTER_INSTANCES instances in (c)                            (default 3)
#   KEYPORT_BIN       keyport-server to run; unset: built with
#                     `cargo build --release -p keyport-server --locked`
#                     (the examples openloop and hello are always built)
#   CARGO_TARGET_DIR                         (default /var/cache/keyport/target)
#   CLUSTER_NO_REDIS=1 / CLUSTER_NO_METRICS=1  for keyport-server builds without
#                     --redis / --metrics-listen (see scripts/cluster.sh): (b)
#                     and (c) then run without Redis, the Redis share is n/a
#   RUST_LOG, KEYPORT_*  passed to every server
#
# Exit status: 0 when the runs completed with only 2xx responses and no socket
# errors; 2 when a measured run saw non-2xx responses or socket errors (the
# numbers are printed anyway); 1 on setup failure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT=$BENCH_DIR/out
KEYS=${BENCH_KEYS:-3000}
DURATION=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-64}
ROUNDS=${BENCH_ROUNDS:-3}
PG_ADMIN=${BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_DB=${BENCH_REDIS_DB:-8}
INSTANCES=${CLUSTER_INSTANCES:-3}
NO_REDIS=${CLUSTER_NO_REDIS:-0}
NO_METRICS=${CLUSTER_NO_METRICS:-0}
log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'bench/cluster.sh: %s\n' "$*" >&2
  exit 1
}

for v in KEYS DURATION CONNS ROUNDS INSTANCES; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number (BENCH_${v}, CLUSTER_INSTANCES)"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a number"
[[ $REDIS_DB =~ ^(0|[1-9][0-9]*)$ ]] || die "BENCH_REDIS_DB must be a number"
NCPU=$(nproc)
PIN=${BENCH_PIN:-$((NCPU >= 2 ? 1 : 0))}
if [[ $PIN == 1 ]]; then
  ((NCPU >= 2)) || die "BENCH_PIN=1 needs at least 2 CPUs"
  # Affinity is inherited: scripts/cluster.sh's instances and nginx land on
  # CPU 0 too, and each tokio runtime sizes itself to one worker.
  SERVER_PIN=(taskset -c 0)
  WRK_PIN=(taskset -c "1-$((NCPU - 1))")
  THREADS=${BENCH_THREADS:-$((NCPU - 1))}
else
  SERVER_PIN=()
  WRK_PIN=()
  THREADS=${BENCH_THREADS:-2}
fi
export BENCH_DIR BENCH_THREADS=$THREADS

# ---- 1. binary and tools ----------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/keyport/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$PWD/$TARGET_DIR ;; esac
BUILD=(--example openloop --example hello)
[[ -n ${KEYPORT_BIN:-} ]] || BUILD+=(--bin keyport-server)
log "building ${BUILD[*]} (release) in $TARGET_DIR"
CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" \
  -p keyport-server "${BUILD[@]}"
if [[ -n ${KEYPORT_BIN:-} ]]; then
  SERVER_BIN=$KEYPORT_BIN
  [[ $SERVER_BIN == /* ]] || SERVER_BIN=$PWD/$SERVER_BIN
else
  SERVER_BIN=$TARGET_DIR/release/keyport-server
fi
OPENLOOP=$TARGET_DIR/release/examples/openloop
HELLO_BIN=$TARGET_DIR/release/examples/hello
[[ -x $SERVER_BIN ]] || die "keyport-server not found: $SERVER_BIN"
export KEYPORT_BIN=$SERVER_BIN # scripts/cluster.sh runs this one, without building

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  if (($(id -u) == 0)); then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
  fi
fi
command -v python3 >/dev/null || die "python3 is needed to seed keys"
command -v curl >/dev/null || die "curl is needed"

# ---- temp dir, processes, cleanup --------------------------------------------
umask 077
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keyport-bench-cluster.XXXXXX")
A_PID=
H_PID=
B_PID=
C_PID=
cleanup() {
  local pid
  set +e
  trap '' INT TERM
  [[ -n $A_PID ]] && kill "$A_PID" 2>/dev/null
  [[ -n $H_PID ]] && kill "$H_PID" 2>/dev/null
  # scripts/cluster.sh stops its instances and nginx, drops its database and
  # flushes its Redis database on SIGTERM.
  for pid in "$B_PID" "$C_PID"; do
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "$A_PID" "$H_PID" "$B_PID" "$C_PID"; do
    [[ -n $pid ]] && wait "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

alive() {
  local state
  state=$(sed 's/^.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# free_ports N: N distinct free ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# ---- 2. the three setups ---------------------------------------------------------
# Enterprise accounts hold 1,000 active keys unless the server allows more.
export KEYPORT_ENTERPRISE_KEY_CAP=$((KEYS + 10))
read -r B_PORT C_PORT <<<"$(free_ports 2)"
# start_cluster NAME INSTANCES REDIS_DB PORT: scripts/cluster.sh in the
# background, pinned like the servers; sets NAME_PID.
start_cluster() {
  local name=$1
  CLUSTER_INSTANCES=$2 CLUSTER_REDIS_DB=$3 CLUSTER_PORT=$4 CLUSTER_PG=$PG_ADMIN \
    CLUSTER_KEEP_DB=0 CLUSTER_ACCESS_LOG=0 CLUSTER_NGINX_WORKERS=1 \
    "${SERVER_PIN[@]}" "$ROOT/scripts/cluster.sh" --print-env "$TMP/$name.env" \
    >"$TMP/$name.cluster.log" 2>&1 &
  printf -v "${name^^}_PID" '%s' "$!"
}
log "starting (b): 1 instance on PostgreSQL + Redis, and (c): $INSTANCES instances behind nginx (scripts/cluster.sh)"
start_cluster b 1 "$REDIS_DB" "$B_PORT"
start_cluster c "$INSTANCES" "$((REDIS_DB + 1))" "$C_PORT"

# (a) meanwhile: one instance on a SQLite file, as bench/verify.sh runs it.
A_DB="sqlite://$TMP/a.db"
"$SERVER_BIN" account create --name Bench --plan enterprise --json --database "$A_DB" 2>>"$TMP/a.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["admin_key"])' >"$TMP/a.admin.key" ||
  die "account create on SQLite failed (see $TMP/a.log)"
"${SERVER_PIN[@]}" "$SERVER_BIN" serve --listen 127.0.0.1:0 --database "$A_DB" >"$TMP/a.out" 2>>"$TMP/a.log" &
A_PID=$!
A_URL=$(listening "$A_PID" "$TMP/a.out" 30)
log "(a) keyport-server on SQLite at $A_URL (pid $A_PID)"
# (e)'s hello-world, pinned like the servers.
"${SERVER_PIN[@]}" "$HELLO_BIN" --listen 127.0.0.1:0 >"$TMP/hello.out" 2>"$TMP/hello.log" &
H_PID=$!
H_URL=$(listening "$H_PID" "$TMP/hello.out")

# env_get FILE NAME: a value from a scripts/cluster.sh --print-env file.
env_get() { sed -n "s/^$2=//p" "$1" | head -n 1; }
# wait_cluster NAME: until its env file is written (the cluster is ready).
wait_cluster() {
  local name=$1 pid_var=${1^^}_PID _
  for _ in $(seq 1 1800); do
    [[ -s $TMP/$name.env ]] && return
    if ! alive "${!pid_var}"; then
      sed 's/^/    /' "$TMP/$name.cluster.log" >&2
      die "($name) scripts/cluster.sh failed (output above)"
    fi
    sleep 0.1
  done
  die "($name) scripts/cluster.sh was not ready within 180 s (see $TMP/$name.cluster.log)"
}
wait_cluster b
wait_cluster c
B_URL=$(env_get "$TMP/b.env" KEYPORT_CLUSTER_INSTANCES)
C_URL=$(env_get "$TMP/c.env" KEYPORT_CLUSTER_URL)
IFS=, read -r -a C_INSTANCES <<<"$(env_get "$TMP/c.env" KEYPORT_CLUSTER_INSTANCES)"
B_METRICS=$(env_get "$TMP/b.env" KEYPORT_CLUSTER_METRICS)
C_METRICS=$(env_get "$TMP/c.env" KEYPORT_CLUSTER_METRICS)
env_get "$TMP/b.env" KEYPORT_CLUSTER_ADMIN_KEY >"$TMP/b.admin.key"
env_get "$TMP/c.env" KEYPORT_CLUSTER_ADMIN_KEY >"$TMP/c.admin.key"
log "(b) at $B_URL, (c) at $C_URL over ${C_INSTANCES[*]}"

# ---- 3. keys ---------------------------------------------------------------------
for s in a b c; do
  url_var=${s^^}_URL
  log "($s) seeding $KEYS keys through ${!url_var}"
  python3 "$BENCH_DIR/seed_keys.py" "${!url_var}" "$TMP/$s.admin.key" "$KEYS" "$TMP/$s.keys" >&2
  [[ $(wc -l <"$TMP/$s.keys") -eq $KEYS ]] || die "($s) key file does not hold $KEYS keys"
done

# verify_status URL KEY_FILE LINE: the status of one POST /v1/verify (the key
# goes through a pipe, never argv).
verify_status() {
  sed -n "$3p" "$2" | python3 -c 'import json, sys; print(json.dumps({"key": sys.stdin.read().strip()}))' |
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' --data-binary @- "$1/v1/verify" ||
    true # curl prints 000 when it cannot connect
}
# Smoke checks, so a broken setup fails here and not as a stream of errors.
# Keys seeded through nginx reach the other instances by the change feed:
# each instance must know the last one before the load starts.
for s in a b c; do
  url_var=${s^^}_URL
  status=$(verify_status "${!url_var}" "$TMP/$s.keys" 1)
  [[ $status == 200 ]] || die "($s) POST /v1/verify with a seeded key answered $status, not 200"
done
for u in "${C_INSTANCES[@]}"; do
  for _ in $(seq 1 100); do
    status=$(verify_status "$u" "$TMP/c.keys" "$KEYS")
    [[ $status == 200 ]] && break
    sleep 0.1
  done
  [[ $status == 200 ]] || die "(c) instance $u answered $status, not 200, for the last key seeded, 10 s after seeding"
done

# ---- 4. load -----------------------------------------------------------------------
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
wrk_cmd() { # URL KEYS: the wrk command line for one setup
  printf '%s\0' "${WRK_PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$BENCH_DIR/verify.lua" "$1/v1/verify" -- "$2"
}
mapfile -d '' WRK_A < <(wrk_cmd "$A_URL" "$TMP/a.keys")
mapfile -d '' WRK_B < <(wrk_cmd "$B_URL" "$TMP/b.keys")
# wrk sends the keys in a fixed cycle and nginx deals requests round-robin:
# with a key count that is a multiple of the instances, each key would
# always reach the same instance in a run, and another one in the next run
# (where the round-robin counter then stands), so every measured run would
# start each key's lease afresh. One key fewer and each key reaches every
# instance within a few cycles of the warm-up, as mixed traffic does.
C_KEYS=$TMP/c.keys
if ((KEYS % INSTANCES == 0 && KEYS > 1)); then
  C_KEYS=$TMP/c.cycle.keys
  head -n "$((KEYS - 1))" "$TMP/c.keys" >"$C_KEYS"
fi
mapfile -d '' WRK_C < <(wrk_cmd "$C_URL" "$C_KEYS")

# tree_ticks PID: user+system CPU ticks of PID and all its descendants (a
# cluster: scripts/cluster.sh, its instances, nginx and its workers).
tree_ticks() {
  local pid t=0
  for pid in $(ps -e -o pid=,ppid= | awk -v root="$1" '
      { kids[$2] = kids[$2] " " $1 }
      END {
        out = root; q = root
        while (q != "") {
          n = split(q, cur, " "); q = ""
          for (i = 1; i <= n; i++) {
            m = split(kids[cur[i]], c, " ")
            for (j = 1; j <= m; j++) { out = out " " c[j]; q = q " " c[j] }
          }
        }
        print out
      }'); do
    t=$((t + $(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0)))
  done
  echo "$t"
}
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# children_ticks VAR: user+system CPU of this shell's finished children (wrk),
# in ticks; `times` must run in this shell, not in $(...).
children_ticks() {
  times >"$TMP/times"
  printf -v "$1" '%s' "$(awk -v hz="$(getconf CLK_TCK)" 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
    printf "%d\n", t * hz
  }' "$TMP/times")"
}

# leases METRICS_URLS: "HIT MISS FALLBACK", keyport_limiter_leases_total by
# result summed over the instances' GET /metrics, or "n/a".
leases() {
  local urls=() u body hit=0 miss=0 fb=0 h m f
  if [[ -z $1 ]]; then
    echo n/a
    return
  fi
  IFS=, read -r -a urls <<<"$1"
  for u in "${urls[@]}"; do
    if ! body=$(curl -fsS --max-time 5 "$u" 2>/dev/null); then
      echo n/a
      return
    fi
    read -r h m f < <(awk '
      /^keyport_limiter_leases_total\{/ {
        v = $0; sub(/^[^}]*\}[ \t]*/, "", v); split(v, x, /[ \t]+/)
        if ($0 ~ /result="hit"/) { hit += x[1]; seen = 1 }
        else if ($0 ~ /result="miss"/) { miss += x[1]; seen = 1 }
        else if ($0 ~ /result="fallback"/) { fb += x[1] }
      }
      END { if (seen) printf "%.0f %.0f %.0f\n", hit, miss, fb; else print "n/a" }' <<<"$body")
    if [[ $h == n/a ]]; then
      echo n/a
      return
    fi
    hit=$((hit + h))
    miss=$((miss + m))
    fb=$((fb + f))
  done
  echo "$hit $miss $fb"
}
# shellcheck disable=SC2034 # read through ${!var}
LEASES_b="0 0 0" LEASES_c="0 0 0" LEASES_d="0 0 0"
# add_leases CASE BEFORE AFTER: adds the difference to LEASES_CASE (n/a sticks).
add_leases() {
  local var=LEASES_$1 b0 b1 b2 a0 a1 a2 t0 t1 t2
  if [[ $2 == n/a || $3 == n/a || ${!var} == n/a ]]; then
    printf -v "$var" n/a
    return
  fi
  read -r b0 b1 b2 <<<"$2"
  read -r a0 a1 a2 <<<"$3"
  read -r t0 t1 t2 <<<"${!var}"
  printf -v "$var" '%s %s %s' $((t0 + a0 - b0)) $((t1 + a1 - b1)) $((t2 + a2 - b2))
}

# run_wrk NAME ROUND TREE_PID METRICS CMD...: optional warm-up (the same command
# with a shorter -d), then the measured run, saved to $OUT. Sets
# cpu_NAME_rROUND to "SERVER WRK OTHER TOTAL" ticks during the measured run,
# and adds the run's lease counts to LEASES_NAME.
run_wrk() {
  local name=$1 round=$2 pid=$3 metrics=$4 s0 w0 b0 t0 s1 w1 b1 t1 l0 l1
  shift 4
  if [[ $WARMUP != 0 ]]; then
    log "($name) warm-up ${WARMUP}s"
    "${@/#-d${DURATION}s/-d${WARMUP}s}" >/dev/null || true
  fi
  log "($name) measuring ${DURATION}s (round $round of $ROUNDS)"
  [[ -n $metrics ]] && l0=$(leases "$metrics")
  s0=$(tree_ticks "$pid")
  children_ticks w0
  read -r b0 t0 < <(machine_ticks)
  "$@" >"$OUT/$STAMP-cluster-$name-r$round.txt" 2>&1 || true
  read -r b1 t1 < <(machine_ticks)
  s1=$(tree_ticks "$pid")
  children_ticks w1
  if [[ -n $metrics ]]; then
    l1=$(leases "$metrics")
    add_leases "$name" "$l0" "$l1"
  fi
  printf -v "cpu_${name}_r$round" '%s %s %s %s' $((s1 - s0)) $((w1 - w0)) $((b1 - b0 - (s1 - s0) - (w1 - w0))) $((t1 - t0))
}
# open_loop NAME ROUND TREE_PID METRICS URL RATE: examples/openloop at RATE
# for WARMUP seconds, unmeasured, then measured through run_wrk.
open_loop() {
  local name=$1 round=$2 pid=$3 metrics=$4 url=$5 rate=$6
  if [[ $WARMUP != 0 ]]; then
    log "($name) warm-up ${WARMUP}s at ${rate}/s"
    "${WRK_PIN[@]}" "$OPENLOOP" "$url" "$TMP/b.keys" "$rate" "$WARMUP" "$CONNS" 0 >/dev/null || true
  fi
  WARMUP=0 run_wrk "$name" "$round" "$pid" "$metrics" "${WRK_PIN[@]}" "$OPENLOOP" \
    "$url" "$TMP/b.keys" "$rate" "$DURATION" "$CONNS" 0
}
# field NAME ROUND KEY: a value from the BENCH line of a run ("" if none).
field() {
  sed -n "s/^BENCH .*\\b$3=\\([0-9.]*\\).*/\\1/p" "$OUT/$STAMP-cluster-$1-r$2.txt" 2>/dev/null | head -n 1
}

# shellcheck disable=SC2009 # pgrep -x refuses patterns over 15 characters
busy=$(ps -eo comm= | grep -cxE 'rustc|cargo|cc|ld|node' || true)
((busy == 0)) || log "WARNING: $busy compiler/build processes are running; numbers will be noisy"
load_before=$(cut -d' ' -f1 /proc/loadavg)
HALF_RATE=()
for round in $(seq 1 "$ROUNDS"); do
  run_wrk a "$round" "$A_PID" "" "${WRK_A[@]}"
  run_wrk b "$round" "$B_PID" "$B_METRICS" "${WRK_B[@]}"
  run_wrk c "$round" "$C_PID" "$C_METRICS" "${WRK_C[@]}"
  # (d): (b) at half of its own rate in this round, at a constant rate;
  # (e): the hello-world at the same rate, the machine's own floor.
  b_rps=$(field b "$round" rps)
  rate=$(awk -v r="${b_rps:-0}" 'BEGIN { printf "%d", r / 2 }')
  if ((rate > 0)); then
    HALF_RATE[round]=$rate
    # Each warmed up at the rate first, outside the measured run (and its
    # lease counts): (b) sat idle through (c), so its leases are gone.
    open_loop d "$round" "$B_PID" "$B_METRICS" "$B_URL/v1/verify" "$rate"
    open_loop e "$round" "$H_PID" "" "$H_URL/" "$rate"
  fi
done

# Raw material kept: each instance's metrics and stderr.
for s in b c; do
  metrics_var=${s^^}_METRICS
  if [[ -n ${!metrics_var} ]]; then
    IFS=, read -r -a urls <<<"${!metrics_var}"
    for i in "${!urls[@]}"; do
      curl -fsS --max-time 5 "${urls[i]}" >"$OUT/$STAMP-cluster-$s-metrics-$((i + 1)).txt" 2>/dev/null || true
    done
  fi
  logdir=$(env_get "$TMP/$s.env" KEYPORT_CLUSTER_LOG_DIR)
  for f in "$logdir"/instance-*.log; do
    [[ -e $f ]] && cp "$f" "$OUT/$STAMP-cluster-$s-$(basename "$f")"
  done
done
cp "$TMP/a.log" "$OUT/$STAMP-cluster-a-instance-1.log"

# ---- 5. report -------------------------------------------------------------------------
for round in $(seq 1 "$ROUNDS"); do
  for s in a b c; do
    [[ -n $(field "$s" "$round" rps) ]] || die "no summary in $OUT/$STAMP-cluster-$s-r$round.txt"
  done
done
# ratio X Y ROUND: X's requests/s over Y's in one round.
ratio() { awk -v x="$(field "$1" "$3" rps)" -v y="$(field "$2" "$3" rps)" 'BEGIN { printf "%.3f", (y > 0 ? x / y : 0) }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }'; }
list() { awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }'; }
ba=$(for r in $(seq 1 "$ROUNDS"); do ratio b a "$r"; echo; done)
ca=$(for r in $(seq 1 "$ROUNDS"); do ratio c a "$r"; echo; done)
# The round with the median c/a ratio is tabled.
median_round=$(for r in $(seq 1 "$ROUNDS"); do echo "$(ratio c a "$r") $r"; done |
  sort -g | awk '{ r[NR] = $2 } END { print r[int((NR + 1) / 2)] }')
for s in a b c d e; do
  [[ -e $OUT/$STAMP-cluster-$s-r$median_round.txt ]] &&
    cp "$OUT/$STAMP-cluster-$s-r$median_round.txt" "$OUT/$STAMP-cluster-$s.txt"
done

HZ=$(getconf CLK_TCK)
ms() { awk -v us="$1" 'BEGIN { if (us == "") print "-"; else printf "%.2f ms", us / 1000 }'; }
errors() {
  local e=0 k v
  for k in connect_err read_err write_err timeout_err; do
    v=$(field "$1" "$2" "$k")
    e=$((e + ${v:-0}))
  done
  echo "$e"
}
# row CASE ROUND LABEL: one line of the table.
row() {
  local c=$1 r=$2 ticks=cpu_$1_r$2 s o t
  if [[ ! -v $ticks ]]; then
    printf '  %-36s not run\n' "$3"
    return
  fi
  read -r s _ o t <<<"${!ticks}"
  printf '  %-36s %9s %9s %9s %9s %7s %7s %7s %6s\n' "$3" \
    "$(awk -v x="$(field "$c" "$r" rps)" 'BEGIN { printf "%.0f", x }')" \
    "$(ms "$(field "$c" "$r" p50_us)")" "$(ms "$(field "$c" "$r" p99_us)")" "$(ms "$(field "$c" "$r" max_us)")" \
    "$(field "$c" "$r" non2xx)" "$(errors "$c" "$r")" \
    "$(awk -v s="$s" -v hz="$HZ" -v n="$(field "$c" "$r" requests)" 'BEGIN { printf "%.1f", (n > 0 ? 1e6 * s / hz / n : 0) }')" \
    "$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.0f%%", (t > 0 ? 100 * o / t : 0) }')"
}
# share CASE: the Redis-wait share of a case's measured runs.
share() {
  local var=LEASES_$1 h m f
  if ((NO_METRICS)); then
    echo "n/a (no /metrics: CLUSTER_NO_METRICS=1)"
    return
  fi
  if [[ ${!var} == n/a ]]; then
    echo "n/a (GET /metrics failed or has no keyport_limiter_leases_total)"
    return
  fi
  read -r h m f <<<"${!var}"
  if ((h + m + f == 0)); then
    echo "n/a (no rate decisions counted)"
    return
  fi
  awk -v h="$h" -v m="$m" -v f="$f" 'BEGIN {
    printf "%.2f%% waited on Redis (%d misses of %d; %d from a local lease", 100 * m / (h + m + f), m, h + m + f, h
    if (f > 0) printf "; %d on the fallback share: Redis was down", f
    printf ")"
  }'
}
# Any non-2xx or socket error in any measured run spoils the numbers.
bad=0
for r in $(seq 1 "$ROUNDS"); do
  for s in a b c d e; do
    [[ -e $OUT/$STAMP-cluster-$s-r$r.txt ]] || continue
    n=$(field "$s" "$r" non2xx)
    bad=$((bad + ${n:-0} + $(errors "$s" "$r")))
  done
done
tree=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
redis_label="PostgreSQL + Redis"
((NO_REDIS)) && redis_label="PostgreSQL, no Redis"
d_row=$(row d "$median_round" "(d) (b) at half load, ${HALF_RATE[median_round]:-?}/s")
e_row=$(row e "$median_round" "(e) hello-world at that rate")
d_note="examples/openloop.rs: a constant rate of half (b)'s requests/s in the same round, latency from each request's due time (open loop, as wrk2); $CONNS connections, after ${WARMUP}s at the rate unmeasured"

pin_line="none (BENCH_PIN=0)"
[[ $PIN == 1 ]] && pin_line="every keyport-server and nginx on CPU 0, wrk on CPUs 1-$((NCPU - 1)); PostgreSQL and Redis unpinned (BENCH_PIN=1)"
setup_line="$redis_label; (c): $INSTANCES instances, nginx with 1 worker, round-robin, keep-alive upstreams"
((NO_METRICS)) && setup_line+="; no --metrics-listen (CLUSTER_NO_METRICS=1)"
{
  echo
  echo "Keyport cluster verify benchmark  ($(date -u +%F\ %TZ), $NCPU CPUs)"
  echo "  keys seeded:       $KEYS per setup (plan enterprise: 1000/min per key, burst 2000; KEYPORT_ENTERPRISE_KEY_CAP=$KEYPORT_ENTERPRISE_KEY_CAP); (c) sends $(wc -l <"$C_KEYS") of them (see the script)"
  echo "  wrk:               $THREADS threads, $CONNS connections, ${DURATION}s (+${WARMUP}s warm-up), $ROUNDS rounds; tabled: round $median_round (median c/a)"
  echo "  CPU pinning:       $pin_line"
  echo "  (b), (c):          $setup_line"
  echo "  (d), (e):          $d_note"
  echo "  source tree:       $tree"
  echo "  load before runs:  $load_before (1-min avg), other build processes: $busy"
  echo
  printf '  %-36s %9s %9s %9s %9s %7s %7s %7s %6s\n' "" "req/s" "p50" "p99" "max" "non-2xx" "sockerr" "µs/req" "other"
  row a "$median_round" "(a) 1 instance, SQLite"
  row b "$median_round" "(b) 1 instance, $redis_label"
  row c "$median_round" "(c) $INSTANCES instances + nginx"
  echo "$d_row"
  echo "$e_row"
  echo "  (d), (e) p99.9: $(ms "$(field d "$median_round" p999_us)"), $(ms "$(field e "$median_round" p999_us)")"
  echo "  (µs/req: CPU time of the setup's own processes, instances and nginx, per request;"
  echo "   other: CPU share of everything but them and wrk: PostgreSQL, Redis, kernel, other jobs)"
  echo
  echo "  b/a   $(median <<<"$ba")   (per round: $(list <<<"$ba"))"
  echo "  c/a   $(median <<<"$ca")   (per round: $(list <<<"$ca"))"
  echo
  echo "  verifies that waited on a Redis round trip: keyport_limiter_leases_total{result=\"miss\"}"
  echo "  / (hit + miss + fallback), over the measured runs, summed over the instances' GET /metrics:"
  echo "    (b)  $(share b)"
  echo "    (c)  $(share c)"
  echo "    (d)  $(share d)"
  echo
  echo "  commands:"
  echo "    ${WRK_A[*]}"
  echo "    ${WRK_B[*]}"
  echo "    ${WRK_C[*]}"
  echo "    ${WRK_PIN[*]} $OPENLOOP $B_URL/v1/verify KEY_FILE RATE $DURATION $CONNS 0   (d; (e) the same at $H_URL/)"
  echo "  raw output: $OUT/$STAMP-cluster-*: {a,b,c,d,e}-r<round>.txt (wrk, openloop), {b,c}-metrics-<n>.txt, <setup>-instance-<n>.log"
} | tee "$OUT/$STAMP-cluster-report.txt"

if ((bad > 0)); then
  echo "WARNING: non-2xx responses or socket errors in the measured runs: the numbers above are not clean" >&2
  exit 2
fi
