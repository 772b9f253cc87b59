"""LmerResult accessors and lme4-exact printing, checked against lme4 1.1-31 output.

The fits are rebuilt from the reference JSON files (what lme4 estimated) on
top of the real model frame built from ``tests/data/<dataset>.csv.gz``, so
these tests check the Python result layer on its own: accessors must agree
with lme4's values and the printed text must equal lme4's line by line.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
try:  # the package is normally installed (maturin develop); fall back to the source tree
    import merx  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(ROOT / "python"))

from merx import _core  # noqa: E402
from merx.datasets import read_csv_with_levels  # noqa: E402
from merx.errors import DataError, MerxError  # noqa: E402
from merx.formula.deparse_lines import deparse_lines, formula_lines  # noqa: E402
from merx.formula.grammar import parse_expression  # noqa: E402
from merx.frame.model_frame import build_model_frame  # noqa: E402
from merx.results.lmer import LmerResult  # noqa: E402
from merx.rstyle.matrices import cat_fill, print_matrix  # noqa: E402
from merx.rstyle.names import abbreviate, make_names  # noqa: E402
from merx.rstyle.numbers import format_real, quantile7, r_round, zapsmall  # noqa: E402
from refutil import ref_modes  # noqa: E402

REF = ROOT / "tests" / "reference"
PRINTED = REF / "printed"
DATA = ROOT / "tests" / "data"

LMER_REFS = sorted(
    p.stem
    for p in REF.glob("*.json")
    if json.loads(p.read_text()).get("kind") == "lmer" and not json.loads(p.read_text()).get("vectors_truncated")
)


def _ref(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def _data(dataset: str) -> pd.DataFrame:
    return read_csv_with_levels(DATA / f"{dataset}.csv.gz", DATA / f"{dataset}.levels.json")


def fit_from_reference(name: str, data_name: str | None = None) -> tuple[LmerResult, dict]:
    """An LmerResult holding lme4's estimates for reference ``name``."""
    d = _ref(name)
    frame = build_model_frame(d["formula"], _data(d["dataset"]))
    assert frame.x_names == d["X_colnames"]
    assert [(b.group, b.columns) for b in frame.blocks] == [(t["grp"], t["columns"]) for t in d["re_terms"]]
    reml = bool(d["call"]["REML"])
    b_list, cv_list = ref_modes(d, frame)
    cmp = d["devcomp"]["cmp"]
    fit = _core.MixedModelFit(**{
        "theta": np.array(list(d["theta"].values()), dtype=float),
        "beta": np.array([d["fixef"][k] for k in d["X_colnames"]]),
        "u": np.zeros(d["Z_ncol"]),
        "b": b_list,
        "condvar": cv_list,
        "vcov_beta": np.array(d["vcov"]["matrix"]),
        "sigma": d["sigma"],
        "objective": d["REMLcrit"] if reml else d["deviance"],
        "deviance_ml": d["deviance_ML_at_REML_estimates"] if reml else d["deviance"],
        "reml_criterion": d["REMLcrit"] if reml else _reml_criterion_from_devcomp(d),
        "ld_l2": cmp["ldL2"],
        "ld_rx2": cmp["ldRX2"],
        "pwrss": cmp["pwrss"],
        "wrss": cmp["wrss"],
        "ussq": cmp["ussq"],
        "fitted": np.array(d["fitted"]),
        "n_eval": d["optinfo"]["feval"],
        "converged": True,
        "message": d["optinfo"]["message"],
        "optimizer": "nloptwrap",
        "reml": reml,
    })
    np.testing.assert_allclose(frame.y, np.array(d["fitted"]) + np.array(d["residuals"]), rtol=1e-12, atol=1e-9)
    return LmerResult(frame, fit, data_name=data_name), d


def _reml_criterion_from_devcomp(d) -> float:
    """lme4's REML criterion from the deviance components (for ML fits, where the JSON has none)."""
    cmp = d["devcomp"]["cmp"]
    n, p = d["nobs"], len(d["X_colnames"])
    return cmp["ldL2"] + cmp["ldRX2"] + (n - p) * (1 + math.log(2 * math.pi * cmp["pwrss"]) - math.log(n - p))


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _assert_same_text(got: str, want: str, ignore_data_line: bool = True) -> None:
    g, w = _lines(got), _lines(want)
    if ignore_data_line:
        g = [ln for ln in g if not ln.startswith("   Data:")]
        w = [ln for ln in w if not ln.startswith("   Data:")]
    assert len(g) == len(w), "\n".join(g)
    for i, (a, b) in enumerate(zip(g, w)):
        assert a == b, f"line {i + 1}:\n got: {a!r}\nwant: {b!r}"


# ---------------------------------------------------------------------------
# printed output == lme4, line by line
# ---------------------------------------------------------------------------

