"""Tests of the GLMM model frame (merx.frame.glm_response through build_model_frame)
and of merx.families: y and weights as R's family$initialize makes them, checked
against the lme4 glmer references (cbpp, grouseticks, speed_dating), bad
responses with their messages, and the resolution of family names, objects and
classes."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import merx
from merx.errors import DataError, FamilyError, MerxError
from merx.families import (
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    resolve_family,
)
from merx.frame.model_frame import build_model_frame

from refutil import load_ref, ref_data, refs_of_kind

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GLMER_REFS = refs_of_kind("glmer")


def mf_of(formula, data, family="binomial", **kw):
    return build_model_frame(formula, data, family=family, **kw)


def _xlogy(x, y):
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def dev_resids(family, y, mu, wt):
    """R's family$dev.resids (binomial, poisson)."""
    if family == "binomial":
        return 2 * wt * (_xlogy(y, y / mu) + _xlogy(1 - y, (1 - y) / (1 - mu)))
    return 2 * wt * (_xlogy(y, y / mu) - (y - mu))


def binomial_kernel(y, mu, wt):
    """sum(wt * (y log mu + (1 - y) log(1 - mu))): the binomial log-likelihood up to the
    binomial coefficients, the same for grouped and expanded data."""
    return float(np.sum(wt * (_xlogy(y, mu) + _xlogy(1 - y, 1 - mu))))


# ---------------------------------------------------------------------------
# lme4 references
# ---------------------------------------------------------------------------


def test_there_are_glmer_references():
    assert {p.values[0]["id"] for p in GLMER_REFS} >= {"cbpp_laplace", "grouseticks_poisson", "speed_dating_logit"}


@pytest.mark.parametrize("ref", GLMER_REFS)
def test_reference_structure(ref):
    df = ref_data(ref["dataset"])
    fam = resolve_family(f'{ref["call"]["family"]}(link = "{ref["call"]["link"]}")')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lme4 gave no warnings for these frames
        mf = build_model_frame(ref["formula"], df, family=fam, data_name=ref["dataset"])
    assert mf.family == fam and mf.family.family == ref["call"]["family"]
    assert mf.x_names == ref["X_colnames"]
    assert mf.nobs == ref["nobs"] and mf.n_rows_data == ref["n_rows_data"]
    assert [(b.group, b.columns) for b in mf.blocks] == [(t["grp"], t["columns"]) for t in ref["re_terms"]]
    assert mf.ngrps == ref["ngrps"] and list(mf.ngrps) == list(ref["ngrps"])
    assert sum(b.n_levels * b.n_columns for b in mf.blocks) == ref["Z_ncol"]
    for grp, r in ref["ranef"].items():
        assert mf.flist[grp] == r["levels"], grp
    assert mf.y.dtype == np.float64
    if "rows_used0" in ref:
        assert list(mf.row_labels) == ref["rows_used0"]


