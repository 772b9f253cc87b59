"""Benchmark of ``predict_interval`` (merTools' ``predictInterval``) on InstEval.

The InstEval case of ``run.py`` (73,421 rows, ``y ~ 1 + service + (1 | s) + (1 | d) +
(1 | dept:service)``) is fitted once, untimed; then ``predict_interval`` with 1,000
simulations is timed on the fitted rows (``newdata=None``) and on the data frame as
``newdata`` (model matrices rebuilt from the data), ``which="full"`` and ``which="all"``.
Each timing is the median of ``--repeats`` calls; peak RSS (``VmHWM``) and the load of
other processes (``run.busy_cpus``) are recorded as ``run.py`` records them.

    python benches/predict_interval.py [--repeats 5] [--nsim 1000] [--out benches/out/predict_interval.json]

Target (issue 8): ≤ 5 s on a 2-core machine for the 73k rows × 1,000 simulations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from cases import CASES, load_case  # noqa: E402
from run import _proc_status_kb, busy_cpus, machine_info  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--out", default=str(BENCH_DIR / "out" / "predict_interval.json"))
    args = ap.parse_args(argv)

    import merx

    case = CASES["insteval"]
    data, source = load_case(case, use_merx=True)
    model = merx.lmer(case.formula, data)
    rows = []
    for label, kwargs in [("fitted rows, which='full'", {}),
                          ("newdata = the data frame, which='full'", {"newdata": data}),
                          ("fitted rows, which='all'", {"which": "all"})]:
        model.predict_interval(nsim=10, seed=0, **kwargs)  # first call: lazy set-up
        load_before = busy_cpus(0.5)
        times = []
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            out = model.predict_interval(nsim=args.nsim, seed=rep, **kwargs)
            times.append(time.perf_counter() - t0)
        rows.append({"call": label, "median_s": statistics.median(times), "min_s": min(times), "times_s": times,
                     "rows_out": len(out), "others_busy_cpus_before": load_before})
        print(f"{label}: median {statistics.median(times):.3f} s, min {min(times):.3f} s ({len(out)} rows out)")
    peak = _proc_status_kb("VmHWM")
    result = {"case": case.name, "formula": case.formula, "n_rows": len(data), "nsim": args.nsim,
              "data_source": source, "calls": rows, "peak_rss_mb": None if peak is None else round(peak / 1024, 1),
              "machine": machine_info(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"peak RSS {result['peak_rss_mb']} MB; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
