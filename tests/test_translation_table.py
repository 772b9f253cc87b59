"""docs/lme4.md, the lme4 → merx translation table: the setup block runs, and every call of
the tables' merx column runs against the real API and returns something."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "lme4.md"


def setup_code(text: str) -> str:
    """The first python block after the "## Setup" heading."""
    after = text.split("## Setup", 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, "docs/lme4.md has no python block under ## Setup"
    return match.group(1)


def merx_calls(text: str) -> list[tuple[str, str, str]]:
    """(section, R cell, merx code) for each table row: the merx column is one code span."""
    rows, section = [], ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith("| ") or line.startswith("| R |") or line.startswith("| ---"):
            continue
        # cells are split at " | " outside code spans (formulas hold "|" inside backticks)
        cells, current, in_code = [], "", False
        for ch in line.strip()[1:-1]:
            if ch == "`":
                in_code = not in_code
            if ch == "|" and not in_code:
                cells.append(current.strip())
                current = ""
            else:
                current += ch
        cells.append(current.strip())
        assert len(cells) == 2, f"a table row with {len(cells)} cells: {line}"
        code = re.fullmatch(r"`([^`]+)`", cells[1])
        assert code, f"the merx cell is not one code span: {cells[1]}"
        rows.append((section, cells[0], code.group(1)))
    return rows


TEXT = PAGE.read_text(encoding="utf-8")
CALLS = merx_calls(TEXT)


@pytest.fixture(scope="module")
def namespace():
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(setup_code(TEXT), ns)  # noqa: S102 - the page's own setup block
    return ns


def test_the_table_covers_the_r_packages():
    sections = {s for s, _, _ in CALLS}
    assert {"lme4", "lmerTest", "pbkrtest", "merTools", "lmeresampler", "nlme", "glmmTMB", "performance",
            "plm"} <= sections
    codes = " ".join(c for _, _, c in CALLS)
    for name in ("merx.lmer(", "merx.glmer(", "merx.ranova(", ".contest(", 'test="PB"', ".predict_interval(",
                 ".bootstrap(", ".profile(", ".confint(", ".simulate(", "merx.lme(", "merx.gls(",
                 "merx.varIdent(", "merx.varPower(", "merx.varExp(", "merx.corAR1(", "merx.corCAR1(",
                 "merx.corExp(", "merx.corCompSymm(", ".intervals(", "ziformula=", "dispformula=", "us(",
                 "diag(", "cs(", "ar1(", ".icc(", ".r2(", "merx.hausman("):
        assert name in codes, f"the table has no call of {name}"
    assert len(CALLS) >= 60


@pytest.mark.parametrize("section,r_call,code", CALLS, ids=[f"{s}:{c[:60]}" for s, _, c in CALLS])
def test_merx_call_runs(namespace, section, r_call, code):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of small examples are not the point here
        value = eval(code, dict(namespace))  # noqa: S307 - the page's own code
    assert value is not None, f"{code} returned None"
    assert str(value), f"{code} printed as an empty string"
