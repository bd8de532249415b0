#!/usr/bin/env bash
# Fuzzes the parsers a stranger reaches before any key is known (keyport-core:
# key format, bearer header, URL key guard, path and resource check, endpoint
# folding, dates, finding keys in files) with cargo-fuzz. Every target in fuzz/fuzz_targets runs for
# FUZZ_SECONDS (default 20) starting from the committed seeds in
# fuzz/corpus/<target>/; the inputs libFuzzer finds on the way go to a scratch
# dir, never into the repo. Exits non-zero when a target crashes (a panic is a
# failed invariant), naming it; the crashing input is kept under FUZZ_ARTIFACTS.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh              longer run
#   FUZZ_TARGETS="path_check url_guard" scripts/fuzz.sh
#   a failure prints the command that replays its input
#
# cargo-fuzz passes nightly-only compiler flags (-Zsanitizer, the sancov
# passes): RUSTC_BOOTSTRAP=1 lets the stable toolchain take them. The targets
# build with `--sanitizer none`: keyport-core forbids unsafe code, so
# AddressSanitizer adds little here and costs about 3x the executions in the
# time given. It does build and run on stable this way (x86_64 Linux), for a
# deeper look: FUZZ_SANITIZER=address scripts/fuzz.sh (a separate build).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_build_cache
export RUSTC_BOOTSTRAP=1

seconds=${FUZZ_SECONDS:-20}
sanitizer=${FUZZ_SANITIZER:-none}
fuzz_target_dir=$CARGO_TARGET_DIR/fuzz
artifacts=${FUZZ_ARTIFACTS:-$fuzz_target_dir/artifacts}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version '^0.13'
fi

# The committed fuzz/Cargo.lock must be current (cargo fuzz has no --locked).
if ! cargo tree --locked --manifest-path fuzz/Cargo.toml >/dev/null; then
  echo "error: fuzz/Cargo.lock is out of date (keyport-core's dependencies changed?):" \
    "run cargo tree --manifest-path fuzz/Cargo.toml and commit fuzz/Cargo.lock" >&2
  exit 1
fi

# -a: debug assertions on, as in tests.
opts=(--fuzz-dir fuzz --target-dir "$fuzz_target_dir" --sanitizer "$sanitizer" --debug-assertions)
targets=${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz)}

# The fuzz crate is outside the workspace, so test.sh's fmt and clippy steps
# do not see it: formatted, and built without a warning.
cargo fmt --check --manifest-path fuzz/Cargo.toml
start=$SECONDS
build_log=$(mktemp)
if ! cargo fuzz build "${opts[@]}" 2>&1 | tee "$build_log" ||
  grep -qE 'generated [0-9]+ warnings?' "$build_log"; then
  grep -A12 -E '^(warning|error)' "$build_log" >&2 || true
  rm -f "$build_log"
  echo "error: the fuzz targets did not build cleanly" >&2
  exit 1
fi
rm -f "$build_log"
echo "    built in $((SECONDS - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $targets; do
  mkdir -p "$scratch/$t" "$artifacts/$t"
  log=$scratch/$t.log
  # New inputs go to the first corpus dir (scratch); the seeds are only read.
  if cargo fuzz run "${opts[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t/" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "    $t: ok, ${runs:-?} runs, ${rate:-?} exec/s, corpus $(find "$scratch/$t" -type f | wc -l) new"
  else
    echo "    $t: FAILED" >&2
    # The broken invariant, the input (as text, base64 and saved file); the
    # log's end when it was no panic (a build error, a timeout, out of memory).
    report=$( { grep -A6 'panicked at' "$log" | head -n 14; sed -n '/^SUMMARY/,/^Base64/p' "$log"; } | cut -c1-400)
    if [ -n "$report" ]; then echo "$report" >&2; else tail -n 40 "$log" >&2; fi
    echo "    replay: RUSTC_BOOTSTRAP=1 cargo fuzz run ${opts[*]} $t <saved input>" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]} (inputs kept in $artifacts/<target>/)" >&2
  exit 1
fi
echo "    all fuzz targets passed in $((SECONDS - start)) s"
