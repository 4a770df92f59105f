"""quicksort.py — Hecatonchire's parallel quicksort under a memory constraint
(hecatonchire-2013.txt §V): bench/qsort_bench sorts random 64-bit keys with 2 threads on the
InfiniBand QDR setting, with the local pool at 3:4, 1:2, 1:3, 1:4 and 1:5 of the data set, against
an all-local run (the pool larger than the data set, same DiME, same allocator). Only the sort
is timed; generating the keys is not. Pages never used before are fresh local pages
(first_touch=local, as a kernel allocates them under a cgroup limit); pages evicted to make room
cost a fetch when they are used again. Overhead = sort time / all-local sort time
- 1, per round (the variants of a round run back to back), median over rounds."""

from fractions import Fraction

from . import common
from .fault_resolution import fabric_settings

NAME = "quicksort"
TITLE = "Hecatonchire: parallel quicksort, overhead against all-local"
SOURCE = "hecatonchire-2013.txt §V"

RATIOS = [Fraction(3, 4), Fraction(1, 2), Fraction(1, 3), Fraction(1, 4), Fraction(1, 5)]
PAPER_OVERHEAD = {Fraction(3, 4): 2.08, Fraction(1, 2): 2.62, Fraction(1, 3): 3.35, Fraction(1, 4): 4.15,
                  Fraction(1, 5): 4.71}
# Hecatonchire prefetched neighbour pages; 8 is DiME's fixed window, 0 shows what it buys (not
# in the full set: at 2 GiB each run without prefetch takes minutes).
PREFETCH = ["8", "0"]
THREADS = 2
IB_FETCH_US, IB_BANDWIDTH = 25, 40_000_000_000

SIZES = {
    "smoke": {"mib": 8, "runs": 1, "prefetch": PREFETCH},
    "quick": {"mib": 16, "runs": 3, "prefetch": PREFETCH},
    "full": {"mib": 2048, "runs": 3, "prefetch": ["8"]},
}

PAGE = 4096


