#!/usr/bin/env bash
# live_vs_sim.sh — the live emulator against the policy lab on the same accesses: for each of the
# four synthetic traces (bench/policy_traces.sh) and each policy, replays the trace on emulated
# memory under libdime.so (bench/trace_replay via `dime run`) and through `dime sim`, and prints
# a Markdown table of both fault counts and their ratio. The sampled policies (clock, lru2q, arc)
# learn of hits only through access tracking; the simulator is run three times for them: with
# every hit reported (--access-fraction F, default 1), with none (0, a live engine without
# tracking), and with the share of hits the live run's tracker saw (its hit faults divided by the
# trace's hits: accesses minus live faults), which is what the simulator's fraction models.
# Extra settings for the live runs (an access tracker's knobs, say) go in --live-set.
#
# Usage: bench/live_vs_sim.sh [--build DIR] [--work DIR] [--policies "fifo random ..."]
#          [--traces "scan loop ..."] [--evict-batch B] [--page-size S] [--access-fraction F]
#          [--live-set key=value,...] [--pool N (every trace's pool, in units)]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build work= policies="fifo random clock lru2q arc" only= batch=1 page_size=4096 fraction=1 live_set= pool_override=
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --policies) policies=$2; shift 2 ;;
        --traces) only=$2; shift 2 ;;
        --evict-batch) batch=$2; shift 2 ;;
        --page-size) page_size=$2; shift 2 ;;
        --access-fraction) fraction=$2; shift 2 ;;
        --live-set) live_set=$2; shift 2 ;;
        --pool) pool_override=$2; shift 2 ;;
        *) echo "live_vs_sim.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
gen=$build/bench/trace_gen sim=$build/tools/sim/dime-sim replay=$build/bench/trace_replay dime=$build/cli/dime
for f in "$gen" "$sim" "$replay" "$dime"; do
    [ -x "$f" ] || { echo "live_vs_sim.sh: '$f' is missing (build first: cmake --build $build)" >&2; exit 2; }
done
if [ -z "$work" ]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work"
# shellcheck source=bench/policy_traces.sh
. "$root/bench/policy_traces.sh"

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
sampled() { case $1 in clock|lru2q|arc) return 0 ;; *) return 1 ;; esac; }

# One live run: the program's faults, less those of the program itself (an empty trace).
live_faults() {  # trace policy pool [baseline]
    local set="policy=$2,local_npages=$3,evict_batch=$batch,page_size=$page_size,latency_ns=0,overhead_ns=0,summary=false"
    [ -n "$live_set" ] && set+=",$live_set"
    "$dime" run --set "$set" --report "$work/live.json" -- "$replay" "$1" > "$work/replay.out"
    local faults mmaps
    faults=$(field faults < "$work/live.json") mmaps=$(field mmaps < "$work/live.json")
    field hit_faults < "$work/live.json" > "$work/hit_faults"
    [ -n "${4:-}" ] || [ "${mmaps:-0}" -ge 1 ] || { echo "live_vs_sim.sh: the replayed region was not emulated" >&2; exit 1; }
    echo "$faults"
}

printf '# empty\n' > "$work/empty.txt"
echo "evict_batch $batch, page_size $page_size, simulator --access-fraction $fraction for clock/lru2q/arc${live_set:+, live --set $live_set}"
echo
echo '| trace | pool | policy | sim faults | live faults | live ÷ sim | sim, no hits reported | live ÷ that | share of hits the tracker saw | sim at that share | live ÷ that |'
echo '|---|---|---|---|---|---|---|---|---|---|---|'
for t in "${policy_traces[@]}"; do
    IFS='|' read -r name pool args <<<"$t"
    pool=${pool_override:-$pool}
    if [ -n "$only" ] && ! grep -qw "$name" <<<"$only"; then continue; fi
    # shellcheck disable=SC2086
    "$gen" $args > "$work/$name.txt"
    for p in $policies; do
        f=1
        sampled "$p" && f=$fraction
        sim_faults=$("$sim" --trace "$work/$name.txt" --local-pages "$pool" --policy "$p" --page-size "$page_size" \
                     --evict-batch "$batch" --access-fraction "$f" --json | field faults)
        base=$(live_faults "$work/empty.txt" "$p" "$pool" baseline)
        live=$(( $(live_faults "$work/$name.txt" "$p" "$pool") - base ))
        blind="" blind_ratio="" seen="" at_seen="" seen_ratio=""
        if sampled "$p"; then
            blind=$("$sim" --trace "$work/$name.txt" --local-pages "$pool" --policy "$p" --page-size "$page_size" \
                    --evict-batch "$batch" --access-fraction 0 --json | field faults)
            blind_ratio=$(ratio "$live" "$blind")
            accesses=$(grep -cv '^#' "$work/$name.txt")
            seen=$(ratio "$(cat "$work/hit_faults")" "$((accesses - live))")
            at_seen=$("$sim" --trace "$work/$name.txt" --local-pages "$pool" --policy "$p" --page-size "$page_size" \
                      --evict-batch "$batch" --access-fraction "$seen" --json | field faults)
            seen_ratio=$(ratio "$live" "$at_seen")
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$pool" "$p" "$sim_faults" "$live" \
            "$(ratio "$live" "$sim_faults")" "${blind:-—}" "${blind_ratio:-—}" "${seen:-—}" "${at_seen:-—}" "${seen_ratio:-—}"
    done
done
