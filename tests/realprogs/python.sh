#!/usr/bin/env bash
# python.sh — ctest realprogs.python: Debian's python3 builds and checks ~600 MB of dicts and lists
# natively and under libdime.so with a 64 MiB pool; the printed digests must be identical.
#
# PYTHONMALLOC=malloc sends every object through malloc: by default CPython takes its small
# objects from 256 KiB arenas it maps itself, which the malloc hooks do not see. Both runs use it.
source "$(dirname "$0")/lib.sh"
readonly POOL=16384  # 64 MiB; the script's heap is ~600 MB, so >= 8 x the pool is checked
readonly N=1000000

python=/usr/bin/python3
[[ -x $python ]] || rp_skip "$python is not installed"
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

"$python" "$RP_SRC/python_heap.py" "$N" >native.out || rp_fail "native run failed: $(cat native.out)"
rp_dime "$POOL" dime.json "$python" "$RP_SRC/python_heap.py" "$N" >dime.out ||
  rp_fail "the run under libdime.so exited with status $?: $(cat dime.out)"
rp_say "native: $(cat native.out)"
rp_say "dime:   $(cat dime.out)"
rp_same_file native.out dime.out "python3 python_heap.py $N"
rp_check_report dime.json "$POOL"
rp_say "PASS"
