#!/usr/bin/env bash
# A local Keyport cluster: CLUSTER_INSTANCES keyport-server instances (default
# 3) on one fresh PostgreSQL database and one Redis logical database, behind
# nginx (round-robin) on one port of 127.0.0.1.
#
# Usage:
#   scripts/cluster.sh                   start; print the cluster URL and the
#                                        first admin key (once); run until
#                                        Ctrl-C or SIGTERM
#   scripts/cluster.sh --print-env FILE  start; once ready, write FILE (mode
#                                        0600) with KEYPORT_CLUSTER_URL=… and
#                                        KEYPORT_CLUSTER_ADMIN_KEY=… (plus the
#                                        lines below) instead of printing the
#                                        key; run until signalled. FILE is
#                                        removed on exit (kept with
#                                        CLUSTER_KEEP_DB=1)
#   scripts/cluster.sh --help
#
#   FILE also holds KEYPORT_CLUSTER_INSTANCES (the instances' own URLs,
#   comma-separated), KEYPORT_CLUSTER_METRICS (their GET /metrics URLs, empty
#   with CLUSTER_NO_METRICS=1), KEYPORT_CLUSTER_DATABASE (the database URL) and
#   KEYPORT_CLUSTER_LOG_DIR (the temp dir with the logs). One KEY=VALUE a line,
#   no quoting: read it line by line, or `source` it (no value has spaces).
#
# Steps: creates the database kp_cluster_<random> through CLUSTER_PG; flushes
# the Redis database; `keyport-server account create` (CLUSTER_PLAN; this
# migrates the database); starts the instances at once, each
# `serve --listen 127.0.0.1:0 --redis … --metrics-listen 127.0.0.1:<free port>`;
# waits for each one's GET /readyz to answer 200; writes nginx.conf from
# scripts/cluster/nginx.conf.in and runs nginx in the foreground as a child
# (all its files in the temp dir); waits for /readyz through nginx.
# Logs: each instance's stderr in TEMP/instance-N.log (stdout in .out), nginx's
# in TEMP/nginx/; the paths are printed.
#
# On Ctrl-C or SIGTERM (also when an instance or nginx dies, or start-up
# fails): stops nginx and the instances (SIGTERM, SIGKILL after 15 s), drops the
# database and flushes the Redis database (both kept with CLUSTER_KEEP_DB=1),
# removes the temp dir. Exit status 0 for a stop by signal once the cluster was
# up, 1 when something failed, 128+signal when interrupted while starting. A
# SIGKILL of this script leaves everything behind: kill the instances and nginx
# by the pids printed, and DROP DATABASE the kp_cluster_… database.
#
# Environment:
#   CLUSTER_PORT          nginx port on 127.0.0.1 (default 8088); must be free
#   CLUSTER_INSTANCES     keyport-server instances (default 3)
#   CLUSTER_ACCOUNT       name of the account created (default Cluster)
#   CLUSTER_PLAN          its plan (default enterprise)
#   KEYPORT_BIN           the keyport-server binary to run; unset: built with
#                         `cargo build --release -p keyport-server --locked`
#                         in CARGO_TARGET_DIR (default /var/cache/keyport/target)
#   CLUSTER_REDIS_DB      Redis logical database (default 7), flushed at start
#   CLUSTER_REDIS         Redis server (default redis://127.0.0.1:6379)
#   CLUSTER_PG            PostgreSQL admin URL the database is created and
#                         dropped through (default
#                         postgres://postgres@127.0.0.1:5432/postgres)
#   CLUSTER_KEEP_DB=1     keep the database and the Redis database on exit
#   CLUSTER_NGINX_WORKERS nginx worker processes (default 1)
#   CLUSTER_ACCESS_LOG=0  no nginx access log (default: TEMP/nginx/access.log)
#   CLUSTER_NO_REDIS=1    for keyport-server builds without --redis: each
#                         instance then enforces rate limits on its own
#   CLUSTER_NO_METRICS=1  for builds without --metrics-listen
#   Every instance inherits the environment, so any serve option can be set by
#   its variable (KEYPORT_ENTERPRISE_KEY_CAP=5000, RUST_LOG=debug, …); the
#   database, listen address, Redis and metrics flags are set by this script.
#
# Needs: python3, curl, psql, redis-cli and nginx (the last three are installed
# with apt-get, through sudo when not root, when missing); PostgreSQL and Redis
# running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'cluster.sh: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

