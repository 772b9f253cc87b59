"""Bootstrap benchmarks: parametric bootstrap refits of merx fits.

Cases (issue 8): 10,000 parametric replicates of sleepstudy ``Reaction ~ Days + (Days |
Subject)`` (target ≤ 1 s on 2 cores) and 100 of InstEval ``y ~ service + (1 | s) + (1 | d) +
(1 | dept:service)`` (target ≤ 60 s). As ``run.py``: each case in a fresh Python
subprocess, the fit (untimed) and one small bootstrap first (warm-up), then the timed
``fit.bootstrap(nsim, seed=1, n_jobs=...)`` (replicates only: the original fit is not
timed), ``repeats`` times.

Usage::

    python benches/bootstrap.py [--cases sleepstudy_10k,insteval_100] [--n-jobs 2] [--out benches/out/bootstrap.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
CASES = {
    "sleepstudy_10k": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", 10_000, 3),
    "insteval_100": ("InstEval", "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", 100, 1),
}


def child(case: str, n_jobs: int) -> dict:
    import merx

    data_name, formula, nsim, repeats = CASES[case]
    data = merx.load_example(data_name)
    fit = merx.lmer(formula, data)
    fit.bootstrap(2, seed=0, n_jobs=n_jobs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        boot = fit.bootstrap(nsim, seed=1, n_jobs=n_jobs)
        times.append(time.perf_counter() - start)
    return {"case": case, "nsim": nsim, "n_jobs": n_jobs, "seconds": times, "best": min(times),
            "failed": len(boot.errors), "not_converged": int((~boot.converged).sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=str(BENCH_DIR / "out" / "bootstrap.json"))
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n_jobs)))
        return
    results = []
    for case in args.cases.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", case, "--n-jobs", str(args.n_jobs)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(results[-1])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
