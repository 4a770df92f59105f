#!/usr/bin/env bash
# sqlite.sh — ctest realprogs.sqlite: the sqlite3 shell builds and queries an in-memory database of
# >= 100 MB (sqlite.sql), natively and under libdime.so with a 16 MiB pool; identical results.
source "$(dirname "$0")/lib.sh"
readonly POOL=4096   # 16 MiB; the database alone is ~120 MB, so >= 8 x the pool is checked
rp_require sqlite3

sqlite3 -batch :memory: <"$RP_SRC/sqlite.sql" >native.out || rp_fail "native sqlite3 failed: $(tail -n 3 native.out)"
bytes=$(awk -F'|' '$1 == "database bytes" { print $2 }' native.out)
[[ -n $bytes ]] && ((bytes >= 100 * 1000 * 1000)) ||
  rp_fail "the database has '${bytes}' bytes, the test needs at least 100 MB"
rp_say "native: $(wc -l <native.out) lines of results, database of $bytes bytes"
rp_dime "$POOL" dime.json sqlite3 -batch :memory: <"$RP_SRC/sqlite.sql" >dime.out ||
  rp_fail "sqlite3 under libdime.so exited with status $?"
rp_same_file native.out dime.out "sqlite3 :memory: < sqlite.sql"
rp_check_report dime.json "$POOL"
rp_say "PASS"
