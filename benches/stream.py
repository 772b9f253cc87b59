"""Benchmarks of lmer on data larger than memory: Parquet batches and Dask partitions.

The nested design of ``generate.py``'s ``nested_1m`` (``y ~ x1 + x2 + (1 + x1 | g)``, 50
rows per group, the same β, random-effects covariance and noise) scaled to G groups, written
in chunks of Parquet files (no array of all rows is ever built). Row i of the data belongs
to group (a·i + c) mod G with a coprime to G: every group has exactly 50 rows, spread evenly
over the whole dataset (each batch touches many groups, as in data in random order).

    python benches/stream.py generate --groups 200000 --out /tmp/nested_10m      # 10M rows
    python benches/stream.py parquet --data /tmp/nested_10m                      # one fit, JSON line
    python benches/stream.py dask --data /tmp/nested_10m --workers 2             # LocalCluster fit
    python benches/stream.py peers --data /tmp/nested_10m --mem-gb 16            # peers, in memory
    python benches/stream.py glmer --rows 1000000 --out /tmp/binary_1m           # glmer: Parquet vs memory

``peers`` fits the same rows, read into one pandas DataFrame, with the peers (mixedlm,
mixedlm-rs, lme4 through Rscript) and merx in memory: each in a child process under an
address-space cap (``--mem-gb``; a peer that needs more fails with its MemoryError instead of
the machine swapping) and a wall-clock limit (``--timeout``). Reading the Parquet rows is not
timed; lme4 gets them as a CSV read by data.table outside its timing.

Each fit prints one JSON line: rows, time per phase (level pass, accumulation pass,
optimisation, post-fit), total wall time, peak RSS of this process (and, for Dask, the
largest worker process, from RUSAGE_CHILDREN after the cluster is closed), the load average
before and after, and the estimates.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from generate import NESTED  # noqa: E402

ROWS_PER_GROUP = NESTED["rows_per_group"]


def generate(groups: int, out: str, chunk_rows: int, file_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(out, exist_ok=True)
    n = groups * ROWS_PER_GROUP
    rng = np.random.default_rng(NESTED["seed"])
    sd = np.array([NESTED["sd_intercept"], NESTED["sd_slope"]])
    R = np.array([[1.0, NESTED["corr"]], [NESTED["corr"], 1.0]])
    b = rng.standard_normal((groups, 2)) @ np.linalg.cholesky(R * np.outer(sd, sd)).T
    a = 7919  # a prime; coprime to G unless G is a multiple of it
    while math.gcd(a, groups) != 1:
        a += 2
    c = int(rng.integers(groups))
    b0, b1, b2 = NESTED["beta"]
    for f, start in enumerate(range(0, n, file_rows)):
        stop = min(start + file_rows, n)
        with pq.ParquetWriter(os.path.join(out, f"part-{f:05d}.parquet"),
                              pa.schema([("y", pa.float64()), ("x1", pa.float64()), ("x2", pa.float64()),
                                         ("g", pa.int32())])) as writer:
            for lo in range(start, stop, chunk_rows):
                hi = min(lo + chunk_rows, stop)
                crng = np.random.default_rng([NESTED["seed"], lo])
                i = np.arange(lo, hi, dtype=np.int64)
                g = ((a * i + c) % groups).astype(np.int32)
                x1 = crng.standard_normal(hi - lo)
                x2 = crng.uniform(-1.0, 1.0, hi - lo)
                e = crng.standard_normal(hi - lo) * NESTED["sigma"]
                y = b0 + b1 * x1 + b2 * x2 + b[g, 0] + b[g, 1] * x1 + e
                writer.write_table(pa.table({"y": y, "x1": x1, "x2": x2, "g": g}))
    print(json.dumps({"generated_rows": n, "groups": groups, "out": out}))


def _report(kind: str, m, wall: float, load_before, extra: dict) -> None:
    rec = {
        "case": kind,
        "rows": m.nobs,
        "groups": m.ngrps["g"],
        "phases_s": {k: round(v, 2) for k, v in m.stream_timings.items()},
        "wall_s": round(wall, 2),
        "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "fixef": [round(v, 5) for v in m.fixef.tolist()],
        "theta": [round(v, 5) for v in m.theta.tolist()],
        "sigma": round(m.sigma, 5),
    }
    rec.update(extra)
    print(json.dumps(rec))


def run_parquet(data: str, batch_rows: int, write_fitted: str | None) -> None:
    import merx
    from merx.models.lmer_stream import lmer_batches

    load = os.getloadavg()
    t = time.perf_counter()
    m = lmer_batches("y ~ x1 + x2 + (1 + x1 | g)", data, batch_rows=batch_rows)
    t_post = time.perf_counter()
    str(m.summary())  # the post-fit a user sees: Satterthwaite df and the printed summary
    m.stream_timings["post_fit"] += time.perf_counter() - t_post
    if write_fitted:
        t_w = time.perf_counter()
        m.write_fitted(write_fitted)
        m.stream_timings["write_fitted"] = time.perf_counter() - t_w
    _report("parquet", m, time.perf_counter() - t, load, {"merx": merx.__version__})


def run_dask(data: str, workers: int) -> None:
    import dask.dataframe as dd
    import distributed

    import merx

    load = os.getloadavg()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit=0)
    client = distributed.Client(cluster)
    t = time.perf_counter()
    ddf = dd.read_parquet(data, split_row_groups=True)  # a partition per row group (1M rows)
    m = merx.lmer("y ~ x1 + x2 + (1 + x1 | g)", ddf)
    t_post = time.perf_counter()
    str(m.summary())
    m.stream_timings["post_fit"] = time.perf_counter() - t_post
    wall = time.perf_counter() - t
    worker_rss = client.run(lambda: __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss)
    client.close()
    cluster.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    _report("dask", m, wall, load, {
        "workers": workers, "partitions": ddf.npartitions,
        "peak_rss_mb_workers": {k: round(v / 1024, 1) for k, v in worker_rss.items()},
        "peak_rss_mb_largest_child": round(children, 1),
    })


FORMULA = "y ~ x1 + x2 + (1 + x1 | g)"

_LME4_SCRIPT = r"""
suppressMessages({library(lme4); library(data.table)})
args <- commandArgs(TRUE)
d <- fread(args[1]); d$g <- factor(d$g)
t0 <- proc.time()[["elapsed"]]
m <- lmer(y ~ x1 + x2 + (1 + x1 | g), d, REML = TRUE)
wall <- proc.time()[["elapsed"]] - t0
cat(sprintf('{"wall_s": %.3f, "lme4": "%s", "REMLcrit": %.10g, "theta": [%s]}\n', wall,
            packageVersion("lme4"), REMLcrit(m), paste(sprintf("%.6g", getME(m, "theta")), collapse = ", ")))
