"""Dask's documentation examples, run as written with `dask.array`/`dask` and with `tessera` in their place, on
the same input: the results must agree (and agree with NumPy)."""
import dask
import dask.array as da
import numpy as np

import tessera as ts


def seeds_expression(lib, a, chunks):
    x = lib.from_array(a, chunks=chunks)
    y = x + x.T
    z = y - x.mean(axis=0)
    return z, z.sum()


def test_seeds_expression_agrees_with_dask_and_numpy(rng):
    a = rng.random((300, 300))
    for chunks in (50, (64, 100), 300):
        (tz, ts_sum), (dz, dask_sum) = seeds_expression(ts, a, chunks), seeds_expression(da, a, chunks)
        expected = (a + a.T) - a.mean(axis=0)
        np.testing.assert_allclose(tz.compute(), dz.compute(scheduler="sync"), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(tz.compute(), expected, rtol=1e-13, atol=1e-13)
        assert ts_sum.compute() == np.float64(ts_sum.compute())
        np.testing.assert_allclose(ts_sum.compute(), dask_sum.compute(scheduler="sync"), rtol=1e-12)


def array_docs_example(lib, a):
    # https://docs.dask.org/en/stable/array.html: a random matrix, its transpose, a slice, a mean
    x = lib.from_array(a, chunks=(100, 100))
    y = x + x.T
    z = y[::2, 250:].mean(axis=1)
    return z


def test_array_docs_example(rng):
    a = rng.random((500, 500))
    np.testing.assert_allclose(array_docs_example(ts, a).compute(),
                               array_docs_example(da, a).compute(scheduler="sync"), rtol=1e-13, atol=1e-13)


def test_random_arrays_have_dask_shapes_and_chunks():
    t = ts.random.random((1000, 800), chunks=(300, 300))
    d = da.random.random((1000, 800), chunks=(300, 300))
    assert t.shape == d.shape and t.chunks == d.chunks and t.dtype == d.dtype
    tn, dn = ts.random.normal(10, 0.1, size=(2000,), chunks=500), da.random.normal(10, 0.1, size=(2000,), chunks=500)
    assert tn.chunks == dn.chunks
    assert abs(tn.mean().compute() - 10) < 0.01


def delayed_docs_example(delayed, compute):
    # https://docs.dask.org/en/stable/delayed.html
    @delayed
    def inc(x):
        return x + 1

    @delayed
    def double(x):
        return x * 2

    @delayed
    def add(x, y):
        return x + y

    data = [1, 2, 3, 4, 5]
    output = []
    for x in data:
        a = inc(x)
        b = double(x)
        c = add(a, b)
        output.append(c)
    total = delayed(sum)(output)
    return compute(total, output)


def test_delayed_docs_example_agrees_with_dask():
    assert delayed_docs_example(ts.delayed, ts.compute) == \
        delayed_docs_example(dask.delayed, lambda *a: dask.compute(*a, scheduler="sync"))


def test_futures_docs_example():
    # https://docs.dask.org/en/stable/futures.html: client.map, then client.submit on the futures
    def inc(x):
        return x + 1
    rt = ts.get_runtime()
    futures = rt.map(inc, range(10))
    total = rt.submit(sum, futures)
    assert total.result() == sum(range(1, 11))
    assert rt.gather(futures) == list(range(1, 11))


def test_notebook_from_docs_python_md():
    x = ts.random.random((2000, 2000), chunks=(500, 500))
    y = x + x.T
    z = y - x.mean(axis=0)
    xn = x.compute()
    np.testing.assert_allclose(z.sum().compute(), ((xn + xn.T) - xn.mean(axis=0)).sum(), rtol=1e-12)

    @ts.delayed
    def inc(i):
        return i + 1

    @ts.delayed
    def add(a, b):
        return a + b

    total = ts.delayed(sum)([add(inc(i), inc(i + 1)) for i in range(10)])
    assert total.compute() == 120
