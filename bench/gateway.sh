#!/usr/bin/env bash
# The gateway against its peers, and both hot paths against the number of
# keys. Every server (and the upstream) on CPU 0, wrk -t1 on CPU 1.
#
# 1. Peers: GET / with a Bearer key through
#    - nginx `proxy_pass` (keep-alive pool of 64, `limit_req` keyed on the
#      Authorization header: the shared harness's gateway peer),
#    - examples/bare_proxy: hyper's server and pooled client with nothing
#      checked, limited or recorded (the floor for a hyper-based gateway),
#    - keyport-server's gateway (BENCH_KEYS keys), and a second one on the
#      same database with --record-usage false, rounds alternated (what
#      usage recording costs the gateway),
#    in front of the same upstream (examples/hello), each with its CPU time
#    per request and the upstream's.
# 2. Scale: for each N in BENCH_SCALE, a database with N keys (seeded
#    by bench/seed_db.py), keyport-server's start-up time and RSS, then
#    verify and gateway throughput over all N keys; ratios to the first N.
#    Each round starts a fresh server and sends every key once before it
#    measures (the first pass, reported as its own column: each request
#    meets its key for the first time), so a round measures a server that
#    has seen its keys, the state it runs in, and no key goes over its
#    enterprise minute limit (1,000 keys x 3 rounds on one server would).
#
#   BENCH_KEYS (1000), BENCH_SCALE ("1000 1000000"), BENCH_SECONDS (8),
#   BENCH_ROUNDS (3), BENCH_CONNS (64), KEYPORT_BIN (built when unset),
#   BENCH_ONLY ("peers scale": either or both),
#   BENCH_DATABASE (sqlite: files in the temp dir; or an admin URL
#   postgres://USER@HOST:PORT/DB: databases kp_gw_<random>_*, dropped on exit).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
KEYS=${BENCH_KEYS:-1000}
SCALE=${BENCH_SCALE:-"1000 1000000"}
SECS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
ONLY=${BENCH_ONLY:-"peers scale"}
BENCH_DATABASE=${BENCH_DATABASE:-sqlite}
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/keyport/target}
export BENCH_DIR BENCH_THREADS=1 CARGO_TARGET_DIR=$TARGET_DIR
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'gateway.sh: %s\n' "$*" >&2; exit 1; }
(($(nproc) >= 2)) || die "needs 2 CPUs"
for t in wrk nginx python3 curl; do command -v "$t" >/dev/null || die "$t is needed (apt-get install $t)"; done
case $BENCH_DATABASE in
  sqlite) ;;
  postgres://* | postgresql://*)
    command -v psql >/dev/null || die "psql is needed (apt-get install postgresql-client)"
    psql "$BENCH_DATABASE" -Atqc 'SELECT 1' >/dev/null || die "cannot connect to $BENCH_DATABASE" ;;
  *) die "BENCH_DATABASE must be sqlite or postgres://USER@HOST:PORT/DB" ;;
esac

log "building release binaries in $TARGET_DIR"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p keyport-server \
  --bin keyport-server --example hello --example bare_proxy
SERVER_BIN=${KEYPORT_BIN:-$TARGET_DIR/release/keyport-server}
HELLO_BIN=$TARGET_DIR/release/examples/hello
BARE_BIN=$TARGET_DIR/release/examples/bare_proxy

