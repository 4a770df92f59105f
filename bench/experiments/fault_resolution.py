"""fault_resolution.py — Hecatonchire's fault resolution and random walk (hecatonchire-2013.txt
§V): the three published fabrics as DiME link settings, a random walk over a remote region by 4
threads (bench/access_walk), prefetch off and on.

latency_ns is chosen so that one 4 KiB fetch on an idle link costs what Hecatonchire measured
from fault to resolution (the link model: 2 x latency_ns + 4096 x 8 / bandwidth). The walk is
access_walk's `walk` pattern: each thread walks its quarter of the region forward in random steps
of 8 to 1024 bytes, so every page is visited, about 8 reads each; the first read of each page is
timed. The region is stamped first with first_touch=local (no delay), so the timed walk
re-fetches pages from the blade."""

from . import common

NAME = "fault_resolution"
TITLE = "Hecatonchire: fault resolution and random walk, 4 threads"
SOURCE = "hecatonchire-2013.txt §V"

# name, Hecatonchire's fault resolution (µs), bandwidth (bit/s), their pages/s and perceived
# per-page time with prefetch (None: not published for that fabric).
FABRICS = [
    ("SoftiWARP 10GE", 320, 10_000_000_000, None, None),
    ("iWARP 10GE", 45, 10_000_000_000, 300_000, 4.0),
    ("InfiniBand QDR 40 Gbit/s", 25, 40_000_000_000, 600_000, 2.0),
]
PREFETCH = ["0", "8", "auto"]
THREADS = 4

SIZES = {
    "smoke": {"pages": 4096, "pool": 512, "runs": 1},
    "quick": {"pages": 16384, "pool": 2048, "runs": 3},
    "full": {"pages": 262144, "pool": 4096, "runs": 3},  # 1 GiB, the published size
}


def fabric_settings(fetch_us, bandwidth_bps, pool):
    return {"latency_ns": common.fabric_latency_ns(fetch_us, bandwidth_bps), "bandwidth_bps": bandwidth_bps,
            "local_npages": pool, "first_touch": "local"}


def run(ctx):
    sizes = ctx.sizes(SIZES)
    walker = ctx.program("bench", "access_walk")
    argv = [walker, "--pages", str(sizes["pages"]), "--threads", str(THREADS), "--pattern", "walk",
            "--warm", "write"]
    rows = []
    for name, fetch_us, bandwidth, paper_rate, paper_perceived in FABRICS:
        base = fabric_settings(fetch_us, bandwidth, sizes["pool"])
        samples = {p: [] for p in PREFETCH}
        for r in range(sizes["runs"]):
            for prefetch in PREFETCH:  # alternated, so that load falls on every variant alike
                tag = f"fault-{fetch_us}-{prefetch}-{r}"
                out, report = common.run_under_dime(ctx, tag, argv, {**base, "prefetch": prefetch})
                walk = common.last_json_line(out, tag)
                totals = report["totals"]
                visits = walk["visits"]
                wall_s = walk["wall_ns"] / 1e9
                samples[prefetch].append({
                    "fetch_cost_us": report["engine"]["fetch_cost_ns"] / 1000,
                    "mean_us": walk["mean_ns"] / 1000,
                    "p50_us": walk["p50_ns"] / 1000,
                    "p99_us": walk["p99_ns"] / 1000,
                    "pages_per_s": visits / wall_s,
                    "perceived_us": wall_s * 1e6 / visits,
                    "faults_per_page": totals["refetch_faults"] / visits,
                    "prefetch_hit_ratio": totals["prefetch_hit_ratio"],
                })
                ctx.say(f"{name}, prefetch {prefetch}, run {r + 1}/{sizes['runs']}: "
                        f"{samples[prefetch][-1]['pages_per_s']:.0f} pages/s, "
                        f"{samples[prefetch][-1]['mean_us']:.1f} µs mean per page visit")
        for prefetch in PREFETCH:
            runs = samples[prefetch]
            row = {"fabric": name, "prefetch": prefetch, "latency_ns": base["latency_ns"],
                   "bandwidth_bps": bandwidth}
            for key in runs[0]:
                row[key] = common.median([s[key] for s in runs])
            row["pages_per_s_min"], row["pages_per_s_max"] = common.spread([s["pages_per_s"] for s in runs])
            row["paper_fault_us"] = fetch_us if prefetch == "0" else None
            row["paper_pages_per_s"] = paper_rate if prefetch != "0" else None
            row["paper_perceived_us"] = paper_perceived if prefetch != "0" else None
            rows.append(row)
    scaled = ("nothing in size: 1 GiB, 4 threads" if sizes["pages"] == 262144
              else f"the region: {sizes['pages'] * 4096 >> 20} MiB instead of 1 GiB ({ctx.mode} mode)")
    return {"pages": sizes["pages"], "pool": sizes["pool"], "threads": THREADS, "runs": sizes["runs"],
            "rows": rows, "scaled": scaled + f"; local pool {sizes['pool']} pages; 4 threads on 2 vCPUs"}


def tables(result):
    f = common.fmt
    columns = [
        ("fabric", "fabric", str),
        ("latency_ns", "latency_ns", lambda v: f(v)),
        ("fetch_cost_us", "fetch cost", lambda v: f(v, 1, " µs")),
        ("prefetch", "prefetch", str),
        ("mean_us", "per page visit, mean", lambda v: f(v, 1, " µs")),
        ("p50_us", "p50", lambda v: f(v, 1, " µs")),
        ("paper_fault_us", "Hecatonchire: fault resolution", lambda v: f(v, 0, " µs")),
        ("pages_per_s", "pages/s", lambda v: f(round(v)) if v else "–"),
        ("paper_pages_per_s", "Hecatonchire: pages/s", lambda v: f(v)),
        ("perceived_us", "perceived per page", lambda v: f(v, 2, " µs")),
        ("paper_perceived_us", "Hecatonchire: perceived", lambda v: f(v, 0, " µs") if v else "–"),
        ("faults_per_page", "faults/page", lambda v: f(v, 3)),
        ("prefetch_hit_ratio", "prefetch hit ratio", lambda v: f(v, 2) if v else "–"),
    ]
    return [("", columns, result["rows"])]


def plots(ctx, result):
    rows = result["rows"]
    series = []
    for prefetch in PREFETCH:
        series.append((f"DiME here, prefetch {prefetch}",
                       [(r["fetch_cost_us"], r["pages_per_s"]) for r in rows if r["prefetch"] == prefetch], "ours"))
    series.append(("Hecatonchire (prefetch on)",
                   [(r["fetch_cost_us"], r["paper_pages_per_s"]) for r in rows if r["prefetch"] == "8"], "paper"))
    series.append(("4 threads / fetch cost (no prefetch, no overhead)",
                   [(r["fetch_cost_us"], THREADS / r["fetch_cost_us"] * 1e6) for r in rows if r["prefetch"] == "0"],
                   "ideal"))
    return [common.plot(ctx, "fault_resolution", "Random walk, 4 threads: pages per second",
                        "fetch cost of one 4 KiB page (µs)", "pages per second", series, logx=True, logy=True)]
