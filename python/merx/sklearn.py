"""scikit-learn estimators over ``merx.lmer`` and ``merx.glmer`` (what multilevelmod is for
tidymodels): :class:`LmerRegressor` and :class:`GlmerClassifier`.

The model is the formula's: ``X`` is a DataFrame holding its variables, grouping columns
included, and ``fit(X, y)`` puts ``y`` into a copy of ``X`` under the name of the formula's
response. A numeric array ``X`` (as scikit-learn's own checks pass) becomes a DataFrame with
columns ``x0 .. x{k-1}``, so a formula written over those names works on arrays too.
Predictions on new data condition on the random effects of the levels seen in the fit and put
new levels at the population level (``allow_new_levels=True``, lme4's ``allow.new.levels``).

Importing this module imports scikit-learn (``pip install merx[sklearn]``); ``import merx``
does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # the optional extra is missing
    raise ImportError("merx.sklearn needs scikit-learn >= 1.6: pip install 'merx[sklearn]'") from exc

from .formula.expression import Name, variable_names
from .formula.grammar import parse_expression
from .formula.model_formula import parse_formula
from .frame.evaluate import CONSTANTS
from .models.glmer import glmer
from .models.lmer import lmer

__all__ = ["LmerRegressor", "GlmerClassifier"]


def _response_name(formula: Any) -> str:
    """The column the formula's left-hand side names (where ``fit`` puts ``y``)."""
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a formula string such as 'y ~ x + (1 | g)', got {formula!r}")
    parsed = parse_formula(formula)
    response = parsed.response
    if response is None:
        raise ValueError(f"the formula {formula!r} has no response: write 'y ~ ...' (fit takes y from its argument)")
    if isinstance(parsed.response_expr, Name):  # a column name, backticked or not
        return parsed.response_expr.id
    raise ValueError(f"the response of {formula!r} is the expression {response!r}; fit puts y into a column, "
                     "so the left-hand side must be a plain name (transform y before fitting)")


