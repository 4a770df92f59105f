#!/usr/bin/env python3
"""check_bench_results.py DIR — ctest bench_run_smoke: `bench/run --smoke` left in DIR a
results.json in which every experiment produced its rows, each with numbers in the columns that
carry its figures, a results.md with every experiment's heading, and the SVG plots it names.
Asserts nothing about the figures themselves (a smoke run's sizes are too small for that).
Sizes are bench/run's smoke sizes: a change there changes the row counts here."""

import json
import math
import os
import sys

# experiment: (rows it must have, the fields every row must carry as numbers)
EXPECTED = {
    "table42": (3, ["pages", "faults", "expected_us", "actual_us"]),
    "fault_resolution": (9, ["fetch_cost_us", "mean_us", "pages_per_s", "perceived_us"]),
    "quicksort": (11, ["sort_s", "overhead_pct", "local_mib"]),
    "kvstore": (8, ["get_rps", "get_p99_ms", "set_rps", "set_p99_ms", "pool_pages"]),
    # 3 accuracy targets + 2 tracked sizes + 4 thread counts
    "accuracy_scaling": (9, []),
}
ACCURACY_FIELDS = {"target_us": ["mean_us", "p50_us"], "tracked_pages": ["faults_per_s", "us_per_fault"],
                   "threads": ["faults_per_s_0", "faults_per_s_25"]}


def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check(out):
    problems = []
    try:
        with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
            results = json.load(f)["experiments"]
    except (OSError, ValueError, KeyError) as exc:
        return [f"no readable results.json in {out}: {exc}"]
    try:
        with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
            markdown = f.read()
    except OSError as exc:
        markdown = ""
        problems.append(f"no results.md: {exc}")
    for name, (count, fields) in EXPECTED.items():
        result = results.get(name)
        if result is None:
            problems.append(f"{name}: missing from results.json")
            continue
        if "error" in result:
            problems.append(f"{name}: failed: {result['error'].splitlines()[0]}")
            continue
        rows = result.get("rows", [])
        if len(rows) != count:
            problems.append(f"{name}: {len(rows)} rows, expected {count}")
        for i, row in enumerate(rows):
            wanted = list(fields)
            if name == "accuracy_scaling":
                wanted = next((v for k, v in ACCURACY_FIELDS.items() if k in row), ["(a known row kind)"])
            missing = [f for f in wanted if not number(row.get(f))]
            if missing:
                problems.append(f"{name}: row {i + 1} has no number in {', '.join(missing)}: {row}")
        for svg in result.get("plots", []):
            path = os.path.join(out, svg)
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                problems.append(f"{name}: plot {svg} is missing or empty")
            if f"]({svg})" not in markdown:
                problems.append(f"{name}: results.md does not show {svg}")
        if not result.get("plots"):
            problems.append(f"{name}: no plot was drawn")
    headings = markdown.count("\n## ")
    if headings != len(EXPECTED):
        problems.append(f"results.md has {headings} experiment headings, expected {len(EXPECTED)}")
    return problems


def main():
    if len(sys.argv) != 2:
        print("usage: check_bench_results.py DIR", file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(f"check_bench_results: {p}", file=sys.stderr)
    if not problems:
        print(f"check_bench_results: every experiment produced its rows and plots ({', '.join(EXPECTED)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
