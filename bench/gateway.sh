#!/usr/bin/env bash
# The gateway against its peers, and both hot paths against the number of
# keys. Every server (and the upstream) on CPU 0, wrk -t1 on CPU 1.
#
# 1. Peers: GET / with a Bearer key through
#    - nginx `proxy_pass` (keep-alive pool of 64, `limit_req` keyed on the
#      Authorization header: the shared harness's gateway peer),
#    - examples/bare_proxy: hyper's server and pooled client with nothing
#      checked, limited or recorded (the floor for a hyper-based gateway),
#    - keyport-server's gateway (BENCH_KEYS keys),
#    in front of the same upstream (examples/hello), each with its CPU time
#    per request and the upstream's.
# 2. Scale: for each N in BENCH_SCALE, a SQLite database with N keys (seeded
#    by bench/seed_db.py), keyport-server's start-up time and RSS, then
#    verify and gateway throughput over all N keys; ratios to the first N.
#
#   BENCH_KEYS (1000), BENCH_SCALE ("1000 1000000"), BENCH_SECONDS (8),
#   BENCH_ROUNDS (3), BENCH_CONNS (64), KEYPORT_BIN (built when unset),
#   BENCH_ONLY ("peers scale": either or both).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
KEYS=${BENCH_KEYS:-1000}
SCALE=${BENCH_SCALE:-"1000 1000000"}
SECS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
ONLY=${BENCH_ONLY:-"peers scale"}
TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/keyport/target}
export BENCH_DIR BENCH_THREADS=1 CARGO_TARGET_DIR=$TARGET_DIR
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'gateway.sh: %s\n' "$*" >&2; exit 1; }
(($(nproc) >= 2)) || die "needs 2 CPUs"
for t in wrk nginx python3 curl; do command -v "$t" >/dev/null || die "$t is needed (apt-get install $t)"; done

log "building release binaries in $TARGET_DIR"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p keyport-server \
  --bin keyport-server --example hello --example bare_proxy
SERVER_BIN=${KEYPORT_BIN:-$TARGET_DIR/release/keyport-server}
HELLO_BIN=$TARGET_DIR/release/examples/hello
BARE_BIN=$TARGET_DIR/release/examples/bare_proxy

TMP=$(mktemp -d /tmp/keyport-gateway.XXXXXX)
PIDS=()
stop() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
cleanup() { stop "${PIDS[@]}"; rm -rf "$TMP"; }
trap cleanup EXIT

# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
wait_port() { local _; for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return; sleep 0.05; done; die "$1 does not answer"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.3f}' if b else 'n/a')" "$1" "$2"; }

# run SCRIPT URL KEYFILE PROXY_PID -> "req/s p99_ms proxy_us upstream_us" of one measured run
UP_PID=
run() {
  local script=$1 url=$2 keys=$3 pid=$4 p0 u0 n
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$BENCH_DIR/$script" "$url" -- "$keys" >/dev/null 2>&1
  p0=$(cpu_ticks "$pid"); u0=$(cpu_ticks "$UP_PID")
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$BENCH_DIR/$script" "$url" -- "$keys" \
    >"$TMP/wrk.txt" 2>&1
  if grep -q "Non-2xx\|Socket errors" "$TMP/wrk.txt"; then
    die "errors in a measured run: $(grep -E 'Non-2xx|Socket errors' "$TMP/wrk.txt")"
  fi
  n=$(awk '/requests in/ { print $1 }' "$TMP/wrk.txt")
  awk -v p0="$p0" -v p1="$(cpu_ticks "$pid")" -v u0="$u0" -v u1="$(cpu_ticks "$UP_PID")" -v n="$n" '
    /^Requests\/sec/ { rps = $2 }
    / 99%/ { v = $2; if (v ~ /us$/) ms = v / 1000; else if (v ~ /ms$/) ms = v + 0; else ms = v * 1000 }
    END { printf "%.0f %.2f %.1f %.1f\n", rps, ms, (p1 - p0) * 10000 / n, (u1 - u0) * 10000 / n }' "$TMP/wrk.txt"
}
# rounds NAME SCRIPT URL KEYFILE PID -> prints a table row; sets LAST_RPS
rounds() {
  local name=$1 r rps=() rows=() m row
  for r in $(seq 1 "$ROUNDS"); do
    row=$(run "$2" "$3" "$4" "$5"); rows+=("$row"); rps+=("${row%% *}")
  done
  m=$(median "${rps[@]}")
  for row in "${rows[@]}"; do [[ ${row%% *} == "$m" ]] && break; done
  read -r LAST_RPS p99 pus uus <<<"$row"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$LAST_RPS" "$p99" "$pus" "$uus" "${rps[*]}"
}

