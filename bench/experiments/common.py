"""common.py — what every experiment of bench/run shares: the run context, running a program
under DiME and reading its JSON report, medians, progress lines, markdown tables and gnuplot plots.

Programs run under DiME the way a user runs them: `dime run --set ... --report FILE -- PROGRAM`
(build/cli/dime, which preloads build/preload/libdime.so). seqwalk, which links the engine itself,
gets the same settings through DIME_OPTIONS and DIME_REPORT."""

import json
import os
import shutil
import statistics
import subprocess
import time


class ExperimentError(Exception):
    """A run failed: its figure is no figure, so the experiment stops with this message."""


# Settings every run gets unless the experiment says otherwise: no summary on stderr, and no
# allocation-site attribution (its stack sampling and the addr2line run at exit are not part of
# any published experiment).
BASE_SETTINGS = {"summary": "false", "attribution": "false"}


class Context:
    """Where things are, which size set runs, and how to tell the user what is going on."""

    def __init__(self, source_dir, build_dir, out_dir, mode, runs_override=None):
        self.source = source_dir
        self.build = build_dir
        self.out = out_dir
        self.mode = mode  # "smoke", "quick" or "full"
        self.runs_override = runs_override
        self.work = os.path.join(out_dir, "work")
        os.makedirs(self.work, exist_ok=True)
        self.dime = os.path.join(build_dir, "cli", "dime")
        self.preload = os.path.join(build_dir, "preload", "libdime.so")
        self.experiment = ""
        self.started = time.monotonic()

    def program(self, *parts):
        return os.path.join(self.build, *parts)

    def sizes(self, table):
        """The experiment's sizes for this mode; --runs overrides every 'runs'."""
        chosen = dict(table[self.mode])
        if self.runs_override is not None and "runs" in chosen:
            chosen["runs"] = self.runs_override
        return chosen

    def say(self, message):
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f} s] {self.experiment}: {message}", flush=True)


def settings_string(settings):
    merged = dict(BASE_SETTINGS)
    merged.update({k: str(v) for k, v in settings.items()})
    return " ".join(f"{k}={v}" for k, v in merged.items())


def _clean_environment():
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("DIME_") or key == "LD_PRELOAD":
            del env[key]
    env["LC_ALL"] = "C"
    return env


def _tail(text, lines=8):
    return "\n".join(text.strip().splitlines()[-lines:])


def dime_command(ctx, argv, settings, report_path, linked_engine=False):
    """(command, environment) that run argv under DiME with `settings` (a dict of DiME keys),
    writing the JSON report to report_path. linked_engine: the program links the engine itself
    (seqwalk), so it gets the settings through the environment instead of the preload."""
    env = _clean_environment()
    if linked_engine:
        env["DIME_OPTIONS"] = settings_string(settings)
        env["DIME_REPORT"] = report_path
        return list(argv), env
    command = [ctx.dime, "run"]
    for key, value in {**BASE_SETTINGS, **{k: str(v) for k, v in settings.items()}}.items():
        command += ["--set", f"{key}={value}"]
    return command + ["--report", report_path, "--"] + list(argv), env


def read_report(tag, report_path):
    try:
        with open(report_path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"{tag}: no readable DiME report at {report_path}: {exc}") from exc


def report_path_for(ctx, tag):
    path = os.path.join(ctx.work, f"{tag}.json")
    if os.path.exists(path):
        os.remove(path)
    return path


def run_under_dime(ctx, tag, argv, settings, timeout=900, linked_engine=False):
    """Runs argv under DiME with `settings`; returns (stdout, report), the report being the JSON
    report DiME wrote at exit (docs/report-format.md)."""
    report_path = report_path_for(ctx, tag)
    command, env = dime_command(ctx, argv, settings, report_path, linked_engine)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ExperimentError(f"{tag}: {' '.join(argv)} did not finish within {timeout} s") from exc
    if done.returncode != 0:
        raise ExperimentError(f"{tag}: {' '.join(argv)} exited with status {done.returncode}:\n"
                              f"{_tail(done.stderr)}")
    return done.stdout, read_report(tag, report_path)


