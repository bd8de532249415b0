#!/usr/bin/env bash
# Webhook signatures checked by an independent implementation: a real
# keyport-server sends events to a receiver that verifies them with the
# reference Standard Webhooks library (scripts/webhook-interop.py).
#   KEYPORT_SERVER_BIN  a keyport-server binary to use instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_python_tools
py="$venv/bin/python"
if [ -n "${KEYPORT_SERVER_BIN:-}" ]; then
  bin=$KEYPORT_SERVER_BIN
else
  use_build_cache
  cargo build -p keyport-server --locked
  bin="$CARGO_TARGET_DIR/debug/keyport-server"
fi

tmp=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

db="sqlite://$tmp/k.db"
"$bin" account create --name interop --plan starter --json --database "$db" >"$tmp/account.json"
admin_key=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['admin_key'])" "$tmp/account.json")
# Receivers on loopback need --allow-private-webhooks.
"$bin" serve --listen 127.0.0.1:0 --database "$db" --allow-private-webhooks \
  >"$tmp/server.out" 2>>"$tmp/server.log" &
server=$!
base=
for _ in $(seq 1 100); do
  base=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$tmp/server.out")
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "error: keyport-server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "error: keyport-server did not say where it listens" >&2; exit 1; }
if ! "$py" scripts/webhook-interop.py "$base" "$admin_key"; then
  echo "--- keyport-server log ---" >&2
  tail -n 30 "$tmp/server.log" >&2
  exit 1
fi