@pytest.mark.parametrize("ref", GLMER_REFS)
def test_reference_response_and_weights_reproduced(ref):
    """X beta + Z b gives lme4's linear predictor; y = mu + response residuals; with the
    frame's weights R's deviance and Pearson residuals and devcomp's drsum come out:
    checks y and the weights (trials for cbind) against glmer."""
    fam = ref["call"]["family"]
    mf = build_model_frame(ref["formula"], ref_data(ref["dataset"]), family=fam)
    eta = mf.X @ np.array([ref["fixef"][nm] for nm in mf.x_names])
    for b in mf.blocks:
        vals = ref["ranef"][b.group]["values"]
        B = np.array([[vals[lv][c] for c in b.columns] for lv in b.levels])
        eta = eta + np.sum(b.Z * B[b.codes], axis=1)
    assert not ref["vectors_truncated"]
    np.testing.assert_allclose(eta, ref["fitted_link"], rtol=1e-10, atol=1e-9)
    mu = np.array(ref["fitted"], dtype=float)
    np.testing.assert_allclose(mf.y, mu + np.array(ref["residuals_response"]), rtol=1e-10, atol=1e-12)
    wt = np.ones(mf.nobs) if mf.weights is None else mf.weights
    d = dev_resids(fam, mf.y, mu, wt)
    np.testing.assert_allclose(np.sign(mf.y - mu) * np.sqrt(d), ref["residuals_deviance"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.sum(), ref["devcomp"]["cmp"]["drsum"], rtol=1e-12)
    var = mu * (1 - mu) if fam == "binomial" else mu
    np.testing.assert_allclose((mf.y - mu) * np.sqrt(wt / var), ref["residuals_pearson"], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# binomial: every form R accepts
# ---------------------------------------------------------------------------


def _cbpp_expanded() -> pd.DataFrame:
    """cbpp with one 0/1 row per animal (incidence ones, size - incidence zeros)."""
    df = ref_data("cbpp")
    rows = []
    for r in df.itertuples():
        rows += [(r.herd, r.period, 1)] * r.incidence + [(r.herd, r.period, 0)] * (r.size - r.incidence)
    out = pd.DataFrame(rows, columns=["herd", "period", "sick"])
    for c in ("herd", "period"):
        out[c] = pd.Categorical(out[c], categories=df[c].cat.categories)
    return out


def test_cbpp_cbind_gives_proportions_and_trials():
    df = ref_data("cbpp")
    mf = mf_of(CBPP, df)
    size = df["size"].to_numpy(dtype=float)
    np.testing.assert_array_equal(mf.y, df["incidence"] / size)
    np.testing.assert_array_equal(mf.weights, size)
    np.testing.assert_array_equal(mf.binomial_n, size)
    assert mf.response_name == "cbind(incidence, size - incidence)"


def test_cbpp_proportions_with_weights_match_cbind():
    df = ref_data("cbpp")
    a = mf_of(CBPP, df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights × proportion are whole numbers: no warning
        b = mf_of("incidence/size ~ period + (1 | herd)", df, weights="size")
        df["prop"] = df["incidence"] / df["size"]
        c = mf_of("prop ~ period + (1 | herd)", df, weights=df["size"].to_numpy())
    for mf in (b, c):
        np.testing.assert_allclose(mf.y, a.y, rtol=1e-15)
        np.testing.assert_array_equal(mf.weights, a.weights)
        np.testing.assert_array_equal(mf.binomial_n, np.ones(len(df)))  # R's n: 1 for a vector response
        np.testing.assert_array_equal(mf.X, a.X)


def test_cbpp_expanded_zero_one_rows_have_the_same_likelihood():
    ref = load_ref("cbpp_laplace")
    grouped = mf_of(CBPP, ref_data("cbpp"))
    ex = _cbpp_expanded()
    expanded = mf_of("sick ~ period + (1 | herd)", ex)
    assert expanded.nobs == int(grouped.weights.sum())
    np.testing.assert_array_equal(expanded.y, ex["sick"].to_numpy(dtype=float))
    np.testing.assert_array_equal(expanded.weights, np.ones(expanded.nobs))
    assert expanded.x_names == grouped.x_names and expanded.flist == grouped.flist
    # the same successes per herd and period, and the same likelihood kernel at lme4's fitted mu
    mu = np.array(ref["fitted"])
    herd, period = ex["herd"].cat.codes.to_numpy(), ex["period"].cat.codes.to_numpy()
    df = ref_data("cbpp")
    key = {(h, p): i for i, (h, p) in enumerate(zip(df["herd"].cat.codes, df["period"].cat.codes))}
    row = np.array([key[(h, p)] for h, p in zip(herd, period)])
    np.testing.assert_array_equal(np.bincount(row, weights=expanded.y, minlength=len(df)), grouped.weights * grouped.y)
    assert binomial_kernel(expanded.y, mu[row], expanded.weights) == pytest.approx(
        binomial_kernel(grouped.y, mu, grouped.weights), rel=1e-12
    )


def test_factor_boolean_and_string_responses_match_zero_one():
    ex = _cbpp_expanded()
    base = mf_of("sick ~ period + (1 | herd)", ex)
    ex["status"] = pd.Categorical(np.where(ex["sick"] == 1, "sick", "healthy"), categories=["healthy", "sick"])
    ex["is_sick"] = ex["sick"] == 1
    ex["word"] = np.where(ex["sick"] == 1, "yes", "no")  # strings: sorted levels, "no" first = failure
    for resp in ("status", "is_sick", "word"):
        mf = mf_of(f"{resp} ~ period + (1 | herd)", ex)
        np.testing.assert_array_equal(mf.y, base.y, err_msg=resp)
        np.testing.assert_array_equal(mf.weights, base.weights, err_msg=resp)
    # the first level is failure, whatever its name
    ex["status_rev"] = pd.Categorical(ex["status"], categories=["sick", "healthy"])
    np.testing.assert_array_equal(mf_of("status_rev ~ period + (1 | herd)", ex).y, 1 - base.y)


def test_speed_dating_factor_decision_is_yes():
    ref = load_ref("speed_dating_logit")
    df = ref_data("speed_dating")
    mf = mf_of(ref["formula"], df)
    assert list(df["decision"].cat.categories) == ["No", "Yes"]
    used = df.loc[list(mf.row_labels)]
    np.testing.assert_array_equal(mf.y, (used["decision"] == "Yes").to_numpy(dtype=float))
    np.testing.assert_array_equal(mf.weights, np.ones(mf.nobs))
    df["decision01"] = (df["decision"] == "Yes").astype(float).where(df["decision"].notna())
    df["decision_bool"] = pd.array(df["decision"] == "Yes", dtype="boolean")
    df.loc[df["decision"].isna(), "decision_bool"] = pd.NA
    for resp in ("decision01", "decision_bool"):
        other = mf_of(ref["formula"].replace("decision", resp, 1), df)
        np.testing.assert_array_equal(other.y, mf.y)
        assert list(other.row_labels) == list(mf.row_labels)


def test_multilevel_factor_first_level_is_failure():
    toy = pd.DataFrame({"out": pd.Categorical(["a", "b", "c", "a", "c", "b"] * 4, categories=["a", "b", "c"]),
                        "g": np.repeat(list("pqrs"), 6)})
    mf = mf_of("out ~ 1 + (1 | g)", toy)
    np.testing.assert_array_equal(mf.y, (toy["out"] != "a").to_numpy(dtype=float))  # R: y != levels(y)[1]


def test_cbind_zero_trials_and_prior_weights():
    toy = pd.DataFrame({"s": [0, 2, 3, 1, 0, 4], "f": [0, 1, 1, 3, 5, 0], "w": [1, 2, 1, 1, 3, 1],
                        "g": list("aabbcc")})
    mf = mf_of("cbind(s, f) ~ 1 + (1 | g)", toy, weights="w")
    n = (toy["s"] + toy["f"]).to_numpy(dtype=float)
    np.testing.assert_allclose(mf.y, [0.0, 2 / 3, 0.75, 0.25, 0.0, 1.0])  # R: y[n == 0] <- 0
    np.testing.assert_array_equal(mf.weights, n * toy["w"])  # R: weights <- weights * n
    np.testing.assert_array_equal(mf.binomial_n, n)


def test_zero_weight_rows_get_y_zero():
    """R: y[weights == 0] <- 0 before the range check."""
    toy = pd.DataFrame({"y": [0, 1, 7, 1, 0, 1], "w": [1, 1, 0, 1, 1, 1], "g": list("aabbcc")})
    mf = mf_of("y ~ 1 + (1 | g)", toy, weights="w")
    np.testing.assert_array_equal(mf.y, [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(mf.weights, toy["w"])


def test_lmer_frame_has_no_family():
    mf = build_model_frame("y ~ x + (1 | g)", pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "x": [1, 2, 3, 1, 2, 3],
                                                             "g": list("aabbcc")}))
    assert mf.family is None and mf.binomial_n is None and mf.weights is None


def test_glmm_frame_pickles_with_its_family():
    mf = mf_of(CBPP, ref_data("cbpp"), family=Binomial(link="probit"))
    back = pickle.loads(pickle.dumps(mf))
    assert back.family == Binomial(link="probit")
    np.testing.assert_array_equal(back.weights, mf.weights)


# ---------------------------------------------------------------------------
# other families
# ---------------------------------------------------------------------------


def test_grouseticks_poisson_counts_and_observation_level_effect():
    ref = load_ref("grouseticks_poisson")
    df = ref_data("grouseticks")
    mf = mf_of(ref["formula"], df, family="poisson")
    np.testing.assert_array_equal(mf.y, df["TICKS"].to_numpy(dtype=float))
    assert mf.weights is None and mf.binomial_n is None
    assert mf.ngrps["INDEX"] == mf.nobs  # glmer allows one level per observation (allow.n = TRUE) ...
    with pytest.raises(DataError, match=r"must be < number of observations.*'INDEX'"):
        build_model_frame(ref["formula"].replace("TICKS", "log1p(TICKS)"), df)  # ... lmer does not
    # gaussian with the identity link is lmer in lme4, with lmer's checks
    with pytest.raises(DataError, match=r"must be < number of observations"):
        mf_of(ref["formula"], df, family="gaussian")
    # ... with another link it is a GLMM, whose log link R's gaussian()$initialize cannot start from y = 0
    assert mf_of(ref["formula"].replace("TICKS", "exp(TICKS)"), df, family=Gaussian(link="log")).nobs == 403
    with pytest.raises(DataError, match=r"cannot find valid starting values.*log link.*row 0\)"):
        mf_of(ref["formula"].replace("TICKS", "log1p(TICKS)"), df, family=Gaussian(link="log"))


def test_positive_families_accept_positive_values():
    toy = pd.DataFrame({"y": [0.5, 1.5, 2.0, 3.5, 0.1, 9.0], "g": list("aabbcc")})
    for fam in (Gamma(), InverseGaussian(link="log"), Gaussian(link="inverse")):
        mf = mf_of("y ~ 1 + (1 | g)", toy, family=fam)
        np.testing.assert_array_equal(mf.y, toy["y"])
        assert mf.weights is None and mf.family is fam


# ---------------------------------------------------------------------------
# bad responses
# ---------------------------------------------------------------------------


@pytest.fixture
def toy():
    return pd.DataFrame({"y": [0.0, 1, 1, 0, 1, 0, 1, 1], "g": list("aabbccdd"), "n": [3, 4, 2, 5, 1, 2, 6, 2]})


def test_binomial_values_outside_unit_interval(toy):
    toy.loc[5, "y"] = 3
    with pytest.raises(DataError, match=r"y values must be 0 <= y <= 1: the binomial response 'y' has 1 value "
                                        r"outside \[0, 1\] \(first 3 in row 5\).*look like counts.*cbind"):
        mf_of("y ~ 1 + (1 | g)", toy)
    toy.loc[5, "y"] = -0.5
    with pytest.raises(DataError, match=r"y values must be 0 <= y <= 1.*first -0.5 in row 5") as e:
        mf_of("y ~ 1 + (1 | g)", toy)
    assert "look like counts" not in str(e.value)


def test_binomial_proportions_without_trials_warn_as_r(toy):
    toy["p"] = [0.0, 0.5, 0.25, 1, 0.5, 0, 0.5, 0.5]
    with pytest.warns(UserWarning, match=r"^non-integer #successes in a binomial glm! .*first 0\.5 in row 1"):
        mf = mf_of("p ~ 1 + (1 | g)", toy)
    np.testing.assert_array_equal(mf.y, toy["p"])
    with pytest.warns(UserWarning, match=r"non-integer #successes in a binomial glm!.*weights × response"):
        mf_of("p ~ 1 + (1 | g)", toy, weights=[1, 3, 4, 1, 1, 1, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mf = mf_of("p ~ 1 + (1 | g)", toy, weights=[1, 2, 4, 1, 2, 1, 2, 2])  # whole successes: quiet
    np.testing.assert_array_equal(mf.weights, [1, 2, 4, 1, 2, 1, 2, 2])
    with warnings.catch_warnings():  # R's tolerance: 1e-3
        warnings.simplefilter("error")
        mf_of("p ~ 1 + (1 | g)", toy, weights=np.array([1, 2, 4, 1, 2, 1, 2, 2]) * (1 + 1e-5))


def test_cbind_negative_counts(toy):
    with pytest.raises(DataError, match=r"negative counts: its column 'n - 4' \(the failures\) is negative in "
                                        r"5 rows \(first -1 in row 0\).*trials - successes"):
        mf_of("cbind(y, n - 4) ~ 1 + (1 | g)", toy)
    with pytest.raises(DataError, match=r"column 'y - 1' \(the successes\) is negative"):
        mf_of("cbind(y - 1, n) ~ 1 + (1 | g)", toy)


def test_cbind_non_integer_counts_warn_and_three_columns_fail(toy):
    with pytest.warns(UserWarning, match=r"^non-integer counts in a binomial glm!"):
        mf = mf_of("cbind(y, n / 2) ~ 1 + (1 | g)", toy)
    np.testing.assert_allclose(mf.weights, toy["y"] + toy["n"] / 2)
    with pytest.raises(DataError, match=r"y must be a vector of 0 and 1's or a 2 column matrix.*has 3 columns"):
        mf_of("cbind(y, n, n) ~ 1 + (1 | g)", toy)


def test_poisson_negative_and_non_integer_counts(toy):
    toy["c"] = [0, 3, 1, 2, -1, 4, -2, 0]
    with pytest.raises(DataError, match=r"negative values not allowed for the 'Poisson' family: the response 'c' "
                                        r"has 2 negative values \(first -1 in row 4\)"):
        mf_of("c ~ 1 + (1 | g)", toy, family="poisson")
    with pytest.raises(DataError, match=r"negative values not allowed for the negative binomial family.*'c'"):
        mf_of("c ~ 1 + (1 | g)", toy, family=NegativeBinomial(theta=2))
    toy["c"] = [0, 3, 1.5, 2, 1, 4, 2.25, 0]
    with pytest.warns(UserWarning, match=r"^non-integer x = 1\.500000: the poisson response 'c' has 2 non-integer "
                                         r"values \(first in row 2\)"):
        mf = mf_of("c ~ 1 + (1 | g)", toy, family="poisson")
    np.testing.assert_array_equal(mf.y, toy["c"])


@pytest.mark.parametrize("fam,msg", [
    ("Gamma", r"non-positive values not allowed for the 'Gamma' family: the response 'y' has 3 values <= 0 "
              r"\(first 0 in row 0\)"),
    ("inverse.gaussian", r"positive values only are allowed for the 'inverse.gaussian' family: .*'y'"),
])
def test_positive_families_refuse_non_positive_values(toy, fam, msg):
    with pytest.raises(DataError, match=msg):
        mf_of("y ~ 1 + (1 | g)", toy, family=fam)


def test_non_binomial_families_refuse_factor_and_cbind_responses(toy):
    toy["f"] = list("xyxyxyxy")
    with pytest.raises(DataError, match=r"the response 'f' is not numeric \(it is a factor with levels x, y\); the poisson "
                                        r"family needs a numeric response"):
        mf_of("f ~ 1 + (1 | g)", toy, family="poisson")
    with pytest.raises(DataError, match=r"is a matrix \(cbind\); the Gamma family needs a single numeric response "
                                        r"\(cbind\(successes, failures\) is the binomial family's response\)"):
        mf_of("cbind(y, n) ~ 1 + (1 | g)", toy, family="Gamma")


def test_bad_family_in_build_model_frame(toy):
    with pytest.raises(FamilyError, match=r"unknown family 'binomail' \(did you mean 'binomial'\?\)"):
        mf_of("y ~ 1 + (1 | g)", toy, family="binomail")


# ---------------------------------------------------------------------------
# merx.families
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls,name,default,links", [
    (Binomial, "binomial", "logit", ("logit", "probit", "cloglog", "cauchit", "log")),
    (Poisson, "poisson", "log", ("log", "identity", "sqrt")),
    (Gamma, "Gamma", "inverse", ("inverse", "log", "identity")),
    (InverseGaussian, "inverse.gaussian", "1/mu^2", ("inverse", "log", "identity", "1/mu^2")),
    (Gaussian, "gaussian", "identity", ("inverse", "log", "identity")),
])
def test_families_as_r(cls, name, default, links):
    f = cls()
    assert f.family == name and f.link == default and f.links == links
    for link in links:
        assert cls(link=link).link == link and cls(link) == cls(link=link)
    assert str(f) == f"Family: {name}\nLink function: {default}"
    with pytest.raises(FamilyError) as e:
        cls(link="nolink")
    assert str(e.value) == (f"link 'nolink' not available for {name} family; available links are "
                            + ", ".join(f"'{k}'" for k in links))


def test_negative_binomial_family():
    nb = NegativeBinomial(theta=3.123456)
    assert nb.family == "Negative Binomial(3.1235)" and nb.link == "log" and nb.theta == 3.123456
    assert NegativeBinomial(2).family == "Negative Binomial(2)"
    assert NegativeBinomial(2, link="sqrt").link == "sqrt"
    assert repr(nb) == "NegativeBinomial(theta=3.123456, link='log')"
    assert NegativeBinomial(2) == NegativeBinomial(2.0) != NegativeBinomial(3)
    for bad in (0, -1, float("inf"), "two", None, True):
        with pytest.raises(FamilyError, match="theta"):
            NegativeBinomial(bad)
    with pytest.raises(FamilyError, match=r"link 'logit' not available for Negative Binomial\(2\) family"):
        NegativeBinomial(2, link="logit")


def test_family_equality_repr_hash_pickle():
    assert Binomial() == Binomial("logit") and Binomial() != Binomial("probit") and Binomial() != Poisson()
    assert repr(Binomial(link="probit")) == "Binomial(link='probit')"
    assert repr(InverseGaussian()) == "InverseGaussian(link='1/mu^2')"
    assert len({Binomial(), Binomial("logit"), Poisson(), NegativeBinomial(1.5), NegativeBinomial(1.5)}) == 3
    for f in (Binomial("cloglog"), Gamma("log"), NegativeBinomial(1.5, "identity")):
        back = pickle.loads(pickle.dumps(f))
        assert back == f and type(back) is type(f) and back.family == f.family


@pytest.mark.parametrize("spec,want", [
    ("binomial", Binomial()),
    ("poisson", Poisson()),
    ("Gamma", Gamma()),
    ("gamma", Gamma()),
    ("inverse.gaussian", InverseGaussian()),
    ("gaussian", Gaussian()),
    ('binomial(link = "probit")', Binomial("probit")),
    ("binomial(link='cloglog')", Binomial("cloglog")),
    ("poisson(sqrt)", Poisson("sqrt")),
    ('inverse.gaussian("log")', InverseGaussian("log")),
    (Binomial, Binomial()),
    (Gamma, Gamma()),
    (Poisson(link="identity"), Poisson("identity")),
    (NegativeBinomial(theta=2), NegativeBinomial(2)),
])
def test_resolve_family(spec, want):
    got = resolve_family(spec)
    assert got == want and type(got) is type(want)


def test_resolve_family_returns_the_given_object():
    f = Binomial(link="probit")
    assert resolve_family(f) is f


@pytest.mark.parametrize("spec,msg", [
    ("binomail", r"unknown family 'binomail' \(did you mean 'binomial'\?\); give one of the names 'binomial', "
                 r"'poisson', 'Gamma', 'inverse.gaussian', 'gaussian'"),
    ("gama", r"did you mean 'Gamma'"),
    ("tweedie", r"^unknown family 'tweedie'; give one of the names"),
    ("quasipoisson", r"quasi-likelihood family"),
    ("negative.binomial", r"needs its theta.*NegativeBinomial\(theta=\.\.\.\)"),
    ('binomial(link = "identity")', r"link 'identity' not available for binomial family; available links are "
                                    r"'logit', 'probit', 'cloglog', 'cauchit', 'log'"),
    (NegativeBinomial, r"NegativeBinomial needs its theta"),
    (Family, r"family must be a name, a family object or a family class"),
    (None, r"no family given"),
    (3, r"family must be a name.*got 3"),
])
def test_resolve_family_errors(spec, msg):
    with pytest.raises(FamilyError, match=msg):
        resolve_family(spec)


def test_family_error_is_a_merx_error_and_exported():
    assert issubclass(FamilyError, MerxError) and issubclass(FamilyError, ValueError)
    assert merx.FamilyError is FamilyError
    assert merx.families.Binomial is Binomial and merx.families.resolve_family is resolve_family
