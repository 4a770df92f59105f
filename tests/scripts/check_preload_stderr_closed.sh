#!/bin/sh
# check_preload_stderr_closed.sh — a program under libdime.so keeps its own exit status when stderr
# is closed or full at exit (the summary must not abort the process). Usage: SCRIPT LIBDIME_SO
lib=$1
[ -r "$lib" ] || { echo "usage: check_preload_stderr_closed.sh LIBDIME_SO" >&2; exit 1; }
export DIME_OPTIONS="local_npages=256 summary=true"
unset DIME_CONFIG DIME_REPORT
probe=$(LD_PRELOAD=$lib /bin/true 2>&1)
case $probe in *"userfaultfd is not permitted"*|*"has no userfaultfd"*)
    if [ "${DIME_REQUIRE_UFFD:-}" != 1 ]; then echo "PRELOAD-SKIPPED: userfaultfd is not usable here"; exit 0; fi ;;
esac
fail=0
for target in closed full; do
    for expect in 0 1; do
        prog=/bin/true
        [ $expect = 1 ] && prog=/bin/false
        if [ $target = closed ]; then
            LD_PRELOAD=$lib $prog 2>&-
        else
            LD_PRELOAD=$lib $prog 2>/dev/full
        fi
        status=$?
        if [ $status -ne $expect ]; then
            echo "FAIL: stderr $target: exit status $status, expected $expect" >&2
            fail=1
        fi
    done
done
[ $fail = 0 ] && echo "exit status kept with stderr closed and full"
exit $fail
