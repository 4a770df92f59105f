#!/usr/bin/env bash
# check_cli.sh — ctest cases for the `dime` command: one CASE per run, checking exit statuses, the environment dime run gives the program, reports, errors and help.
#
# Usage: check_cli.sh CASE DIME LIBDIME_SO SEQWALK DATA_DIR WORK_DIR
#   DATA_DIR  tests/cli (settings.yaml, bad_key.yaml); WORK_DIR  a scratch directory of the build tree
# Cases that start a program under libdime.so skip where userfaultfd is not usable (printing
# CLI-SKIPPED), unless DIME_REQUIRE_UFFD=1.
set -u

[ $# -eq 6 ] || { echo "usage: check_cli.sh CASE DIME LIBDIME_SO SEQWALK DATA_DIR WORK_DIR" >&2; exit 1; }
case_name=$1 dime=$2 lib=$3 seqwalk=$4 data=$5
work=$6/$case_name
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$work" || exit 1
unset DIME_CONFIG DIME_OPTIONS DIME_REPORT DIME_TRACE DIME_LIBRARY DIME_DISABLE LD_PRELOAD

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok   $*"; }

# run_dime OUT ERR ARGS...: runs dime with stdin closed, leaves its status in $status.
run_dime() {
    local out=$1 err=$2
    shift 2
    timeout 120 "$dime" "$@" </dev/null >"$out" 2>"$err"
    status=$?
}

# expect_status WHAT EXPECTED
expect_status() {
    if [ "$status" -eq "$2" ]; then pass "$1: exit status $status"; else fail "$1: exit status $status, expected $2"; sed 's/^/     stderr: /' err | head -n 5; fi
}

# expect_refusal WHAT FRAGMENT: exit status 2, exactly one stderr line "dime: ..." containing FRAGMENT, no stdout.
expect_refusal() {
    local lines first
    lines=$(awk 'END { print NR }' err)
    first=$(head -n 1 err)
    if [ "$status" -ne 2 ]; then
        fail "$1: exit status $status, expected 2"
    elif [ "$lines" -ne 1 ]; then
        fail "$1: $lines lines on stderr, expected 1"; sed 's/^/     stderr: /' err | head -n 5
    elif [[ $first != "dime: "* || $first != *"$2"* ]]; then
        fail "$1: the message does not start with 'dime: ' or lacks '$2': $first"
    elif [ -s out ]; then
        fail "$1: something wrote to stdout (the program started?): $(head -c 200 out)"
    else
        pass "$1: $first"
    fi
}

# require_uffd: skip the case where a program cannot run under libdime.so for want of userfaultfd.
require_uffd() {
    local probe
    probe=$(LD_PRELOAD=$lib DIME_OPTIONS="local_npages=64 summary=no" /bin/true 2>&1)
    case $probe in *"userfaultfd is not permitted"*|*"has no userfaultfd"*)
        if [ "${DIME_REQUIRE_UFFD:-}" != 1 ]; then echo "CLI-SKIPPED: userfaultfd is not usable here"; exit 0; fi ;;
    esac
}

json() { cmake -DFILE="$1" -DKEYS="$2" -P "$(dirname "$0")/json_get.cmake" 2>&1; }

# The value of NAME in the environment dump `env` wrote to file out.
env_value() { sed -n "s/^$1=//p" out; }

quiet="--set summary=no"

case $case_name in
exit_status)
    require_uffd
    for code in 0 3 1; do
        run_dime out err run $quiet -- sh -c "exit $code"
        expect_status "program exits $code" "$code"
    done
    run_dime out err run $quiet false
    expect_status "false (no --)" 1
    ;;
signal)
    require_uffd
    # A shell reports death by signal N as 128+N: dime run must die by the signal itself.
    for sig in TERM KILL; do
        run_dime out err run $quiet -- sh -c "kill -$sig \$\$"
        num=$(kill -l "$sig")
        expect_status "program killed by SIG$sig" $((128 + num))
    done
    # And a signal sent to dime run's pid reaches the program's own handler. The program says it
    # is ready through a FIFO once its trap is set.
    mkfifo ready
    "$dime" run $quiet -- sh -c 'trap "echo caught; kill \$s; exit 9" USR1; sleep 300 & s=$!; echo ready >ready; wait $s' >out 2>err </dev/null &
    pid=$!
    read -r _ <ready
    kill -USR1 "$pid"
    wait "$pid"
    status=$?
    expect_status "USR1 to dime run's pid reaches the program's handler" 9
    grep -q caught out || fail "the program's USR1 handler did not run"
    ;;