def pool_bytes(data_bytes, ratio):
    pages = max(64, int(data_bytes * ratio) // PAGE)
    return pages * PAGE


def run(ctx):
    sizes = ctx.sizes(SIZES)
    data_bytes = sizes["mib"] << 20
    argv = [ctx.program("bench", "qsort_bench"), "--mib", str(sizes["mib"]), "--threads", str(THREADS)]
    # All-local: room for the keys and whatever else the program allocates.
    # first_touch=local: a page the program has never used is a fresh local page, as under
    # Hecatonchire's cgroup limit; only pages sent away to make room are fetched back.
    all_local = {**fabric_settings(IB_FETCH_US, IB_BANDWIDTH, 1), "local_bytes": data_bytes + (64 << 20)}
    all_local.pop("local_npages")
    variants = [("all-local", None, None)] + [(f"{r.numerator}:{r.denominator}", r, p) for p in sizes["prefetch"]
                                              for r in RATIOS]
    samples = {name + (f"/{p}" if p else ""): [] for name, _, p in variants}
    native = []
    for rnd in range(sizes["runs"]):
        out = common.run_plain(ctx, f"qsort-native-{rnd}", argv)
        native.append(common.last_json_line(out, "qsort native")["sort_s"])
        base_s = None
        for name, ratio, prefetch in variants:
            key = name + (f"/{prefetch}" if prefetch else "")
            settings = dict(all_local)
            if ratio is not None:
                settings["local_bytes"] = pool_bytes(data_bytes, ratio)
                settings["prefetch"] = prefetch
            tag = f"qsort-{key.replace(':', 'of').replace('/', '-pf')}-{rnd}"
            out, report = common.run_under_dime(ctx, tag, argv, settings)
            result = common.last_json_line(out, tag)
            sort_s = result["sort_s"]
            if ratio is None:
                base_s = sort_s
            samples[key].append({"sort_s": sort_s, "overhead_pct": (sort_s / base_s - 1) * 100,
                                 "refetch_faults": report["totals"]["refetch_faults"],
                                 "prefetched_pages": report["totals"]["prefetched_pages"]})
            ctx.say(f"round {rnd + 1}/{sizes['runs']}, {key}: sort {sort_s:.2f} s "
                    f"({samples[key][-1]['overhead_pct']:+.1f} %), {report['totals']['refetch_faults']} re-fetches")
    rows = []
    for name, ratio, prefetch in variants:
        key = name + (f"/{prefetch}" if prefetch else "")
        runs = samples[key]
        rows.append({
            "ratio": name, "prefetch": prefetch or "–",
            "local_mib": (pool_bytes(data_bytes, ratio) if ratio else all_local["local_bytes"]) / (1 << 20),
            "sort_s": common.median([s["sort_s"] for s in runs]),
            "overhead_pct": common.median([s["overhead_pct"] for s in runs]) if ratio else 0.0,
            "overhead_min_pct": min(s["overhead_pct"] for s in runs) if ratio else None,
            "overhead_max_pct": max(s["overhead_pct"] for s in runs) if ratio else None,
            "refetch_faults": common.median([s["refetch_faults"] for s in runs]),
            "prefetched_pages": common.median([s["prefetched_pages"] for s in runs]),
            "paper_overhead_pct": PAPER_OVERHEAD.get(ratio),
            "ratio_value": float(ratio) if ratio else 1.0,
        })
    scaled = ("nothing in size: 2 GiB of keys" if sizes["mib"] == 2048
              else f"the data set: {sizes['mib']} MiB of keys instead of 2 GiB ({ctx.mode} mode)")
    return {"mib": sizes["mib"], "threads": THREADS, "runs": sizes["runs"], "rows": rows,
            "native_sort_s": common.median(native),
            "link": {k: all_local[k] for k in ("latency_ns", "bandwidth_bps")},
            "scaled": scaled + "; a DiME local pool in place of a cgroup limit"}


def tables(result):
    f = common.fmt
    columns = [
        ("ratio", "local : total", str),
        ("prefetch", "prefetch", str),
        ("local_mib", "local pool", lambda v: f(v, 1, " MiB")),
        ("sort_s", "sort time (median)", lambda v: f(v, 2, " s")),
        ("overhead_pct", "overhead", lambda v: "–" if v is None else f"{v:+.1f} %"),
        ("overhead_min_pct", "runs' min", lambda v: "–" if v is None else f"{v:+.1f} %"),
        ("overhead_max_pct", "runs' max", lambda v: "–" if v is None else f"{v:+.1f} %"),
        ("paper_overhead_pct", "Hecatonchire: overhead", lambda v: "–" if v is None else f"{v:.2f} %"),
        ("refetch_faults", "re-fetch faults", lambda v: f(round(v)) if v is not None else "–"),
        ("prefetched_pages", "prefetched pages", lambda v: f(round(v)) if v is not None else "–"),
    ]
    return [("", columns, result["rows"])]


def plots(ctx, result):
    rows = result["rows"]
    series = []
    for prefetch in PREFETCH:
        points = [(r["ratio_value"], r["overhead_pct"]) for r in rows if r["prefetch"] == prefetch]
        if points:
            series.append((f"DiME here, prefetch {prefetch}", points, "ours"))
    series.append(("Hecatonchire", [(r["ratio_value"], r["paper_overhead_pct"]) for r in rows
                                    if r["prefetch"] == PREFETCH[0]], "paper"))
    return [common.plot(ctx, "quicksort", f"Parallel quicksort of {result['mib']} MiB: overhead against all-local",
                        "local memory / data set", "overhead (%)", series, logy=True,
                        xtics=["'1:5' 0.2", "'1:4' 0.25", "'1:3' 0.333", "'1:2' 0.5", "'3:4' 0.75"])]
