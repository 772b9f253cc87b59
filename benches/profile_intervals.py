"""Benchmark of profile confidence intervals (lme4's ``confint(fit)``) on InstEval.

The InstEval case of ``run.py`` (73,421 rows, ``y ~ 1 + service + (1 | s) + (1 | d) +
(1 | dept:service)``, REML) is fitted once, untimed; then ``confint(method="profile")`` for all
six parameters (three sd, σ, two fixed effects) is timed once (the ML refit included).

    python benches/profile_intervals.py [--out benches/out/profile.json]

Target (issue 8): ≤ 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from cases import CASES, load_case  # noqa: E402
from run import _proc_status_kb, busy_cpus, machine_info  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(BENCH_DIR / "out" / "profile.json"))
    args = ap.parse_args(argv)
    import merx

    case = CASES["insteval"]
    data, source = load_case(case, use_merx=True)
    model = merx.lmer(case.formula, data)
    load_before = busy_cpus(0.5)
    t0 = time.perf_counter()
    ci = model.confint(method="profile")
    seconds = time.perf_counter() - t0
    peak = _proc_status_kb("VmHWM")
    print(ci)
    print(f"profile intervals: {seconds:.1f} s, peak RSS {None if peak is None else round(peak / 1024)} MB")
    result = {"case": case.name, "seconds": seconds, "limits": {k: list(v) for k, v in ci.iterrows()},
              "peak_rss_mb": None if peak is None else round(peak / 1024, 1), "others_busy_cpus_before": load_before,
              "data_source": source, "machine": machine_info(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
