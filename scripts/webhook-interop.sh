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
keyport_server_bin

tmp=$(mktemp -d)
server=
cleanup() {
  stop_keyport_server
  rm -rf "$tmp"
}
trap cleanup EXIT

db="sqlite://$tmp/k.db"
"$bin" account create --name interop --plan starter --json --database "$db" >"$tmp/account.json"
admin_key=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['admin_key'])" "$tmp/account.json")
# Receivers on loopback need --allow-private-webhooks.
start_keyport_server --database "$db" --allow-private-webhooks
if ! "$py" scripts/webhook-interop.py "$base" "$admin_key"; then
  echo "--- keyport-server log ---" >&2
  tail -n 30 "$tmp/server.log" >&2
  exit 1
fi
