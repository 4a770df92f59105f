#!/usr/bin/env bash
# bad_config.sh — runs a command under each bad configuration of a table and checks that it refuses to start: exit status 2, exactly one line on stderr ("dime: ..." naming the culprit), nothing on stdout.
#
# Usage: bad_config.sh [--expect-every-row-to-fail] [--rename FROM=TO]... TABLE CONFIG_DIR -- COMMAND [ARG...]
#   TABLE       rows "name | DIME_CONFIG | DIME_OPTIONS | expected fragment [| DIME_REPORT]" (see bad_config.table)
#   CONFIG_DIR  where relative DIME_CONFIG names are found
#   COMMAND     the program to check, e.g. examples/seqwalk, or `env LD_PRELOAD=libdime.so true`
# --expect-every-row-to-fail inverts the verdict; it is for testing this driver against
# programs that ignore the configuration, which every row must catch.
# --rename FROM=TO replaces FROM by TO in every expected fragment, for a COMMAND that takes the
# settings by another name (dime run's `-c FILE` says "-c:" where libdime.so says "DIME_CONFIG:").
set -u

die() { echo "bad_config.sh: $*" >&2; exit 1; }
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }

invert=0
renames=()
while [ $# -gt 0 ]; do
    case $1 in
    --expect-every-row-to-fail) invert=1; shift ;;
    --rename) [[ ${2:-} == *=* ]] || die "--rename needs FROM=TO"; renames+=("$2"); shift 2 ;;
    *) break ;;
    esac
done
[ $# -ge 4 ] && [ "$3" = -- ] ||
    die "usage: bad_config.sh [--expect-every-row-to-fail] [--rename FROM=TO]... TABLE CONFIG_DIR -- COMMAND [ARG...]"
table=$1 dir=$2
shift 3
[ -r "$table" ] || die "cannot read the table '$table'"
[ -d "$dir" ] || die "no configuration directory '$dir'"
if [[ $1 == */* ]]; then
    [ -f "$1" ] && [ -x "$1" ] || die "the program to check is missing or not executable: '$1' (build it first)"
else
    command -v "$1" >/dev/null || die "the program to check is not on PATH: '$1'"
fi

work=$(mktemp -d) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT

rows=0 failed=0
while IFS= read -r line || [ -n "$line" ]; do
    line=$(trim "$line")
    [ -z "$line" ] || [ "${line:0:1}" = "#" ] && continue
    IFS='|' read -r name config options expect report extra <<<"$line"
    name=$(trim "$name") config=$(trim "${config:-}") options=$(trim "${options:-}") expect=$(trim "${expect:-}")
    report=$(trim "${report:-}")
    [ -n "$name" ] && [ -n "$config" ] && [ -n "$options" ] && [ -n "$expect" ] && [ -z "$(trim "${extra:-}")" ] ||
        die "malformed table row: $line"
    rows=$((rows + 1))
    for r in "${renames[@]}"; do expect=${expect//"${r%%=*}"/"${r#*=}"}; done

    vars=(-u DIME_CONFIG -u DIME_OPTIONS -u DIME_REPORT)
    if [ "$config" != - ]; then
        [[ $config == /* ]] || config="$dir/$config"
        vars+=("DIME_CONFIG=$config")
    fi
    [ "$options" != - ] && vars+=("DIME_OPTIONS=$options")
    [ -n "$report" ] && [ "$report" != - ] && vars+=("DIME_REPORT=$report")

    timeout 60 env "${vars[@]}" "$@" </dev/null >"$work/out" 2>"$work/err"
    status=$?
    nlines=$(awk 'END { print NR }' "$work/err")
    first=$(head -n 1 "$work/err")
    problem=
    if [ "$status" -ne 2 ]; then
        problem="exit status $status, expected 2"
    elif [ "$nlines" -ne 1 ]; then
        problem="$nlines lines on stderr, expected exactly 1"
    elif [ -n "$(tail -c 1 "$work/err")" ]; then
        problem="the stderr line does not end with a newline"
    elif [[ $first != "dime: "* ]]; then
        problem="the stderr line does not start with 'dime: '"
    elif [[ $first != *"$expect"* ]]; then
        problem="the message does not contain: $expect"
    elif [ -s "$work/out" ]; then
        problem="the program wrote to stdout, so it started"
    fi
    if [ -n "$problem" ]; then
        failed=$((failed + 1))
        echo "FAIL $name: $problem"
        sed -n '1,5s/^/     stderr: /p' "$work/err"
    else
        echo "ok   $name: $first"
    fi
done <"$table"

[ "$rows" -gt 0 ] || die "no rows in '$table'"
echo "bad_config: $((rows - failed)) of $rows rows refused as expected by: $*"
if [ "$invert" = 1 ]; then
    [ "$failed" -eq "$rows" ] || die "expected every row to fail against '$*', but $((rows - failed)) passed"
    exit 0
fi
[ "$failed" -eq 0 ] || die "$failed of $rows bad configurations were not refused correctly by: $*"
