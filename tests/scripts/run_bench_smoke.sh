#!/usr/bin/env bash
# run_bench_smoke.sh — ctest bench_run_smoke: `bench/run --smoke` (every experiment at tiny sizes,
# one run each) into WORK_DIR, then check_bench_results.py: every experiment produced its rows
# and plots. Figures are not checked. Skips (77) only where userfaultfd is unusable, never under
# CI or DIME_REQUIRE_UFFD=1.
#
# Usage: run_bench_smoke.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
(($# == 3)) || { echo "usage: run_bench_smoke.sh SOURCE_DIR BUILD_DIR WORK_DIR" >&2; exit 1; }
src=$1 build=$2 work=$3
unset DIME_CONFIG DIME_OPTIONS DIME_REPORT DIME_TRACE DIME_DISABLE LD_PRELOAD

strict() { [[ ${DIME_REQUIRE_UFFD:-0} == 1 ]] || [[ -n ${CI:-} && ${CI} != false && ${CI} != 0 ]]; }
if ! probe=$("$build/cli/dime" run --set summary=false -- true 2>&1); then
  if grep -qE 'userfaultfd is not permitted|has no userfaultfd' <<<"$probe" && ! strict; then
    echo "bench_run_smoke: SKIPPED: userfaultfd is not usable here: ${probe%%$'\n'*}"
    exit 77
  fi
  echo "bench_run_smoke: FAIL: a program does not start under dime run: $probe" >&2
  exit 1
fi

rm -rf "$work"
status=0
"$src/bench/run" --smoke --no-build --build "$build" --out "$work" || status=$?
python3 "$src/tests/scripts/check_bench_results.py" "$work" || exit 1
((status == 0)) || { echo "bench_run_smoke: FAIL: bench/run exited with status $status" >&2; exit 1; }
echo "bench_run_smoke: PASS"
