"""Progress bars (merx.progress, tqdm) and Ctrl-C: a KeyboardInterrupt between two chunks of
bootstrap replicates (or parametric-bootstrap anova replicates) propagates, and the same fitted
model then gives exactly the replicates of an uninterrupted run with the same seed."""

import pickle

import numpy as np
import pandas as pd
import pytest

import merx
from merx import _core
from merx.progress import ProgressBar, run_in_chunks, show_progress

tqdm = pytest.importorskip("tqdm", reason="tqdm (merx[progress]) is not installed")

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit():
    return merx.lmer(SLEEP, merx.load_example("sleepstudy"))


def _interrupt_after(monkeypatch, name, calls):
    """Replaces merx._core.<name> by the real function that raises KeyboardInterrupt when its
    ``calls``-th call returns: Ctrl-C pressed while the core ran that chunk, raised by Python
    once the chunk is back (the core releases the GIL). Returns the list of calls made."""
    real, made = getattr(_core, name), []

    def interrupted(*args, **kwargs):
        out = real(*args, **kwargs)
        made.append(args)
        if len(made) == calls:
            raise KeyboardInterrupt
        return out
    monkeypatch.setattr(_core, name, interrupted)
    return made


def test_automatic_progress_is_off_in_tests_and_checked():
    assert show_progress(None) is False  # pytest: no bar unless asked
    assert show_progress(True) is True and show_progress(False) is False
    with pytest.raises(merx.MerxError, match="progress must be True, False or None"):
        show_progress("yes")


def test_progress_bar_is_written_to_stderr(fit, capsys):
    boot = fit.bootstrap(40, seed=3, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap" in err and "40/40" in err and "100%" in err
    assert boot.nsim == 40
    fit.bootstrap(40, seed=3, progress=False)
    assert capsys.readouterr().err == ""


def test_chunks_with_and_without_a_bar_are_the_same_replicates(fit, capsys):
    quiet = fit.bootstrap(30, seed=11, n_jobs=2, progress=False)
    shown = fit.bootstrap(30, seed=11, n_jobs=1, progress=True)
    pd.testing.assert_frame_equal(quiet.replicates, shown.replicates, check_exact=True)


def test_interrupted_bootstrap_leaves_the_model_reusable(fit, monkeypatch, capsys):
    before = pickle.dumps(fit)
    reference = fit.bootstrap(50, seed=7, progress=False)  # chunks of 4 replicates: 13 core calls
    made = _interrupt_after(monkeypatch, "bootstrap_lmm", 3)
    with pytest.raises(KeyboardInterrupt):
        fit.bootstrap(50, seed=7, progress=True)
    assert len(made) == 3  # stopped after the third chunk, the others never ran
    assert "bootstrap" in capsys.readouterr().err  # the bar was shown and closed
    monkeypatch.undo()
    assert pickle.dumps(fit) == before  # the result object untouched
    again = fit.bootstrap(50, seed=7, progress=False)
    pd.testing.assert_frame_equal(again.replicates, reference.replicates, check_exact=True)
    np.testing.assert_array_equal(again.converged, reference.converged)


def test_interrupted_glmer_bootstrap(monkeypatch):
    g = merx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", merx.load_example("cbpp"),
                   family="binomial")
    reference = g.bootstrap(12, seed=5, progress=False)
    _interrupt_after(monkeypatch, "bootstrap_glmm", 2)
    with pytest.raises(KeyboardInterrupt):
        g.bootstrap(12, seed=5, progress=False)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(g.bootstrap(12, seed=5).replicates, reference.replicates, check_exact=True)


def test_interrupted_pb_anova(monkeypatch, capsys):
    d = merx.load_example("sleepstudy")
    small = merx.lmer("Reaction ~ 1 + (Days | Subject)", d, REML=False)
    large = merx.lmer(SLEEP, d, REML=False)
    reference = merx.anova(small, large, test="PB", nsim=20, seed=2, n_jobs=2, progress=False)
    # Ctrl-C in the main thread while the second round (replicates 8..15) ran on the workers:
    # raised when the round is back, where the bar advances
    real_update, rounds = ProgressBar.update, []

    def interrupted(self, n=1):
        rounds.append(n)
        real_update(self, n)
        if len(rounds) == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(ProgressBar, "update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        merx.anova(small, large, test="PB", nsim=20, seed=2, n_jobs=2, progress=True)
    assert rounds == [8, 8]
    assert "PB anova" in capsys.readouterr().err
    monkeypatch.undo()
    again = merx.anova(small, large, test="PB", nsim=20, seed=2, n_jobs=1)
    np.testing.assert_array_equal(again.ref, reference.ref)
    assert again.p_pb == reference.p_pb


def test_run_in_chunks_and_the_bar(capsys):
    parts = run_in_chunks(lambda first, count: list(range(first, first + count)), 10, 4, "work", True)
    assert parts == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert "work" in capsys.readouterr().err
    with ProgressBar(3, "none", False) as bar:
        bar.update()
        assert not bar.shown
    assert capsys.readouterr().err == ""


def test_profile_intervals_show_a_bar_and_survive_an_interrupt(fit, monkeypatch, capsys):
    reference = fit.confint(parm="beta_", progress=False)
    assert capsys.readouterr().err == ""
    shown = fit.confint(parm="beta_", progress=True)
    err = capsys.readouterr().err
    assert "profile" in err and "2/2" in err
    pd.testing.assert_frame_equal(shown, reference, check_exact=True)
    def ctrl_c_after_a_parameter(self, n=1):  # Ctrl-C once the first parameter's limits are back
        raise KeyboardInterrupt
    monkeypatch.setattr(ProgressBar, "update", ctrl_c_after_a_parameter)
    with pytest.raises(KeyboardInterrupt):
        fit.confint(parm="beta_", progress=True)
    with pytest.raises(KeyboardInterrupt):
        fit.profile(which="beta_", progress=False)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(fit.confint(parm="beta_"), reference, check_exact=True)
    table = fit.profile(which="beta_", progress=True)
    assert "profile" in capsys.readouterr().err and set(table["parameter"]) == {"(Intercept)", "Days"}


def test_parquet_fit_shows_both_passes(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = merx.load_example("sleepstudy")
    path = tmp_path / "sleep.parquet"
    pq.write_table(pa.Table.from_pandas(d, preserve_index=False), str(path), row_group_size=60)
    m = merx.lmer(SLEEP, str(path), progress=True)
    err = capsys.readouterr().err
    assert "lmer pass 1 (levels)" in err and "lmer pass 2 (cross-products)" in err and "180/180" in err
    quiet = merx.lmer(SLEEP, str(path))
    assert capsys.readouterr().err == ""
    pd.testing.assert_series_equal(m.fixef, quiet.fixef, check_exact=True)