SUMMARIES = [
    ("sleepstudy_reml", "sleepstudy_reml_summary", "ss"),
    ("sleepstudy_ml", "sleepstudy_ml_summary", "ss"),
    ("penicillin", "penicillin_summary", "pen"),
    ("pupils_crossed", "pupils_crossed_summary", "pu"),
    ("dyestuff2_singular", "dyestuff2_singular_summary", "d2"),
]


@pytest.mark.parametrize("name,printed,data_name", SUMMARIES)
def test_summary_matches_lme4(name, printed, data_name):
    res, _ = fit_from_reference(name, data_name=data_name)
    want = (PRINTED / f"{printed}.txt").read_text()
    got = str(res.summary(ddf="lme4")) + "\n"  # str() drops the final newline, as print() adds it back
    _assert_same_text(got, want)
    assert got == want  # the Data: line too, since the data names are lme4's


def test_summary_data_line_is_the_only_free_line():
    res, _ = fit_from_reference("penicillin", data_name="Penicillin")
    want = (PRINTED / "penicillin_summary.txt").read_text()
    got = str(res.summary(ddf="lme4")) + "\n"
    _assert_same_text(got, want, ignore_data_line=True)
    assert "   Data: Penicillin" in got.split("\n")


def test_print_matches_lme4():
    res, _ = fit_from_reference("sleepstudy_reml", data_name="ss")
    assert str(res) + "\n" == (PRINTED / "sleepstudy_reml_print.txt").read_text()
    assert repr(res) == str(res)


def test_varcorr_print_matches_lme4():
    res, _ = fit_from_reference("sleepstudy_reml")
    assert str(res.VarCorr) + "\n" == (PRINTED / "sleepstudy_reml_varcorr.txt").read_text()


def test_ranef_print_matches_lme4():
    res, _ = fit_from_reference("sleepstudy_reml")
    assert str(res.ranef()) + "\n" == (PRINTED / "sleepstudy_reml_ranef.txt").read_text()


def test_lme4_blocks_of_lmertest_summary():
    """lmerTest prints lme4's residual, random-effects and correlation blocks unchanged."""
    res, _ = fit_from_reference("machines_slopes")
    want = (PRINTED / "machines_slopes_lmerTest_summary.txt").read_text().split("\n")
    got = (str(res.summary()) + "\n").split("\n")

    def block(lines, start, stop):
        i = lines.index(start)
        j = lines.index(stop, i)
        return lines[i:j]

    assert block(got, "Scaled residuals: ", "Fixed effects:") == block(want, "Scaled residuals: ", "Fixed effects:")
    i, j = got.index("Correlation of Fixed Effects:"), want.index("Correlation of Fixed Effects:")
    assert got[i:] == want[j:]


def test_ml_print_aic_table():
    res, d = fit_from_reference("sleepstudy_ml", data_name="ss")
    lines = str(res).split("\n")
    assert lines[0] == "Linear mixed model fit by maximum likelihood  ['lmerMod']"
    assert lines[3] == "      AIC       BIC    logLik  deviance  df.resid "
    assert lines[4] == "1763.9393 1783.0971 -875.9697 1751.9393       174 "


def test_singular_fit_warning_lines():
    res, _ = fit_from_reference("dyestuff2_singular", data_name="d2")
    # print(): the one-line summary of the warnings, as lme4's .prt.warn(summary = TRUE)
    assert str(res).split("\n")[-1] == (
        "optimizer (nloptwrap) convergence code: 0 (OK) ; 0 optimizer warnings; 1 lme4 warnings "
    )
    # a regular fit prints no warning lines
    res2, _ = fit_from_reference("penicillin")
    assert not any("convergence code" in ln for ln in str(res2.summary()).split("\n"))
    assert str(res2).split("\n")[-1].strip() == "22.97"


def test_long_formula_wraps_as_deparse_and_cat():
    res, _ = fit_from_reference("nurses_nested_slash", data_name="nu")
    lines = str(res.summary(ddf="lme4")).split("\n")
    assert lines[1] == "Formula: stress ~ age + sex + experience + treatment + wardtype + hospsize +  "
    assert lines[2] == "    (1 | hospital/ward)"
    res, _ = fit_from_reference("pupils_crossed")
    assert str(res).split("\n")[1:3] == [
        "Formula: ",
        "achievement ~ sex + ses + (1 | primary_school_id) + (1 | secondary_school_id)",
    ]


def test_double_bar_formula_printed_expanded():
    res, _ = fit_from_reference("sleepstudy_uncorr", data_name="ss")
    lines = str(res.summary(ddf="lme4")).split("\n")
    assert lines[1] == "Formula: Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"
    # two terms on one grouping factor: lme4 names them Subject and Subject.1
    assert " Subject   (Intercept) 627.57   25.051  " in lines
    assert " Subject.1 Days         35.86    5.988  " in lines


def test_correlation_matrix_hidden_above_12_coefficients_and_on_request():
    res, _ = fit_from_reference("sleepstudy_reml")
    assert "Correlation of Fixed Effects:" not in str(res.summary(correlation=False))
    assert "Correlation of Fixed Effects:" in str(res.summary(correlation=True))


