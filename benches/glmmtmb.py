"""Benchmark of ``merx.glmmTMB`` (the core's general Laplace engine) on glmmTMB's Salamanders
fits: ``count ~ spp + mined + (1 | site)`` with ``family = nbinom2`` and the zero-inflated
Poisson with ``ziformula = ~ spp + mined`` (644 rows, 23 sites). Each fit is the whole call
(model frames, the fit, the covariance of all parameters by differences of the Laplace
objective); the median of ``--repeats`` fits after one untimed warm-up is reported with the
logLik, the number of Laplace evaluations and the load of other processes
(``run.busy_cpus``) before and after the timing; the median CPU time of the process too.

    python benches/glmmtmb.py [--repeats 15] [--out benches/out/glmmtmb.json]

Target: NB2 ≤ 50 ms on a 2-core machine (glmmTMB 1.1.5: 0.76 s; its ZIP fit 0.43 s, from
the references' timing entries).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from run import busy_cpus  # noqa: E402

CASES = {
    "nb2": dict(family="nbinom2"),
    "zip": dict(family="poisson", ziformula="~ spp + mined"),
}
FORMULA = "count ~ spp + mined + (1 | site)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default=str(BENCH_DIR / "out" / "glmmtmb.json"))
    args = ap.parse_args(argv)

    import merx
    from merx.datasets import read_csv_with_levels

    data = read_csv_with_levels(str(ROOT / "tests" / "data" / "Salamanders.csv.gz"),
                                str(ROOT / "tests" / "data" / "Salamanders.levels.json"))
    results = {}
    for name, kwargs in CASES.items():
        fit = merx.glmmTMB(FORMULA, data, **kwargs)  # warm-up
        before = busy_cpus(0.2)
        times, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fit = merx.glmmTMB(FORMULA, data, **kwargs)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        after = busy_cpus(0.2)
        results[name] = {"median_s": statistics.median(times), "min_s": min(times),
                         "median_cpu_s": statistics.median(cpu), "logLik": fit.logLik,
                         "n_eval": int(fit.fit.n_eval), "converged": fit.converged,
                         "busy_cpus_before_after": [before, after]}
        print(f"{name}: median {results[name]['median_s'] * 1e3:.1f} ms (min {min(times) * 1e3:.1f} ms, "
              f"CPU {results[name]['median_cpu_s'] * 1e3:.1f} ms), "
              f"logLik {fit.logLik:.6f}, {fit.fit.n_eval} Laplace evaluations, busy CPUs {before}/{after}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
