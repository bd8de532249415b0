#!/usr/bin/env bash
# Runs a command with a private D-Bus session and a throwaway, unlocked
# GNOME Keyring providing the Secret Service, so keychain tests hit the real
# backend without touching the user's keyring:
#   scripts/with-secret-service.sh cargo test -p keyport-portal --features keychain-tests
# Needs the Debian packages dbus (dbus-run-session, dbus-send) and gnome-keyring.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$0: $tool not found; install the Debian packages dbus and gnome-keyring" >&2
    exit 1
  fi
done

# First pass: re-run this script inside a private session bus.
if [ -z "${_KEYPORT_WSS_INNER:-}" ]; then
  export _KEYPORT_WSS_INNER=1
  exec dbus-run-session -- "$0" "$@"
fi
unset _KEYPORT_WSS_INNER

tmp=$(mktemp -d)
gk=""
cleanup() {
  if [ -n "$gk" ] && kill -0 "$gk" 2>/dev/null; then
    kill "$gk" 2>/dev/null || true
    wait "$gk" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The keyring files go under a temp XDG_DATA_HOME (not HOME: cargo lives there).
export XDG_DATA_HOME=$tmp/data XDG_RUNTIME_DIR=$tmp/run XDG_CACHE_HOME=$tmp/cache
mkdir -p "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
mkdir -m 700 "$XDG_RUNTIME_DIR"

# Our own child, stopped by its pid on exit. --unlock reads the password on
# stdin and creates an unlocked default "login" collection.
printf '%s' "${KEYRING_TEST_PASSWORD:-keyport-test}" |
  gnome-keyring-daemon --foreground --unlock --components=secrets >"$tmp/gk.log" 2>&1 &
gk=$!

# Wait until it owns org.freedesktop.secrets on the bus.
ready=0
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
    grep -q 'boolean true'; then
    ready=1
    break
  fi
  if ! kill -0 "$gk" 2>/dev/null; then
    echo "$0: gnome-keyring-daemon exited:" >&2
    cat "$tmp/gk.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ "$ready" -ne 1 ]; then
  echo "$0: the Secret Service did not come up within 10 s" >&2
  cat "$tmp/gk.log" >&2
  exit 1
fi

status=0
"$@" || status=$?
exit "$status"