# ---------------------------------------------------------------------------
# accessors == lme4 values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", LMER_REFS)
def test_accessors_agree_with_lme4(name):
    res, d = fit_from_reference(name)
    # fixed effects and their covariance
    assert list(res.fixef.index) == d["X_colnames"]
    np.testing.assert_allclose(res.fixef.to_numpy(), [d["fixef"][k] for k in d["X_colnames"]], rtol=1e-12)
    np.testing.assert_allclose(res.vcov.to_numpy(), np.array(d["vcov"]["matrix"]), rtol=1e-12)
    # theta with lme4's names and bounds
    assert list(res.theta.index) == list(d["theta"])
    np.testing.assert_allclose(res.theta.to_numpy(), list(d["theta"].values()), rtol=1e-12)
    want_lower = [-math.inf if v is None else v for v in d["theta_lower"].values()]
    assert list(res.theta_lower) == want_lower
    assert res.is_singular == d["isSingular"]
    # likelihood summaries
    assert res.nobs == d["nobs"]
    assert res.df == d["logLik_df"]
    assert res.df_residual == d["df_residual"]
    assert res.logLik == pytest.approx(d["logLik"], rel=1e-12)
    assert res.AIC == pytest.approx(d["AIC"], rel=1e-12)
    assert res.BIC == pytest.approx(d["BIC"], rel=1e-12)
    if d["call"]["REML"]:
        assert res.REMLcrit == pytest.approx(d["REMLcrit"], rel=1e-12)
        assert res.deviance == pytest.approx(d["deviance_ML_at_REML_estimates"], rel=1e-12)
    else:
        assert res.deviance == pytest.approx(d["deviance"], rel=1e-12)
    assert res.sigma == pytest.approx(d["sigma"], rel=1e-12)
    assert res.ngrps == d["ngrps"]
    # variance components in lme4's as.data.frame(VarCorr()) layout and order
    vc = res.VarCorr.to_frame()
    want = pd.DataFrame(d["varcorr"])
    assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert vc["grp"].tolist() == want["grp"].tolist()
    assert vc["var1"].tolist() == want["var1"].tolist()
    assert vc["var2"].tolist() == want["var2"].tolist()
    np.testing.assert_allclose(vc["vcov"], want["vcov"].astype(float), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(vc["sdcor"], want["sdcor"].astype(float), rtol=1e-9, atol=1e-12)
    # conditional modes and SDs
    ranef = res.ranef()
    assert list(ranef) == list(d["ranef"])
    for g, r in d["ranef"].items():
        df = ranef[g]
        assert list(df.columns) == r["columns"] and list(df.index) == r["levels"]
        want_vals = np.array([[r["values"][lv][c] for c in r["columns"]] for lv in r["levels"]])
        want_sd = np.array([[r["condsd"][lv][c] for c in r["columns"]] for lv in r["levels"]])
        np.testing.assert_allclose(df.to_numpy(), want_vals, rtol=1e-12)
        np.testing.assert_allclose(res.ranef_condsd[g].to_numpy(), want_sd, rtol=1e-12)
        np.testing.assert_allclose(ranef.condsd[g].to_numpy(), want_sd, rtol=1e-12)
    # fitted values and residuals
    np.testing.assert_allclose(res.fitted, d["fitted"], rtol=1e-12)
    np.testing.assert_allclose(res.residuals(), d["residuals"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.residuals("pearson"), d["residuals_pearson"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.residuals("pearson", scaled=True), np.array(d["residuals_pearson"]) / d["sigma"],
                               rtol=1e-9, atol=1e-9)
    # predictions without newdata
    p5 = d["predict_first5"]
    np.testing.assert_allclose(res.predict().iloc[p5["rows0"]], p5["re_form_NULL"], rtol=1e-12)
    np.testing.assert_allclose(res.predict(re_form=np.nan).iloc[p5["rows0"]], p5["re_form_NA"], rtol=1e-10)


@pytest.mark.parametrize("name", LMER_REFS)
def test_coef_is_fixef_plus_ranef(name):
    res, d = fit_from_reference(name)
    fe, re_ = res.fixef, res.ranef()
    coef = res.coef
    assert list(coef) == list(re_)
    for g, df in coef.items():
        assert list(df.index) == list(re_[g].index)
        assert list(df.columns) == [c for c in re_[g].columns if c not in fe.index] + list(fe.index)
        for c in df.columns:
            base = fe[c] if c in fe.index else 0.0
            add = re_[g][c].to_numpy() if c in re_[g].columns else 0.0
            np.testing.assert_allclose(df[c].to_numpy(), base + add, rtol=1e-12)


def test_theta_names_for_three_by_three_block():
    res, _ = fit_from_reference("machines_slopes")
    assert list(res.theta.index) == [
        "Worker.(Intercept)",
        "Worker.MachineB.(Intercept)",
        "Worker.MachineC.(Intercept)",
        "Worker.MachineB",
        "Worker.MachineC.MachineB",
        "Worker.MachineC",
    ]
    # covariance of the block is sigma^2 T T' with T filled column-wise from theta
    th = res.theta.to_numpy()
    T = np.array([[th[0], 0, 0], [th[1], th[3], 0], [th[2], th[4], th[5]]])
    np.testing.assert_allclose(res.VarCorr["Worker"].to_numpy(), res.sigma**2 * T @ T.T, rtol=1e-12)


def test_ranef_tidy_frame():
    res, d = fit_from_reference("sleepstudy_reml")
    tidy = res.ranef().to_frame()
    assert list(tidy.columns) == ["grp", "term", "level", "condval", "condsd"]
    assert len(tidy) == 36
    assert tidy["term"].tolist() == ["(Intercept)"] * 18 + ["Days"] * 18
    row = tidy[(tidy.level == "309") & (tidy.term == "Days")].iloc[0]
    assert row.condval == pytest.approx(d["ranef"]["Subject"]["values"]["309"]["Days"])
    assert row.condsd == pytest.approx(d["ranef"]["Subject"]["condsd"]["309"]["Days"])


def test_split_terms_merge_in_ranef_and_coef():
    res, d = fit_from_reference("sleepstudy_split")
    assert list(res.ranef()) == ["Subject"]
    assert list(res.ranef()["Subject"].columns) == ["(Intercept)", "Days"]
    assert res.VarCorr.keys() == ["Subject", "Subject.1"]
    assert list(res.coef["Subject"].columns) == ["(Intercept)", "Days"]


def test_tidy_is_wald_normal_interval():
    res, d = fit_from_reference("sleepstudy_reml")
    t = res.tidy(ddf="lme4")
    assert list(t.columns) == ["term", "estimate", "std_error", "statistic", "conf_low", "conf_high"]
    rows = d["confint_wald"]["rows"]
    for _, r in t.iterrows():
        assert r.conf_low == pytest.approx(rows[r.term][0], rel=1e-10)
        assert r.conf_high == pytest.approx(rows[r.term][1], rel=1e-10)
        assert r.std_error == pytest.approx(d["se"][r.term], rel=1e-10)
        assert r.statistic == pytest.approx(d["tvalue"][r.term], rel=1e-10)


def test_variance_components_table():
    res, d = fit_from_reference("penicillin")
    vc = res.variance_components()
    assert vc["group"].tolist() == ["plate", "sample", "Residual"]
    want = [r["vcov"] for r in d["varcorr"]]
    np.testing.assert_allclose(vc["variance"], want, rtol=1e-9)
    np.testing.assert_allclose(vc["sd"], np.sqrt(want), rtol=1e-9)
    assert vc["var_prop"].sum() == pytest.approx(1.0)
    assert vc["var_prop"].iloc[1] == pytest.approx(want[1] / sum(want))


def test_singular_and_optinfo():
    res, _ = fit_from_reference("dyestuff2_singular")
    assert res.is_singular and res.isSingular()
    assert res.optinfo["lme4_messages"] == ["boundary (singular) fit: see help('isSingular')"]
    assert res.converged
    res2, _ = fit_from_reference("dyestuff")
    assert not res2.is_singular and res2.optinfo["lme4_messages"] == []


def test_deviance_and_remlcrit_of_ml_fit():
    """REMLcrit of an ML fit is the REML criterion at the ML estimates (lme4's devCrit), and
    deviance of a REML fit the ML deviance at the REML estimates: both come from the core."""
    import merx
    from refutil import ref_data

    d = _ref("sleepstudy_ml")
    ml = merx.lmer(d["formula"], ref_data("sleepstudy"), REML=False, start=list(d["theta"].values()), optimize=False)
    assert ml.deviance == pytest.approx(d["deviance"], rel=1e-10)
    assert ml.REMLcrit == pytest.approx(_reml_criterion_from_devcomp(d), rel=1e-10)
    d2 = _ref("sleepstudy_reml")
    reml = merx.lmer(d2["formula"], ref_data("sleepstudy"), start=list(d2["theta"].values()), optimize=False)
    assert reml.deviance == pytest.approx(d2["deviance_ML_at_REML_estimates"], rel=1e-10)


# ---------------------------------------------------------------------------
# predict with newdata
# ---------------------------------------------------------------------------


def test_predict_newdata():
    res, d = fit_from_reference("sleepstudy_reml")
    data = _data("sleepstudy")
    new = data.iloc[:5]
    np.testing.assert_allclose(res.predict(new), d["predict_first5"]["re_form_NULL"], rtol=1e-10)
    np.testing.assert_allclose(res.predict(new, re_form="~0"), d["predict_first5"]["re_form_NA"], rtol=1e-10)
    np.testing.assert_allclose(res.predict(new, re_form="NA"), d["predict_first5"]["re_form_NA"], rtol=1e-10)
    np.testing.assert_allclose(res.predict(new, re_form="~(Days | Subject)"), d["predict_first5"]["re_form_NULL"],
                               rtol=1e-10)
    np.testing.assert_allclose(res.predict(data), res.fitted, rtol=1e-10)


def test_predict_new_levels():
    res, d = fit_from_reference("sleepstudy_reml")
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "999"], "Reaction": [0.0, 0.0]})
    with pytest.raises(DataError) as ei:
        res.predict(new)
    msg = str(ei.value)
    assert "Subject" in msg and "999" in msg and "allow_new_levels=True" in msg
    got = res.predict(new, allow_new_levels=True)
    fe = res.fixef
    b308 = res.ranef()["Subject"].loc["308"]
    assert got.iloc[0] == pytest.approx(fe["(Intercept)"] + b308["(Intercept)"])
    assert got.iloc[1] == pytest.approx(fe["(Intercept)"] + 5 * fe["Days"])  # population level for the new subject


