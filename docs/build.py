"""Build the documentation site into site/ (git-ignored) with mkdocs-material.

    python docs/build.py            # mkdocs build --strict: any warning fails the build
    python docs/build.py --serve    # the same pages, served by mkdocs with live reload
    python docs/build.py --site-dir /tmp/site   # another output folder (the test's)

Needs the ``docs`` extra (``pip install -e ".[docs]"``). The script stages the pages into
build/docs-src/ (git-ignored, rebuilt every run): the hand-written pages of docs/ with their
images, the benchmark tables of benches/ (RESULTS.md as benchmarks/index.md, README.md as
benchmarks/method.md, their links to each other rewritten), and the API reference generated
here from ``merx.__all__``, ``merx.families``, ``merx.plot`` and ``merx.sklearn`` (mkdocstrings
renders each object's numpydoc docstring). Then it runs ``mkdocs build --strict`` on mkdocs.yml.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
STAGE = ROOT / "build" / "docs-src"

#: Sections of the API page: heading → names of ``merx.__all__``, in the page's order.
API_SECTIONS = {
    "Fitting models": ["lmer", "glmer", "glmer_nb", "glmmTMB", "lme", "gls", "build_problem"],
    "nlme's variance functions and correlation structures": [
        "varIdent", "varPower", "varExp", "corAR1", "corCAR1", "corExp", "corCompSymm"],
    "Model comparison and tests": ["anova", "ranova", "hausman"],
    "glmmTMB's families": ["NBinom2", "NBinom1", "BetaFamily"],
    "Results": ["LmerResult", "GlmerResult", "GlmmTMBResult", "LmeResult", "GlsResult", "AnovaResult",
                "RanovaResult", "BootstrapResult", "HausmanResult"],
    "Data": ["load_example", "list_examples", "read_data"],
    "Errors": ["MerxError", "FormulaError", "DataError", "FamilyError"],
}


def api_pages() -> dict[str, str]:
    """File name under api/ → its markdown. Every name of ``merx.__all__`` gets an entry;
    a name this script does not place yet goes under "Other" (never left out)."""
    sys.path.insert(0, str(ROOT / "python"))
    import merx

    placed = {n for names in API_SECTIONS.values() for n in names}
    modules = [n for n in merx.__all__ if inspect.ismodule(getattr(merx, n))]
    other = [n for n in merx.__all__ if n not in placed and n not in modules]
    missing = placed - set(merx.__all__)
    if missing:
        raise SystemExit(f"docs/build.py places names that merx.__all__ lacks: {sorted(missing)}")
    lines = ["# API reference: `merx`", "",
             "Every public name of `merx` (`merx.__all__`), from its docstring. The submodules: "
             "[merx.families](families.md), [merx.plot](plot.md), [merx.sklearn](sklearn.md).", ""]
    for heading, names in list(API_SECTIONS.items()) + [("Other", other)]:
        if not names:
            continue
        lines += [f"## {heading}", ""]
        for name in names:
            obj = getattr(merx, name)
            lines.append(f"::: merx.{name}")
            lines.append("    options:")
            lines.append("      heading_level: 3")
            if inspect.isclass(obj) and not issubclass(obj, Exception):
                lines.append("      inherited_members: true")
            lines.append("")
    pages = {"index.md": "\n".join(lines)}
    for module, title in (("families", "merx.families"), ("plot", "merx.plot"), ("sklearn", "merx.sklearn")):
        pages[f"{module}.md"] = f"# API reference: `{title}`\n\n::: {title}\n    options:\n      show_root_heading: false\n"
    return pages


def stage() -> None:
    """Write build/docs-src/ afresh."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for page in sorted(DOCS.glob("*.md")):
        shutil.copy2(page, STAGE / page.name)
    shutil.copytree(DOCS / "images", STAGE / "images")
    bench = STAGE / "benchmarks"
    bench.mkdir()
    results = (ROOT / "benches" / "RESULTS.md").read_text(encoding="utf-8")
    method = (ROOT / "benches" / "README.md").read_text(encoding="utf-8")
    (bench / "index.md").write_text(results.replace("](README.md)", "](method.md)"), encoding="utf-8")
    (bench / "method.md").write_text(method.replace("](RESULTS.md)", "](index.md)"), encoding="utf-8")
    api = STAGE / "api"
    api.mkdir()
    for name, text in api_pages().items():
        (api / name).write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    stage()
    if "--serve" in argv:
        cmd = [sys.executable, "-m", "mkdocs", "serve", "-f", str(ROOT / "mkdocs.yml")]
    else:
        cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
        if "--site-dir" in argv:
            cmd += ["--site-dir", argv[argv.index("--site-dir") + 1]]
    # mkdocs-material's notice about its successor is not a build warning
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
