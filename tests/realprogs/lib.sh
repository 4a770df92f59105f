# lib.sh — shared by the tests/realprogs/*.sh scripts (sourced, never run): arguments, running a
# program with libdime.so preloaded, skipping, and checking the JSON report. Runs under ctest.
#
# Every script is called as: <script> <libdime.so> <work dir> <tests/realprogs source dir> [extra...]
# Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE): only when a program the test
# needs is not installed, or userfaultfd is unusable here — and never under CI, which installs the
# programs (scripts/install-deps) and has userfaultfd.
set -euo pipefail

(($# >= 3)) || { echo "usage: $0 <libdime.so> <work dir> <source dir> [...]" >&2; exit 1; }
readonly RP_PRELOAD=$(realpath "$1") RP_WORK=$(realpath -m "$2") RP_SRC=$(realpath "$3")
shift 3
RP_ARGS=("$@")
readonly RP_NAME=$(basename "$0" .sh)

# The emulation settings of every run: a tiny link delay (these tests check correctness, not time).
readonly RP_LINK="latency_ns=1000 bandwidth_bps=1Tbit"

rp_say() { printf '%s: %s\n' "$RP_NAME" "$*"; }
rp_fail() { printf '%s: FAIL: %s\n' "$RP_NAME" "$*" >&2; exit 1; }

rp_strict() {
  [[ ${DIME_REQUIRE_UFFD:-0} == 1 ]] || [[ -n ${CI:-} && ${CI} != false && ${CI} != 0 ]]
}

rp_skip() {
  if rp_strict; then rp_fail "$* (not skipped: CI/DIME_REQUIRE_UFFD demands every real-program test runs)"; fi
  printf '%s: SKIPPED: %s\n' "$RP_NAME" "$*"
  exit 77
}

# rp_require CMD...: skip unless every command is installed.
rp_require() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || rp_skip "'$cmd' is not installed (scripts/install-deps installs it)"
  done
}

[[ -f $RP_PRELOAD ]] || rp_fail "no libdime.so at $RP_PRELOAD"
rm -rf "$RP_WORK"
mkdir -p "$RP_WORK"
cd "$RP_WORK"

# The backend the runs use (tests/realprogs.cmake sets RP_BACKEND for the second entry of each
# test; unset: the default, userfaultfd).
readonly RP_BACKEND_OPTION=${RP_BACKEND:+backend=$RP_BACKEND}
# Nothing from the caller's environment may change the runs.
unset DIME_CONFIG DIME_OPTIONS DIME_REPORT DIME_DISABLE DIME_ROOT_PID DIME_LOG LD_PRELOAD
export LC_ALL=C

# rp_env POOL REPORT: the environment prefix (for `env`) of a run under libdime.so.
rp_env() {
  printf '%s\n' "LD_PRELOAD=$RP_PRELOAD" "DIME_OPTIONS=local_npages=$1 $RP_LINK $RP_BACKEND_OPTION" "DIME_REPORT=$2"
}

# rp_dime POOL REPORT CMD...: run CMD under libdime.so; its stdout is ours, its stderr goes to
# REPORT.stderr (shown on failure). Skips when userfaultfd is unusable here; returns CMD's status.
rp_dime() {
  local pool=$1 report=$2 status=0
  shift 2
  rm -f "$report"
  mapfile -t envs < <(rp_env "$pool" "$report")
  env "${envs[@]}" "$@" 2>"$report.stderr" || status=$?
  if ((status != 0)); then
    if grep -qE 'userfaultfd is not permitted|has no userfaultfd' "$report.stderr"; then
      rp_skip "userfaultfd is not usable here: $(head -n 1 "$report.stderr")"
    fi
    sed "s/^/  [$1 stderr] /" "$report.stderr" >&2
  fi
  return "$status"
}

# rp_check_report REPORT POOL: the report shows emulation on a heap of at least 8 x POOL pages, by
# the backend asked for.
rp_check_report() {
  cmake -DREPORT="$1" -DPOOL="$2" -DNAME="$RP_NAME" -DBACKEND="${RP_BACKEND:-userfaultfd}" -P "$RP_SRC/check_report.cmake" ||
    rp_fail "the report $1 does not show the emulation at work (see above)"
}

# rp_same_file EXPECTED ACTUAL WHAT: fail unless the two files are byte for byte the same.
rp_same_file() {
  if ! cmp -s "$1" "$2"; then
    diff <(head -c 100000 "$1") <(head -c 100000 "$2") | head -n 20 >&2 || true
    rp_fail "$3: output under libdime.so ($2) differs from the native run ($1)"
  fi
}