taskset -c 0 "$HELLO_BIN" --listen 127.0.0.1:0 >"$TMP/hello.out" 2>"$TMP/hello.log" &
UP_PID=$!; PIDS+=("$UP_PID")
HELLO_URL=$(listening "$UP_PID" "$TMP/hello.out")
HELLO_HOSTPORT=${HELLO_URL#http://}; HELLO_HOSTPORT=${HELLO_HOSTPORT%/}

# start_keyport DB_FILE -> sets KP_PID, KP_URL, KP_START_MS
start_keyport() {
  local t0
  t0=$(date +%s%N)
  taskset -c 0 "$SERVER_BIN" serve --listen 127.0.0.1:0 --database "sqlite://$1" --upstream "$HELLO_URL" \
    >"$TMP/server.out" 2>>"$TMP/server.log" &
  KP_PID=$!; PIDS+=("$KP_PID")
  KP_URL=$(listening "$KP_PID" "$TMP/server.out" 300)
  KP_START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# new_db FILE N KEYFILE: an enterprise account, one key made through the API (the template), N seeded
new_db() {
  local file=$1 n=$2 keys=$3 admin tmpl
  admin=$("$SERVER_BIN" account create --name Bench --plan enterprise --json --database "sqlite://$file?mode=rwc" 2>>"$TMP/server.log" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["admin_key"])')
  start_keyport "$file"
  tmpl=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"name":"template","environment":"live","scopes":["read"]}' "$KP_URL/v1/keys" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"]["id"])')
  stop "$KP_PID"
  python3 "$BENCH_DIR/seed_db.py" "$file" "$tmpl" "$n" "$keys"
}
export KEYPORT_ENTERPRISE_KEY_CAP=2000000

header() { printf '| %s | req/s | p99 ms | proxy µs/req | upstream µs/req | rounds req/s |\n| --- | ---: | ---: | ---: | ---: | --- |\n' "$1"; }

if [[ " $ONLY " == *" peers "* ]]; then
  log "peers: nginx, the bare hyper proxy and the gateway, $KEYS keys"
  new_db "$TMP/peers.db" "$KEYS" "$TMP/peers.keys"
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
  start_keyport "$TMP/peers.db"
  printf '\nGateway peers: GET / with a Bearer key, %s keys, %s x %ss, median round (CPU 0: proxy + upstream)\n\n' "$KEYS" "$ROUNDS" "$SECS"
  header "proxy"
  rounds "nginx proxy_pass + limit_req" gateway.lua "http://127.0.0.1:$NGINX_PORT" "$TMP/peers.keys" "$NGINX_PID"
  NGINX_RPS=$LAST_RPS
  rounds "bare hyper proxy (examples/bare_proxy)" gateway.lua "http://127.0.0.1:$BARE_PORT" "$TMP/peers.keys" "$BARE_PID"
  BARE_RPS=$LAST_RPS
  rounds "keyport gateway" gateway.lua "$KP_URL" "$TMP/peers.keys" "$KP_PID"
  printf '\ngateway / nginx proxy_pass: %s   gateway / bare hyper proxy: %s   bare / nginx: %s\n' \
    "$(ratio "$LAST_RPS" "$NGINX_RPS")" "$(ratio "$LAST_RPS" "$BARE_RPS")" "$(ratio "$BARE_RPS" "$NGINX_RPS")"
  stop "$KP_PID" "$BARE_PID" "$NGINX_PID"
fi

if [[ " $ONLY " == *" scale "* ]]; then
  declare -A V G
  FIRST=
  for n in $SCALE; do
    log "scale: $n keys"
    new_db "$TMP/scale-$n.db" "$n" "$TMP/scale-$n.keys"
    start_keyport "$TMP/scale-$n.db"
    rss0=$(rss_mib "$KP_PID")
    printf '\n%s keys: start-up to listening %s ms, RSS %s MiB after start-up\n\n' "$n" "$KP_START_MS" "$rss0"
    header "path"
    rounds "verify" verify.lua "$KP_URL/v1/verify" "$TMP/scale-$n.keys" "$KP_PID"; V[$n]=$LAST_RPS
    rounds "gateway" gateway.lua "$KP_URL" "$TMP/scale-$n.keys" "$KP_PID"; G[$n]=$LAST_RPS
    printf '\nRSS after the runs: %s MiB\n' "$(rss_mib "$KP_PID")"
    stop "$KP_PID"
    rm -f "$TMP/scale-$n.db"*
    FIRST=${FIRST:-$n}
  done
  printf '\nAgainst %s keys:' "$FIRST"
  for n in $SCALE; do printf '  %s keys: verify %s, gateway %s;' "$n" "$(ratio "${V[$n]}" "${V[$FIRST]}")" "$(ratio "${G[$n]}" "${G[$FIRST]}")"; done
  printf '\n'
fi
