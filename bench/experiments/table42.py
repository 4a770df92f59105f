"""table42.py — DiME's verification, report section 4, Table 4.2: N pages touched once in
order with latency_ns=20000, bandwidth_bps=10^15 and local_npages=1000, by examples/seqwalk
(DiME's test program). Page faults come from DiME's report; the delay per page is seqwalk's
walk time divided by the pages, as DiME computed it."""

from . import common

NAME = "table42"
TITLE = "DiME Table 4.2: sequential first touch, 40 µs per page"
SOURCE = "dime-report-2017.txt §4, Table 4.2"

SETTINGS = {"latency_ns": 20000, "bandwidth_bps": 1000000000000000, "local_npages": 1000}

# DiME's Table 4.2 (the report prints "ms"; its settings give 40 µs per page, which is meant).
PAPER = {500: (564, 39.0), 1000: (1103, 43.0), 10000: (10156, 44.0), 100000: (100697, 44.0),
         1000000: (1006127, 43.0)}

SIZES = {
    "smoke": {"pages": [500, 1000, 2000], "runs": 1},
    "quick": {"pages": [500, 1000, 10000, 100000], "runs": 3},
    "full": {"pages": [500, 1000, 10000, 100000, 1000000], "runs": 3},
}


def run(ctx):
    sizes = ctx.sizes(SIZES)
    seqwalk = ctx.program("examples", "seqwalk")
    rows = []
    for pages in sizes["pages"]:
        faults, delays, expected = [], [], None
        for r in range(sizes["runs"]):
            tag = f"table42-{pages}-{r}"
            out, report = common.run_under_dime(ctx, tag, [seqwalk, "--pages", str(pages)], SETTINGS,
                                                linked_engine=True)
            delay_us = _actual_delay_us(out, tag)
            faults.append(report["totals"]["faults"])
            delays.append(delay_us)
            expected = report["engine"]["fetch_cost_ns"] / 1000
            ctx.say(f"{pages} pages, run {r + 1}/{sizes['runs']}: {faults[-1]} faults, {delay_us:.2f} µs/page")
        paper_faults, paper_delay = PAPER.get(pages, (None, None))
        actual = common.median(delays)
        low, high = common.spread(delays)
        rows.append({
            "pages": pages,
            "faults": max(faults),  # every run must give exactly `pages`: the largest shows any extra
            "faults_min": min(faults),
            "expected_us": expected,
            "actual_us": actual,
            "actual_min_us": low,
            "actual_max_us": high,
            "error_pct": (actual - expected) / expected * 100,
            "paper_faults": paper_faults,
            "paper_expected_us": 40.0 if paper_faults else None,
            "paper_actual_us": paper_delay,
        })
    return {"settings": SETTINGS, "runs": sizes["runs"], "rows": rows,
            "scaled": "nothing: the published sizes and settings" if ctx.mode == "full"
            else f"only {', '.join(str(p) for p in sizes['pages'])} pages ({ctx.mode} mode)"}


def _actual_delay_us(stdout, tag):
    # seqwalk prints a header line, then "pages faults expected us actual us error".
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0].isdigit() and fields[3] == "us" and fields[5] == "us":
            return float(fields[4])
    raise common.ExperimentError(f"{tag}: seqwalk printed no result line:\n{stdout}")


def tables(result):
    f = common.fmt
    columns = [
        ("pages", "pages", lambda v: f(v)),
        ("faults", "page faults", lambda v: f(v)),
        ("paper_faults", "DiME: page faults", lambda v: f(v)),
        ("expected_us", "expected delay/page", lambda v: f(v, 2, " µs")),
        ("actual_us", "actual delay/page (median)", lambda v: f(v, 2, " µs")),
        ("error_pct", "error", lambda v: "–" if v is None else f"{v:+.1f} %"),
        ("actual_min_us", "runs' min", lambda v: f(v, 2, " µs")),
        ("actual_max_us", "runs' max", lambda v: f(v, 2, " µs")),
        ("paper_actual_us", "DiME: actual delay/page", lambda v: f(v, 2, " µs")),
    ]
    return [("", columns, result["rows"])]


def plots(ctx, result):
    rows = result["rows"]
    return [common.plot(
        ctx, "table42", "Delay per page, sequential first touch (DiME Table 4.2)", "pages touched",
        "delay per page (µs)",
        [("DiME here (median)", [(r["pages"], r["actual_us"]) for r in rows], "ours"),
         ("DiME 2017 (kernel module)", [(r["pages"], r["paper_actual_us"]) for r in rows], "paper"),
         ("expected (2 × latency_ns)", [(r["pages"], r["expected_us"]) for r in rows], "ideal")],
        logx=True)]