def test_predict_missing_group_gives_nan_and_interaction_levels():
    res, _ = fit_from_reference("nurses_nested_slash")
    data = _data("nurses")
    new = data.iloc[:3].copy()
    np.testing.assert_allclose(res.predict(new), res.fitted.iloc[:3], rtol=1e-10)
    new["ward"] = new["ward"].astype(object)
    new.loc[new.index[1], "ward"] = None
    got = res.predict(new)
    assert np.isnan(got.iloc[1]) and np.isfinite(got.iloc[[0, 2]]).all()
    new.loc[new.index[2], "hospital"] = 999
    with pytest.raises(DataError, match=r"ward:hospital.*allow_new_levels=True"):
        res.predict(new)
    got = res.predict(new, allow_new_levels=True)
    # row 2: neither the ward:hospital nor the hospital level is known -> population level
    np.testing.assert_allclose(got.iloc[2], res.predict(new, re_form="~0").iloc[2], rtol=1e-12)


def test_weights_enter_pearson_residuals_and_call_lines():
    res, d = fit_from_reference("sleepstudy_reml", data_name="ss")
    w = np.linspace(0.5, 2.0, res.nobs)
    res.frame.weights = w
    res.weights_name = "w"
    r = np.asarray(d["residuals"])
    np.testing.assert_allclose(res.residuals("pearson"), np.sqrt(w) * r, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.residuals(), r, rtol=1e-9, atol=1e-9)
    lines = str(res.summary(ddf="lme4")).split("\n")
    assert lines[2:4] == ["   Data: ss", "Weights: w"]
    res.offset_name = "off"
    assert str(res).split("\n")[2:5] == ["   Data: ss", "Weights: w", " Offset: off"]