class _MixedModelEstimator(BaseEstimator):
    """What both estimators share: the data frame for the formula, fitting and prediction."""

    def _as_frame(self, X: Any, reset: bool) -> pd.DataFrame:
        """X as a DataFrame (a copy): a DataFrame as it is, an array as columns x0 .. x{k-1};
        the number and names of the columns checked against those seen in ``fit``."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise ValueError("Found array with 0 sample(s) (shape=(0, %d)) while a minimum of 1 is required."
                                 % X.shape[1])
            if not all(isinstance(c, str) for c in X.columns):
                # columns without names (0, 1, ...): the formula sees them as an array's, x0 .. x{k-1}
                return X.set_axis([f"x{j}" for j in range(X.shape[1])], axis=1)
            return X.copy()
        if hasattr(X, "to_pandas") and hasattr(X, "columns"):  # a polars frame
            return self._as_frame(X.to_pandas(), reset)
        array = validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite=True)
        return pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])

    def _training_frame(self, X: Any, y: Any) -> pd.DataFrame:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        response = _response_name(self.formula)
        data = self._as_frame(X, reset=True)
        given = column_or_1d(y, warn=True)
        y = self._check_target(y)
        if len(y) != len(data):
            raise ValueError(f"X has {len(data)} rows but y has {len(y)}")
        needed = [v for v in variable_names(parse_expression(self.formula), []) if v not in CONSTANTS]
        missing = [v for v in needed if v != response and v not in data.columns]
        if missing:
            raise ValueError(f"X has {data.shape[1]} feature(s) ({', '.join(map(str, data.columns[:20]))}) but the "
                             f"formula {self.formula!r} uses {missing}: X must hold every variable of the formula "
                             "(an array's columns are named x0 .. x{k-1})")
        if response in data.columns:
            # compared as objects: labels of any type, and 1 == 1.0 across integer and float columns
            held = np.asarray(data[response].to_numpy(), dtype=object)
            if not np.array_equal(held, np.asarray(given, dtype=object)):
                raise ValueError(f"X has a column {response!r}, the formula's response, that differs from y: "
                                 "drop it from X or rename the response")
        data[response] = y
        return data

    def _check_target(self, y: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        return check_array(y, ensure_2d=False, dtype="numeric", ensure_all_finite=True)

    def _predict_linear(self, X: Any, **kwargs: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        data = self._as_frame(X, reset=False)
        # scikit-learn's contract: predictions are arrays (the models' predict returns a Series)
        return np.asarray(self.model_.predict(data, re_form=self.re_form, allow_new_levels=self.allow_new_levels,
                                              **kwargs), dtype=float)


class LmerRegressor(RegressorMixin, _MixedModelEstimator):
    """A linear mixed model (``merx.lmer``) as a scikit-learn regressor.

    Parameters
    ----------
    formula : str
        lme4's formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``; its response names the
        column ``fit`` fills from ``y``.
    REML : bool
        REML (default) or maximum likelihood, as ``lmer``.
    re_form : None or str
        Which random effects predictions condition on: None all of them, ``"~0"`` none
        (population level), ``"~(1 | g)"`` those of ``g`` (``predict``'s ``re_form``).
    allow_new_levels : bool
        New levels in ``predict`` take random effects 0 (default True, as in cross-validation
        folds that hold out whole groups); False makes them an error.

    Attributes
    ----------
    model_ : LmerResult
        the fitted model; ``n_features_in_``, ``feature_names_in_`` (DataFrame X) as sklearn.
    """

    def __init__(self, formula: str | None = None, REML: bool = True, re_form: Any = None,  # noqa: N803 - lme4 name
                 allow_new_levels: bool = True):
        self.formula = formula
        self.REML = REML
        self.re_form = re_form
        self.allow_new_levels = allow_new_levels

    def fit(self, X: Any, y: Any) -> LmerRegressor:
        """Fit ``merx.lmer`` with ``y`` as the formula's response.

        Parameters
        ----------
        X : pandas or polars DataFrame, or array of shape (n, k)
            The formula's variables (arrays: columns ``x0`` .. ``x{k-1}``).
        y : array-like of shape (n,)
            The response.

        Returns
        -------
        LmerRegressor
            ``self``, with ``model_`` set.

        Raises
        ------
        ValueError
            No formula response, X and y of different lengths, or a response column in X that
            differs from y.
        MerxError
            The fit's errors (:func:`merx.lmer`): formula, data.
        """
        data = self._training_frame(X, y)
        self.model_ = lmer(self.formula, data, REML=self.REML, data_name="X")
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Conditional predictions (X β + Z b); new levels at the population level: a numpy
        array as scikit-learn expects (``model_.predict`` gives the Series indexed like X).

        Parameters
        ----------
        X : pandas or polars DataFrame, or array of shape (n, k)
            The formula's variables (arrays: columns ``x0`` .. ``x{k-1}``).

        Returns
        -------
        numpy.ndarray of shape (n,)
            The predictions.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` has not been called.
        ValueError
            X without the fitted model's columns.
        MerxError
            New levels with ``allow_new_levels=False``, or values the model frame refuses.
        """
        return self._predict_linear(X)


class GlmerClassifier(ClassifierMixin, _MixedModelEstimator):
    """A binomial generalized linear mixed model (``merx.glmer``) as a scikit-learn classifier.

    ``y`` holds two classes (any labels); ``classes_`` sorts them as sklearn does and the model
    is fitted to ``y == classes_[1]``. ``predict_proba`` gives P(class) in ``classes_``'s order,
    ``predict`` the class of probability above 1/2.

    Parameters
    ----------
    formula : str
        lme4's formula, e.g. ``"r2 ~ Anger + Gender + (1 | id)"``.
    family : str or family object
        a binomial family: ``"binomial"`` (logit link), ``'binomial(link = "probit")'``, or
        ``merx.families.Binomial(link=...)``.
    nAGQ : int
        Gauss-Hermite points (1: Laplace), as ``glmer``.
    re_form, allow_new_levels
        As :class:`LmerRegressor`.
    """

    def __init__(self, formula: str | None = None, family: Any = "binomial", nAGQ: int = 1,  # noqa: N803 - lme4
                 re_form: Any = None, allow_new_levels: bool = True):
        self.formula = formula
        self.family = family
        self.nAGQ = nAGQ
        self.re_form = re_form
        self.allow_new_levels = allow_new_levels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # a binomial model has two classes
        return tags

    def _check_target(self, y: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y", raise_unknown=True)
        if target_type != "binary":
            raise ValueError("Only binary classification is supported (a binomial model). The type of the target "
                             f"is {target_type}.")
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}): a binomial model needs both classes in the "
                             "training data")
        return (y == self.classes_[1]).astype(float)

    def fit(self, X: Any, y: Any) -> GlmerClassifier:
        """Fit ``merx.glmer`` to ``y == classes_[1]``.

        Parameters
        ----------
        X : pandas or polars DataFrame, or array of shape (n, k)
            The formula's variables (arrays: columns ``x0`` .. ``x{k-1}``).
        y : array-like of shape (n,)
            Two classes, any labels.

        Returns
        -------
        GlmerClassifier
            ``self``, with ``model_`` and ``classes_`` set.

        Raises
        ------
        ValueError
            Not two classes, missing values in y, X and y of different lengths, or a family that
            is not binomial.
        MerxError
            The fit's errors (:func:`merx.glmer`): formula, data, family.
        """
        data = self._training_frame(X, y)
        model = glmer(self.formula, data, family=self.family, nAGQ=self.nAGQ, data_name="X")
        if getattr(model, "family_name", None) != "binomial":
            raise ValueError(f"GlmerClassifier needs a binomial family, got {self.family!r}")
        self.model_ = model
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The linear predictor η (log-odds of ``classes_[1]`` for the logit link).

        Parameters
        ----------
        X : pandas or polars DataFrame, or array of shape (n, k)
            The formula's variables (arrays: columns ``x0`` .. ``x{k-1}``).

        Returns
        -------
        numpy.ndarray of shape (n,)
            η per row.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` has not been called.
        ValueError
            X without the fitted model's columns.
        MerxError
            New levels with ``allow_new_levels=False``, or values the model frame refuses.
        """
        return self._predict_linear(X, type="link")

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, 2): P(``classes_[0]``), P(``classes_[1]``) per row.

        Parameters
        ----------
        X : pandas or polars DataFrame, or array of shape (n, k)
            The formula's variables (arrays: columns ``x0`` .. ``x{k-1}``).

        Returns
        -------
        numpy.ndarray of shape (n, 2)
            The probabilities of the two classes.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` has not been called.
        ValueError
            X without the fitted model's columns.
        MerxError
            New levels with ``allow_new_levels=False``, or values the model frame refuses.
        """
        p1 = self._predict_linear(X, type="response")
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: Any) -> np.ndarray:
        """The class of probability above 1/2 per row.

        Parameters
        ----------
        X : pandas or polars DataFrame, or array of shape (n, k)
            The formula's variables (arrays: columns ``x0`` .. ``x{k-1}``).

        Returns
        -------
        numpy.ndarray of shape (n,)
            The class of each row (``classes_``'s labels).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` has not been called.
        ValueError
            X without the fitted model's columns.
        MerxError
            New levels with ``allow_new_levels=False``, or values the model frame refuses.
        """
        above_half = self.predict_proba(X)[:, 1] > 0.5  # first: it checks that the estimator is fitted
        return self.classes_[above_half.astype(int)]
