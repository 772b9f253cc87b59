"""merx benchmark runner.

Every (case, tool) pair runs in a fresh Python subprocess, so that import
state, caches and - above all - peak memory are per case. Inside the child:

1. import the tool and fit sleepstudy once, untimed (loads lazily imported
   modules; a user's second fit sees the same state; GLMM cases: a small
   binary GLMM instead);
2. load the case's DataFrame (not timed; generated data comes from
   ``benches/data``, see ``generate.py``);
3. time the whole fit (REML; GLMM cases: Laplace, ``glmm.py``) from the DataFrame ``repeats`` times
   (``time.perf_counter``; model frame + optimisation + result object);
4. record peak RSS (``VmHWM`` of the child, cross-checked with the parent's
   ``wait4`` rusage) right after the timed fits, and the RSS before them;
5. time the REML criterion at the optimum theta over many calls
   (``--eval-seconds`` of calls, median of batches), where the tool exposes it
   (LMM cases only).

A tool that cannot fit a case (mixedlm-rs: no GLMM) gets a "n/a" record
without a child.

Usage::

    python benches/generate.py                    # once (run.py also does it when missing)
    python benches/run.py                                        # all cases, all tools
    python benches/run.py --cases sleepstudy,insteval --tools merx --merge
    python benches/run.py --report-only --markdown benches/out/results.md

``--merge`` keeps the other (case, tool) entries of an existing ``--out`` file
and replaces only those re-run. ``--markdown PATH`` writes tables for
``benches/RESULTS.md`` (``-`` for stdout).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from cases import CASES, Case, load_case, load_reference, read_bundled_direct  # noqa: E402
import glmm  # noqa: E402

DEFAULT_OUT = BENCH_DIR / "out" / "results.json"
ALL_TOOLS = ["merx", "mixedlm", "mixedlm_rs"]
PEERS = ["mixedlm", "mixedlm_rs"]


# ==========================================================================
# memory helpers (Linux)

def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def busy_cpus(interval: float = 0.5) -> float | None:
    """CPUs busy (all processes) over ``interval`` seconds, from /proc/stat."""
    def snap():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle
    try:
        t0, i0 = snap()
        time.sleep(interval)
        t1, i1 = snap()
    except OSError:
        return None
    if t1 == t0:
        return 0.0
    return round((1.0 - (i1 - i0) / (t1 - t0)) * (os.cpu_count() or 1), 2)


def _stat_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    busy = sum(v[:8]) - v[3] - (v[4] if len(v) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def wait_quiet(threshold: float, max_wait: float) -> tuple[float | None, float]:
    """Wait until other processes keep fewer than ``threshold`` CPUs busy."""
    t0 = time.perf_counter()
    b = busy_cpus()
    while b is not None and b > threshold and time.perf_counter() - t0 < max_wait:
        time.sleep(2.0)
        b = busy_cpus()
    return b, time.perf_counter() - t0


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024.0, 1)


# ==========================================================================
# child

def time_calls(fn, min_seconds: float, min_batches: int = 7, max_calls: int = 1_000_000) -> dict:
    """Median per-call time of ``fn`` over batches sized to last >= ~2 ms."""
    for _ in range(2):
        fn()                                   # warm caches / lazy set-up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    batch = max(1, int(2e-3 / one))
    per_call, calls, spent = [], 0, 0.0
    while (spent < min_seconds or len(per_call) < min_batches) and calls < max_calls:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        dt = time.perf_counter() - t0
        per_call.append(dt / batch)
        calls += batch
        spent += dt
        if one > 5.0 and len(per_call) >= 3:   # very slow evaluations: three is enough
            break
    return {"median_s": statistics.median(per_call), "min_s": min(per_call),
            "n_calls": calls, "n_batches": len(per_call), "batch": batch}


def cycling(f, theta0):
    """Zero-argument call of ``f`` cycling through 8 thetas within 1e-6 (relative) of
    ``theta0``, so that no last-value cache can answer repeated calls."""
    import numpy as np
    t0 = np.asarray(theta0, dtype=float)
    thetas = [t0 * (1.0 + 1e-7 * k) + 1e-9 * k for k in range(8)]
    as_list = [[float(x) for x in t] for t in thetas]
    state = {"i": 0}

    def call():
        i = state["i"] = (state["i"] + 1) & 7
        try:
            return f(thetas[i])
        except TypeError:                      # bindings that want a list
            return f(as_list[i])
    return call


def worker(args) -> int:
    out: dict = {"case": args.case, "tool": args.tool, "ok": False, "pid": os.getpid()}
    stage = "setup"

    def dump():
        out["peak_rss_end_mb"] = _mb(_proc_status_kb("VmHWM"))
        Path(args.result_file).write_text(json.dumps(out, default=str))

    try:
        from tools import TOOLS
        case: Case = CASES[args.case]
        tool = TOOLS[args.tool]()
        out["rss_start_mb"] = _mb(_proc_status_kb("VmRSS"))
        tool.setup()
        out["version"] = tool.version()
        out["build"] = tool.build_info()
        if case.family:
            stage = "warm-up (small binary GLMM)"
            warm, wdf = glmm.warmup()
        else:
            stage = "warm-up (sleepstudy)"
            warm = CASES["sleepstudy"]
            wdf, _ = load_case(warm, use_merx=(args.tool == "merx"))
        try:
            tool.fit(warm, wdf)
            out["warmup"] = "ok"
        except Exception as exc:               # a failing warm-up is not fatal
            out["warmup"] = f"{type(exc).__name__}: {exc}"
        del wdf
        stage = "load data"
        df, loader = load_case(case, use_merx=(args.tool == "merx"))
        out["loader"] = loader
        out["n_rows"] = int(len(df))
        if loader == "merx.datasets.load_example":
            kind, name = case.source.split(":", 1)
            try:
                import pandas as pd
                pd.testing.assert_frame_equal(df, read_bundled_direct(name), check_dtype=False)
                out["loader_matches_direct_read"] = True
            except AssertionError as exc:
                out["loader_matches_direct_read"] = f"differs: {str(exc)[:300]}"
        gc.collect()
        out["rss_before_fit_mb"] = _mb(_proc_status_kb("VmRSS"))

        stage = "fit"
        times, cpu = [], []
        res = None
        for _ in range(args.repeats):
            res = None
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            res = tool.fit(case, df)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out["fit_times_s"] = times
        out["fit_cpu_s"] = cpu
        out["fit_median_s"] = statistics.median(times)
        out["fit_min_s"] = min(times)
        out["peak_rss_mb"] = _mb(_proc_status_kb("VmHWM"))
        out["maxrss_self_mb"] = _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

        stage = "summarize"
        out["estimates"] = tool.summarize(case, res)
        out["ok"] = True

        if args.eval_seconds > 0 and not case.family:
            stage = "per-theta evaluation"
            try:
                evals = {}
                for label, f, theta0 in tool.deviance_fn(case, df, res):
                    fn = cycling(f, theta0)
                    r = time_calls(fn, args.eval_seconds)
                    v = f(theta0)
                    r["value"] = float(v[0] if isinstance(v, (tuple, list)) else v)
                    r["with_gradient"] = isinstance(v, (tuple, list))
                    evals[label] = r
                out["per_eval"] = evals
            except Exception as exc:
                out["per_eval_error"] = f"{type(exc).__name__}: {exc}"
                out["per_eval_traceback"] = traceback.format_exc()[-3000:]
    except BaseException as exc:  # noqa: BLE001 - reported, then re-raised as rc
        out["ok"] = False
        out["failed_stage"] = stage
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
        dump()
        return 1
    dump()
    return 0


# ==========================================================================
# parent

def run_child(case: str, tool: str, repeats: int, eval_seconds: float, timeout: float,
              quiet: float | None = None, quiet_wait: float = 0.0,
              child_env: dict[str, str] | None = None) -> dict:
    busy_before, waited = (wait_quiet(quiet, quiet_wait) if quiet is not None else (busy_cpus(0.3), 0.0))
    load_before = os.getloadavg()[0]
    busy0 = _stat_busy_seconds()
    with tempfile.TemporaryDirectory(prefix="merx-bench-") as tmp:
        res_file = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker",
               "--case", case, "--tool", tool, "--repeats", str(repeats),
               "--eval-seconds", str(eval_seconds), "--result-file", str(res_file)]
        t0 = time.perf_counter()
        with open(Path(tmp) / "stdout", "wb") as so, open(Path(tmp) / "stderr", "wb") as se:
            env = {**os.environ, **(child_env or {})}
            proc = subprocess.Popen(cmd, stdout=so, stderr=se, cwd=str(REPO), env=env)
            timed_out = False
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - t0 > timeout:
                    proc.kill()
                    pid, status, ru = os.wait4(proc.pid, 0)
                    timed_out = True
                    break
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        stderr = (Path(tmp) / "stderr").read_text(errors="replace")
        if res_file.exists():
            rec = json.loads(res_file.read_text())
        else:
            rec = {"case": case, "tool": tool, "ok": False,
                   "error": "child produced no result" + (f" (timed out after {timeout:.0f}s)" if timed_out else
                                                           f" (exit status {proc.returncode})")}
        rec["returncode"] = proc.returncode
        phases: dict[str, list[float]] = {}   # MERX_TIMINGS=1 in --env: the core's phase timers
        for line in stderr.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "merx-timing":
                phases.setdefault(parts[1], []).append(float(parts[2]))
        if phases:
            rec["core_phases"] = {k: {"n": len(v), "total_s": round(sum(v), 3), "max_s": round(max(v), 3)}
                                  for k, v in phases.items()}
        if child_env:
            rec["child_env"] = child_env
        rec["busy_cpus_before"] = busy_before
        rec["waited_for_quiet_s"] = round(waited, 1)
        rec["loadavg1_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        rec["child_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 3)
        busy1 = _stat_busy_seconds()
        if busy0 is not None and busy1 is not None and wall > 0:
            # CPU time that other processes used while the child ran, per second
            rec["others_busy_cpus_during"] = round(max(0.0, (busy1 - busy0 - rec["child_cpu_s"]) / wall), 2)
        rec["timed_out"] = timed_out
        rec["child_wall_s"] = round(wall, 3)
        rec["child_maxrss_mb"] = _mb(ru.ru_maxrss)   # from wait4: this child only
        rec["repeats"] = repeats
        if not rec.get("ok"):
            rec["stderr_tail"] = stderr[-3000:]
        return rec


def merx_importable() -> tuple[bool, str]:
    p = subprocess.run([sys.executable, "-c", "import merx, merx._core; print(getattr(merx, '__file__', ''))"],
                       capture_output=True, text=True, cwd=str(REPO))
    if p.returncode == 0:
        return True, p.stdout.strip()
    return False, (p.stderr.strip().splitlines() or ["import failed"])[-1]


def _cmd(args: list[str]) -> str | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return None


def machine_info() -> dict:
    import importlib.metadata as md
    info: dict = {}
    lscpu = _cmd(["lscpu"]) or ""
    for line in lscpu.splitlines():
        k, _, v = line.partition(":")
        if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
                         "Socket(s)", "L3 cache", "Architecture"):
            info[k.strip()] = v.strip()
    info["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 2**20, 1)
    except Exception:
        pass
    info["os"] = platform.platform()
    info["python"] = platform.python_version()
    versions = {}
    for dist in ("numpy", "scipy", "pandas", "mixedlm", "mixedlm-rs", "merx", "narwhals"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    info["packages"] = versions
    info["thread_env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                     "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
                          if k in os.environ}
    info["git_commit"] = _cmd(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return info


def parse_list(s: str | None, allowed: list[str], what: str) -> list[str]:
    if not s:
        return list(allowed)
    items = [x.strip() for x in s.replace(" ", ",").split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad:
        raise SystemExit(f"unknown {what}: {bad}; choose from {allowed}")
    return items


def main_parent(args) -> int:
    out_path = Path(args.out)
    if args.report_only:
        results = json.loads(out_path.read_text())
        if args.cases or args.tools:               # render a subset
            cs = parse_list(args.cases, list(CASES), "case")
            ts = parse_list(args.tools, ALL_TOOLS, "tool")
            results["runs"] = [r for r in results.get("runs", []) if r["case"] in cs and r["tool"] in ts]
        results["agreement"] = agreement(results.get("runs", []))
    else:
        cases = parse_list(args.cases, list(CASES), "case")
        tools = parse_list(args.tools, ALL_TOOLS, "tool")
        prev = json.loads(out_path.read_text()) if (args.merge and out_path.exists()) else None
        import generate                        # generated data on first use (deterministic)
        for c in cases:
            kind, name = CASES[c].source.split(":", 1)
            if kind == "generated":
                generate.generate(name)
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        runs = []
        child_env = {}
        for kv in args.env or []:
            k, sep, v = kv.partition("=")
            if not sep:
                raise SystemExit(f"--env wants KEY=VALUE, got {kv!r}")
            child_env[k] = v
        from tools import TOOLS
        merx_ok, merx_msg = (True, "")
        if "merx" in tools:
            merx_ok, merx_msg = merx_importable()
            print(f"merx importable: {merx_ok} ({merx_msg})", flush=True)
        for c in cases:
            for t in tools:
                if t == "merx" and not merx_ok:
                    runs.append({"case": c, "tool": t, "ok": False, "status": "unavailable",
                                 "error": f"merx not importable: {merx_msg}",
                                 "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
                    continue
                why = TOOLS[t]().not_applicable(CASES[c])
                if why:
                    print(f"[{c} / {t}] not applicable: {why}", flush=True)
                    runs.append({"case": c, "tool": t, "ok": False, "status": "n/a", "error": why,
                                 "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
                    continue
                reps = args.repeats or CASES[c].repeats
                print(f"[{c} / {t}] {reps} repeat(s) ...", end=" ", flush=True)
                rec = run_child(c, t, reps, args.eval_seconds, args.timeout,
                                args.quiet, args.quiet_wait, child_env)
                attempts = 1
                while (args.retries_if_loaded > 0 and attempts <= args.retries_if_loaded and rec.get("ok")
                       and (rec.get("others_busy_cpus_during") or 0) > args.max_other_load):
                    if attempts == 1:
                        print(f"other load {rec.get('others_busy_cpus_during')} > {args.max_other_load} "
                              f"(median {fmt_time(rec['fit_median_s'])}), again ...", end=" ", flush=True)
                    again = run_child(c, t, reps, args.eval_seconds, args.timeout,
                                      args.quiet if args.quiet is not None else args.max_other_load,
                                      args.quiet_wait, child_env)
                    attempts += 1
                    if not again.get("ok"):
                        continue
                    print(f"[attempt {attempts}: other load {again.get('others_busy_cpus_during')}, "
                          f"median {fmt_time(again['fit_median_s'])}]", end=" ", flush=True)
                    if (again.get("others_busy_cpus_during") or 0) <= (rec.get("others_busy_cpus_during") or 0):
                        rec = again
                rec["attempts"] = attempts
                rec["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                rec["git_commit"] = _cmd(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
                runs.append(rec)
                if rec.get("ok"):
                    est = rec["estimates"]
                    print(f"kept: other load {rec.get('others_busy_cpus_during')}, median {fmt_time(rec['fit_median_s'])}, n_eval {est.get('n_eval')}, "
                          f"peak {rec.get('peak_rss_mb')} MB, "
                          + (f"deviance {est['deviance']:.6f}" if "deviance" in est else f"REMLcrit {est['REMLcrit']:.6f}"),
                          flush=True)
                else:
                    print(f"FAILED: {rec.get('error')}", flush=True)
        if prev:
            done = {(r["case"], r["tool"]) for r in runs}
            runs = [r for r in prev.get("runs", []) if (r["case"], r["tool"]) not in done] + runs
            order = {c: i for i, c in enumerate(CASES)}
            torder = {t: i for i, t in enumerate(ALL_TOOLS)}
            runs.sort(key=lambda r: (order.get(r["case"], 99), torder.get(r["tool"], 99)))
        results = {"started": started, "machine": machine_info(), "runs": runs,
                   "settings": {"eval_seconds": args.eval_seconds, "timeout_s": args.timeout,
                                "repeats_override": args.repeats}}
        if prev:
            results["previous_machine"] = prev.get("machine")
        results["agreement"] = agreement(results["runs"])
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
        print(f"wrote {out_path}")
    if args.markdown:
        md = render_markdown(results)
        if args.markdown == "-":
            print(md)
        else:
            Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
            Path(args.markdown).write_text(md)
            print(f"wrote {args.markdown}")
    return 0


# ==========================================================================
# agreement

def compare(a: dict, b: dict) -> dict:
    """Differences of estimates ``a`` relative to ``b`` (b is the baseline)."""
    ta, tb = a.get("theta") or {}, b.get("theta") or {}
    common = [k for k in tb if k in ta]
    d: dict = {}
    if common:
        d["max_abs_dtheta"] = max(abs(ta[k] - tb[k]) for k in common)
    if len(common) != len(tb) or len(ta) != len(tb):
        d["theta_names_mismatch"] = {"only_a": sorted(set(ta) - set(tb)), "only_b": sorted(set(tb) - set(ta))}
        if len(ta) == len(tb) and not common:   # positional fallback
            d["max_abs_dtheta_positional"] = max(abs(x - y) for x, y in zip(ta.values(), tb.values()))
    if a.get("sigma") is not None and b.get("sigma"):
        d["rel_dsigma"] = abs(a["sigma"] - b["sigma"]) / abs(b["sigma"])
    if a.get("REMLcrit") is not None and b.get("REMLcrit") is not None:
        d["dREMLcrit"] = a["REMLcrit"] - b["REMLcrit"]
    if a.get("deviance") is not None and b.get("deviance") is not None:
        d["ddeviance"] = a["deviance"] - b["deviance"]     # GLMM: -2 logLik
    fa, fb = a.get("fixef") or {}, b.get("fixef") or {}
    fc = [k for k in fb if k in fa]
    if fc:
        d["max_abs_dfixef"] = max(abs(fa[k] - fb[k]) for k in fc)
    return d


def agreement(runs: list[dict]) -> list[dict]:
    out = []
    for cname, case in CASES.items():
        ok = {r["tool"]: r for r in runs if r["case"] == cname and r.get("ok")}
        baselines = []
        if "merx" in ok:
            baselines.append(("merx", ok["merx"]["estimates"]))
        ref = load_reference(case)
        if ref:
            baselines.append((ref["tool"], ref))
        if not baselines and ok:
            # neither merx nor a reference: peers against the first that succeeded
            first = next(t for t in ALL_TOOLS if t in ok)
            baselines.append((first, ok[first]["estimates"]))
        for bname, best in baselines:
            for t, r in ok.items():
                if t == bname:
                    continue
                out.append({"case": cname, "tool": t, "baseline": bname, **compare(r["estimates"], best)})
    return out


# ==========================================================================
# markdown

def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-5:
        return f"{s * 1e6:.2f} µs"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s:.2f} s"


def fmt_g(x, digits=3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}"


def _per_eval_cell(rec: dict) -> str:
    pe = rec.get("per_eval") or {}
    if not pe:
        return "n/a" if not rec.get("per_eval_error") else "error"
    cells = []
    for label, v in pe.items():
        tag = " (+grad)" if v.get("with_gradient") else ""
        cells.append(fmt_time(v["median_s"]) + tag)
    return "<br>".join(cells)


def evals_time(rec: dict) -> float | None:
    """n_eval x per-θ time: the part of the fit spent evaluating the objective.
    Uses the value+gradient timing when the tool has one (its optimiser calls that)."""
    pe = rec.get("per_eval") or {}
    n = (rec.get("estimates") or {}).get("n_eval")
    if not pe or not n:
        return None
    grad = [v for v in pe.values() if v.get("with_gradient")]
    v = grad[0] if grad else next(iter(pe.values()))
    return n * v["median_s"]


def _lmm_tables(results: dict, runs: list[dict], lmm_cases: dict) -> list[str]:
    """The LMM (REML) tables: fit time, estimates, agreement."""
    L: list[str] = []
    L.append("### Fit time, evaluations, memory")
    L.append("")
    L.append("Whole REML fit from the DataFrame, median of the repeats (min in parentheses); "
             "`n_eval` = objective evaluations reported by the tool; per-θ = one REML-criterion "
             "evaluation at the optimum (+grad: with its gradient, what the peers' L-BFGS-B calls); "
             "n_eval × per-θ = the share of the fit spent in objective evaluations (the rest is model frame, "
             "set-up and post-fit work); peak RSS = VmHWM of the fresh child process after the "
             "timed fits (RSS before the first fit, i.e. interpreter + libraries + data, in parentheses); "
             "other load = average number of CPUs kept busy by other processes while the child ran "
             "(out of the machine's logical CPUs; well above 0 means the timing is contaminated).")
    L.append("")
    L.append("| case | tool | version | fit time (min) | repeats | n_eval | per-θ eval | n_eval × per-θ | peak RSS MB (before fit) | other load | target (merx) |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for cname, case in lmm_cases.items():
        for r in [r for r in runs if r["case"] == cname]:
            target = f"≤ {fmt_time(case.target_fit_s)}" + (f", ≤ {case.target_peak_mb / 1000:.1f} GB" if case.target_peak_mb else "")
            if r.get("ok"):
                est = r["estimates"]
                met = ""
                if r["tool"] == "merx":
                    good = r["fit_median_s"] <= case.target_fit_s and (
                        not case.target_peak_mb or (r.get("peak_rss_mb") or 0) <= case.target_peak_mb)
                    met = " ✅" if good else " ❌"
                envtag = "".join(f"<br>{k}={v}" for k, v in (r.get("child_env") or {}).items())
                L.append(f"| {cname} | {r['tool']}{envtag} | {r.get('version', '')} | "
                         f"{fmt_time(r['fit_median_s'])} ({fmt_time(r['fit_min_s'])}) | {len(r['fit_times_s'])} | "
                         f"{est.get('n_eval', '-')} | {_per_eval_cell(r)} | {fmt_time(evals_time(r))} | "
                         f"{fmt_g(r.get('peak_rss_mb'), 4)} ({fmt_g(r.get('rss_before_fit_mb'), 4)}) | "
                         f"{fmt_g(r.get('others_busy_cpus_during'), 2)} | {target}{met} |")
            else:
                status = r.get("status") or ("timeout" if r.get("timed_out") else "failed")
                L.append(f"| {cname} | {r['tool']} | {r.get('version', '') or ''} | **{status}** | - | - | - | - | "
                         f"{fmt_g(r.get('child_maxrss_mb'), 4)} | {fmt_g(r.get('others_busy_cpus_during'), 2)} | {target} |")
    L.append("")

    L.append("### Estimates")
    L.append("")
    L.append("| case | tool | θ | σ | REML criterion | converged |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for cname, case in lmm_cases.items():
        ref = load_reference(case)
        rows = [(r["tool"], r["estimates"]) for r in runs if r["case"] == cname and r.get("ok")]
        if ref and any(r["case"] == cname for r in runs):
            rows.append((f"lme4 {ref.get('version')} (reference)", {**ref, "converged": True}))
        for tname, e in rows:
            th = ", ".join(f"{k}={v:.6g}" for k, v in (e.get("theta") or {}).items())
            L.append(f"| {cname} | {tname} | {th} | {e['sigma']:.8g} | {e['REMLcrit']:.10g} | {e.get('converged')} |")
    L.append("")

    agr = [a for a in results.get("agreement") or [] if a["case"] in lmm_cases]
    if agr:
        L.append("### Agreement")
        L.append("")
        L.append("Differences of each tool's estimates from the baseline: merx when it ran, and the "
                 "lme4 values in `tests/reference/` for the bundled datasets; for a generated case with "
                 "neither, the first peer that succeeded. θ compared by lme4 name, ΔREML criterion = "
                 "tool − baseline (negative: the tool found a lower criterion).")
        L.append("")
        L.append("| case | tool | baseline | max abs Δθ | rel Δσ | ΔREML criterion | max abs Δβ |")
        L.append("| --- | --- | --- | --- | --- | --- | --- |")
        for a in agr:
            dth = a.get("max_abs_dtheta", a.get("max_abs_dtheta_positional"))
            if "theta_names_mismatch" in a:
                dth = f"{fmt_g(dth, 2)} (names differ)"
            else:
                dth = fmt_g(dth, 2)
            L.append(f"| {a['case']} | {a['tool']} | {a['baseline']} | {dth} | {fmt_g(a.get('rel_dsigma'), 2)} | "
                     f"{fmt_g(a.get('dREMLcrit'), 2)} | {fmt_g(a.get('max_abs_dfixef'), 2)} |")
        L.append("")

    return L


def render_markdown(results: dict) -> str:
    runs = results.get("runs", [])
    lmm_cases = {n: c for n, c in CASES.items() if not c.family}
    m = results.get("machine", {})
    L: list[str] = []
    L.append("### Machine")
    L.append("")
    pk = m.get("packages", {})
    L.append(f"- CPU: {m.get('Model name', '?')} ({m.get('CPU(s)', '?')} logical CPUs, "
             f"{m.get('Thread(s) per core', '?')} thread(s) per core; {m.get('usable_cpus', '?')} usable)")
    L.append(f"- Memory: {m.get('memory_gib', '?')} GiB; OS: {m.get('os', '?')}")
    L.append(f"- Python {m.get('python', '?')}; " + ", ".join(f"{k} {v}" for k, v in pk.items() if v))
    if m.get("thread_env"):
        L.append(f"- Thread environment: {m['thread_env']}")
    L.append(f"- merx commit: {m.get('git_commit', '?')}; run started {results.get('started', '?')} (UTC)")
    L.append("")

    if any(r["case"] in lmm_cases for r in runs):
        L += _lmm_tables(results, runs, lmm_cases)
    L += glmm.render_markdown(results, fmt_time, fmt_g)

    fails = [r for r in runs if not r.get("ok") and r.get("status") != "n/a"]
    if fails:
        L.append("### Failures")
        L.append("")
        for r in fails:
            L.append(f"- **{r['case']} / {r['tool']}**"
                     + (f" (stage: {r['failed_stage']})" if r.get("failed_stage") else "")
                     + f": `{(r.get('error') or '').strip()[:600]}`")
        L.append("")
    return "\n".join(L) + "\n"


# ==========================================================================

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="merx benchmark runner",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--cases", help=f"comma-separated subset of {list(CASES)}")
    ap.add_argument("--tools", help=f"comma-separated subset of {ALL_TOOLS}")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed fits per (case, tool); default per case "
                         + str({c: k.repeats for c, k in CASES.items()}))
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="results JSON (default %(default)s)")
    ap.add_argument("--merge", action="store_true", help="keep other entries of an existing --out")
    ap.add_argument("--markdown", metavar="PATH", help="write markdown tables to PATH ('-' = stdout)")
    ap.add_argument("--report-only", action="store_true", help="render --out without running anything")
    ap.add_argument("--eval-seconds", type=float, default=1.0,
                    help="time spent timing per-theta evaluations (0 disables)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per (case, tool) child")
    ap.add_argument("--env", action="append", metavar="KEY=VALUE",
                    help="extra environment for the children, e.g. OPENBLAS_NUM_THREADS=1 (repeatable)")
    ap.add_argument("--quiet", type=float, default=None, metavar="CPUS",
                    help="before each child, wait until other processes keep fewer than CPUS busy")
    ap.add_argument("--max-other-load", type=float, default=0.2, metavar="CPUS",
                    help="with --retries-if-loaded: rerun a child during which other processes kept "
                         "more than CPUS busy on average (default %(default)s)")
    ap.add_argument("--retries-if-loaded", type=int, default=0, metavar="N",
                    help="rerun contaminated children up to N times, keeping the least contaminated")
    ap.add_argument("--quiet-wait", type=float, default=600.0,
                    help="longest wait for --quiet, seconds (then run anyway; recorded)")
    # internal: the child
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.repeats = args.repeats or CASES[args.case].repeats
        return worker(args)
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())