def test_predict_bad_re_form():
    res, _ = fit_from_reference("sleepstudy_reml")
    with pytest.raises(MerxError, match="not in the model"):
        res.predict(re_form="~(1 | Nope)")
    with pytest.raises(MerxError, match="not understood"):
        res.predict(re_form="~ Days")


def test_predict_re_form_subset_of_crossed_terms():
    res, d = fit_from_reference("penicillin")
    plate_only = res.predict(re_form="~(1 | plate)")
    frame = res.frame
    blk = frame.blocks[0]
    assert blk.group == "plate"
    want = res.fixef.iloc[0] + res.ranef()["plate"]["(Intercept)"].to_numpy()[blk.codes]
    np.testing.assert_allclose(plate_only, want, rtol=1e-12)


# ---------------------------------------------------------------------------
# end to end with the Rust core's fit dict
# ---------------------------------------------------------------------------


def _num(tok: str):
    try:
        return float(tok)
    except ValueError:
        return None


def _assert_text_close(got: str, want: str, rtol: float = 2e-3, atol: float = 2e-4) -> None:
    """Same lines and words as lme4's text; numbers equal up to the optimizer's tolerance."""
    g = [ln for ln in got.split("\n") if not ln.startswith("   Data:")]
    w = [ln for ln in want.split("\n") if not ln.startswith("   Data:")]
    assert len(g) == len(w), got
    for a, b in zip(g, w):
        ta, tb = a.split(), b.split()
        assert len(ta) == len(tb), f"got: {a!r}\nwant: {b!r}"
        for x, y in zip(ta, tb):
            nx, ny = _num(x), _num(y)
            if nx is None or ny is None:
                assert x == y, f"got: {a!r}\nwant: {b!r}"
            else:
                assert abs(nx - ny) <= atol + rtol * abs(ny), f"got: {a!r}\nwant: {b!r}"


