"""Deterministic synthetic data for the merx benchmark suite.

Writes to ``benches/data/`` (git-ignored) one uncompressed ``.npz`` per case
(numeric columns plus int32 group codes; loading 1M rows takes ~10 ms) and a
``<case>.meta.json`` with the generating parameters, seeds and a checksum.

Cases
-----
nested_1m   ``y ~ x1 + x2 + (1 + x1 | g)``
            20,000 groups x 50 rows = 1,000,000 rows. Correlated random
            intercept and slope (sd 1.0 and 0.5, correlation 0.4), noise sd 1.0.
crossed_1m  ``y ~ x + (1 | user) + (1 | item)``
            1,000,000 rows, each an independent (user, item) draw: users
            uniform over 50,000 (about 20 rows each, Poisson spread), items
            Zipf-like over 2,000 (p_i proportional to 1/i, ids shuffled so
            popularity is unrelated to the id). Random effects sd 0.8 (user)
            and 0.5 (item), noise sd 1.0. (user, item) pairs may repeat.
crossed_10m ``y ~ x + (1 | user) + (1 | item)``
            10,000,000 rows: 200,000 users with lognormal(0, 1) activity
            (p_u proportional to exp(N(0, 1))) x 10,000 items with Zipf
            (s = 1) popularity, ids shuffled; the first 200,000 rows get
            every user once and the first 10,000 every item once (so every
            level is rated), rows then shuffled. User sd 0.6, item sd 0.4,
            noise sd 1.0. ``make_crossed_big`` with other ``n_items`` /
            ``n_rows`` gives the scaled-down designs of docs/scaling.md.
binary_100k ``y ~ x + (1 | g)``, family binomial (logit)
            5,000 groups x 20 rows = 100,000 rows; x standard normal,
            beta = (-0.5, 1), random intercept sd 1.0, y ~ Bernoulli(
            logit^-1(-0.5 + x + b_g)) stored as 0.0 / 1.0.

Rows of all cases are in random order (not sorted by group), which is the
general case a fitter must handle. Every number here is a function of the
seeds below: re-running produces byte-identical arrays (checked with
``--check``).

Usage::

    python benches/generate.py            # generate missing cases
    python benches/generate.py --force    # regenerate all
    python benches/generate.py --check    # regenerate in memory and compare
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
FORMAT_VERSION = 1

NESTED = dict(
    seed=20261123_01,
    n_groups=20_000,
    rows_per_group=50,
    beta=[5.0, 2.0, -1.0],          # (Intercept), x1, x2
    sd_intercept=1.0,
    sd_slope=0.5,
    corr=0.4,
    sigma=1.0,
)

CROSSED = dict(
    seed=20261123_02,
    n_rows=1_000_000,
    n_users=50_000,
    n_items=2_000,
    zipf_exponent=1.0,
    beta=[3.0, 0.5],                # (Intercept), x
    sd_user=0.8,
    sd_item=0.5,
    sigma=1.0,
)

CROSSED_10M = dict(
    seed=20261130_04,
    n_rows=10_000_000,
    n_users=200_000,
    n_items=10_000,
    user_activity_lognormal_sd=1.0,
    zipf_exponent=1.0,
    beta=[3.0, 0.5],                # (Intercept), x
    sd_user=0.6,
    sd_item=0.4,
    sigma=1.0,
)

BINARY = dict(
    seed=20261130_03,
    n_groups=5_000,
    rows_per_group=20,
    beta=[-0.5, 1.0],               # (Intercept), x
    sd_intercept=1.0,
    family="binomial",
    link="logit",
)


def make_nested(p: dict = NESTED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(p["seed"])
    G, m = p["n_groups"], p["rows_per_group"]
    n = G * m
    # Random effects per group: b_g ~ N(0, S), S = D R D.
    sd = np.array([p["sd_intercept"], p["sd_slope"]])
    R = np.array([[1.0, p["corr"]], [p["corr"], 1.0]])
    L = np.linalg.cholesky(R * np.outer(sd, sd))
    b = rng.standard_normal((G, 2)) @ L.T
    g = np.repeat(np.arange(G, dtype=np.int32), m)
    g = g[rng.permutation(n)]                      # rows in random order
    x1 = rng.standard_normal(n)
    x2 = rng.uniform(-1.0, 1.0, n)
    e = rng.standard_normal(n) * p["sigma"]
    b0, b1, b2 = p["beta"]
    y = b0 + b1 * x1 + b2 * x2 + b[g, 0] + b[g, 1] * x1 + e
    return {"y": y, "x1": x1, "x2": x2, "g": g, "b_true": b}


def make_crossed(p: dict = CROSSED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(p["seed"])
    n, U, I = p["n_rows"], p["n_users"], p["n_items"]
    user = rng.integers(0, U, n, dtype=np.int64).astype(np.int32)
    w = 1.0 / np.arange(1, I + 1, dtype=np.float64) ** p["zipf_exponent"]
    w /= w.sum()
    rank = rng.choice(I, size=n, p=w)              # popularity rank 0..I-1
    perm = rng.permutation(I).astype(np.int32)     # rank -> item id
    item = perm[rank]
    u = rng.standard_normal(U) * p["sd_user"]
    v = rng.standard_normal(I) * p["sd_item"]
    x = rng.standard_normal(n)
    e = rng.standard_normal(n) * p["sigma"]
    b0, b1 = p["beta"]
    y = b0 + b1 * x + u[user] + v[item] + e
    if np.bincount(user, minlength=U).min() == 0 or np.bincount(item, minlength=I).min() == 0:
        raise RuntimeError("a user or item level has no rows; change the seed")
    return {"y": y, "x": x, "user": user, "item": item, "u_true": u, "v_true": v}


def make_crossed_big(p: dict = CROSSED_10M) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(p["seed"])
    n, U, I = p["n_rows"], p["n_users"], p["n_items"]
    if n < max(U, I):
        raise ValueError("fewer rows than users or items: not every level can be rated")
    act = np.exp(rng.standard_normal(U) * p["user_activity_lognormal_sd"])
    user = rng.choice(U, size=n, p=act / act.sum()).astype(np.int32)
    w = 1.0 / np.arange(1, I + 1, dtype=np.float64) ** p["zipf_exponent"]
    rank = rng.choice(I, size=n, p=w / w.sum())
    item = rng.permutation(I).astype(np.int32)[rank]
    user[:U] = rng.permutation(U).astype(np.int32)  # every user and item at least once
    item[:I] = rng.permutation(I).astype(np.int32)
    order = rng.permutation(n)
    user, item = user[order], item[order]
    u = rng.standard_normal(U) * p["sd_user"]
    v = rng.standard_normal(I) * p["sd_item"]
    x = rng.standard_normal(n)
    e = rng.standard_normal(n) * p["sigma"]
    b0, b1 = p["beta"]
    y = b0 + b1 * x + u[user] + v[item] + e
    return {"y": y, "x": x, "user": user, "item": item, "u_true": u, "v_true": v}


def make_binary(p: dict = BINARY) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(p["seed"])
    G, m = p["n_groups"], p["rows_per_group"]
    n = G * m
    b = rng.standard_normal(G) * p["sd_intercept"]
    g = np.repeat(np.arange(G, dtype=np.int32), m)
    g = g[rng.permutation(n)]                      # rows in random order
    x = rng.standard_normal(n)
    b0, b1 = p["beta"]
    eta = b0 + b1 * x + b[g]
    prob = 1.0 / (1.0 + np.exp(-eta))
    y = (rng.random(n) < prob).astype(np.float64)
    return {"y": y, "x": x, "g": g, "b_true": b}


CASES = {
    "nested_1m": (make_nested, NESTED),
    "crossed_1m": (make_crossed, CROSSED),
    "binary_100k": (make_binary, BINARY),
    "crossed_10m": (make_crossed_big, CROSSED_10M),
}


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def summarize(name: str, a: dict[str, np.ndarray]) -> dict:
    if name in ("nested_1m", "binary_100k"):
        counts = np.bincount(a["g"])
        out = {"n": int(a["y"].size), "n_groups": int(counts.size),
               "rows_per_group": [int(counts.min()), int(counts.max())]}
        if name == "binary_100k":
            out["mean_y"] = float(a["y"].mean())
        return out
    uc = np.bincount(a["user"])
    ic = np.bincount(a["item"])
    return {"n": int(a["y"].size),
            "n_users": int(uc.size), "rows_per_user_min_median_max":
                [int(uc.min()), float(np.median(uc)), int(uc.max())],
            "n_items": int(ic.size), "rows_per_item_min_median_max":
                [int(ic.min()), float(np.median(ic)), int(ic.max())]}


def generate(name: str, force: bool = False) -> Path:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"{name}.npz"
    meta_path = DATA_DIR / f"{name}.meta.json"
    if path.exists() and meta_path.exists() and not force:
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") == FORMAT_VERSION:
            print(f"{name}: exists ({path})")
            return path
    fn, params = CASES[name]
    t0 = time.perf_counter()
    arrays = fn(params)
    np.savez(path, **arrays)
    meta = {"case": name, "format_version": FORMAT_VERSION, "params": params,
            "sha256": digest(arrays), "summary": summarize(name, arrays),
            "generator": "benches/generate.py", "numpy": np.__version__}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{name}: wrote {path} in {time.perf_counter() - t0:.2f}s "
          f"({path.stat().st_size / 2**20:.1f} MiB) {meta['summary']}")
    return path


def check(name: str) -> bool:
    meta_path = DATA_DIR / f"{name}.meta.json"
    fn, params = CASES[name]
    d = digest(fn(params))
    ok = meta_path.exists() and json.loads(meta_path.read_text())["sha256"] == d
    on_disk = np.load(DATA_DIR / f"{name}.npz")
    ok = ok and digest({k: on_disk[k] for k in on_disk.files}) == d
    print(f"{name}: {'reproducible' if ok else 'MISMATCH'} ({d[:16]})")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", help=f"subset of {sorted(CASES)} (default: all)")
    ap.add_argument("--force", action="store_true", help="regenerate even if present")
    ap.add_argument("--check", action="store_true",
                    help="regenerate in memory and compare with the files on disk")
    args = ap.parse_args(argv)
    cases = args.cases or list(CASES)
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")
    if args.check:
        return 0 if all([check(c) for c in cases]) else 1
    for c in cases:
        generate(c, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
