"""Bundled example data sets (from R's lme4 package) and a CSV reader.

``load_example("sleepstudy")`` returns a pandas DataFrame in which every
column listed in ``<name>.levels.json`` is a pandas Categorical with R's level
order, so that models fitted on it match lme4's output exactly.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import DataError

__all__ = ["load_example", "list_examples", "read_data", "read_csv_with_levels", "example_models"]

_DATA_PACKAGE = "merx"
_SUFFIX = ".csv.gz"


def _data_dir():
    return resources.files(_DATA_PACKAGE).joinpath("data")


#: A model to start from for each bundled data set: (formula, command-line options).
_EXAMPLE_MODELS = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "--family binomial"),
    "gpa": ("gpa ~ occasion + (1 | student)", ""),
    "Grunfeld": ("inv ~ value + capital + (1 | firm)", ""),
    "InstEval": ("y ~ service + (1 | s) + (1 | d) + (1 | dept)", ""),
    "Penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", ""),
    "Salamanders": ("count ~ spp + mined + (1 | site)", "--family poisson"),
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", ""),
    "VerbAgg": ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "--family binomial"),
}


def example_models() -> dict:
    """``{name: (formula, command-line options)}``: a suggested model for every bundled data
    set (what ``python -m merx examples`` prints)."""
    return {name: _EXAMPLE_MODELS[name] for name in list_examples()}


def list_examples() -> list[str]:
    """Names of the bundled data sets (``['cbpp', 'InstEval', 'Penicillin', 'sleepstudy']``).

    Returns
    -------
    list of str
        The names, sorted case-insensitively.

    Raises
    ------
    OSError
        The package's data folder cannot be read (a broken installation).
    """
    names = []
    for entry in _data_dir().iterdir():
        if entry.name.endswith(_SUFFIX):
            names.append(entry.name[: -len(_SUFFIX)])
    return sorted(names, key=str.lower)


def read_csv_with_levels(csv_path, levels_path=None) -> pd.DataFrame:
    """Read a CSV file and make the columns named in the levels JSON file
    (``{"column": [level, ...]}``) pandas Categoricals with that level order."""
    levels = {}
    if levels_path is not None and Path(levels_path).exists():
        with open(levels_path, encoding="utf-8") as fh:
            levels = json.load(fh)
    dtypes = {col: str for col in levels}
    df = pd.read_csv(csv_path, dtype=dtypes, keep_default_na=True)
    for col, lv in levels.items():
        if col not in df.columns:
            continue
        lv = [str(x) for x in lv]
        values = df[col]
        unknown = set(values.dropna().unique()) - set(lv)
        if unknown:
            raise DataError(
                f"column {col!r} of {csv_path} has values {sorted(unknown)[:5]} that are not among its levels"
            )
        df[col] = pd.Categorical(values, categories=lv)
    return df


def load_example(name: str) -> pd.DataFrame:
    """Load a bundled data set by name (case-insensitive): sleepstudy,
    Penicillin, InstEval, VerbAgg, cbpp (lme4's contagious bovine pleuropneumonia data, a binomial
    GLMM example: ``incidence`` of ``size`` per ``herd`` and ``period``), gpa (students' grade
    point averages over six semesters, the longitudinal example of nlme's and glmmTMB's
    structures), Salamanders (glmmTMB's counts by ``site``, ``spp`` and ``mined``), Grunfeld (plm's
    investment panel of 10 firms over 20 years: ``inv``, ``value``, ``capital`` by ``firm``
    and ``year``, the example of :func:`merx.hausman`).

    Parameters
    ----------
    name : str
        The data set's name, case-insensitive.

    Returns
    -------
    pandas.DataFrame
        The data, factors as pandas Categoricals with R's level orders.

    Raises
    ------
    DataError
        No bundled data set of that name.
    """
    available = list_examples()
    match = {a.lower(): a for a in available}.get(str(name).lower())
    if match is None:
        raise DataError(f"no example data set named {name!r}; available: {', '.join(available)}")
    d = _data_dir()
    with resources.as_file(d.joinpath(match + _SUFFIX)) as csv_path, \
            resources.as_file(d.joinpath(match + ".levels.json")) as levels_path:
        return read_csv_with_levels(csv_path, levels_path)


def read_data(path) -> pd.DataFrame:
    """Read a CSV file for the command line (plain ``pandas.read_csv``; string
    columns stay strings and become factors with sorted levels in the model
    frame). A ``<stem>.levels.json`` next to the file, if present, sets level
    orders as in :func:`load_example`.

    Parameters
    ----------
    path : str or path-like
        The CSV file.

    Returns
    -------
    pandas.DataFrame
        The data.

    Raises
    ------
    DataError
        The file does not exist or cannot be read as CSV, or its levels file does not fit it.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {str(p)!r} does not exist")
    name = p.name
    stem = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else (name[:-4] if name.endswith(".csv") else p.stem)
    levels_path = p.with_name(stem + ".levels.json")
    try:
        if levels_path.exists():
            return read_csv_with_levels(p, levels_path)
        return pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {str(p)!r} as CSV: {e}") from None
