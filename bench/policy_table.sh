#!/usr/bin/env bash
# policy_table.sh — the policy lab's benchmark: generates the four synthetic traces with
# trace_gen, replays each through every policy with dime-sim, and prints a Markdown table of
# faults relative to Belady's OPT (and to exact LRU); with --plot FILE.png also draws it with
# gnuplot (Debian package gnuplot-nox). The figures in docs/policies.md come from this script.
#
# Usage: bench/policy_table.sh [--build DIR] [--work DIR] [--plot FILE.png]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build work= plot=
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --plot) plot=$2; shift 2 ;;
        *) echo "policy_table.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
gen=$build/bench/trace_gen sim=$build/tools/sim/dime-sim lifo=$build/examples/policy_plugin_lifo.so
for f in "$gen" "$sim" "$lifo"; do
    [ -e "$f" ] || { echo "policy_table.sh: '$f' is missing (build first: cmake --build $build)" >&2; exit 2; }
done
if [ -z "$work" ]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work"

# shellcheck source=bench/policy_traces.sh
. "$root/bench/policy_traces.sh"
traces=("${policy_traces[@]}")
policies=(fifo random clock lru2q arc lifo)

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

data=$work/table.dat
printf 'trace' > "$data"
for p in "${policies[@]}"; do printf ' %s' "$p" >> "$data"; done
printf ' LRU\n' >> "$data"

printf '| trace | pool | OPT faults | %s | exact LRU |\n' "$(IFS='|'; echo "${policies[*]}" | sed 's/|/ | /g')"
printf '|---|---|---|%s---|\n' "$(printf -- '---|%.0s' "${policies[@]}")"
for t in "${traces[@]}"; do
    IFS='|' read -r name pool args <<<"$t"
    # shellcheck disable=SC2086
    "$gen" $args > "$work/$name.txt"
    row="| $name | $pool |" dat="$name" opt= lru=
    for p in "${policies[@]}"; do
        if [ "$p" = lifo ]; then set -- --policy plugin --policy-plugin "$lifo"; else set -- --policy "$p"; fi
        json=$("$sim" --trace "$work/$name.txt" --local-pages "$pool" --json "$@")
        faults=$(field faults <<<"$json") opt=$(field opt_faults <<<"$json") lru=$(field lru_faults <<<"$json")
        r=$(ratio "$faults" "$opt")
        row+=" $r ($(ratio "$faults" "$lru") × LRU) |"
        dat+=" $r"
    done
    printf '| %s | %s | %s |%s %s |\n' "$name" "$pool" "$opt" "${row#*| $pool |}" "$(ratio "$lru" "$opt")"
    echo "$dat $(ratio "$lru" "$opt")" >> "$data"
done

if [ -n "$plot" ]; then
    command -v gnuplot >/dev/null || { echo "policy_table.sh: --plot needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 2; }
    gnuplot <<GP
set terminal pngcairo size 900,420 font "DejaVu Sans,10"
set output "$plot"
set title "Faults relative to Belady's OPT (lower is better; 1 = optimal)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set ylabel "faults / OPT faults (log scale)"
set logscale y
set yrange [0.9:12]
set ytics (1, 1.25, 1.5, 2, 3, 5, 8, 10)
set grid ytics
plot for [i=2:$(( ${#policies[@]} + 2 ))] "$data" using i:xtic(1) title columnheader(i)
GP
    echo
    echo "plot: $plot"
fi