"""


def _peer_child(tool: str, data: str, mem_gb: float) -> None:
    """One peer's fit of all rows in memory (runs in a child: its own peak RSS and cap)."""
    import gc
    import warnings

    import pyarrow.dataset as ds

    cap = int(mem_gb * 1e9)
    if tool != "lme4":  # Rscript gets its cap from ulimit -v below
        resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    rec: dict = {"case": "peer_in_memory", "tool": tool, "mem_cap_gb": mem_gb, "load_before": os.getloadavg()}
    t_read = time.perf_counter()
    try:
        df = ds.dataset(data, format="parquet").to_table().to_pandas()
        rec["rows"] = len(df)
        rec["read_s"] = round(time.perf_counter() - t_read, 2)
        # The tool's import is not part of its fit (a cold import from disk can take a second).
        t_import = time.perf_counter()
        if tool in ("merx", "mixedlm", "mixedlm_rs"):
            __import__(tool)
        rec["import_s"] = round(time.perf_counter() - t_import, 2)
        gc.collect()
        t = time.perf_counter()
        if tool == "merx":
            import merx
            m = merx.lmer(FORMULA, df)
            rec.update(theta=[round(v, 5) for v in m.theta.tolist()], REMLcrit=float(m.objective))
        elif tool == "mixedlm":
            import mixedlm
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = mixedlm.lmer(FORMULA, df, REML=True)
            rec.update(theta=[round(float(v), 5) for v in np.ravel(m.theta)], REMLcrit=float(m.REMLcrit()))
        elif tool == "mixedlm_rs":
            import mixedlm_rs
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = mixedlm_rs.MixedLM.from_formula("y ~ x1 + x2", df, groups="g", re_formula="~x1").fit(reml=True)
        elif tool == "lme4":
            import subprocess
            import tempfile
            import pyarrow.csv as pcsv
            import pyarrow as pa
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "rows.csv")
                pcsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), path)
                del df
                script = os.path.join(tmp, "fit.R")
                with open(script, "w") as fh:
                    fh.write(_LME4_SCRIPT)
                out = subprocess.run(["bash", "-c", f"ulimit -v {cap // 1024}; exec Rscript {script} {path}"],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    raise RuntimeError(f"Rscript failed: {out.stderr.strip()[-300:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                rec.update(r)
                rec["peak_rss_mb_rscript"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
                t = time.perf_counter() - r["wall_s"]  # report R's own fit time below
        if tool != "lme4":
            rec["wall_s"] = round(time.perf_counter() - t, 2)
        rec["status"] = "ok"
    except MemoryError:
        rec["status"] = f"MemoryError under the {mem_gb:g} GB address-space cap"
        rec["failed_after_s"] = round(time.perf_counter() - t_read, 1)
    except Exception as e:  # noqa: BLE001 - a peer's failure is a result
        rec["status"] = f"failed: {type(e).__name__}: {str(e)[:300]}"
        rec["failed_after_s"] = round(time.perf_counter() - t_read, 1)
    rec["peak_rss_mb_self"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    rec["load_after"] = os.getloadavg()
    print(json.dumps(rec), flush=True)


def run_peers(data: str, tools: list, mem_gb: float, timeout: float) -> None:
    import subprocess

    for tool in tools:
        t = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, __file__, "peer-child", "--tool", tool, "--data", data,
                                  "--mem-gb", str(mem_gb)], capture_output=True, text=True, timeout=timeout)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            print(lines[-1] if lines else json.dumps({"tool": tool, "status": f"no result (exit {out.returncode}): "
                                                                              f"{out.stderr.strip()[-300:]}"}),
                  flush=True)
        except subprocess.TimeoutExpired:
            print(json.dumps({"tool": tool, "status": f"did not finish in {timeout:.0f} s (stopped)",
                              "wall_s": round(time.perf_counter() - t, 1)}), flush=True)


def run_glmer(rows: int, out: str, files: int) -> None:
    """A binary GLMM on a crossed design (2,000 × 200 levels, `y ~ x + (1 | g1) + (1 | g2)`)
    written to `files` Parquet files, fitted from them (one pass per PIRLS step) and in memory:
    times, passes, and the largest relative differences of the estimates."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import merx

    rng = np.random.default_rng(20261130)
    g1, g2 = rng.integers(0, 2000, rows), rng.integers(0, 200, rows)
    x = rng.normal(size=rows)
    eta = -0.5 + 0.6 * x + rng.normal(0, 0.7, 2000)[g1] + rng.normal(0, 0.4, 200)[g2]
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-eta))).astype(float)
    os.makedirs(out, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(rows), files)):
        pq.write_table(pa.table({"y": y[part], "x": x[part], "g1": g1[part], "g2": g2[part]}),
                       os.path.join(out, f"part-{i:02d}.parquet"))
    formula = "y ~ x + (1 | g1) + (1 | g2)"
    load = os.getloadavg()
    t = time.perf_counter()
    streamed = merx.glmer(formula, out, family="binomial")
    t_stream = time.perf_counter() - t
    rss_stream = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import pyarrow.dataset as ds
    df = ds.dataset(out, format="parquet").to_table().to_pandas()
    t = time.perf_counter()
    mem = merx.glmer(formula, df, family="binomial")
    t_mem = time.perf_counter() - t

    def rel(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max(np.abs(a - b) / np.abs(b)))

    print(json.dumps({
        "case": "glmer_parquet", "rows": rows, "files": files, "streamed_s": round(t_stream, 2),
        "passes": streamed.n_passes, "phases_s": {k: round(v, 2) for k, v in streamed.stream_timings.items()},
        "peak_rss_mb_after_streamed": round(rss_stream, 1), "in_memory_s": round(t_mem, 2),
        "rel_diff": {"theta": rel(streamed.theta, mem.theta), "fixef": rel(streamed.fixef, mem.fixef),
                     "deviance": abs(streamed.deviance - mem.deviance) / abs(mem.deviance),
                     "se": rel(np.sqrt(np.diag(streamed.vcov.to_numpy())), np.sqrt(np.diag(mem.vcov.to_numpy())))},
        "load_before": load, "load_after": os.getloadavg(),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--groups", type=int, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--chunk-rows", type=int, default=1 << 20)
    g.add_argument("--file-rows", type=int, default=5_000_000)
    p = sub.add_parser("parquet")
    p.add_argument("--data", required=True)
    p.add_argument("--batch-rows", type=int, default=1 << 20)
    p.add_argument("--write-fitted", default=None)
    d = sub.add_parser("dask")
    d.add_argument("--data", required=True)
    d.add_argument("--workers", type=int, default=2)
    pe = sub.add_parser("peers")
    pe.add_argument("--data", required=True)
    pe.add_argument("--tools", default="merx,mixedlm,mixedlm_rs,lme4")
    pe.add_argument("--mem-gb", type=float, default=16.0)
    pe.add_argument("--timeout", type=float, default=1200.0)
    gl = sub.add_parser("glmer")
    gl.add_argument("--rows", type=int, default=1_000_000)
    gl.add_argument("--out", required=True)
    gl.add_argument("--files", type=int, default=8)
    pc = sub.add_parser("peer-child")
    pc.add_argument("--tool", required=True)
    pc.add_argument("--data", required=True)
    pc.add_argument("--mem-gb", type=float, required=True)
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.groups, a.out, a.chunk_rows, a.file_rows)
    elif a.cmd == "peers":
        run_peers(a.data, a.tools.split(","), a.mem_gb, a.timeout)
    elif a.cmd == "glmer":
        run_glmer(a.rows, a.out, a.files)
    elif a.cmd == "peer-child":
        _peer_child(a.tool, a.data, a.mem_gb)
    elif a.cmd == "parquet":
        run_parquet(a.data, a.batch_rows, a.write_fitted)
    else:
        run_dask(a.data, a.workers)


if __name__ == "__main__":
    main()