@pytest.mark.parametrize("name,printed", [(n, p) for n, p, _ in SUMMARIES])
def test_summary_from_rust_fit(name, printed):
    """LmerResult on the typed fit of ``LinearMixedModel.fit()``: lme4's layout, lme4's numbers
    up to the optimizer tolerance (the last printed digit may differ); the
    warning line names the optimizer the core reports."""
    from merx import _core

    d = _ref(name)
    frame = build_model_frame(d["formula"], _data(d["dataset"]))
    reml = bool(d["call"]["REML"])
    terms = [(b.codes, len(b.levels), np.asarray(b.Z, dtype=float), b.covariance) for b in frame.blocks]
    problem = _core.LinearMixedModel(np.asarray(frame.X, dtype=float), frame.y, terms, reml=reml)
    fit = problem.fit()
    assert fit.reml == reml
    res = LmerResult(frame, fit, data_name="x", problem=problem)
    want = (PRINTED / f"{printed}.txt").read_text().replace("optimizer (nloptwrap)", f"optimizer ({fit.optimizer})")
    _assert_text_close(str(res.summary(ddf="lme4")) + "\n", want)
    _assert_text_close(str(res.VarCorr), str(fit_from_reference(name)[0].VarCorr))
    np.testing.assert_allclose(res.predict(_data(d["dataset"])), res.fitted, rtol=1e-10)
    assert res.objective == pytest.approx(d["REMLcrit"] if reml else d["deviance"], rel=1e-7)
    back = pickle.loads(pickle.dumps(res))
    assert back._problem is None and str(back) == str(res)


# ---------------------------------------------------------------------------
# pickling
# ---------------------------------------------------------------------------


def test_pickle_roundtrip_drops_problem():
    res, _ = fit_from_reference("sleepstudy_reml", data_name="ss")
    res._problem = object()  # stands in for the (unpicklable) Rust problem
    back = pickle.loads(pickle.dumps(res))
    assert back._problem is None
    assert str(back) == str(res)
    assert str(back.summary()) == str(res.summary())
    pd.testing.assert_series_equal(back.fixef, res.fixef)
    pd.testing.assert_series_equal(back.theta, res.theta)
    back_re = pickle.loads(pickle.dumps(res.ranef()))
    pd.testing.assert_frame_equal(back_re["Subject"], res.ranef()["Subject"])
    pd.testing.assert_frame_equal(back_re.condsd["Subject"], res.ranef().condsd["Subject"])


