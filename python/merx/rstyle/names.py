"""R's names: ``abbreviate()``, ``make.names()``, ``make.unique()`` and how
``deparse()`` writes a name.

``abbreviate`` shortens the column names of the "Correlation of Fixed Effects"
table; ``make.names(unique = TRUE)`` names the ``VarCorr`` list elements when a
grouping factor has several terms (``Subject``, ``Subject.1``);
:func:`deparse_name` quotes a non-syntactic name in backticks (deparsed
formulas, the ``$name`` tags of a printed list).
"""

from __future__ import annotations

import functools
import re
from typing import Sequence

__all__ = ["abbreviate", "make_names", "make_unique", "deparse_name"]


def _stripchars(s: str, minlen: int) -> str:
    """R's C-level ``stripchars`` (abbreviate with use.classes = TRUE), ASCII."""
    b = list(s)
    if len(b) < minlen:
        return s

    def first_char(i: int) -> bool:
        return b[i - 1].isspace()

    def last_char(i: int) -> bool:
        return (not b[i - 1].isspace()) and (i + 1 >= len(b) or b[i + 1].isspace())

    def is_lc_vowel(i: int) -> bool:
        return b[i] in "aeiou"

    def done() -> bool:
        return len(b) - nspace <= minlen

    nspace = 0
    # record spaces for removal later (trailing spaces are dropped)
    j = True
    for i in range(len(b) - 1, 0, -1):
        if b[i].isspace():
            if j:
                del b[i:]
            else:
                nspace += 1
        else:
            j = False
        if done():
            return _finish(b, minlen)

    passes = [
        lambda i: is_lc_vowel(i) and last_char(i),
        lambda i: is_lc_vowel(i) and not first_char(i),
        lambda i: b[i].islower() and last_char(i),
        lambda i: b[i].islower() and not first_char(i),
        lambda i: (not first_char(i)) and not b[i].isspace(),
    ]
    for test in passes:
        i = len(b) - 1
        while i > 0:
            if i < len(b) and test(i):
                del b[i]
            if done():
                return _finish(b, minlen)
            i -= 1
    return _finish(b, minlen)


def _finish(b: list, minlen: int) -> str:
    if len(b) > minlen:
        for i in range(len(b) - 1, 0, -1):
            if b[i].isspace():
                del b[i]
    return "".join(b)


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method "left.kept", use.classes = TRUE)."""
    if minlength <= 0:
        return ["" for _ in names]
    names = [re.sub(r"^ +", "", re.sub(r" +$", "", str(n))) for n in names]
    old = list(names)
    uniq: list[str] = []
    for n in names:
        if n not in uniq:
            uniq.append(n)
    x = list(uniq)
    dup2 = [True] * len(uniq)
    these = list(uniq)
    ml = minlength
    while True:
        ans = [_stripchars(t, ml) if len(t) > ml else t for t in these]
        k = 0
        for i in range(len(x)):
            if dup2[i]:
                x[i] = ans[k]
                k += 1
        seen: set = set()
        dup_flags = []
        for v in x:
            dup_flags.append(v in seen)
            seen.add(v)
        if not any(dup_flags):
            break
        ml += 1
        dupvals = {x[i] for i in range(len(x)) if dup_flags[i]}
        dup2 = [dup_flags[i] or (x[i] in dupvals) for i in range(len(x))]
        these = [uniq[i] for i in range(len(x)) if dup2[i]]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in old]


_R_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
    "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in",
}


_SYNTACTIC = re.compile(r"^(?:[^\W\d_]|\.(?![0-9]))[\w.]*$|^\.$")


@functools.lru_cache(maxsize=4096)  # (a pure function of the text: the model frame deparses the same names often)
def deparse_name(name: str) -> str:
    """A name as R's ``deparse()`` writes it: as is when syntactic, else in backticks."""
    if _SYNTACTIC.match(name) and name not in _R_RESERVED:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def make_names(names: Sequence[str], unique: bool = False) -> list[str]:
    """R's ``make.names(names, unique)``."""
    out = []
    for n in names:
        s = re.sub(r"[^A-Za-z0-9._]", ".", str(n))
        if not s or not (s[0].isalpha() or (s[0] == "." and not (len(s) > 1 and s[1].isdigit()))):
            s = "X" + s
        if s in _R_RESERVED:
            s = s + "."
        out.append(s)
    if unique:
        out = make_unique(out)
    return out


def make_unique(names: Sequence[str], sep: str = ".") -> list[str]:
    """R's ``make.unique``."""
    out = list(names)
    seen = set()
    counts: dict = {}
    taken = set(out)
    for i, n in enumerate(out):
        if n in seen:
            cnt = counts.get(n, 0)
            while True:
                cnt += 1
                cand = f"{n}{sep}{cnt}"
                if cand not in taken:
                    break
            counts[n] = cnt
            out[i] = cand
            taken.add(cand)
            seen.add(cand)
        else:
            seen.add(n)
    return out

