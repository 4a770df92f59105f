#!/usr/bin/env bash
# check_report_html.sh — `dime report` end to end: a two-site program runs under libdime.so with a
# time series and a report, dime report turns both into one HTML page, and headless Chromium
# (Debian's chromium) loads it: every plot must be laid out with marks of non-zero size (the
# page's own script sets data-drawn="yes" after layout), and a series of a single sample must
# give a plot without marks ("no"), so the check can tell. Bad inputs: one line, exit 2.
# Usage: check_report_html.sh DIME LIBDIME_SO PROGRAM WORKDIR
# Exit 77 (skipped) only without chromium outside CI.
set -u
[ $# -eq 4 ] || { echo "usage: check_report_html.sh DIME LIBDIME_SO PROGRAM WORKDIR" >&2; exit 1; }
dime=$1 preload=$2 program=$3 work=$4
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work" || fail "cannot make $work"

env -u DIME_CONFIG -u DIME_ROOT_PID LD_PRELOAD="$preload" DIME_REPORT="$work/run.json" \
    DIME_OPTIONS="local_npages=256 latency_ns=5000 series=$work/run.jsonl series_interval_ms=10" \
    "$program" >"$work/program.out" 2>&1 || fail "the program failed: $(cat "$work/program.out")"
[ "$(wc -l <"$work/run.jsonl")" -ge 3 ] || fail "the time series has fewer than 3 samples"

"$dime" report -o "$work/page.html" "$work/run.json" "$work/run.jsonl" || fail "dime report failed"
head -n 1 "$work/run.jsonl" >"$work/one.jsonl"
"$dime" report -o "$work/one.html" "$work/one.jsonl" || fail "dime report of one sample failed"

# Bad inputs.
echo "not json" >"$work/bad.txt"
for args in "$work/bad.txt" "$work/missing.json" ""; do
    err=$("$dime" report -o "$work/x.html" $args 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] || fail "dime report $args: exit $rc, expected 2"
    [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ $err == dime:* ]] || fail "dime report $args: '$err'"
done

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    if [[ -n ${CI:-} && ${CI} != false && ${CI} != 0 ]]; then fail "chromium is not installed (scripts/install-deps installs it)"; fi
    echo "SKIPPED: no chromium"; exit 77
fi
render() {  # the DOM after the page's scripts ran
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile" --dump-dom "file://$1" 2>/dev/null
}
dom=$(render "$work/page.html") || fail "chromium could not load the page"
for id in faults-over-time stall-over-time sites-0 latency-0; do
    tag=$(grep -o "<svg[^>]*id=\"$id\"[^>]*>" <<<"$dom")
    [ -n "$tag" ] || fail "no plot $id in the page"
    [[ $tag == *'data-drawn="yes"'* ]] || fail "plot $id was not drawn: $tag"
done
grep -q 'hot_block (attribution_sites.c:' <<<"$dom" || fail "the sites plot does not name hot_block"
one=$(render "$work/one.html") || fail "chromium could not load the one-sample page"
grep -o '<svg[^>]*id="faults-over-time"[^>]*>' <<<"$one" | grep -q 'data-drawn="no"' ||
    fail "a series of one sample was taken for drawn"
echo "dime report: 4 plots drawn in chromium"
