"""Benchmark of lmerTest's tables with denominator degrees of freedom on InstEval.

The InstEval case of ``run.py`` (73,421 rows, ``y ~ 1 + service + (1 | s) + (1 | d) +
(1 | dept:service)``, REML) is fitted once, untimed, in a fresh subprocess per method; then
``summary(ddf=...)`` (the coefficient table with df and p-values) and ``anova(type=3,
ddf=...)`` are timed from a result without cached derivatives, ``--repeats`` times (the
median is reported). Peak RSS (``VmHWM``) of the subprocess includes the fit.

    python benches/ddf.py [--repeats 3] [--out benches/out/ddf.json]

Targets (issue 8), 2 cores: Satterthwaite ≤ 5 s, Kenward-Roger ≤ 30 s, peak memory ≤ 2 GB
(pbkrtest forms the 73k × 73k marginal covariance and cannot run at all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from cases import CASES, load_case  # noqa: E402
from run import _proc_status_kb, busy_cpus, machine_info  # noqa: E402


def one_method(method: str, repeats: int) -> dict:
    import merx

    case = CASES["insteval"]
    data, source = load_case(case, use_merx=True)
    model = merx.lmer(case.formula, data)
    load_before = busy_cpus(0.5)
    times = []
    for _ in range(repeats):
        model.__dict__.pop("_ddf_cache", None)
        t0 = time.perf_counter()
        text = str(model.summary(ddf=method))
        table = model.anova(type=3, ddf=method)
        times.append(time.perf_counter() - t0)
    peak = _proc_status_kb("VmHWM")
    df = model.coef_table(method)["df"].tolist()
    return {"method": method, "median_s": statistics.median(times), "min_s": min(times), "times_s": times,
            "df": df, "anova_den_df": table["den_df"].tolist(), "summary_lines": len(text.split("\n")),
            "peak_rss_mb": None if peak is None else round(peak / 1024, 1), "others_busy_cpus_before": load_before,
            "n_rows": len(data), "data_source": source}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(BENCH_DIR / "out" / "ddf.json"))
    args = ap.parse_args(argv)
    if args.method:
        print(json.dumps(one_method(args.method, args.repeats)))
        return 0
    rows = []
    for method in ["Satterthwaite", "Kenward-Roger"]:
        out = subprocess.run([sys.executable, __file__, "--method", method, "--repeats", str(args.repeats)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{method}: median {row['median_s']:.2f} s (min {row['min_s']:.2f} s), peak RSS {row['peak_rss_mb']} MB, "
              f"df {[round(v, 3) for v in row['df']]}")
    result = {"case": "insteval", "formula": CASES["insteval"].formula, "calls": rows, "machine": machine_info(),
              "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
