#!/usr/bin/env bash
# check_env_docs.sh — every DIME_* environment variable named in DiME's sources (libdime/, preload/, cli/) has a row in the one table of docs/usage.md, and every variable of that table is in `dime --help`.
# Usage: check_env_docs.sh SOURCE_DIR DIME
set -u
[ $# -eq 2 ] || { echo "usage: check_env_docs.sh SOURCE_DIR DIME" >&2; exit 1; }
src=$1 dime=$2
usage=$src/docs/usage.md
[ -r "$usage" ] || { echo "FAIL: no $usage"; exit 1; }

# String literals that are exactly a variable name: "DIME_CONFIG" (not "DIME_CONFIG: ...").
in_sources=$(grep -rhoE '"DIME_[A-Z0-9_]+"' "$src/libdime" "$src/preload" "$src/cli" | tr -d '"' | sort -u)
in_table=$(grep -oE '^\| `DIME_[A-Z0-9_]+`' "$usage" | grep -oE 'DIME_[A-Z0-9_]+' | sort -u)
help=$("$dime" --help) || { echo "FAIL: dime --help failed"; exit 1; }

[ -n "$in_sources" ] || { echo "FAIL: found no DIME_* names in the sources (is the pattern still right?)"; exit 1; }
failed=0
for var in $in_sources; do
    if grep -qx "$var" <<<"$in_table"; then echo "ok   $var is in docs/usage.md's table"; else echo "FAIL: $var is read by the sources but has no row in docs/usage.md's table"; failed=1; fi
done
for var in $in_table; do
    if grep -qw "$var" <<<"$help"; then echo "ok   $var is in dime --help"; else echo "FAIL: $var is in docs/usage.md's table but not in dime --help"; failed=1; fi
done
exit $failed
