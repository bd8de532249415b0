#!/usr/bin/env bash
# Regenerates the TypeScript types the UI shares with Rust (ts-rs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_build_cache
out="$PWD/ui/src/lib/bindings"
TS_RS_EXPORT_DIR="$out" cargo test --locked -q -p keyport-api --features keyport-api/ts --lib export_bindings >/dev/null
TS_RS_EXPORT_DIR="$out" cargo test --locked -q -p keyport-portal --features keyport-portal/ts --lib export_bindings >/dev/null
echo "bindings written to ui/src/lib/bindings"
