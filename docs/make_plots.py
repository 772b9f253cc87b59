"""Render the pictures of docs/plots.md from the bundled data sets.

    PYTHONPATH=python python3 docs/make_plots.py [output folder, default docs/images]

Each picture is one ``merx.plot`` function applied to one fit; the names are those the page
shows. The Agg backend is not needed: ``merx.plot`` builds its figures without pyplot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import merx
import merx.plot as mplot

#: Resolution of the PNGs: small enough for the repository (each < 100 kB).
DPI = 72


def figures() -> dict:
    """File name → Figure, for every picture of the page."""
    sleep = merx.lmer("Reaction ~ Days + (Days | Subject)", merx.load_example("sleepstudy"))
    sleep_intercepts = merx.lmer("Reaction ~ Days + (1 | Subject)", merx.load_example("sleepstudy"))
    penicillin = merx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", merx.load_example("Penicillin"))
    cbpp = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", merx.load_example("cbpp"),
                      family="binomial")
    return {
        "caterpillar_sleepstudy.png": mplot.caterpillar(sleep),
        "caterpillar_penicillin.png": mplot.caterpillar(penicillin),
        "shrinkage_sleepstudy.png": mplot.shrinkage(sleep),
        "shrinkage_sleepstudy_intercepts.png": mplot.shrinkage(sleep_intercepts, hold_fixed=True),
        "residuals_vs_fitted_sleepstudy.png": mplot.residuals_vs_fitted(sleep),
        "qq_residuals_sleepstudy.png": mplot.qq_residuals(sleep),
        "qq_ranef_sleepstudy.png": mplot.qq_ranef(sleep),
        "residuals_vs_fitted_cbpp.png": mplot.residuals_vs_fitted(cbpp),
        "profile_zeta_sleepstudy.png": mplot.profile_zeta(sleep),
    }


def main(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures().items():
        path = out_dir / name
        fig.savefig(path, dpi=DPI)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "images"
    for path in main(target):
        print(f"{path}  {path.stat().st_size / 1024:.0f} kB")
