"""pytest set-up for the Python package's tests: the package comes from the build tree (PYTHONPATH, set by
CTest) and every test runs on a local runtime of 2 threads (TESSERA_EXECUTOR/THREADS may override it)."""
import os

import numpy as np
import pytest

import tessera as ts


@pytest.fixture(scope="session", autouse=True)
def runtime():
    rt = ts.Runtime(threads=int(os.environ.get("TESSERA_TEST_THREADS", "2")), executor="threads")
    previous = ts.set_runtime(rt)
    yield rt
    ts.set_runtime(previous)
    rt.close()


@pytest.fixture
def rng():
    return np.random.default_rng(7)