TMP=$(mktemp -d /tmp/keyport-gateway.XXXXXX)
PIDS=()
PG_PREFIX=kp_gw_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
stop() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
cleanup() {
  [[ -n ${BENCH_KEEP_LOG:-} ]] && cp "$TMP/server.log" "$BENCH_KEEP_LOG" 2>/dev/null
  stop "${PIDS[@]}"
  if [[ $BENCH_DATABASE != sqlite ]]; then
    for d in $(psql "$BENCH_DATABASE" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE '${PG_PREFIX}_%'"); do
      psql "$BENCH_DATABASE" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null || log "could not drop $d"
    done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
wait_port() { local _; for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return; sleep 0.05; done; die "$1 does not answer"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.3f}' if b else 'n/a')" "$1" "$2"; }

# run SCRIPT URL KEYFILE PROXY_PID -> "req/s p99_ms proxy_us upstream_us warm_req/s" of one
# measured run after WARM_SECS (2) of warm-up
UP_PID=
run() {
  local script=$1 url=$2 keys=$3 pid=$4 p0 u0 n warm
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARM_SECS:-2}s" -s "$BENCH_DIR/$script" "$url" -- "$keys" \
    >"$TMP/warm.txt" 2>&1
  warm=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$TMP/warm.txt")
  # Errors are allowed while warming up, but a first-pass rate that counts them is marked.
  grep -q "Non-2xx\|Socket errors" "$TMP/warm.txt" && warm="${warm}(non-2xx:$(awk '/Non-2xx/ { print $NF }' "$TMP/warm.txt"))"
  p0=$(cpu_ticks "$pid"); u0=$(cpu_ticks "$UP_PID")
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$BENCH_DIR/$script" "$url" -- "$keys" \
    >"$TMP/wrk.txt" 2>&1
  if grep -q "Non-2xx\|Socket errors" "$TMP/wrk.txt"; then
    die "errors in a measured run: $(grep -E 'Non-2xx|Socket errors' "$TMP/wrk.txt")"
  fi
  n=$(awk '/requests in/ { print $1 }' "$TMP/wrk.txt")
  awk -v p0="$p0" -v p1="$(cpu_ticks "$pid")" -v u0="$u0" -v u1="$(cpu_ticks "$UP_PID")" -v n="$n" -v w="$warm" '
    /^Requests\/sec/ { rps = $2 }
    / 99%/ { v = $2; if (v ~ /us$/) ms = v / 1000; else if (v ~ /ms$/) ms = v + 0; else ms = v * 1000 }
    END { printf "%.0f %.2f %.1f %.1f %s\n", rps, ms, (p1 - p0) * 10000 / n, (u1 - u0) * 10000 / n, w }' "$TMP/wrk.txt"
}
# rps_of ROW... -> the req/s of each round (a run's output line), space-separated
rps_of() { local row out=(); for row in "$@"; do out+=("${row%% *}"); done; printf '%s\n' "${out[*]}"; }
# median_round ROW... -> the round with the median req/s
median_round() {
  local m row rps
  read -ra rps <<<"$(rps_of "$@")"
  m=$(median "${rps[@]}")
  for row in "$@"; do [[ ${row%% *} == "$m" ]] && break; done
  printf '%s\n' "$row"
}
# row NAME ROW... -> prints the table row of the median round; sets LAST_RPS, LAST_PUS
row() {
  local name=$1
  shift
  read -r LAST_RPS p99 LAST_PUS uus _ <<<"$(median_round "$@")"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$LAST_RPS" "$p99" "$LAST_PUS" "$uus" "$(rps_of "$@")"
}
# rounds NAME SCRIPT URL KEYFILE PID -> prints a table row; sets LAST_RPS
rounds() {
  local name=$1 r rows=()
  for r in $(seq 1 "$ROUNDS"); do rows+=("$(run "$2" "$3" "$4" "$5")"); done
  row "$name" "${rows[@]}"
}

taskset -c 0 "$HELLO_BIN" --listen 127.0.0.1:0 >"$TMP/hello.out" 2>"$TMP/hello.log" &
UP_PID=$!; PIDS+=("$UP_PID")
HELLO_URL=$(listening "$UP_PID" "$TMP/hello.out")
HELLO_HOSTPORT=${HELLO_URL#http://}; HELLO_HOSTPORT=${HELLO_HOSTPORT%/}

# Databases by NAME: a file in the temp dir, or a PostgreSQL database.
db_url() {
  if [[ $BENCH_DATABASE == sqlite ]]; then printf 'sqlite://%s/%s.db\n' "$TMP" "$1"; return; fi
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$BENCH_DATABASE" "${PG_PREFIX}_$1"
}
drop_db() {
  if [[ $BENCH_DATABASE == sqlite ]]; then rm -f "$TMP/$1.db"*; return; fi
  psql "$BENCH_DATABASE" -qc "DROP DATABASE IF EXISTS ${PG_PREFIX}_$1 WITH (FORCE)" >/dev/null 2>&1
}
# copy_db FROM TO: a copy of database FROM (no server may have it open).
copy_db() {
  drop_db "$2"
  if [[ $BENCH_DATABASE != sqlite ]]; then
    psql "$BENCH_DATABASE" -qc "CREATE DATABASE ${PG_PREFIX}_$2 TEMPLATE ${PG_PREFIX}_$1" >/dev/null; return
  fi
  local f
  for f in "$TMP/$1.db" "$TMP/$1.db-wal"; do [[ -f $f ]] && cp "$f" "$TMP/$2.db${f#"$TMP/$1.db"}"; done
  return 0
}

# start_keyport DB_NAME [SERVE ARGS...] -> sets KP_PID, KP_URL, KP_START_MS
start_keyport() {
  local t0 db=$1
  shift
  # Gone first: the new server truncates it only once it runs, and the old address must not be read.
  rm -f "$TMP/server.out"
  t0=$(date +%s%N)
  taskset -c 0 "$SERVER_BIN" serve --listen 127.0.0.1:0 --database "$(db_url "$db")" --upstream "$HELLO_URL" "$@" \
    >"$TMP/server.out" 2>>"$TMP/server.log" &
  KP_PID=$!; PIDS+=("$KP_PID")
  KP_URL=$(listening "$KP_PID" "$TMP/server.out" 300)
  KP_START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# new_db NAME N KEYFILE: an enterprise account, one key made through the API (the template), N seeded
new_db() {
  local name=$1 n=$2 keys=$3 admin tmpl url
  url=$(db_url "$name")
  if [[ $BENCH_DATABASE == sqlite ]]; then url="$url?mode=rwc"
  else psql "$BENCH_DATABASE" -qc "CREATE DATABASE ${PG_PREFIX}_$name" >/dev/null; fi
  admin=$("$SERVER_BIN" account create --name Bench --plan enterprise --json --database "$url" 2>>"$TMP/server.log" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["admin_key"])')
  start_keyport "$name"
  tmpl=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"name":"template","environment":"live","scopes":["read"]}' "$KP_URL/v1/keys" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"]["id"])')
  stop "$KP_PID"
  python3 "$BENCH_DIR/seed_db.py" "$(db_url "$name")" "$tmpl" "$n" "$keys"
}
export KEYPORT_ENTERPRISE_KEY_CAP=2000000

header() { printf '| %s | req/s | p99 ms | proxy µs/req | upstream µs/req | rounds req/s |\n| --- | ---: | ---: | ---: | ---: | --- |\n' "$1"; }

if [[ " $ONLY " == *" peers "* ]]; then
  log "peers: nginx, the bare hyper proxy and the gateway, $KEYS keys"
  new_db peers "$KEYS" "$TMP/peers.keys"
  mkdir -p "$TMP/nginx"
  NGINX_PORT=$((20000 + RANDOM % 20000))
  cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; sendfile off; tcp_nodelay on; keepalive_requests 1000000;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx; fastcgi_temp_path $TMP/nginx;
  uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  limit_req_zone \$http_authorization zone=keys:10m rate=6000r/s;
  upstream hello { server $HELLO_HOSTPORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      limit_req zone=keys burst=100 nodelay;
      proxy_pass http://hello; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
EOF
  taskset -c 0 nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
  NGINX_PID=$!; PIDS+=("$NGINX_PID")
  wait_port "http://127.0.0.1:$NGINX_PORT/"
  BARE_PORT=$((20000 + RANDOM % 20000))
  taskset -c 0 "$BARE_BIN" "127.0.0.1:$BARE_PORT" "$HELLO_URL" >"$TMP/bare.log" 2>&1 &
  BARE_PID=$!; PIDS+=("$BARE_PID")
  wait_port "http://127.0.0.1:$BARE_PORT/"
  start_keyport peers
  printf '\nGateway peers: GET / with a Bearer key, %s keys, %s x %ss, median round (CPU 0: proxy + upstream)\n\n' "$KEYS" "$ROUNDS" "$SECS"
  header "proxy"
  rounds "nginx proxy_pass + limit_req" gateway.lua "http://127.0.0.1:$NGINX_PORT" "$TMP/peers.keys" "$NGINX_PID"
  NGINX_RPS=$LAST_RPS
  rounds "bare hyper proxy (examples/bare_proxy)" gateway.lua "http://127.0.0.1:$BARE_PORT" "$TMP/peers.keys" "$BARE_PID"
  BARE_RPS=$LAST_RPS
  # The gateway with and without usage recording (a second server on the same
  # database with --record-usage false), rounds alternated: recording's cost.
  REC_PID=$KP_PID REC_URL=$KP_URL
  start_keyport peers --record-usage false
  rec=() norec=()
  for r in $(seq 1 "$ROUNDS"); do
    rec+=("$(run gateway.lua "$REC_URL" "$TMP/peers.keys" "$REC_PID")")
    norec+=("$(run gateway.lua "$KP_URL" "$TMP/peers.keys" "$KP_PID")")
  done
  row "keyport gateway" "${rec[@]}"; GW_RPS=$LAST_RPS GW_PUS=$LAST_PUS
  row "keyport gateway, --record-usage false" "${norec[@]}"
  printf '\ngateway / nginx proxy_pass: %s   gateway / bare hyper proxy: %s   bare / nginx: %s\n' \
    "$(ratio "$GW_RPS" "$NGINX_RPS")" "$(ratio "$GW_RPS" "$BARE_RPS")" "$(ratio "$BARE_RPS" "$NGINX_RPS")"
  printf 'usage recording: %s of the gateway'"'"'s throughput, %s more CPU per request\n' \
    "$(python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print(f"{(b - a) / b:.1%}")' "$GW_RPS" "$LAST_RPS")" \
    "$(python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print(f"{(a - b) / b:+.1%}")' "$GW_PUS" "$LAST_PUS")"
  stop "$KP_PID" "$REC_PID" "$BARE_PID" "$NGINX_PID"
fi

# scale_rounds NAME SCRIPT URL_PATH N DB_NAME KEYFILE -> a table row, each round on a fresh server
# whose first pass sends every key once; sets LAST_RPS
scale_rounds() {
  local name=$1 script=$2 path=$3 n=$4 db=$5 keys=$6 r row rows=() starts=() rss=()
  for r in $(seq 1 "$ROUNDS"); do
    # A copy: what one round flushes must not preload the next one's rate cells.
    copy_db "$db" round
    start_keyport round
    starts+=("$KP_START_MS"); rss+=("$(rss_mib "$KP_PID")")
    # wrk stops on time, not count: the pass is sized for 25,000 req/s, below any path's first-pass rate here.
    row=$(WARM_SECS=$((n / 25000 + 2)) run "$script" "$KP_URL$path" "$keys" "$KP_PID")
    rows+=("$row $(rss_mib "$KP_PID")")
    stop "$KP_PID"
    drop_db round
  done
  read -r LAST_RPS p99 pus _ warm rss_after <<<"$(median_round "${rows[@]}")"
  printf '| %s | %s | %s | %s | %s | %s | %s / %s MiB | %s |\n' "$name" "$LAST_RPS" "$p99" "$pus" "$warm" \
    "$(median "${starts[@]}")" "$(median "${rss[@]}")" "$rss_after" "$(rps_of "${rows[@]}")"
}

if [[ " $ONLY " == *" scale "* ]]; then
  declare -A V G
  FIRST=
  for n in $SCALE; do
    log "scale: $n keys"
    new_db "scale_$n" "$n" "$TMP/scale_$n.keys"
    printf '\n%s keys, %s x %ss, median round (each on a fresh server, after one pass over every key)\n\n' "$n" "$ROUNDS" "$SECS"
    printf '| path | req/s | p99 ms | µs/req | first pass req/s | start-up ms | RSS started / after | rounds req/s |\n'
    printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
    scale_rounds "verify" verify.lua /v1/verify "$n" "scale_$n" "$TMP/scale_$n.keys"; V[$n]=$LAST_RPS
    scale_rounds "gateway" gateway.lua "" "$n" "scale_$n" "$TMP/scale_$n.keys"; G[$n]=$LAST_RPS
    drop_db "scale_$n"
    FIRST=${FIRST:-$n}
  done
  printf '\nAgainst %s keys:' "$FIRST"
  for n in $SCALE; do printf '  %s keys: verify %s, gateway %s;' "$n" "$(ratio "${V[$n]}" "${V[$FIRST]}")" "$(ratio "${G[$n]}" "${G[$FIRST]}")"; done
  printf '\n'
fi
