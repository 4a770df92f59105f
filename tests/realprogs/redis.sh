#!/usr/bin/env bash
# redis.sh — ctest realprogs.redis: redis-server runs under libdime.so with a 10 MiB pool on
# 127.0.0.1 and a free port. redis-benchmark drives SET/GET over a fixed key space with 1200-byte
# values (~110 MB of data), known keys are written, BGSAVE forks a child that writes the dump, and
# the live server must still return every known value. Then redis-server runs again, natively, on
# that dump: same key count, same DEBUG DIGEST of the whole data set, every known value intact.
# Extra argument: the free_port program. Only redis-server is preloaded; the clients are not.
source "$(dirname "$0")/lib.sh"
readonly POOL=2560          # 10 MiB; the data set is ~110 MB, so >= 8 x the pool is checked
readonly KEYSPACE=100000 REQUESTS=200000 VALUE_BYTES=1200
readonly KNOWN=5000         # known:000001 .. known:005000, 100 to 3099 bytes each
free_port=${RP_ARGS[0]:?usage: redis.sh <libdime.so> <work dir> <source dir> <free_port>}
rp_require redis-server redis-cli redis-benchmark

servers=()
cleanup() {
  local pid
  for pid in "${servers[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND until it succeeds; fail after SECONDS or as
# soon as the server process is gone.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    kill -0 "$server" 2>/dev/null || return 2
    ((SECONDS < deadline)) || rp_fail "timed out after ${limit} s waiting for $what"
    sleep 0.05
  done
}
answers_pong() { [[ $(cli ping 2>/dev/null) == PONG ]]; }

# start_server NAME dime|native: starts redis-server on a free port (sets $port and $server).
start_server() {
  local name=$1 mode=$2 attempt
  for attempt in 1 2 3; do
    port=$("$free_port")
    local args=(--port "$port" --bind 127.0.0.1 --dir "$RP_WORK" --dbfilename dump.rdb --save ""
                --appendonly no --daemonize no --logfile "$RP_WORK/$name.log" --io-threads 1
                --crash-memcheck-enabled no --enable-debug-command local)
    if [[ $mode == dime ]]; then
      mapfile -t envs < <(rp_env "$POOL" "$RP_WORK/dime.json")
      env "${envs[@]}" redis-server "${args[@]}" 2>"$RP_WORK/$name.stderr" &
    else
      redis-server "${args[@]}" 2>"$RP_WORK/$name.stderr" &
    fi
    server=$!
    servers+=("$server")
    local status=0
    wait_for "$name to answer PING on port $port" 120 answers_pong || status=$?
    ((status == 0)) && { rp_say "$name: pid $server, port $port"; return 0; }
    wait "$server" || true
    if grep -qE 'userfaultfd is not permitted|has no userfaultfd' "$RP_WORK/$name.stderr"; then
      rp_skip "userfaultfd is not usable here: $(head -n 1 "$RP_WORK/$name.stderr")"
    fi
    grep -q 'Address already in use' "$RP_WORK/$name.log" 2>/dev/null || break
    rp_say "$name: port $port was taken meanwhile, trying another"
  done
  tail -n 20 "$RP_WORK/$name.log" "$RP_WORK/$name.stderr" >&2 || true
  rp_fail "$name did not start"
}

# stop_server NAME: SHUTDOWN NOSAVE, and the server must exit with status 0.
stop_server() {
  local status=0
  cli shutdown nosave >/dev/null 2>&1 || true
  wait "$server" || status=$?
  if ((status != 0)); then
    grep -A 30 'BUG REPORT' "$RP_WORK/$1.log" >&2 || tail -n 20 "$RP_WORK/$1.log" >&2 || true
    cat "$RP_WORK/$1.stderr" >&2 || true
    rp_fail "$1 exited with status $status at SHUTDOWN"
  fi
}

# The known keys: SET commands in the Redis protocol, the GET commands, the expected values.
awk -v n="$KNOWN" 'BEGIN {
  for (i = 1; i <= n; i++) {
    key = sprintf("known:%06d", i); len = 100 + (i * 37) % 3000
    unit = sprintf("%06d-%x-", i, i * 2654435761 % 4294967296); val = ""
    while (length(val) < len) val = val unit
    val = substr(val, 1, len)
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(key), key, length(val), val > "known.resp"
    print "GET " key > "known.get"
    print val > "known.expected"
  } }'

# known_values_match FILE: GET every known key into FILE; true if it equals known.expected.
known_values_match() { cli --raw <known.get >"$1" && cmp -s known.expected "$1"; }

# 1. Under libdime.so: benchmark, known keys, BGSAVE (a fork), checks on the live server.
start_server redis-dime dime
redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n "$REQUESTS" -r "$KEYSPACE" -d "$VALUE_BYTES" -P 16 -c 8 -q \
  >benchmark.out 2>&1 || { cat benchmark.out >&2; rp_fail "redis-benchmark failed"; }
rp_say "redis-benchmark: $(tr '\r' '\n' <benchmark.out | grep 'requests per second' | tr '\n' ' ')"
answers_pong || rp_fail "redis-dime does not answer after the benchmark"
pipe=$(cli --pipe <known.resp 2>&1) || rp_fail "redis-cli --pipe failed: $pipe"
[[ $pipe == *"errors: 0, replies: $KNOWN"* ]] || rp_fail "writing the known keys: $pipe"

saves_before=$(cli info persistence | tr -d '\r' | awk -F: '$1 == "rdb_saves" { print $2 }')
[[ $(cli bgsave) == "Background saving started" ]] || rp_fail "BGSAVE was refused"
bgsave_done() {
  local info
  info=$(cli info persistence | tr -d '\r') || return 1
  [[ $info == *"rdb_bgsave_in_progress:0"* ]] &&
    (($(awk -F: '$1 == "rdb_saves" { print $2 }' <<<"$info") > saves_before))
}
wait_for "BGSAVE to finish" 300 bgsave_done || rp_fail "redis-dime died during BGSAVE"
[[ $(cli info persistence) == *"rdb_last_bgsave_status:ok"* ]] || rp_fail "BGSAVE failed: $(grep -i 'save' redis-dime.log)"
[[ -s dump.rdb ]] || rp_fail "BGSAVE reported success but wrote no dump.rdb"
rp_say "BGSAVE: $(stat -c %s dump.rdb) bytes; $(grep -o 'Fork CoW.*' redis-dime.log || true)"

keys=$(cli dbsize)
digest=$(cli debug digest)
((keys > KNOWN)) || rp_fail "redis-dime holds only $keys keys"
known_values_match dime-live.values || rp_fail "the live server under libdime.so returned wrong known values after BGSAVE"
rp_say "redis-dime: $keys keys, digest $digest, $KNOWN known values intact"
stop_server redis-dime
rp_check_report dime.json "$POOL"

# 2. Natively, on the dump written by the emulated server's child.
start_server redis-native native
[[ $(cli dbsize) == "$keys" ]] || rp_fail "the reloaded dump holds $(cli dbsize) keys, the emulated server had $keys"
[[ $(cli debug digest) == "$digest" ]] || rp_fail "the reloaded data set's digest $(cli debug digest) differs from $digest"
known_values_match native.values || rp_fail "known values read back from the dump differ from what was written"
rp_say "redis-native: the dump reloads with $keys keys, the same digest and every known value"
stop_server redis-native
rm -f dump.rdb
rp_say "PASS"
