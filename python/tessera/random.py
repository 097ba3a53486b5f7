"""Random arrays with dask.array.random's calls: ts.random.random(size, chunks=...), uniform(low, high, size,
chunks=...), normal(loc, scale, size, chunks=...), and generators (ts.random.default_rng(seed),
RandomState(seed)).

Values are counter-based: a function of the seed and each element's position in the whole array, so they do not
depend on the chunking, the executor, the number of threads or ranks. They are not NumPy's or Dask's streams.
Without a seed, numbers come from a process-wide generator seeded 0 (ts.random.seed(n) reseeds it): runs are
reproducible, and every rank of an MPI job, running the same script, makes the same numbers.
"""
import numpy as np

from . import _tessera
from ._array import Array, _creation_chunks

_MASK = (1 << 64) - 1


def _mix(x):
    """splitmix64's finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class RandomState:
    """A generator of random arrays. Each call draws a new seed from (seed, number of calls so far)."""

    def __init__(self, seed=None):
        self._seed = 0 if seed is None else int(seed) & _MASK
        self._calls = 0

    def _next(self, seed):
        if seed is not None:
            return int(seed) & _MASK
        self._calls += 1
        return _mix(self._seed ^ _mix(self._calls))

    def _make(self, dist, size, chunks, dtype, a, b, seed=None, shape=None):
        size = shape if size is None else size
        size = () if size is None else size
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"random numbers are floats (float32 or float64), not {dtype}")
        shape, grid = _creation_chunks(size, chunks, dtype)
        chunk_shape = [max(c) if c else -1 for c in grid]
        x = Array(_tessera.random(dist, list(shape), chunk_shape, self._next(seed), dtype, float(a), float(b)))
        return x if x.chunks == grid else x.rechunk(grid)

    def random(self, size=None, chunks="auto", dtype=float, seed=None, shape=None):
        """Uniform in [0, 1)."""
        return self._make("uniform", size, chunks, dtype, 0.0, 1.0, seed, shape)

    random_sample = random

    def uniform(self, low=0.0, high=1.0, size=None, chunks="auto", dtype=float, seed=None, shape=None):
        return self._make("uniform", size, chunks, dtype, low, high, seed, shape)

    def normal(self, loc=0.0, scale=1.0, size=None, chunks="auto", dtype=float, seed=None, shape=None):
        return self._make("normal", size, chunks, dtype, loc, scale, seed, shape)

    def standard_normal(self, size=None, chunks="auto", dtype=float, seed=None, shape=None):
        return self._make("normal", size, chunks, dtype, 0.0, 1.0, seed, shape)


Generator = RandomState


def default_rng(seed=None):
    return RandomState(seed)


_global = RandomState(0)


def seed(value=None):
    """Reseeds the generator behind ts.random.random/uniform/normal."""
    global _global
    _global = RandomState(value)


def random(size=None, chunks="auto", dtype=float, seed=None, shape=None):
    return _global.random(size, chunks, dtype, seed, shape)


random_sample = random


def uniform(low=0.0, high=1.0, size=None, chunks="auto", dtype=float, seed=None, shape=None):
    return _global.uniform(low, high, size, chunks, dtype, seed, shape)


def normal(loc=0.0, scale=1.0, size=None, chunks="auto", dtype=float, seed=None, shape=None):
    return _global.normal(loc, scale, size, chunks, dtype, seed, shape)


def standard_normal(size=None, chunks="auto", dtype=float, seed=None, shape=None):
    return _global.standard_normal(size, chunks, dtype, seed, shape)
