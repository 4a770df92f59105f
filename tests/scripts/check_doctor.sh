#!/usr/bin/env bash
# check_doctor.sh — `dime doctor` prints every line once, in order, and its verdict agrees with what
# happens to a program started under libdime.so: exit 0 and "backend: userfaultfd" exactly when the
# program runs, exit 1 and "backend: none" exactly when it stops for want of userfaultfd. Checked
# as the current user and, when root can drop to user nobody on a machine with
# vm.unprivileged_userfaultfd=0, as nobody (who gets only user-mode-only descriptors). Also: the
# settings in the environment decide the backend (disable), bad settings and arguments exit 2.
# Usage: check_doctor.sh DIME LIBDIME
set -u
[ $# -eq 2 ] || { echo "usage: check_doctor.sh DIME LIBDIME" >&2; exit 1; }
dime=$1 lib=$2
failed=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=1; }

labels=("kernel" "userfaultfd system call" "userfaultfd user-mode-only" "/dev/userfaultfd"
        "vm.unprivileged_userfaultfd" "CAP_SYS_PTRACE" "UFFDIO_API" "UFFDIO_MOVE" "write-protect"
        "MISSING on anonymous memory" "MISSING on shmem" "MISSING on hugetlb" "UFFDIO_ZEROPAGE"
        "kernel-mode fault" "vm.max_map_count" "transparent hugepages" "seccomp" "cpuidle" "CPU wake-up latency hold" "page size" "CPUs"
        "backend")

work=$(mktemp -d) || exit 1
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# Runs `dime doctor` and a program under libdime.so with the prefix command $@ (e.g. setpriv),
# then checks the output's shape and that the two agree. $1 names the case.
check_as() {
    local who=$1
    shift
    "$@" env -u DIME_CONFIG -u DIME_OPTIONS "$dime" doctor >"$work/out" 2>"$work/err"
    local status=$?
    "$@" env -u DIME_CONFIG DIME_OPTIONS=local_npages=64 LD_PRELOAD="$lib" /bin/echo main reached \
        >"$work/prog_out" 2>"$work/prog_err"
    local prog_status=$?
    sed 's/^/     /' "$work/out"

    [ -s "$work/err" ] && fail "$who: doctor wrote to stderr: $(head -n 3 "$work/err")"
    local expected actual
    expected=$(printf '%s\n' "${labels[@]}")
    actual=$(sed -n 's/^\([^:]*\):  *.*$/\1/p' "$work/out")
    if [ "$expected" = "$actual" ] && [ "$(wc -l <"$work/out")" -eq "${#labels[@]}" ]; then
        pass "$who: the ${#labels[@]} lines, in order"
    else
        fail "$who: the lines are not the expected ${#labels[@]} labels in order:"
        diff <(echo "$expected") <(echo "$actual") | sed 's/^/     /'
    fi
    for label in "${labels[@]}"; do
        grep -q "^$label: *[^ ]" "$work/out" || fail "$who: '$label' has no value"
    done

    if [ "$prog_status" -eq 0 ] && grep -qx "main reached" "$work/prog_out"; then
        [ "$status" -eq 0 ] && pass "$who: exit 0, and a program under libdime.so runs" ||
            fail "$who: a program under libdime.so runs, but doctor exits $status"
        grep -q '^backend: *userfaultfd' "$work/out" && pass "$who: backend userfaultfd" ||
            fail "$who: the program runs on userfaultfd, but doctor says: $(grep '^backend' "$work/out")"
        grep -q '^kernel-mode fault: *yes' "$work/out" || fail "$who: the program runs but the kernel-mode fault line says no"
    elif [ "$prog_status" -eq 1 ] && grep -q "userfaultfd" "$work/prog_err"; then
        [ "$status" -eq 1 ] && pass "$who: exit 1, and a program under libdime.so stops for want of userfaultfd" ||
            fail "$who: a program under libdime.so stops ($(cat "$work/prog_err")), but doctor exits $status"
        grep -q '^backend: *none' "$work/out" && pass "$who: backend none" ||
            fail "$who: the program cannot start, but doctor says: $(grep '^backend' "$work/out")"
    else
        fail "$who: the program under libdime.so exited $prog_status: $(head -n 2 "$work/prog_err")"
    fi
    return "$status"
}

check_as "$(id -un)"
mine=$?
if [ "${DIME_REQUIRE_UFFD:-}" = 1 ] && [ "$mine" -ne 0 ]; then fail "DIME_REQUIRE_UFFD=1 but doctor exits $mine"; fi

# As user nobody: the system call refuses full descriptors, user-mode-only ones open, and a fault
# taken inside the kernel is not served by them.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
    [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ]; then
    cp "$dime" "$lib" "$work/" && chmod 755 "$work/$(basename "$dime")" && chmod 644 "$work/$(basename "$lib")"
    dime="$work/$(basename "$dime")" lib="$work/$(basename "$lib")"
    nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    check_as nobody "${nobody[@]}"
    status=$?
    if [ "$status" -eq 1 ]; then
        grep -q '^userfaultfd system call: *no' "$work/out" && grep -q '^userfaultfd user-mode-only: *yes' "$work/out" &&
            grep -q '^kernel-mode fault: *no: .*Bad address' "$work/out" &&
            pass "nobody: system call refused, user-mode-only opens, the kernel-mode fault fails with EFAULT" ||
            fail "nobody: unexpected probe lines"
    else
        echo "note nobody may use userfaultfd here (/dev/userfaultfd open to it?): the refused case is not shown"
    fi
    dime=$1 lib=$2
else
    echo "note not root, no setpriv, or vm.unprivileged_userfaultfd is not 0: the unprivileged case is not checked"
fi

# The settings decide the backend; bad ones and stray arguments are refused with one line.
DIME_OPTIONS=disable=1 "$dime" doctor >"$work/out" 2>"$work/err"
grep -q '^backend: *none: disable is set' "$work/out" && pass "disable=1: backend none (disable)" ||
    fail "disable=1: $(grep '^backend' "$work/out")"
DIME_OPTIONS=backend=mprotect "$dime" doctor >"$work/out" 2>"$work/err"
grep -q '^backend: *mprotect (backend: mprotect)' "$work/out" && pass "backend=mprotect: backend mprotect" ||
    fail "backend=mprotect: $(grep '^backend' "$work/out")"
for bad in "DIME_OPTIONS=local_npages=0" "DIME_CONFIG=/nonexistent/dime.yaml"; do
    env "$bad" "$dime" doctor >"$work/out" 2>"$work/err"
    status=$?
    if [ "$status" -eq 2 ] && [ ! -s "$work/out" ] && [ "$(wc -l <"$work/err")" -eq 1 ] && grep -q '^dime: ' "$work/err"; then
        pass "$bad: exit 2, one line: $(cat "$work/err")"
    else
        fail "$bad: exit $status, stdout $(wc -l <"$work/out") lines, stderr: $(cat "$work/err")"
    fi
done
"$dime" doctor --frobnicate >"$work/out" 2>"$work/err"
status=$?
[ "$status" -eq 2 ] && grep -q "doctor: unexpected argument '--frobnicate'" "$work/err" && pass "a stray argument: exit 2" ||
    fail "a stray argument: exit $status: $(cat "$work/err")"
exit $failed
