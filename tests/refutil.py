"""Shared helpers for tests that compare with the lme4 reference fits in tests/reference."""

import glob
import json
import os

import pytest

from merx.datasets import read_csv_with_levels

HERE = os.path.dirname(__file__)
REF_DIR = os.path.join(HERE, "reference")
DATA_DIR = os.path.join(HERE, "data")


def load_ref(name: str) -> dict:
    with open(os.path.join(REF_DIR, f"{name}.json")) as fh:
        return json.load(fh)


def refs_of_kind(*kinds) -> list:
    out = []
    for path in sorted(glob.glob(os.path.join(REF_DIR, "*.json"))):
        with open(path) as fh:
            d = json.load(fh)
        if d.get("kind") in kinds:
            out.append(pytest.param(d, id=os.path.basename(path)[:-5]))
    return out


_cache: dict = {}


def ref_data(name: str):
    if name not in _cache:
        _cache[name] = read_csv_with_levels(
            os.path.join(DATA_DIR, f"{name}.csv.gz"), os.path.join(DATA_DIR, f"{name}.levels.json")
        )
    return _cache[name].copy()
