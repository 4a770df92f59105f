#!/bin/sh
# check_bad_environment.sh — bad values of DIME_LOG and DIME_DISABLE must stop a program under
# libdime.so before main(): exit status 2, exactly one stderr line starting "dime: " that names the
# variable, nothing on stdout. Good values must let it run. Usage: check_bad_environment.sh LIBDIME
lib=$1
fail=0
check_bad() { # VAR VALUE FRAGMENT
  out=$(env -u DIME_CONFIG -u DIME_OPTIONS "$1=$2" LD_PRELOAD="$lib" /bin/echo main reached 2>/tmp/dime-env-err.$$)
  rc=$?
  err=$(cat /tmp/dime-env-err.$$)
  lines=$(printf '%s\n' "$err" | wc -l)
  if [ "$rc" != 2 ] || [ -n "$out" ] || [ "$lines" != 1 ] || ! printf '%s' "$err" | grep -q "^dime: .*$3"; then
    echo "FAIL: $1=$2: exit $rc, stdout '$out', stderr: $err"
    fail=1
  else
    echo "ok: $1=$2 -> $err"
  fi
}
check_good() { # VAR VALUE
  out=$(env -u DIME_CONFIG "$1=$2" DIME_OPTIONS=local_npages=256 LD_PRELOAD="$lib" /bin/echo main reached 2>/dev/null)
  rc=$?
  if [ "$rc" != 0 ] || [ "$out" != "main reached" ]; then
    echo "FAIL: $1=$2: exit $rc, stdout '$out'"
    fail=1
  else
    echo "ok: $1=$2 runs"
  fi
}
check_bad DIME_LOG verbose "DIME_LOG: log_level: 'verbose' is not one of: error, warn, info, debug"
check_bad DIME_LOG WARNING "DIME_LOG: log_level"
check_bad DIME_DISABLE maybe "DIME_DISABLE: disable: 'maybe' is not a boolean"
check_bad DIME_DISABLE 2 "DIME_DISABLE: disable"
for level in error warn info debug DEBUG; do check_good DIME_LOG $level; done
for value in 1 0 true no; do check_good DIME_DISABLE $value; done
rm -f /tmp/dime-env-err.$$
exit $fail
