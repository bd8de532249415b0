#!/usr/bin/env bash
# Schema-driven fuzzing of the key service's HTTP API: schemathesis generates
# requests from the served /v1/openapi.json and sends them to the real (debug)
# keyport-server binary with an enterprise account's admin key. Every check runs
# (no 5xx, responses match the document in status, content type, headers and
# body, valid data accepted, invalid data refused, auth not ignored, …); any
# failure, or a dropped connection, fails the script; so does a run whose admin
# key stopped working. Bounded: a fixed number of cases per operation and phase
# (about a minute on 2 cores), and a hard time limit. What the hooks and the
# config add: scripts/schemathesis/.
#
#   SCHEMATHESIS_MAX_EXAMPLES  cases per operation and phase (default 100)
#   SCHEMATHESIS_SEED          seed (default fixed, so CI runs are reproducible;
#                              `random` for a fresh one)
#   SCHEMATHESIS_TIME_LIMIT    seconds the schemathesis run may take (default 240)
#   SCHEMATHESIS_ARGS          more `schemathesis run` options, e.g. `--phases fuzzing`
#   KEYPORT_SERVER_BIN         a keyport-server binary to fuzz instead of building one
#
# Python and schemathesis live in a venv outside the clone
# (/var/cache/keyport/venv, or ~/.cache/keyport/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

examples=${SCHEMATHESIS_MAX_EXAMPLES:-100}
seed=${SCHEMATHESIS_SEED:-20261203}
time_limit=${SCHEMATHESIS_TIME_LIMIT:-240}
here=$PWD/scripts/schemathesis

# ---- the venv ----
ensure_python_tools
py="$venv/bin/python"

# ---- the server ----
keyport_server_bin

tmp=$(mktemp -d)
server=
cleanup() {
  stop_keyport_server
  rm -rf "$tmp"
}
trap cleanup EXIT

db="sqlite://$tmp/k.db"
"$bin" account create --name fuzz --plan enterprise --json --database "$db" >"$tmp/account.json"
json() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
admin_key=$(json "$tmp/account.json" admin_key)
admin_id=$(json "$tmp/account.json" admin_key_id)
account_id=$(json "$tmp/account.json" account_id)
# The operator API: a token, and a second account for what would break the
# run's own (suspend, delete), which hooks.py sends there instead.
"$bin" operator token create --name fuzz --json --database "$db" >"$tmp/operator.json"
operator_token=$(json "$tmp/operator.json" token)
"$bin" account create --name decoy --plan free --enroll --json --database "$db" >"$tmp/decoy-account.json"
decoy_account=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['account']['id'])" "$tmp/decoy-account.json")

# Port 0: the server picks a free port and prints it.
start_server() {
  # A reporter's public key (its private key was thrown away): leak reports
  # are checked for real and refused, as a fuzzer cannot sign them.
  start_keyport_server --database "$db" --upstream http://127.0.0.1:1 \
    --leak-report-keys "$here/leak-keys.json"
}
stop_server() {
  stop_keyport_server
}
start_server

# Management calls with the admin key, in Python (no curl needed).
api() { # METHOD PATH [JSON] -> prints the response body; fails on a non-2xx
  "$py" - "$base" "$admin_key" "$@" <<'EOF'
import sys, urllib.request
base, key, method, path = sys.argv[1:5]
body = sys.argv[5].encode() if len(sys.argv) > 5 else None
req = urllib.request.Request(base + path, data=body, method=method,
    headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    print(r.read().decode())
EOF
}
# The decoy: what the hooks send a revoke or PATCH of the credential to.
api POST /v1/keys '{"name": "schemathesis decoy", "environment": "live", "scopes": ["admin"]}' >"$tmp/decoy.json"
decoy_id=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['key']['id'])" "$tmp/decoy.json")
# Alerts to list and acknowledge: with a one-day rotation policy both keys are
# due soon, and the reminder pass a server makes as it starts raises alerts.
api PATCH /v1/account '{"rotation_days": {"live": 1, "test": 1, "staging": 1}}' >/dev/null
stop_server
start_server
for _ in $(seq 1 50); do
  [ "$(api GET /v1/alerts)" != '{"alerts":[]}' ] && break
  sleep 0.1
done

seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
echo "==> schemathesis $SCHEMATHESIS_VERSION against $base/v1/openapi.json ($examples cases per operation and phase, seed $seed)"
started=$(date +%s)
status=0
# From $tmp: schemathesis keeps nothing in the clone. SCHEMATHESIS_ARGS is
# split into words on purpose.
(
  cd "$tmp"
  KEYPORT_FUZZ_CREDENTIAL_ID="$admin_id" KEYPORT_FUZZ_DECOY_ID="$decoy_id" \
    KEYPORT_FUZZ_ADMIN="$admin_key" KEYPORT_FUZZ_OPERATOR="$operator_token" KEYPORT_FUZZ_ACCOUNT_ID="$account_id" \
    KEYPORT_FUZZ_DECOY_ACCOUNT_ID="$decoy_account" \
    SCHEMATHESIS_HOOKS="$here/hooks.py" PYTHONDONTWRITEBYTECODE=1 \
    timeout --kill-after=10 "$time_limit" \
    "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$base/v1/openapi.json" \
    --checks all \
    --max-examples "$examples" \
    "${seed_args[@]}" \
    --request-timeout 10 \
    --no-color \
    ${SCHEMATHESIS_ARGS:-}
) || status=$?
echo "==> schemathesis took $(($(date +%s) - started)) s"
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "error: schemathesis ran over ${time_limit}s" >&2
fi

# A run whose credential stopped working tested nothing after that point.
if ! kill -0 "$server" 2>/dev/null; then
  echo "error: keyport-server died during the run" >&2
  status=1
elif ! me=$(api GET /v1/account) || [ "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["credential_key_id"])' "$me")" != "$admin_id" ]; then
  echo "error: the run's admin key no longer works" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- keyport-server log (last 50 lines) ---" >&2
  tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
