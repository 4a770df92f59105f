#!/usr/bin/env bash
# mprotect_mappings.sh — how many memory mappings (VMAs) a program costs under libdime.so with the
# mprotect backend: runs COMMAND with the shim, samples the line count of /proc/PID/maps every 5 ms
# and prints its peak beside the engine's own estimate (the report's engine.span_mappings_peak).
# Prints figures; asserts nothing (see docs/architecture.md, "vm.max_map_count").
# Usage: bench/mprotect_mappings.sh LIBDIME_SO LOCAL_NPAGES COMMAND [ARGS...]
set -euo pipefail
(($# >= 3)) || { echo "usage: $0 <libdime.so> <local_npages> <command> [args...]" >&2; exit 2; }
preload=$(realpath "$1") pool=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
env LD_PRELOAD="$preload" DIME_OPTIONS="backend=mprotect local_npages=$pool latency_ns=1000 bandwidth_bps=1Tbit" \
    DIME_REPORT="$work/report.json" "$@" >"$work/stdout" 2>"$work/stderr" &
pid=$!
first=0 peak=0
while kill -0 "$pid" 2>/dev/null; do
  n=$(wc -l <"/proc/$pid/maps" 2>/dev/null) || n=0
  ((first == 0 && n > 0)) && first=$n
  ((n > peak)) && peak=$n
  sleep 0.005
done
status=0
wait "$pid" || status=$?
estimate=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["engine"]["span_mappings_peak"])' \
  "$work/report.json" 2>/dev/null || echo "?")
echo "exit $status; pool $pool pages; /proc/PID/maps: $first at the first sample, $peak at most; the engine's estimate for its span: $estimate at most"