def run_plain(ctx, tag, argv, timeout=900):
    """Runs argv natively (no DiME); returns its stdout."""
    try:
        done = subprocess.run(list(argv), env=_clean_environment(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ExperimentError(f"{tag}: {' '.join(argv)} did not finish within {timeout} s") from exc
    if done.returncode != 0:
        raise ExperimentError(f"{tag}: {' '.join(argv)} exited with status {done.returncode}:\n"
                              f"{_tail(done.stderr)}")
    return done.stdout


def last_json_line(text, tag):
    """The last line of a workload's stdout that is a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    raise ExperimentError(f"{tag}: the program printed no JSON result:\n{_tail(text)}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """(min, max) of the runs, to show beside a median."""
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)


def fabric_latency_ns(fetch_us, bandwidth_bps, page_bytes=4096):
    """latency_ns so that one page fetch on an idle link costs fetch_us: the link model's
    fetch = 2 x latency_ns + page_bytes x 8 / bandwidth (libdime/link_model.cpp)."""
    transmission_ns = page_bytes * 8 * 1e9 / bandwidth_bps
    return round((fetch_us * 1000 - transmission_ns) / 2)


def load_average():
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


# --- tables ----------------------------------------------------------------------------------

def fmt(value, digits=2, unit=""):
    """A number for a table: None is a dash, large numbers get thin grouping."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        text = f"{int(value):,}".replace(",", " ")
    else:
        text = f"{value:.{digits}f}"
    return text + unit


def markdown_table(columns, rows):
    """columns: list of (key, header, formatter); rows: list of dicts."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(f(row.get(k)) for k, _, f in columns) + " |")
    return "\n".join(lines)


def text_table(columns, rows):
    """The same table for the terminal, aligned."""
    cells = [[h for _, h, _ in columns]] + [[f(row.get(k)) for k, _, f in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


# --- plots -----------------------------------------------------------------------------------

def gnuplot_available():
    return shutil.which("gnuplot") is not None


def plot(ctx, name, title, xlabel, ylabel, series, logx=False, logy=False, xtics=None):
    """Draws an SVG with gnuplot: series is a list of (label, [(x, y), ...], style) where style is
    'ours' (solid, points), 'paper' (dashed, hollow points) or 'ideal' (thin line). Returns the
    SVG's file name (relative to the output directory), or None when gnuplot is missing."""
    if not gnuplot_available():
        ctx.say(f"gnuplot is not installed (scripts/install-deps installs it): no plot {name}.svg")
        return None
    data_path = os.path.join(ctx.out, f"{name}.dat")
    with open(data_path, "w", encoding="utf-8") as f:
        for label, points, _ in series:
            f.write(f"# {label}\n")
            for x, y in sorted((x, y) for x, y in points if x is not None and y is not None):
                f.write(f"{x} {y}\n")
            f.write("\n\n")
    styles = {"ours": "with linespoints lw 2 pt 7 ps 0.8",
              "paper": "with linespoints dt 2 lw 2 pt 6 ps 1.2",
              "ideal": "with lines dt 3 lw 1 lc rgb '#777777'"}
    plots = []
    for index, (label, points, style) in enumerate(series):
        if not any(x is not None and y is not None for x, y in points):
            continue
        plots.append(f"'{name}.dat' index {index} using 1:2 {styles[style]} title '{_quote(label)}'")
    script = [
        "set terminal svg size 760,520 dynamic noenhanced font 'sans,12' background rgb 'white'",
        f"set output '{name}.svg'",
        f"set title '{_quote(title)}'",
        f"set xlabel '{_quote(xlabel)}'",
        f"set ylabel '{_quote(ylabel)}'",
        "set key below center horizontal maxcols 2",
        "set grid",
        "set yrange [0:*]" if not logy else "",
        "set logscale x" if logx else "",
        "set logscale y" if logy else "",
        f"set xtics ({', '.join(xtics)})" if xtics else "",
        "plot " + ", \\\n     ".join(plots) if plots else "",
    ]
    script_path = os.path.join(ctx.out, f"{name}.gp")
    with open(script_path, "w", encoding="utf-8") as f:
        f.write("\n".join(line for line in script if line) + "\n")
    if not plots:
        return None
    done = subprocess.run(["gnuplot", f"{name}.gp"], cwd=ctx.out, capture_output=True, text=True)
    if done.returncode != 0:
        ctx.say(f"gnuplot failed on {name}.gp: {_tail(done.stderr, 3)}")
        return None
    return f"{name}.svg"


def _quote(text):
    return str(text).replace("'", "''")

