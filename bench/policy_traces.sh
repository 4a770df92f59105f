# policy_traces.sh — the four synthetic workloads of the policy benchmark, shared by
# bench/policy_table.sh (simulator against OPT) and bench/live_vs_sim.sh (live engine against the
# simulator). Sourced, not run. One entry per trace: name | pool pages | trace_gen arguments.
# shellcheck disable=SC2034
policy_traces=(
    "scan|1000|scan --pages 10000 --passes 4"
    "loop|1000|loop --pages 1100 --passes 40"
    "zipf|1000|zipf --pages 10000 --accesses 500000 --theta 0.99 --seed 1"
    "scanhot|1000|scanhot --hot 500 --hot-run 1000 --scan-run 2000 --accesses 300000 --seed 1"
)
