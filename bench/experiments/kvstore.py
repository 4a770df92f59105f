"""kvstore.py — a key-value store under DiME, the shape DiLOS reports for Redis
(dilos-review.txt): Debian's redis-server runs under `dime run` on 127.0.0.1 with its local pool
at 100 %, 50 %, 25 % and 10 % of its data set, for the policies fifo, lru2q and arc (DiME's
adaptive one, docs/policies.md) with prefetch off and auto. redis-benchmark (not emulated) drives
SET then GET over a fixed key space that was written in full first.

The data set is measured, not assumed: one server with an unconstrained pool is filled with the
key space, and `dime ctl stats` gives its resident pages (the emulated heap and mmap'd memory
redis's jemalloc uses). Every measured server is fresh: started, filled, benchmarked, shut down."""

import os
import socket
import subprocess
import time

from . import common
from .fault_resolution import fabric_settings

NAME = "kvstore"
TITLE = "Redis under DiME: throughput and p99 against local memory"
SOURCE = "dilos-review.txt (DiLOS, Redis)"

POLICIES = ["fifo", "lru2q", "arc"]
PREFETCH = ["0", "auto"]
PERCENTS = [100, 50, 25, 10]
IB_FETCH_US, IB_BANDWIDTH = 25, 40_000_000_000
CLIENTS = 16

SIZES = {
    "smoke": {"keys": 1000, "value_bytes": 1024, "requests": 1000, "runs": 1,
              "policies": ["fifo", "arc"], "prefetch": PREFETCH, "percents": [100, 10]},
    "quick": {"keys": 5000, "value_bytes": 1024, "requests": 10000, "runs": 1,
              "policies": POLICIES, "prefetch": PREFETCH, "percents": PERCENTS},
    "full": {"keys": 40000, "value_bytes": 1024, "requests": 20000, "runs": 3,
             "policies": POLICIES, "prefetch": PREFETCH, "percents": PERCENTS},
}


