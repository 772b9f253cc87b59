"""Test-suite configuration.

Hypothesis runs derandomized (the same examples every run, chosen from each test's source),
so that CI's result does not depend on which examples a run happens to draw. Random
exploration finds real issues (see the notes of test_boundary_optimum.py and
test_glmer_properties.py); run it with ``MERX_HYPOTHESIS_RANDOM=1 python -m pytest tests``.
"""

import os
import warnings

import pytest
from hypothesis import settings

settings.register_profile("merx-ci", derandomize=True)
settings.register_profile("merx-explore", derandomize=False)
settings.load_profile("merx-explore" if os.environ.get("MERX_HYPOTHESIS_RANDOM") else "merx-ci")


@pytest.fixture(scope="session")
def client():
    """A dask.distributed LocalCluster of two worker processes, shared by the Dask tests."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed (merx[dask]) is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