PRINT_ENV=
while (($#)); do
  case $1 in
    --print-env)
      (($# >= 2)) || die "--print-env needs a FILE"
      PRINT_ENV=$2
      shift 2
      ;;
    --print-env=*)
      PRINT_ENV=${1#*=}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
if [[ -n $PRINT_ENV ]]; then
  [[ $PRINT_ENV == /* ]] || PRINT_ENV=$PWD/$PRINT_ENV
  [[ -d $(dirname "$PRINT_ENV") ]] || die "--print-env: no directory $(dirname "$PRINT_ENV")"
fi

PORT=${CLUSTER_PORT:-8088}
ACCOUNT_NAME=${CLUSTER_ACCOUNT:-Cluster}
ACCOUNT_PLAN=${CLUSTER_PLAN:-enterprise}
N=${CLUSTER_INSTANCES:-3}
REDIS_DB=${CLUSTER_REDIS_DB:-7}
REDIS_BASE=${CLUSTER_REDIS:-redis://127.0.0.1:6379}
PG_ADMIN=${CLUSTER_PG:-postgres://postgres@127.0.0.1:5432/postgres}
KEEP_DB=${CLUSTER_KEEP_DB:-0}
NO_REDIS=${CLUSTER_NO_REDIS:-0}
NO_METRICS=${CLUSTER_NO_METRICS:-0}
WORKERS=${CLUSTER_NGINX_WORKERS:-1}
ACCESS_LOG=${CLUSTER_ACCESS_LOG:-1}
TEMPLATE=$ROOT/scripts/cluster/nginx.conf.in

if ! [[ $PORT =~ ^[1-9][0-9]*$ ]] || ((PORT > 65535)); then die "CLUSTER_PORT must be a port number, 1-65535"; fi
if ! [[ $N =~ ^[1-9][0-9]*$ ]] || ((N > 32)); then die "CLUSTER_INSTANCES must be a number, 1-32"; fi
[[ $REDIS_DB =~ ^(0|[1-9][0-9]*)$ ]] || die "CLUSTER_REDIS_DB must be a number"
[[ $WORKERS =~ ^([1-9][0-9]*|auto)$ ]] || die "CLUSTER_NGINX_WORKERS must be a number or auto"
for flag in KEEP_DB NO_REDIS NO_METRICS ACCESS_LOG; do
  [[ ${!flag} == [01] ]] || die "CLUSTER_$flag must be 0 or 1"
done
KEPT=dropped
((KEEP_DB)) && KEPT=kept
REDIS_BASE=${REDIS_BASE%/}
REDIS_URL=$REDIS_BASE/$REDIS_DB
[[ -r $TEMPLATE ]] || die "missing $TEMPLATE"

# ---- tools -----------------------------------------------------------------
# need COMMAND PACKAGE...: installs the Debian packages when COMMAND is missing
# (only those: lib.sh's list of desktop build packages is left out).
need() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [[ -x /usr/sbin/$cmd ]] && return 0 # nginx, off a normal user's PATH
  log "installing $* (for $cmd)"
  SYSTEM_PACKAGES='' install_system_packages "$@"
  command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || die "$cmd still missing after installing $*"
}
command -v python3 >/dev/null 2>&1 || die "python3 is needed"
need curl curl
need psql postgresql-client
((NO_REDIS)) || need redis-cli redis-tools
need nginx nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [[ -n ${KEYPORT_BIN:-} ]]; then
  BIN=$KEYPORT_BIN
else
  check_rust
  use_build_cache
  log "building keyport-server (release) in $CARGO_TARGET_DIR"
  cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" -p keyport-server --bin keyport-server >&2
  BIN=$CARGO_TARGET_DIR/release/keyport-server
fi
[[ -x $BIN ]] || die "keyport-server binary not found or not executable: $BIN"
[[ $BIN == /* ]] || BIN=$PWD/$BIN

# A binary from before --redis / --metrics-listen fails here, with the way out,
# rather than as an instance that exits at start.
serve_help=$("$BIN" serve --help 2>&1) || die "$BIN serve --help failed: $serve_help"
if ((!NO_REDIS)) && ! grep -q -e '--redis' <<<"$serve_help"; then
  die "$BIN has no 'serve --redis' (an older build?); CLUSTER_NO_REDIS=1 runs without shared rate limits"
fi
if ((!NO_METRICS)) && ! grep -q -e '--metrics-listen' <<<"$serve_help"; then
  die "$BIN has no 'serve --metrics-listen' (an older build?); CLUSTER_NO_METRICS=1 runs without it"
fi

# ---- services and the port ---------------------------------------------------
psql "$PG_ADMIN" -Atqc 'SELECT 1' >/dev/null 2>&1 ||
  die "cannot connect to PostgreSQL as $PG_ADMIN (CLUSTER_PG): it must run and let that user create databases"
if ((!NO_REDIS)); then
  [[ $(redis-cli -u "$REDIS_URL" PING 2>&1) == PONG ]] ||
    die "Redis does not answer PING at $REDIS_URL (CLUSTER_REDIS, CLUSTER_REDIS_DB)"
fi

# port_free PORT: nothing listens on 127.0.0.1:PORT (or on every address).
port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx: TIME_WAIT is no conflict
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}
# free_ports N: N distinct ports free now (the kernel's choice, all held
# until all are chosen).
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
port_free "$PORT" || die "127.0.0.1:$PORT is in use: stop what listens there or set CLUSTER_PORT"

# ---- temp dir and cleanup ----------------------------------------------------
umask 077
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keyport-cluster.XXXXXX")
NGX=$TMP/nginx
INSTANCE_PIDS=()
NGINX_PID=
PG_DB=
REDIS_USED=0
READY=0
ENV_WRITTEN=0

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  state=$(sed 's/^.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# stop PID...: SIGTERM, up to 15 s to exit (instances flush their usage), then SIGKILL.
stop() {
  local pid left _
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 150); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for pid in "$@"; do
    if alive "$pid"; then
      log "pid $pid did not stop within 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local status=$?
  set +e
  trap '' INT TERM HUP # a second Ctrl-C must not cut the clean-up short
  # nginx first: no new requests reach an instance that is shutting down.
  [[ -n $NGINX_PID ]] && stop "$NGINX_PID"
  ((${#INSTANCE_PIDS[@]})) && stop "${INSTANCE_PIDS[@]}"
  if [[ -n $PG_DB ]]; then
    if ((KEEP_DB)); then
      log "kept database $DB_URL (CLUSTER_KEEP_DB=1)"
    else
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
        log "could not drop database $PG_DB: drop it by hand"
    fi
  fi
  if ((REDIS_USED && !KEEP_DB)); then
    redis-cli -u "$REDIS_URL" FLUSHDB >/dev/null 2>&1 || log "could not flush Redis database $REDIS_URL"
  fi
  ((ENV_WRITTEN && !KEEP_DB)) && rm -f "$PRINT_ENV"
  rm -rf "$TMP"
  ((READY)) && log "cluster stopped"
  exit "$status"
}
trap cleanup EXIT
# A stop asked for once the cluster is up is a normal end (0); while starting,
# 128 + the signal's number.
on_signal() {
  log "$1: stopping"
  ((READY)) && exit 0
  exit $((128 + $(kill -l "$1")))
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# tail_log FILE: its last lines, indented, to stderr.
tail_log() { tail -n 20 "$1" 2>/dev/null | sed 's/^/    /' >&2; }

# ---- database, Redis, account --------------------------------------------------
PG_DB=kp_cluster_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB"
# The admin URL with the new database as its path (query string kept).
DB_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG_ADMIN" "$PG_DB")
log "database $PG_DB ($KEPT on exit)"
if ((!NO_REDIS)); then
  REDIS_USED=1
  [[ $(redis-cli -u "$REDIS_URL" FLUSHDB 2>&1) == OK ]] || die "cannot flush Redis database $REDIS_URL"
  log "Redis database $REDIS_URL flushed"
fi

log "creating an enterprise account (migrates the database)"
"$BIN" account create --name "$ACCOUNT_NAME" --plan "$ACCOUNT_PLAN" --json --database "$DB_URL" 2>"$TMP/account.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["admin_key"])' >"$TMP/admin.key" ||
  {
    tail_log "$TMP/account.log"
    die "keyport-server account create failed (log above)"
  }
ADMIN_KEY=$(<"$TMP/admin.key")
[[ -n $ADMIN_KEY ]] || die "account create printed no admin key"

# ---- instances -------------------------------------------------------------------
# Set by the flags below or not at all: a KEYPORT_METRICS_LISTEN from the
# caller's environment would make every instance bind the same port.
unset KEYPORT_METRICS_LISTEN KEYPORT_REDIS KEYPORT_LISTEN KEYPORT_DATABASE
read -r -a METRICS_PORTS <<<"$(free_ports "$N")"
for i in $(seq 1 "$N"); do
  args=(serve --listen 127.0.0.1:0 --database "$DB_URL")
  ((NO_REDIS)) || args+=(--redis "$REDIS_URL")
  ((NO_METRICS)) || args+=(--metrics-listen "127.0.0.1:${METRICS_PORTS[i - 1]}")
  "$BIN" "${args[@]}" >"$TMP/instance-$i.out" 2>"$TMP/instance-$i.log" &
  INSTANCE_PIDS+=("$!")
done
log "started $N instances (pids ${INSTANCE_PIDS[*]}); logs: $TMP/instance-N.log"

# wait_listening I: prints instance I's URL from its "listening on http://ADDR" line.
wait_listening() {
  local i=$1 pid=${INSTANCE_PIDS[$1 - 1]} line _
  for _ in $(seq 1 600); do
    line=$(sed -n 's/^listening on \(http:\/\/.*\)$/\1/p' "$TMP/instance-$i.out" 2>/dev/null | head -n 1)
    if [[ -n $line ]]; then
      printf '%s\n' "$line"
      return
    fi
    if ! alive "$pid"; then
      tail_log "$TMP/instance-$i.log"
      die "instance $i (pid $pid) exited before listening (log above: $TMP/instance-$i.log)"
    fi
    sleep 0.1
  done
  die "instance $i (pid $pid) did not print its address within 60 s (see $TMP/instance-$i.log)"
}

# wait_ready URL WHAT PID LOG: GET URL answers 200 within 60 s.
wait_ready() {
  local url=$1 what=$2 pid=$3 logfile=$4 code _
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [[ $code == 200 ]] && return
    if ! alive "$pid"; then
      tail_log "$logfile"
      die "$what (pid $pid) exited before $url answered 200 (log above: $logfile)"
    fi
    sleep 0.2
  done
  curl -s --max-time 2 "$url" | head -c 500 >&2 || true
  die "$what: $url did not answer 200 within 60 s (last: $code; see $logfile)"
}

INSTANCE_URLS=()
METRICS_URLS=()
for i in $(seq 1 "$N"); do
  url=$(wait_listening "$i") || exit 1
  INSTANCE_URLS+=("$url")
done
for i in $(seq 1 "$N"); do
  wait_ready "${INSTANCE_URLS[i - 1]}/readyz" "instance $i" "${INSTANCE_PIDS[i - 1]}" "$TMP/instance-$i.log"
  if ((!NO_METRICS)); then
    METRICS_URLS+=("http://127.0.0.1:${METRICS_PORTS[i - 1]}/metrics")
    wait_ready "${METRICS_URLS[i - 1]}" "instance $i's metrics listener" "${INSTANCE_PIDS[i - 1]}" "$TMP/instance-$i.log"
  fi
done
log "instances ready: ${INSTANCE_URLS[*]}"

# ---- nginx -------------------------------------------------------------------------
mkdir "$NGX"
upstreams=
for u in "${INSTANCE_URLS[@]}"; do
  upstreams+="        server ${u#http://};"$'\n'
done
user_line="# (not root: the workers run as $(id -un))"
if (($(id -u) == 0)); then
  # Root's nginx runs its workers as nobody; they create files only in the
  # temp paths (made theirs by the master), so the dirs on the way need only
  # be traversable: nothing else in the temp dir becomes readable.
  user_line="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
  chmod 711 "$TMP" "$NGX"
fi
access_line="access_log off;"
((ACCESS_LOG)) && access_line="access_log $NGX/access.log combined buffer=64k flush=1s;"
conf=$(<"$TEMPLATE")
conf=${conf//@USER_LINE@/$user_line}
conf=${conf//@WORKERS@/$WORKERS}
conf=${conf//@ACCESS_LOG@/$access_line}
conf=${conf//@UPSTREAM_SERVERS@/${upstreams%$'\n'}}
conf=${conf//@PORT@/$PORT}
conf=${conf//@DIR@/$NGX}
printf '%s\n' "$conf" >"$NGX/nginx.conf"
"$NGINX" -t -q -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' 2>"$NGX/test.log" || {
  tail_log "$NGX/test.log"
  die "nginx rejects $NGX/nginx.conf (above)"
}
"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' >"$NGX/stdout.log" 2>&1 &
NGINX_PID=$!
URL=http://127.0.0.1:$PORT
wait_ready "$URL/readyz" "nginx" "$NGINX_PID" "$NGX/error.log"
READY=1

# ---- ready ---------------------------------------------------------------------------
join() {
  local IFS=,
  printf '%s' "$*"
}
redis_note="shared rate limits in $REDIS_URL"
((NO_REDIS)) && redis_note="none (CLUSTER_NO_REDIS=1): each instance enforces rate limits on its own"
{
  echo
  echo "Keyport cluster: $N instance(s) behind nginx (round-robin)"
  echo "  URL:          $URL"
  if [[ -z $PRINT_ENV ]]; then
    echo "  admin key:    $ADMIN_KEY"
    echo "                (enterprise account; shown once, not written outside the temp dir)"
  else
    echo "  admin key:    in $PRINT_ENV (KEYPORT_CLUSTER_ADMIN_KEY)"
  fi
  echo "  try:          curl -H \"Authorization: Bearer \$KEY\" $URL/v1/keys"
  echo "  database:     $DB_URL ($KEPT on exit)"
  echo "  Redis:        $redis_note"
  for i in $(seq 1 "$N"); do
    metrics=
    ((NO_METRICS)) || metrics=", metrics ${METRICS_URLS[i - 1]}"
    echo "  instance $i:   ${INSTANCE_URLS[i - 1]} (pid ${INSTANCE_PIDS[i - 1]}$metrics)"
  done
  echo "  nginx:        pid $NGINX_PID, config $NGX/nginx.conf"
  logs_line="$TMP/instance-{1..$N}.log, $NGX/error.log"
  ((ACCESS_LOG)) && logs_line+=", $NGX/access.log"
  echo "  logs:         $logs_line"
  if ((KEEP_DB)); then
    echo "Ctrl-C (or SIGTERM to pid $$) stops the cluster and removes $TMP; the database is kept."
  else
    echo "Ctrl-C (or SIGTERM to pid $$) stops the cluster, drops the database and removes $TMP."
  fi
}

if [[ -n $PRINT_ENV ]]; then
  # Written next to FILE and renamed: a reader never sees half a file.
  envtmp=$(mktemp "$PRINT_ENV.XXXXXX")
  {
    echo "KEYPORT_CLUSTER_URL=$URL"
    echo "KEYPORT_CLUSTER_ADMIN_KEY=$ADMIN_KEY"
    echo "KEYPORT_CLUSTER_INSTANCES=$(join "${INSTANCE_URLS[@]}")"
    echo "KEYPORT_CLUSTER_METRICS=$( ((NO_METRICS)) || join "${METRICS_URLS[@]}")"
    echo "KEYPORT_CLUSTER_DATABASE=$DB_URL"
    echo "KEYPORT_CLUSTER_LOG_DIR=$TMP"
  } >"$envtmp"
  chmod 600 "$envtmp"
  mv -f "$envtmp" "$PRINT_ENV"
  ENV_WRITTEN=1
fi

# ---- run until signalled, or until a process dies ------------------------------------
names=()
for i in $(seq 1 "$N"); do names+=("instance $i"); done
pids=("${INSTANCE_PIDS[@]}" "$NGINX_PID")
names+=(nginx)
logs=()
for i in $(seq 1 "$N"); do logs+=("$TMP/instance-$i.log"); done
logs+=("$NGX/error.log")
while :; do
  wait -n "${pids[@]}" 2>/dev/null || true
  for j in "${!pids[@]}"; do
    if ! alive "${pids[j]}"; then
      log "${names[j]} (pid ${pids[j]}) exited; last lines of ${logs[j]}:"
      tail_log "${logs[j]}"
      READY=0
      exit 1
    fi
  done
  sleep 1
done
