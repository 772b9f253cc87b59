"""Progress bars of long work (bootstrap refits, parametric-bootstrap anova, profiles, streamed
fits) and its interruption by Ctrl-C.

``progress=True`` shows a tqdm bar (the ``merx[progress]`` extra), ``False`` none, and ``None``
(the default) one where a person watches: standard error is a terminal, or the code runs in
IPython or a Jupyter kernel; never under pytest or on CI, whose output is a pipe or a log.

Interruption: the Rust core runs each piece of work with the GIL released; Python's signal
handler only raises ``KeyboardInterrupt`` once control is back in Python. Work is therefore run
in chunks (:func:`run_in_chunks`): Ctrl-C stops it after the chunk that is running, the
exception propagates, and nothing has been written anywhere: callers build their result from
the chunks only after the last one, the fitted result is never modified, and the core models
a chunk used are left as they were (each chunk works on its own copies), so the same call can
simply be run again.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any, Callable

from .errors import MerxError

__all__ = ["show_progress", "ProgressBar", "run_in_chunks"]


def _in_notebook_or_ipython() -> bool:
    ipython = sys.modules.get("IPython")  # only when the user's session imported it
    if ipython is None:
        return False
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


def show_progress(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` itself when True or False; for None, whether a person
    watches (a terminal on standard error, IPython or Jupyter) and this is not a test run or CI."""
    if progress is None:
        # (whether a person watches first: unwatched, the usual case of a script or a service,
        # needs no look at the environment)
        if not _in_notebook_or_ipython():
            try:
                watched = sys.stderr is not None and sys.stderr.isatty()
            except (AttributeError, ValueError):  # a closed or replaced stream
                watched = False
            if not watched:
                return False
        if "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("CI"):
            return False
        return importlib.util.find_spec("tqdm") is not None  # automatic: quietly none without tqdm
    if not isinstance(progress, bool):
        raise MerxError(f"progress must be True, False or None (automatic), not {progress!r}")
    return progress


class ProgressBar:
    """A tqdm bar (``tqdm.auto``: a widget in Jupyter) when ``show_progress(progress)``, else
    nothing, appearing after ``delay`` seconds; a context manager that closes the bar also when
    the work is interrupted."""

    def __init__(self, total: int | None, desc: str, progress: bool | None, unit: str = "it", delay: float = 0.0):
        self._bar = None
        if not show_progress(progress):
            return
        try:
            tqdm_auto = importlib.import_module("tqdm.auto")
        except ImportError:
            raise MerxError("progress=True needs the tqdm package: install merx[progress] (or tqdm)") from None
        # delay: shown only once the work has taken that long (a quick fit prints nothing)
        self._bar = tqdm_auto.tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, delay=delay)

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_in_chunks(run: Callable[[int, int], Any], total: int, chunk: int, desc: str,
                  progress: bool | None) -> list:
    """``[run(first, count), ...]`` over items 0..total in chunks of ``chunk`` items, the bar
    advanced after each; a KeyboardInterrupt raised while a chunk runs in the core surfaces when
    that chunk returns and propagates from here, the chunks done so far dropped."""
    chunk = max(int(chunk), 1)
    parts = []
    with ProgressBar(total, desc, progress) as bar:
        for first in range(0, total, chunk):
            count = min(chunk, total - first)
            parts.append(run(first, count))
            bar.update(count)
    return parts
