"""The README's Python examples run, and every output they show is what merx prints
(README numbers cannot drift from the code's)."""

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def examples(text: str) -> list:
    """(source, expected output) of every ``>>>`` statement of the ```python blocks, in order;
    ``...`` lines continue a statement."""
    out = []
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        current = None
        for line in block.split("\n"):
            if line.startswith(">>> "):
                if current:
                    out.append(current)
                current = [line[4:], []]
            elif line.startswith("... ") and current and not current[1]:
                current[0] += "\n" + line[4:]
            elif current is not None:
                current[1].append(line.rstrip())
        if current:
            out.append(current)
    return [(src, "\n".join(expected).strip("\n")) for src, expected in out]


EXAMPLES = examples(README.read_text(encoding="utf-8"))


def test_readme_has_examples_with_output():
    assert len(EXAMPLES) > 30 and sum(1 for _, e in EXAMPLES if e) >= 7


def test_readme_examples_print_what_they_show():
    namespace: dict = {}
    for src, expected in EXAMPLES:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(src, "README.md", "single"), namespace)  # noqa: S102 - the README's own code
        if expected:
            got = "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").split("\n"))
            assert got == expected, f"README example {src!r} prints:\n{got}\nbut the README shows:\n{expected}"
