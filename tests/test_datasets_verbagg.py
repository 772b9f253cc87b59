"""The bundled VerbAgg data set (lme4 1.1-31): factors with lme4's level order,
identical to the shared copy it was taken from."""

import json
from pathlib import Path

import pandas as pd

from merx.datasets import list_examples, load_example

DATA = Path(__file__).resolve().parents[1] / "python" / "merx" / "data"
LEVELS = json.loads((DATA / "VerbAgg.levels.json").read_text())


def test_verbagg_listed():
    assert "VerbAgg" in list_examples()


def test_verbagg_shape_and_levels():
    df = load_example("VerbAgg")
    assert df.shape == (7584, 9)
    assert list(df.columns) == ["Anger", "Gender", "item", "resp", "id", "btype", "situ", "mode", "r2"]
    for col in ["Gender", "item", "resp", "id", "btype", "situ", "mode", "r2"]:
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        assert list(df[col].cat.categories) == [str(v) for v in LEVELS[col]], col
        assert not df[col].isna().any(), col
    assert df["Anger"].dtype.kind in "iu"
    assert len(df["id"].cat.categories) == 316
    assert len(df["item"].cat.categories) == 24
    # lme4's orders: the first level is the reference (r2: N = failure)
    assert list(df["r2"].cat.categories) == ["N", "Y"]
    assert list(df["Gender"].cat.categories) == ["F", "M"]
    assert list(df["btype"].cat.categories) == ["curse", "scold", "shout"]
    assert list(df["situ"].cat.categories) == ["other", "self"]
    assert list(df["mode"].cat.categories) == ["want", "do"]
    assert list(df["resp"].cat.categories) == ["no", "perhaps", "yes"]
    assert list(df["id"].cat.categories[:3]) == ["1", "2", "3"]   # numeric order, not "1", "10", ...
    assert df["item"].cat.categories[0] == "S1WantCurse"
    # a complete person x item design: 316 x 24 = 7584
    assert df.groupby(["id", "item"], observed=True).size().eq(1).all()


def test_verbagg_case_insensitive_and_r2_from_resp():
    df = load_example("verbagg")
    assert df.shape == (7584, 9)
    # r2 dichotomises resp: "no" -> N, "perhaps"/"yes" -> Y
    assert ((df["r2"] == "N") == (df["resp"] == "no")).all()