exec_not_fork)
    require_uffd
    "$dime" run $quiet -- sh -c 'echo $$' >out 2>err </dev/null &
    pid=$!
    wait "$pid"
    if [ "$(cat out)" = "$pid" ]; then pass "the program runs as dime run's own process ($pid)"; else fail "dime run had pid $pid, the program $(cat out): it forked instead of exec"; fi
    ;;
environment)
    require_uffd
    cp "$data/settings.yaml" local.yaml
    mkdir -p sub
    LD_PRELOAD=libm.so.6 run_dime out err run -c local.yaml --report sub/../r.json -- env
    expect_status "dime run -- env" 0
    real_lib=$(readlink -f "$lib")
    [ "$(env_value LD_PRELOAD)" = "$real_lib:libm.so.6" ] && pass "LD_PRELOAD=$(env_value LD_PRELOAD)" ||
        fail "LD_PRELOAD is '$(env_value LD_PRELOAD)', expected '$real_lib:libm.so.6'"
    [ "$(env_value DIME_CONFIG)" = "$(readlink -f local.yaml)" ] && pass "DIME_CONFIG=$(env_value DIME_CONFIG)" ||
        fail "DIME_CONFIG is '$(env_value DIME_CONFIG)', expected the absolute path of local.yaml"
    [ "$(env_value DIME_REPORT)" = "$PWD/sub/../r.json" ] && pass "DIME_REPORT=$(env_value DIME_REPORT)" ||
        fail "DIME_REPORT is '$(env_value DIME_REPORT)', expected '$PWD/sub/../r.json'"
    # --trace: the fault/eviction stream of a run, one event per line after the '#' header.
    run_dime out err run --set local_npages=64,latency_ns=0 --trace t.txt --report t.json -- awk 'BEGIN { for (i = 0; i < 20000; i++) a[i] = i; print length(a) }'
    expect_status "dime run --trace t.txt -- awk" 0
    events=$(grep -vc '^#' t.txt 2>/dev/null)
    faults=$(json t.json "totals;faults")
    traced=$(grep -c ' [rw]$' t.txt 2>/dev/null)
    [ "${events:-0}" -gt 0 ] && [ "$traced" -le "$faults" ] && [ "$traced" -ge $((faults * 9 / 10)) ] &&
        pass "trace: $events events, $traced faults (report: $faults)" ||
        fail "trace: $events events, $traced faults, the report says $faults faults"
    # A nested dime run keeps libdime.so once, in front.
    LD_PRELOAD="libm.so.6 $real_lib" run_dime out err run $quiet -- env
    [ "$(env_value LD_PRELOAD)" = "$real_lib:libm.so.6" ] && pass "libdime.so listed once" ||
        fail "LD_PRELOAD is '$(env_value LD_PRELOAD)' after preloading libdime.so already"
    # Options after PROGRAM belong to the program.
    run_dime out err run $quiet printf '%s|' -c --set x=y --report -- --help
    [ "$(cat out)" = "-c|--set|x=y|--report|--|--help|" ] && pass "the program's arguments pass unchanged" ||
        fail "the program got '$(cat out)'"
    ;;
set_overrides)
    require_uffd
    # latency_ns comes from the file; local_npages from the last --set, over the file (1000),
    # the inherited DIME_OPTIONS (700) and the earlier --set (100). (CMake reads JSON false as OFF.)
    DIME_OPTIONS="local_npages=700 first_touch=local" run_dime out err run -c "$data/settings.yaml" \
        --set local_npages=100 --set local_npages=300 --report r.json -- true
    expect_status "dime run -c settings.yaml --set ... -- true" 0
    for pair in latency_ns=2000 local_npages=300 first_touch=local summary=OFF; do
        got=$(json r.json "config;${pair%%=*}")
        [ "$got" = "${pair#*=}" ] && pass "report config.${pair%%=*} = $got" ||
            fail "report config.${pair%%=*} = '$got', expected ${pair#*=}"
    done
    ;;
report_seqwalk)
    # seqwalk writes a report itself; libdime.so's, written at exit, replaces it. (set_overrides
    # shows that libdime.so writes the report of a program that writes none.)
    require_uffd
    mkdir -p reports
    run_dime out err run --set latency_ns=0,local_npages=256 --report reports/seqwalk.json -- "$seqwalk" --pages 2000
    expect_status "dime run --report reports/seqwalk.json -- seqwalk --pages 2000" 0
    faults=$(json reports/seqwalk.json "totals;faults")
    pool=$(json reports/seqwalk.json "config;local_npages")
    [[ $faults =~ ^[0-9]+$ ]] && [ "$faults" -gt 0 ] && pass "report totals.faults = $faults" ||
        fail "report totals.faults = '$faults', expected > 0"
    [ "$pool" = 256 ] && pass "report config.local_npages = 256" || fail "report config.local_npages = '$pool', expected 256"
    ;;
