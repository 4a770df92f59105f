#!/usr/bin/env bash
# settings_as_arguments.sh — for bad_config.sh: runs `dime run` or `dime check-config` with the settings
# the table gives in the environment moved onto the command line, and those variables unset.
#   DIME_CONFIG  -> run: -c FILE;          check-config: FILE (/dev/null, an empty file, when unset)
#   DIME_OPTIONS -> --set OPTIONS (either command)
#   DIME_REPORT  -> run: --report PATH;    check-config: --set report=PATH
# Usage: settings_as_arguments.sh DIME run PROGRAM [ARG...]
#        settings_as_arguments.sh DIME check-config
set -u
[ $# -ge 2 ] || { echo "usage: settings_as_arguments.sh DIME run|check-config [PROGRAM ARG...]" >&2; exit 1; }
dime=$1 command=$2
shift 2
args=()
case $command in
run)
    [ -n "${DIME_CONFIG+set}" ] && args+=(-c "$DIME_CONFIG")
    [ -n "${DIME_OPTIONS+set}" ] && args+=(--set "$DIME_OPTIONS")
    [ -n "${DIME_REPORT+set}" ] && args+=(--report "$DIME_REPORT")
    args+=(--)
    ;;
check-config)
    args+=("${DIME_CONFIG-/dev/null}")
    [ -n "${DIME_OPTIONS+set}" ] && args+=(--set "$DIME_OPTIONS")
    [ -n "${DIME_REPORT+set}" ] && args+=(--set "report=$DIME_REPORT")
    ;;
*) echo "settings_as_arguments.sh: unknown command '$command'" >&2; exit 1 ;;
esac
unset DIME_CONFIG DIME_OPTIONS DIME_REPORT
exec "$dime" "$command" "${args[@]}" "$@"
