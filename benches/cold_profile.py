"""Where a small lmer fit spends its time after ``gc.collect()`` (the harness's cold start).

``benches/run.py`` runs ``gc.collect()`` before each timed fit; a full collection walks the
whole heap and evicts the CPU caches, so every object the fit touches afterwards is cold.
This script times ``merx.lmer`` on sleepstudy (or another formula/dataset) that way, by
phase (parse, model frame, core problem, core fit, result object), warm and cold, and can
profile the cold fits with cProfile.

    PYTHONPATH=python python3 benches/cold_profile.py [--repeats 200] [--cprofile 40]
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import time

import cProfile
import pstats


def _phases(merx_mods, formula, df):
    lm, mf, fitting, mform = merx_mods
    t = [time.perf_counter()]
    parsed = mform.parse_formula(formula)
    lm.check_lme4_terms(parsed, "lmer")
    t.append(time.perf_counter())
    frame = mf.build_model_frame(parsed, df)
    t.append(time.perf_counter())
    problem = lm._problem_from_frame(frame, True)
    t.append(time.perf_counter())
    fit = fitting.run_fit(lambda: fitting.fit_watched(
        lambda **w: problem.fit(theta_start=None, max_fun=None, optimizer="auto", **w), len(frame.y), None))
    t.append(time.perf_counter())
    res = lm.LmerResult(frame, fit, data_name=None, call_formula=formula, problem=problem,
                        **fitting.argument_names(None, None))
    t.append(time.perf_counter())
    return res, [b - a for a, b in zip(t, t[1:])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formula", default="Reaction ~ Days + (Days | Subject)")
    ap.add_argument("--data", default="sleepstudy")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--cprofile", type=int, default=0, help="cold fits to profile (0: none)")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()

    import merx
    import merx.frame.model_frame as mf
    import merx.formula.model_formula as mform
    import merx.models.fitting as fitting
    import merx.models.lmer as lm

    df = merx.load_example(args.data)
    mods = (lm, mf, fitting, mform)
    for _ in range(20):
        merx.lmer(args.formula, df)
    names = ["parse", "model frame", "core problem", "core fit", "result"]

    for label, cold in (("warm", False), ("cold (gc.collect before each)", True)):
        whole, parts = [], [[] for _ in names]
        for _ in range(args.repeats):
            res = None
            if cold:
                gc.collect()
            t0 = time.perf_counter()
            res = merx.lmer(args.formula, df)
            whole.append(time.perf_counter() - t0)
            res = None
            if cold:
                gc.collect()
            res, ph = _phases(mods, args.formula, df)
            for acc, v in zip(parts, ph):
                acc.append(v)
        print(f"{label}: whole fit median {statistics.median(whole) * 1e6:.0f} µs, "
              f"min {min(whole) * 1e6:.0f} µs (n={args.repeats})")
        for nm, acc in zip(names, parts):
            print(f"    {nm:<13} median {statistics.median(acc) * 1e6:7.1f} µs")
        print(f"    {'sum':<13} median {sum(statistics.median(a) for a in parts) * 1e6:7.1f} µs")

    if args.cprofile:
        prof = cProfile.Profile()
        for _ in range(args.cprofile):
            res = None
            gc.collect()
            prof.enable()
            res = merx.lmer(args.formula, df)
            prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(args.top)
        print(s.getvalue())
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.top)
        print(s.getvalue())


if __name__ == "__main__":
    main()