class Server:
    """One redis-server under DiME on a free loopback port; always stopped by stop()."""

    def __init__(self, ctx, tag, settings):
        self.ctx, self.tag = ctx, tag
        self.report_path = common.report_path_for(ctx, tag)
        for attempt in range(3):  # a port found free may be taken before redis binds it
            if self._start(settings):
                return
            ctx.say(f"{tag}: port {self.port} was taken, trying another (attempt {attempt + 2}/3)")
        raise common.ExperimentError(f"{tag}: redis-server found no free port in 3 attempts")

    def _start(self, settings):
        """Starts the server; True once it answers as this process, False if its port was taken."""
        self.port = _free_port()
        log = os.path.join(self.ctx.work, f"{self.tag}.log")
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--io-threads", "1", "--dir", self.ctx.work,
                "--logfile", log]
        command, env = common.dime_command(self.ctx, argv, settings, self.report_path)
        self.stderr = open(os.path.join(self.ctx.work, f"{self.tag}.stderr"), "w", encoding="utf-8")
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 60
        # `dime run` execs redis-server, so the server's process_id is the one started here.
        while not self._answers_as(self.process.pid):
            if self.process.poll() is not None:
                self.stderr.close()
                with open(log, encoding="utf-8", errors="replace") as f:
                    if "Address already in use" in f.read():
                        return False
                raise common.ExperimentError(f"{self.tag}: redis-server exited with status "
                                             f"{self.process.returncode} at start (see {self.stderr.name}, {log})")
            if time.monotonic() > deadline:
                self.kill()
                raise common.ExperimentError(f"{self.tag}: redis-server did not answer within 60 s")
            time.sleep(0.05)
        return True

    def _answers_as(self, pid):
        try:
            return f"process_id:{pid}\r\n".encode() in self.command(b"INFO server\r\n", timeout=1)
        except OSError:
            return False

    def command(self, raw, timeout=30):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(raw)
            return s.recv(65536)

    def fill(self, keys, value_bytes):
        """SET key:%012d (redis-benchmark's key names for -r) for the whole key space, pipelined."""
        value = b"v" * value_bytes
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as s:
            batch = 1000
            for first in range(0, keys, batch):
                count = min(batch, keys - first)
                parts = []
                for k in range(first, first + count):
                    key = b"key:%012d" % k
                    parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
                s.sendall(b"".join(parts))
                need, got = count * len(b"+OK\r\n"), b""
                while len(got) < need:
                    chunk = s.recv(need - len(got))
                    if not chunk:
                        raise common.ExperimentError(f"{self.tag}: redis-server closed the connection while filling")
                    got += chunk
                if got.count(b"+OK\r\n") != count:
                    raise common.ExperimentError(f"{self.tag}: SET failed while filling: {got[:200]!r}")

    def resident_pages(self):
        done = subprocess.run([self.ctx.dime, "ctl", "stats", str(self.process.pid)], capture_output=True,
                              text=True, timeout=30)
        for line in done.stdout.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "resident_pages":
                return int(value)
        raise common.ExperimentError(f"{self.tag}: dime ctl stats gave no resident_pages: {done.stderr.strip()}")

    def stop(self):
        """SHUTDOWN NOSAVE; returns DiME's report (written at the server's exit)."""
        try:
            self.command(b"SHUTDOWN NOSAVE\r\n", timeout=10)
        except OSError:
            pass  # the connection closes as the server exits
        try:
            status = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill()
            raise common.ExperimentError(f"{self.tag}: redis-server did not exit after SHUTDOWN")
        self.stderr.close()
        if status != 0:
            raise common.ExperimentError(f"{self.tag}: redis-server exited with status {status} (see {self.stderr.name})")
        return common.read_report(self.tag, self.report_path)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def benchmark(ctx, server, sizes):
    """redis-benchmark SET then GET; returns {test: (requests/s, p99 ms)}."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-t", "set,get",
            "-n", str(sizes["requests"]), "-r", str(sizes["keys"]), "-d", str(sizes["value_bytes"]),
            "-c", str(CLIENTS), "--csv"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise common.ExperimentError(f"{server.tag}: redis-benchmark failed: {done.stderr.strip()[-300:]}")
    results = {}
    for line in done.stdout.splitlines():
        cells = [c.strip('"') for c in line.strip().split(",")]
        if len(cells) >= 7 and cells[0] in ("SET", "GET"):
            results[cells[0]] = (float(cells[1]), float(cells[6]))  # rps, p99_latency_ms
    if set(results) != {"SET", "GET"}:
        raise common.ExperimentError(f"{server.tag}: redis-benchmark printed no SET/GET rows:\n{done.stdout[-500:]}")
    return results


def measure_dataset_pages(ctx, sizes, link):
    server = Server(ctx, "kv-dataset", {**link, "local_npages": 4 << 20})
    try:
        server.fill(sizes["keys"], sizes["value_bytes"])
        pages = server.resident_pages()
    except BaseException:
        server.kill()
        raise
    server.stop()
    return pages


def run(ctx):
    sizes = ctx.sizes(SIZES)
    # first_touch=local: memory redis has never used is a fresh local page; only evicted pages
    # are fetched back (as in a paging system such as DiLOS).
    link = fabric_settings(IB_FETCH_US, IB_BANDWIDTH, 1)
    link.pop("local_npages")
    dataset_pages = measure_dataset_pages(ctx, sizes, link)
    ctx.say(f"data set: {sizes['keys']} keys x {sizes['value_bytes']} B = {dataset_pages} resident pages "
            f"({dataset_pages * 4096 / (1 << 20):.1f} MiB)")
    samples = {}
    for rnd in range(sizes["runs"]):
        for policy in sizes["policies"]:
            for prefetch in sizes["prefetch"]:
                for percent in sizes["percents"]:
                    key = (policy, prefetch, percent)
                    pool = max(64, dataset_pages * percent // 100)
                    tag = f"kv-{policy}-pf{prefetch}-{percent}-{rnd}"
                    server = Server(ctx, tag, {**link, "local_npages": pool, "policy": policy, "prefetch": prefetch})
                    try:
                        server.fill(sizes["keys"], sizes["value_bytes"])
                        result = benchmark(ctx, server, sizes)
                    except BaseException:
                        server.kill()
                        raise
                    report = server.stop()
                    totals = report["totals"]
                    samples.setdefault(key, []).append({
                        "set_rps": result["SET"][0], "set_p99_ms": result["SET"][1],
                        "get_rps": result["GET"][0], "get_p99_ms": result["GET"][1],
                        "faults": totals["faults"], "refetch_faults": totals["refetch_faults"],
                        "pool": pool})
                    ctx.say(f"round {rnd + 1}/{sizes['runs']}, {policy}, prefetch {prefetch}, {percent} %: "
                            f"GET {result['GET'][0]:.0f}/s p99 {result['GET'][1]:.2f} ms, "
                            f"SET {result['SET'][0]:.0f}/s p99 {result['SET'][1]:.2f} ms, "
                            f"{totals['refetch_faults']} re-fetches")
    rows = []
    for (policy, prefetch, percent), runs in samples.items():
        row = {"policy": policy, "prefetch": prefetch, "percent": percent, "pool_pages": runs[0]["pool"]}
        for field in ("set_rps", "set_p99_ms", "get_rps", "get_p99_ms", "faults", "refetch_faults"):
            row[field] = common.median([r[field] for r in runs])
        rows.append(row)
    for row in rows:  # throughput relative to the same policy and prefetch at 100 %
        full = next(r for r in rows if r["policy"] == row["policy"] and r["prefetch"] == row["prefetch"]
                    and r["percent"] == 100)
        row["get_relative"] = row["get_rps"] / full["get_rps"]
        row["set_relative"] = row["set_rps"] / full["set_rps"]
    return {"keys": sizes["keys"], "value_bytes": sizes["value_bytes"], "requests": sizes["requests"],
            "clients": CLIENTS, "runs": sizes["runs"], "dataset_pages": dataset_pages,
            "link": {k: link[k] for k in ("latency_ns", "bandwidth_bps")}, "rows": rows,
            "scaled": (f"{sizes['keys']} keys of {sizes['value_bytes']} B "
                       f"({dataset_pages * 4096 / (1 << 20):.0f} MiB resident), {sizes['requests']} requests per test, "
                       f"{CLIENTS} clients on loopback, the InfiniBand QDR link setting (25 µs per page)")}


def tables(result):
    f = common.fmt
    columns = [
        ("policy", "policy", str),
        ("prefetch", "prefetch", str),
        ("percent", "local memory", lambda v: f"{v} %"),
        ("get_rps", "GET/s", lambda v: f(round(v))),
        ("get_relative", "GET vs 100 %", lambda v: f(v, 2, "×")),
        ("get_p99_ms", "GET p99", lambda v: f(v, 2, " ms")),
        ("set_rps", "SET/s", lambda v: f(round(v))),
        ("set_relative", "SET vs 100 %", lambda v: f(v, 2, "×")),
        ("set_p99_ms", "SET p99", lambda v: f(v, 2, " ms")),
        ("refetch_faults", "re-fetch faults", lambda v: f(round(v))),
    ]
    return [("", columns, result["rows"])]


def plots(ctx, result):
    rows = result["rows"]
    out = []
    for test in ("get", "set"):
        series = []
        for policy in POLICIES:
            for prefetch in PREFETCH:
                points = sorted((r["percent"], r[f"{test}_rps"]) for r in rows
                                if r["policy"] == policy and r["prefetch"] == prefetch)
                if points:
                    series.append((f"{policy}, prefetch {prefetch}", points, "ours"))
        out.append(common.plot(ctx, f"kvstore_{test}", f"Redis {test.upper()} throughput under DiME",
                               "local memory (% of the data set)", "requests per second", series,
                               xtics=["'10' 10", "'25' 25", "'50' 50", "'100' 100"]))
    return out