# ---------------------------------------------------------------------------
# R formatting primitives
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values,digits,nsmall,want",
    [
        # examples read off the lme4 reference output above
        ([612.1001580247688, 35.07171445093885, 654.9400082599608], 4, 0, ["612.10", " 35.07", "654.94"]),
        ([24.740657994984062, 5.922137658898081, 25.59179572167535], 5, 0, ["24.7407", " 5.9221", "25.5918"]),
        ([0.0, 13.806309627586206], 4, 0, [" 0.00", "13.81"]),
        ([0.173163, 0.066024, 0.473122], 4, 0, ["0.17316", "0.06602", "0.47312"]),
        ([0.41613, 0.25695, 0.68784], 4, 0, ["0.4161", "0.2570", "0.6878"]),
        ([1763.9, 1783.1, -876.0, 1751.9, 174.0], 7, 0, ["1763.9", "1783.1", "-876.0", "1751.9", " 174.0"]),
        ([1.0, -0.138], 7, 3, [" 1.000", "-0.138"]),
        # R switches to scientific when that is narrower
        ([1.47e-09], 7, 0, ["1.47e-09"]),
        ([123456789012.0], 7, 0, ["123456789012"]),  # fixed is as wide as scientific: fixed
        ([1234567890123.0], 7, 0, ["1.234568e+12"]),
        ([100000.0], 7, 0, ["1e+05"]),
        ([123456.0], 7, 0, ["123456"]),
        ([0.1 + 0.2], 7, 0, ["0.3"]),
        ([-0.0], 7, 3, ["0.000"]),
        ([float("nan"), 1.5], 7, 0, ["NaN", "1.5"]),
    ],
)
def test_format_real(values, digits, nsmall, want):
    got = format_real(values, digits, nsmall)
    assert [g.strip() for g in got] == [w.strip() for w in want]
    assert len({len(g) for g in got}) == 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False).filter(
            lambda v: v == 0 or abs(v) > 1e-6
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_format_real_properties(values, digits):
    out = format_real(values, digits)
    assert len({len(s) for s in out}) == 1  # common width
    decimals = {len(s.strip().split(".")[1]) if "." in s and "e" not in s else None for s in out}
    assert len(decimals) == 1  # common number of decimals
    for v, s in zip(values, out):
        back = float(s)
        if v == 0:
            assert back == 0
            continue
        # every element shows at least min(digits, 15) significant digits (up to rounding)
        assert abs(back - v) <= 0.5 * 10 ** (math.floor(math.log10(abs(v))) - digits + 1) * (1 + 1e-6) + 1e-300


def test_round_and_zapsmall_follow_r():
    assert r_round(2.5) == 2.0 and r_round(3.5) == 4.0
    assert r_round(0.15, 1) == 0.1  # 0.15 is stored below the tie in binary, R gives 0.1
    assert r_round(2.675, 2) == 2.67
    assert r_round(1234.5678, -2) == 1200.0
    # zapsmall(digits - log10(max)): fractional digits are rounded to the nearest integer
    assert zapsmall([5.18, 0.02311766], 5) == [5.18, 0.0231]
    assert zapsmall([2.98, 0.06292216], 5) == [2.98, 0.06292]


def test_quantile_type7():
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    np.testing.assert_allclose(quantile7(x), np.quantile(x, [0, 0.25, 0.5, 0.75, 1.0]), rtol=1e-15)
    assert quantile7([7.0]) == [7.0] * 5


@pytest.mark.parametrize(
    "names,minlength,want",
    [
        (["(Intercept)", "Days"], 6, ["(Intr)", "Days"]),
        (
            ["(Intercept)", "sexfemale", "ses2", "ses3", "ses4", "ses5", "seshighest"],
            6,
            ["(Intr)", "sexfml", "ses2", "ses3", "ses4", "ses5", "sshghs"],
        ),
        (["MachineB", "MachineC", "period2"], 6, ["MachnB", "MachnC", "perid2"]),
        (["treatmentTraining", "wardtypespecial care", "hospsizemedium"], 11, ["trtmntTrnng", "wrdtypspclc", "hospsizemdm"]),
        # duplicates after abbreviation get longer abbreviations (R's repeat loop)
        (["abcdefgh1", "abcdefgh2"], 4, ["abc1", "abc2"]),
    ],
)
def test_abbreviate(names, minlength, want):
    assert abbreviate(names, minlength) == want


def test_make_names_unique():
    assert make_names(["Subject", "Subject"], unique=True) == ["Subject", "Subject.1"]
    assert make_names(["ward:hospital", "hospital", "hospital"], unique=True) == [
        "ward.hospital",
        "hospital",
        "hospital.1",
    ]


def test_cat_fill_wraps_at_80_columns():
    assert cat_fill(["Formula:", "y ~ x"]) == ["Formula: y ~ x"]
    long = "a" * 75
    assert cat_fill(["Formula:", long]) == ["Formula: ", long]


def test_deparse_line_breaking():
    short = parse_expression("y~x+(1|g)")
    assert deparse_lines(short) == ["y ~ x + (1 | g)"]
    long = parse_expression("yy ~ aaaaaaaaaa + bbbbbbbbbb + cccccccccc + dddddddddd + eeeeeeeeee + ffffffffff + g")
    lines = deparse_lines(long)
    assert lines == ["yy ~ aaaaaaaaaa + bbbbbbbbbb + cccccccccc + dddddddddd + eeeeeeeeee + ", "    ffffffffff + g"]
    assert formula_lines("y ~ x + (x || g)") == ["y ~ x + ((1 | g) + (0 + x | g))"]
    assert formula_lines("y~log(x)+(1|a/b)") == ["y ~ log(x) + (1 | a/b)"]


def test_print_matrix_splits_wide_tables():
    cells = [["x" * 30] * 4]
    lines = print_matrix(cells, ["r"], ["a", "b", "c", "d"])
    assert len(lines) == 4  # two column blocks of header + one row
    assert all(len(ln) < 80 for ln in lines)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "merx", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_examples():
    r = _run_cli("examples")
    assert r.returncode == 0
    assert set(r.stdout.split()) >= {"sleepstudy", "Penicillin", "InstEval", "gpa", "Salamanders"}
    assert "sleepstudy   Reaction ~ Days + (Days | Subject)" in r.stdout.split("\n")


@pytest.mark.parametrize("name", merx.datasets.list_examples())
def test_every_suggested_example_model_fits(name):
    """Each bundled data set's suggested model fits from the command line's arguments."""
    formula, options = merx.datasets.example_models()[name]
    data = merx.load_example(name)
    if name == "InstEval":
        data = data[data["d"].cat.codes < 200]  # the model, on a slice: fast enough for the suite
    if options:
        m = merx.glmer(formula, data, family=options.split()[1])
    else:
        m = merx.lmer(formula, data)
    assert m.nobs == len(data) and np.isfinite(m.logLik)


@pytest.mark.parametrize(
    "args,needle",
    [
        (("fit", "no/such/file.csv", "y ~ x + (1 | g)"), "does not exist"),
        (("fit", "--example", "nosuchdata", "y ~ 1 + (1 | g)"), "nosuchdata"),
        (("fit",), "usage"),
        (("fit", "--example", "sleepstudy", "a", "b"), "only the formula"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, needle):
    r = _run_cli(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    err = r.stderr.strip().split("\n")
    assert len(err) == 1 and err[0].startswith("merx: error: ") and needle in err[0]
    assert "Traceback" not in r.stderr


def test_cli_fit_example_prints_lme4_summary():
    r = _run_cli("fit", "--example", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "--ddf", "lme4")
    assert r.returncode == 0, r.stderr
    want = (PRINTED / "sleepstudy_reml_summary.txt").read_text()
    _assert_text_close(r.stdout, want)  # layout exact, numbers up to the optimizer tolerance
    assert "   Data: sleepstudy" in r.stdout.split("\n")


def test_cli_fit_csv_ml_and_bad_formula(tmp_path):
    path = tmp_path / "ss.csv"
    _data("sleepstudy").to_csv(path, index=False)
    r = _run_cli("fit", str(path), "Reaction ~ Days + (Days | Subject)", "--ml", "--ddf", "lme4")
    assert r.returncode == 0, r.stderr
    _assert_text_close(r.stdout, (PRINTED / "sleepstudy_ml_summary.txt").read_text())
    assert f"   Data: {path}" in r.stdout.split("\n")
    r = _run_cli("fit", str(path), "Reaction ~ Days + (Days | Nope)")
    assert r.returncode == 2 and "Nope" in r.stderr and "Traceback" not in r.stderr
    # a syntax error keeps the formula's echo and the caret under the offending column
    r = _run_cli("fit", str(path), "Reaction ~ Days + (Days | Subject")
    err = r.stderr.rstrip("\n").split("\n")
    assert r.returncode == 2 and len(err) == 3 and err[0].startswith("merx: error: unbalanced parentheses")
    assert err[1] == "  Reaction ~ Days + (Days | Subject" and err[2] == " " * 20 + "^"


# --family: glmer from the command line


CBPP_FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def test_cli_family_binomial_prints_glmer_summary():
    from refutil import assert_cbpp_summary_close

    r = _run_cli("fit", str(DATA / "cbpp.csv.gz"), CBPP_FORMULA, "--family", "binomial")
    assert r.returncode == 0, r.stderr
    assert_cbpp_summary_close(r.stdout, (PRINTED / "cbpp_laplace_summary.txt").read_text())
    assert f"   Data: {DATA / 'cbpp.csv.gz'}" in r.stdout.split("\n")
    # the bundled copy of cbpp, and the short print(fit) form
    r = _run_cli("fit", "--example", "cbpp", CBPP_FORMULA, "--family", "binomial", "--print")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[1:5] == ["  Approximation) [glmerMod]", " Family: binomial  ( logit )", f"Formula: {CBPP_FORMULA}",
                          "   Data: cbpp"]
    assert "Fixed Effects:" in lines


def test_cli_family_link_and_nagq():
    r = _run_cli("fit", "--example", "cbpp", CBPP_FORMULA, "--family", "binomial", "--link", "probit",
                 "--nagq", "0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [
        "Generalized linear mixed model fit by maximum likelihood (Adaptive",
        "  Gauss-Hermite Quadrature, nAGQ = 0) [glmerMod]",
        " Family: binomial  ( probit )",
    ]
    assert "z value Pr(>|z|)" in r.stdout


def test_cli_family_poisson():
    formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
    r = _run_cli("fit", str(DATA / "grouseticks.csv.gz"), formula, "--family", "poisson")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[2] == " Family: poisson  ( log )"
    assert "Residual" not in r.stdout
    row = next(ln for ln in lines if ln.startswith("cHEIGHT "))
    assert float(row.split()[1]) == pytest.approx(_ref("grouseticks_poisson")["fixef"]["cHEIGHT"], abs=2e-5)


@pytest.mark.parametrize(
    "extra,needle",
    [
        (("--link", "probit"), "--link and --nagq need --family"),
        (("--nagq", "0"), "--link and --nagq need --family"),
        (("--family", "binomal"), "did you mean 'binomial'"),
        (("--family", "binomial", "--link", "log2"), "link 'log2' not available for binomial family"),
        (("--family", "binomial", "--nagq", "-1"), "nAGQ"),
        (("--family", "Gamma"), "the Gamma family needs a single numeric response"),
    ],
)
def test_cli_family_bad_input_is_one_line_exit_2(extra, needle):
    r = _run_cli("fit", "--example", "cbpp", CBPP_FORMULA, *extra)
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip().split("\n")
    assert len(err) == 1 and err[0].startswith("merx: error: ") and needle in err[0], r.stderr


def test_cli_without_family_stays_lmer():
    r = _run_cli("fit", "--example", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "--ml", "--print")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Linear mixed model fit by maximum likelihood  ['lmerMod']\n")


def test_rows_dropped_for_missing_values_are_reported():
    d = _data("sleepstudy").copy()
    d.loc[d.index[[3, 17]], "Reaction"] = np.nan
    m = merx.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert m.nobs == 178
    for text in (str(m), str(m.summary(ddf="lme4")), str(m.summary())):
        lines = text.split("\n")
        at = next(i for i, x in enumerate(lines) if x.startswith("Number of obs: 178"))
        assert lines[at + 1] == "  (2 observations deleted due to missingness)"
    d.loc[d.index[[17]], "Reaction"] = 300.0
    g = merx.glmer("I(Reaction > 300) ~ Days + (1 | Subject)", d, family="binomial")
    assert "  (1 observation deleted due to missingness)" in str(g.summary()).split("\n")
    assert "deleted due to missingness" not in str(merx.lmer("Reaction ~ Days + (1 | Subject)", _data("sleepstudy")))