bad_config)
    # Refused by dime run before anything starts. The loader ignores this DIME_LIBRARY, so a
    # program started by mistake is not stopped by libdime.so: /bin/echo prints on stdout.
    export DIME_LIBRARY=$data/not_a_library.so
    run_dime out err run -c "$data/bad_key.yaml" -- /bin/echo started
    expect_refusal "-c bad_key.yaml" "bad_key.yaml:3: unknown key 'local_npage'"
    run_dime out err run -c missing.yaml -- /bin/echo started
    expect_refusal "-c missing.yaml" "-c: cannot read 'missing.yaml': No such file or directory"
    run_dime out err run --set local_npages=0 -- /bin/echo started
    expect_refusal "--set local_npages=0" "--set: local_npages: '0' is out of range"
    run_dime out err run --set "local_bytes=4 GiB" -- /bin/echo started
    expect_refusal "--set with a space in the value" "--set: 'GiB' is not key=value"
    run_dime out err run -c "$data/settings.yaml" --set local_bytes=10000 -- /bin/echo started
    expect_refusal "cross-key check" "local_bytes: 10000 is not a multiple of page_size"
    DIME_OPTIONS=local_npages=-1 run_dime out err run -- /bin/echo started
    expect_refusal "inherited DIME_OPTIONS" "DIME_OPTIONS: local_npages: '-1' is negative"
    DIME_OPTIONS=local_npages=-1 run_dime out err run --set local_npages=5 --set summary=maybe -- /bin/echo started
    expect_refusal "later --set" "--set: summary: 'maybe' is not a boolean"
    run_dime out err run --report /nonexistent/dir/r.json -- /bin/echo started
    expect_refusal "--report into a missing directory" "--report: cannot write '/nonexistent/dir/r.json'"
    run_dime out err run --report . -- /bin/echo started
    expect_refusal "--report naming a directory" "Is a directory"
    run_dime out err run --trace /nonexistent/dir/t.txt -- /bin/echo started
    expect_refusal "--trace into a missing directory" "--trace: cannot write '/nonexistent/dir/t.txt'"
    ;;
check_config)
    run_dime out err check-config "$data/settings.yaml"
    expect_status "check-config settings.yaml" 0
    grep -qx 'latency_ns: 2000' out && grep -qx 'local_npages: 1000' out && grep -qx 'policy: fifo' out &&
        pass "the effective settings are printed" || { fail "unexpected settings:"; cat out; }
    run_dime out err check-config --set local_npages=5 "$data/settings.yaml" --set local_npages=7
    grep -qx 'local_npages: 7' out && pass "--set overrides the file, the later --set wins" || { fail "--set not applied:"; cat out; }
    # The printed settings are themselves a valid file with the same settings.
    cp out effective.yaml
    run_dime out err check-config effective.yaml
    expect_status "check-config of its own output" 0
    diff <(grep -v '^#' effective.yaml) <(grep -v '^#' out) >/dev/null && pass "the output reads back unchanged" ||
        fail "the output of check-config does not read back to the same settings"
    DIME_OPTIONS=local_npages=0 DIME_CONFIG=/nonexistent run_dime out err check-config "$data/settings.yaml"
    expect_status "check-config ignores the environment" 0
    run_dime out err check-config "$data/bad_key.yaml"
    expect_refusal "check-config bad_key.yaml" "bad_key.yaml:3: unknown key 'local_npage' (did you mean 'local_npages'?)"
    run_dime out err check-config --set poll_mode=spin "$data/settings.yaml"
    expect_refusal "check-config --set poll_mode=spin" "--set: poll_mode: 'spin' is not one of"
    run_dime out err check-config missing.yaml
    expect_refusal "check-config missing.yaml" "cannot read 'missing.yaml'"
    run_dime out err check-config
    expect_refusal "check-config without FILE" "no FILE given"
    run_dime out err check-config a.yaml b.yaml
    expect_refusal "check-config with two files" "one FILE only"
    ;;
usage)
    run_dime out err
    expect_refusal "no command" "try 'dime --help'"
    run_dime out err frobnicate
    expect_refusal "unknown command" "unknown command 'frobnicate'"
    run_dime out err --frobnicate
    expect_refusal "unknown option" "unknown option '--frobnicate'"
    run_dime out err run --frobnicate true
    expect_refusal "unknown run option" "run: unknown option '--frobnicate'"
    run_dime out err run -c
    expect_refusal "-c without a value" "-c needs a value"
    run_dime out err run --set local_npages=5
    expect_refusal "run without a program" "no program given"
    run_dime out err check-config --frobnicate x.yaml
    expect_refusal "unknown check-config option" "check-config: unknown option '--frobnicate'"
    ;;
