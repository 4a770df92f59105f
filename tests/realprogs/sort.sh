#!/usr/bin/env bash
# sort.sh — ctest realprogs.sort: coreutils sort (2 threads) over a generated file of >= 200 MB,
# natively and under libdime.so with a 24 MiB pool; the sorted outputs must be identical.
# Extra argument: the gen_lines program.
source "$(dirname "$0")/lib.sh"
readonly POOL=6144    # 24 MiB; sort's heap is ~250 MB, so >= 8 x the pool is checked
readonly LINES=700000
gen=${RP_ARGS[0]:?usage: sort.sh <libdime.so> <work dir> <source dir> <gen_lines>}
rp_require sort

"$gen" "$LINES" >input.txt || rp_fail "gen_lines failed"
size=$(stat -c %s input.txt)
((size >= 200 * 1000 * 1000)) || rp_fail "input.txt has $size bytes, the test needs at least 200 MB"
rp_say "input: $LINES lines, $size bytes"

export TMPDIR=$RP_WORK
sort --parallel=2 input.txt >native.out || rp_fail "native sort failed"
rp_dime "$POOL" dime.json sort --parallel=2 input.txt >dime.out || rp_fail "sort under libdime.so exited with status $?"
lines=$(wc -l <dime.out)
((lines == LINES)) || rp_fail "sort under libdime.so wrote $lines lines, expected $LINES"
rp_same_file native.out dime.out "sort input.txt"
rp_check_report dime.json "$POOL"
rm -f input.txt native.out dime.out
rp_say "PASS"