help)
    run_dime out err --help
    expect_status "dime --help" 0
    for word in "dime run" "check-config" DIME_CONFIG DIME_OPTIONS DIME_REPORT DIME_DISABLE DIME_LOG DIME_LIBRARY LD_PRELOAD userfaultfd 127 126; do
        grep -qF -- "$word" out || fail "dime --help does not mention $word"
    done
    run_dime out err help run
    expect_status "dime help run" 0
    cp out help-run.txt
    run_dime out err run --help
    expect_status "dime run --help" 0
    cmp -s out help-run.txt || fail "dime help run and dime run --help differ"
    for word in -c --config --set --report --trace -- DIME_CONFIG DIME_OPTIONS DIME_REPORT DIME_TRACE DIME_DISABLE DIME_LOG DIME_LIBRARY LD_PRELOAD; do
        grep -qF -- "$word" out || fail "dime run --help does not mention $word"
    done
    # Every setting, with its default, from the same table as the parser.
    "$dime" check-config /dev/null | grep -v '^#' | while IFS=': ' read -r key value; do
        [ "$value" = '""' ] && continue
        value=${value#\"} value=${value%\"}  # text settings are quoted in YAML, not in the help
        grep -qF -- "  $key [$value]" help-run.txt || echo "$key" >>missing-settings
    done
    if [ -s missing-settings ]; then fail "dime run --help lacks settings (or their defaults): $(tr '\n' ' ' <missing-settings)"; else pass "every setting and its default in dime run --help"; fi
    run_dime out err check-config --help
    expect_status "dime check-config --help" 0
    grep -qF -- "--set" out || fail "dime check-config --help does not mention --set"
    run_dime out err --version
    expect_status "dime --version" 0
    grep -qE '^dime [0-9]+\.[0-9]+\.[0-9]+$' out && pass "$(head -n 1 out)" || fail "dime --version printed: $(cat out)"
    ;;
missing_program)
    run_dime out err run -- no-such-program-for-dime
    expect_status "a program not on PATH" 127
    grep -qx "dime: cannot run 'no-such-program-for-dime': No such file or directory" err && pass "$(cat err)" || fail "message: $(cat err)"
    run_dime out err run ./missing
    expect_status "a missing path" 127
    printf '#!/bin/sh\necho started\n' >not-executable && chmod 0644 not-executable
    run_dime out err run ./not-executable
    expect_status "a file without execute permission" 126
    grep -qx "dime: cannot run './not-executable': Permission denied" err && pass "$(cat err)" || fail "message: $(cat err)"
    run_dime out err run "$PWD"
    expect_status "a directory as program" 126
    ;;
library)
    # DIME_LIBRARY wins, and a bad one is refused naming it.
    DIME_LIBRARY=/nonexistent/libdime.so run_dime out err run -- /bin/echo started
    expect_refusal "a missing DIME_LIBRARY" "DIME_LIBRARY: cannot use '/nonexistent/libdime.so'"
    # A copy of dime alone in a directory finds no libdime.so (the build tree's is only for the
    # build tree's dime) and says so, exit status 1.
    mkdir -p alone/bin && cp "$dime" alone/bin/dime
    timeout 60 alone/bin/dime run -- /bin/echo started </dev/null >out 2>err
    status=$?
    expect_status "dime without a libdime.so" 1
    grep -q "^dime: cannot find libdime.so (looked at .*alone/bin/libdime.so" err && pass "$(cat err)" || fail "message: $(cat err)"
    [ -s out ] && fail "the program ran without libdime.so"
    require_uffd
    # Beside the executable.
    cp "$lib" alone/bin/libdime.so
    timeout 60 alone/bin/dime run $quiet -- env </dev/null >out 2>err
    [ "$(env_value LD_PRELOAD)" = "$PWD/alone/bin/libdime.so" ] && pass "libdime.so beside dime" || fail "LD_PRELOAD='$(env_value LD_PRELOAD)' $(cat err)"
    # DIME_LIBRARY over the one beside it.
    mkdir -p other && cp "$lib" other/libdime.so
    DIME_LIBRARY=other/libdime.so timeout 60 alone/bin/dime run $quiet -- env </dev/null >out 2>err
    [ "$(env_value LD_PRELOAD)" = "$PWD/other/libdime.so" ] && pass "DIME_LIBRARY (made absolute)" || fail "LD_PRELOAD='$(env_value LD_PRELOAD)' $(cat err)"
    ;;
*)
    echo "check_cli.sh: unknown case '$case_name'" >&2
    exit 1
    ;;
esac

if [ "$failures" -gt 0 ]; then
    echo "check_cli.sh $case_name: $failures check(s) failed"
    exit 1
fi
echo "check_cli.sh $case_name: all checks passed"
