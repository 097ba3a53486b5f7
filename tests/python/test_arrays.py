"""tessera.Array against NumPy: every operation, over several chunkings (regular, irregular, chunks of 1, one
chunk), values and dtypes."""
import warnings

import numpy as np
import pytest

import tessera as ts

CHUNKINGS = [3, (2, 4), ((3, 4), (1, 8)), 1, -1]


def check(x, expected, exact=True):
    got = np.asarray(x.compute() if isinstance(x, ts.Array) else x)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        # float32 sums: tessera accumulates in float64 (closer to the exact sum than NumPy's float32 pairwise sum)
        tol = 1e-6 if expected.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, equal_nan=True)


@pytest.fixture(params=CHUNKINGS, ids=str)
def pair(request, rng):
    a = rng.standard_normal((7, 9))
    return ts.from_numpy(a, chunks=request.param), a


# ---- creation


def test_from_numpy_keeps_values_dtypes_and_chunks(rng):
    for dtype in ("bool", "uint8", "int16", "int32", "int64", "float32", "float64"):
        a = (rng.standard_normal((5, 6)) * 50).astype(dtype)
        x = ts.from_numpy(a, chunks=(2, 4))
        assert x.chunks == ((2, 2, 1), (4, 2))
        check(x, a)


def test_from_numpy_widens_dtypes_tessera_lacks(rng):
    a = np.arange(-5, 5, dtype=np.int8)
    x = ts.from_numpy(a, chunks=3)
    check(x, a.astype(np.int16))
    check(ts.from_numpy(np.arange(4, dtype=np.uint16)), np.arange(4, dtype=np.int32))


def test_from_numpy_reads_strided_and_byteswapped_arrays(rng):
    a = rng.standard_normal((8, 10))
    check(ts.from_numpy(a[::2, ::-3], chunks=2), a[::2, ::-3])
    check(ts.from_numpy(a.T, chunks=3), a.T)
    b = a.astype(">f8")
    check(ts.from_numpy(b, chunks=4), a)


def test_from_numpy_refuses_dtypes_it_cannot_hold():
    with pytest.raises(ts.InvalidArgumentError, match="complex128"):
        ts.from_numpy(np.zeros(3, dtype=complex))
    with pytest.raises(ValueError, match="uint64"):
        ts.from_numpy(np.zeros(3, dtype=np.uint64))


def test_creation_functions_match_numpy():
    check(ts.zeros((4, 5), chunks=2), np.zeros((4, 5)))
    check(ts.ones((4, 5), dtype="int32", chunks=(3, 2)), np.ones((4, 5), dtype="int32"))
    check(ts.full((3, 3), 7, chunks=2), np.full((3, 3), 7))
    check(ts.full((3, 3), 2.5, dtype="float32", chunks=2), np.full((3, 3), 2.5, dtype="float32"))
    check(ts.arange(10, chunks=3), np.arange(10))
    check(ts.arange(2, 11, 3, chunks=2), np.arange(2, 11, 3))
    check(ts.arange(0.5, 3.0, 0.25, chunks=4), np.arange(0.5, 3.0, 0.25))
    check(ts.linspace(0, 1, 11, chunks=4), np.linspace(0, 1, 11))
    check(ts.linspace(-2, 3, 7, endpoint=False, chunks=3), np.linspace(-2, 3, 7, endpoint=False))
    a = np.arange(12.0).reshape(3, 4)
    x = ts.from_numpy(a, chunks=2)
    check(ts.zeros_like(x), np.zeros_like(a))
    check(ts.ones_like(x, dtype="int16"), np.ones_like(a, dtype="int16"))
    check(ts.full_like(x, 3), np.full_like(a, 3))
    assert ts.zeros_like(x).chunks == x.chunks


def test_chunk_specifications_read_like_dask():
    import dask.array as da
    for shape, chunks in [((10, 7), 3), ((10, 7), (4, -1)), ((10, 7), ((5, 5), (3, 4))), ((10, 7), {0: 2}),
                          ((10,), (3, 3, 4)), ((100, 100), "auto"), ((6, 4), (None, 2))]:
        assert ts.zeros(shape, chunks=chunks).chunks == da.zeros(shape, chunks=chunks).chunks, (shape, chunks)
    assert ts.zeros((4000, 4000), chunks="auto").chunks == da.zeros((4000, 4000), chunks="auto").chunks


def test_bad_chunks_are_refused_with_the_axis():
    with pytest.raises(ts.InvalidArgumentError, match="along axis 1 add up to 5"):
        ts.zeros((4, 6), chunks=((2, 2), (2, 3)))
    with pytest.raises(ValueError, match="2 entries for an array of 3 dimensions"):
        ts.zeros((4, 6, 2), chunks=(2, 2))
    with pytest.raises(ValueError, match="chunk size -3"):
        ts.zeros((4,), chunks=(-3,))


def test_random_numbers_do_not_depend_on_chunks_and_are_reproducible():
    a = ts.random.random((50, 40), chunks=(7, 9), seed=3).compute()
    b = ts.random.random((50, 40), chunks=-1, seed=3).compute()
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() < 1
    n = ts.random.normal(2.0, 3.0, size=(200000,), chunks=10000, seed=1).compute()
    assert abs(n.mean() - 2.0) < 0.05 and abs(n.std() - 3.0) < 0.05
    u = ts.random.uniform(-1, 1, size=1000, chunks=100, seed=9, dtype="float32").compute()
    assert u.dtype == np.float32 and -1 <= u.min() and u.max() < 1
    g1, g2 = ts.random.default_rng(5), ts.random.default_rng(5)
    np.testing.assert_array_equal(g1.random(10, chunks=3).compute(), g2.random(10, chunks=5).compute())
    assert not np.array_equal(g1.random(10).compute(), g1.random(10).compute())


# ---- elementwise


def test_arithmetic_with_arrays_and_scalars(pair):
    x, a = pair
    check(x + x, a + a)
    check(x - 2 * x, a - 2 * a)
    check(x * 3.5 + 1, a * 3.5 + 1)
    check(x / (x + 10), a / (a + 10))
    check(2 - x, 2 - a)
    check(1 / (x + 10), 1 / (a + 10))
    check(-x, -a)
    check(+x, +a)
    check(abs(x), abs(a))
    check(x ** 2, a ** 2)
    check(2.0 ** x, 2.0 ** a, exact=False)
    check(x // 0.5, a // 0.5)
    check(x % 0.7, a % 0.7, exact=False)


def test_comparisons_and_logic(pair):
    x, a = pair
    for got, want in [(x < 0, a < 0), (x <= 0.1, a <= 0.1), (x > x * 0.5, a > a * 0.5), (x >= 0, a >= 0),
                      (x == x, a == a), (x != 0, a != 0), (0 < x, 0 < a), (1 > x, 1 > a)]:
        check(got, want)
    check((x > 0) & (x < 1), (a > 0) & (a < 1))
    check((x > 0) | (x < -1), (a > 0) | (a < -1))
    check((x > 0) ^ (x < 0.5), (a > 0) ^ (a < 0.5))
    check(~(x > 0), ~(a > 0))


def test_integer_bitwise_operators_use_numpy_blockwise():
    a = np.arange(20, dtype=np.int32).reshape(4, 5)
    x = ts.from_numpy(a, chunks=2)
    check(x & 6, a & 6)
    check(x | x * 2, a | a * 2)
    check(~x, ~a)
    check(x // 3, a // 3)
    check(x % 4, a % 4)


def test_dtype_promotion_follows_numpy(rng):
    arrays = {d: (rng.standard_normal((3, 4)) * 10).astype(d)
              for d in ("bool", "uint8", "int16", "int32", "int64", "float32", "float64")}
    with np.errstate(all="ignore"):
        for d1, a1 in arrays.items():
            x1 = ts.from_numpy(a1, chunks=2)
            for d2, a2 in arrays.items():
                x2 = ts.from_numpy(a2, chunks=(3, 1))
                check(x1 + x2, a1 + a2)
                check(x1 * x2, a1 * a2)
                check(x1 / x2, a1 / a2, exact=False)
                check(x1 < x2, a1 < a2)
            if d1 != "bool":
                check(x1 + 2, a1 + 2)
                check(x1 * 2.5, a1 * 2.5)
                check(x1 - 1, a1 - 1)


def test_broadcasting(rng):
    a = rng.standard_normal((6, 5))
    row = rng.standard_normal(5)
    col = rng.standard_normal((6, 1))
    x = ts.from_numpy(a, chunks=(4, 2))
    check(x + ts.from_numpy(row, chunks=3), a + row)
    check(x * ts.from_numpy(col, chunks=2), a * col)
    check(x - row, a - row)  # a NumPy operand
    check(row - x, row - a)
    check(ts.from_numpy(col) + ts.from_numpy(row), col + row)
    check(ts.broadcast_to(ts.from_numpy(row, chunks=2), (3, 5)), np.broadcast_to(row, (3, 5)))
    with pytest.raises(ValueError, match=r"\(6, 5\).*\(4,\)|\(4,\).*\(6, 5\)"):
        x + ts.zeros(4)


def test_ufuncs_with_kernels_and_blockwise(pair):
    x, a = pair
    for f in (np.sqrt, np.log):
        check(f(abs(x) + 1), f(abs(a) + 1), exact=False)
    for f in (np.exp, np.sin, np.cos, np.floor, np.isnan, np.absolute, np.negative):
        check(f(x), f(a), exact=f in (np.floor, np.isnan, np.absolute, np.negative))
    for f in (np.tan, np.arctan, np.sign, np.ceil, np.expm1, np.isfinite, np.square):
        check(f(x), f(a), exact=False)
    check(np.arctan2(x, x + 1), np.arctan2(a, a + 1), exact=False)
    check(np.hypot(x, 2.0), np.hypot(a, 2.0), exact=False)
    check(np.maximum(x, 0), np.maximum(a, 0))
    check(np.minimum(x, x * 2), np.minimum(a, a * 2))
    check(ts.tan(x), np.tan(a), exact=False)
    check(ts.log1p(abs(x)), np.log1p(abs(a)), exact=False)
    check(np.add.reduce(x, axis=1), np.add.reduce(a, axis=1), exact=False)
    check(np.maximum.reduce(x, axis=0), np.maximum.reduce(a, axis=0))
    check(np.add.accumulate(x, axis=1), np.add.accumulate(a, axis=1), exact=False)


def test_where_clip_round_astype(pair):
    x, a = pair
    check(ts.where(x > 0, x, 0), np.where(a > 0, a, 0))
    check(ts.where(x > 0, 1.0, x), np.where(a > 0, 1.0, a))
    check(np.where(x > 0, x, -x), np.where(a > 0, a, -a))
    check(x.clip(-0.5, 0.5), a.clip(-0.5, 0.5))
    check(np.clip(x, 0, None), np.clip(a, 0, None))
    check(ts.clip(x, ts.from_numpy(a * 0.5), 1), np.clip(a, a * 0.5, 1))
    check(x.round(2), a.round(2))
    check(np.round(x, 1), np.round(a, 1))
    check(x.astype("float32"), a.astype("float32"))
    check((x * 10).astype("int16"), (a * 10).astype("int16"))


# ---- reductions


@pytest.mark.parametrize("op", ["sum", "prod", "mean", "min", "max", "var", "std", "any", "all"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_reductions(pair, op, axis):
    x, a = pair
    exact = op in ("min", "max", "any", "all")
    check(getattr(x, op)(axis=axis), getattr(a, op)(axis=axis), exact)
    check(getattr(x, op)(axis=axis, keepdims=True), getattr(a, op)(axis=axis, keepdims=True), exact)
    check(getattr(np, op)(x, axis=axis), getattr(np, op)(a, axis=axis), exact)
    check(getattr(ts, op)(x, axis=axis, split_every=2), getattr(np, op)(a, axis=axis), exact)


def test_reductions_with_ddof_dtype_and_integers(pair):
    x, a = pair
    check(x.std(ddof=1, axis=0), a.std(ddof=1, axis=0), exact=False)
    check(np.var(x, axis=1, ddof=1), np.var(a, axis=1, ddof=1), exact=False)
    check(x.sum(dtype="float32", axis=0), a.astype("float32").sum(axis=0), exact=False)
    i = np.arange(-20, 25, dtype=np.int32).reshape(5, 9)
    xi = ts.from_numpy(i, chunks=(2, 4))
    check(xi.sum(), i.sum())
    check(xi.sum(axis=0), i.sum(axis=0))
    check(xi.mean(axis=1), i.mean(axis=1), exact=False)
    check(xi.max(axis=1), i.max(axis=1))
    check(ts.count_nonzero(xi, axis=0), np.count_nonzero(i, axis=0))


def test_nan_reductions(rng):
    a = rng.standard_normal((6, 7))
    a[a > 1] = np.nan
    x = ts.from_numpy(a, chunks=(4, 3))
    for op in ("nansum", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd"):
        for axis in (None, 0, 1):
            check(getattr(ts, op)(x, axis=axis), getattr(np, op)(a, axis=axis), exact=False)
            check(getattr(np, op)(x, axis=axis), getattr(np, op)(a, axis=axis), exact=False)
    check(x.sum(axis=0), a.sum(axis=0), exact=False)  # NaN propagates


def test_count_counts_what_is_not_nan(rng):
    a = rng.standard_normal((6, 7))
    a[a > 0.5] = np.nan
    x = ts.from_numpy(a, chunks=(4, 3))
    for axis in (None, 0, 1):
        check(ts.count(x, axis=axis), (~np.isnan(a)).sum(axis=axis))


def test_arg_reductions(pair):
    x, a = pair
    for axis in (None, 0, 1):
        check(x.argmin(axis=axis), a.argmin(axis=axis))
        check(np.argmax(x, axis=axis), np.argmax(a, axis=axis))


def test_scans_quantiles_averages(pair):
    x, a = pair
    for axis in (None, 0, 1):
        check(x.cumsum(axis=axis), a.cumsum(axis=axis), exact=False)
        check(np.cumprod(x, axis=axis), np.cumprod(a, axis=axis), exact=False)
    for axis in (0, 1):
        check(ts.median(x, axis=axis), np.median(a, axis=axis), exact=False)
        check(np.quantile(x, 0.3, axis=axis), np.quantile(a, 0.3, axis=axis), exact=False)
        check(ts.quantile(x, [0.1, 0.9], axis=axis), np.quantile(a, [0.1, 0.9], axis=axis), exact=False)
        check(ts.percentile(x, 75, axis=axis), np.percentile(a, 75, axis=axis), exact=False)
    check(ts.median(x), np.median(a), exact=False)
    w = np.arange(1.0, 10.0)
    check(np.average(x, axis=1, weights=w), np.average(a, axis=1, weights=w), exact=False)
    check(ts.weighted_mean(x, ts.from_numpy(w), axis=1), np.average(a, axis=1, weights=w), exact=False)


def test_climate_helpers(rng):
    a = rng.standard_normal((24, 3))
    x = ts.from_numpy(a, chunks=(5, 2))
    labels = np.arange(24) % 12
    expected = np.stack([a[labels == m].mean(axis=0) for m in range(12)])
    check(ts.group_reduce(x, labels, 12, "mean", axis=0), expected, exact=False)
    window = 4
    rolled = np.full_like(a, np.nan)
    for i in range(window - 1, 24):
        rolled[i] = a[i - window + 1:i + 1].mean(axis=0)
    check(ts.rolling_mean(x, window, axis=0), rolled, exact=False)


def test_bad_axes_name_the_axis(pair):
    x, _ = pair
    with pytest.raises(ts.InvalidArgumentError, match="axis 2"):
        x.sum(axis=2)
    with pytest.raises(ValueError):
        x.mean(axis=(0, 0))


# ---- shape and selection


@pytest.mark.parametrize("index", [
    1, -1, (2, 3), (slice(1, 5), slice(None, None, 2)), (slice(None, None, -1), 4), (Ellipsis, 2),
    (None, 3), (slice(2, 6), None, slice(1, 3)), ([0, 3, 6],), (slice(None), [8, 0, 0, -1]),
    (np.array([True, False, True, False, False, True, True]),), (2, [1, 3]), ([1, 2], 3),
    (slice(1, 3), [0, 2]), ([4, 1], slice(None), None), (2, slice(None), None),
    (slice(None, None, 3), np.array([[0, 1], [2, 8]])), (Ellipsis,), ()])
def test_indexing_like_numpy(pair, index):
    x, a = pair
    check(x[index], a[index])


def test_three_dimensional_indexing_places_advanced_axes_like_numpy(rng):
    a = rng.standard_normal((4, 5, 6))
    x = ts.from_numpy(a, chunks=(3, 2, 4))
    for index in [(0, slice(None), [1, 2]), (slice(None), 1, [0, 5]), ([2, 3], slice(None), 0),
                  (slice(1, 3), [0, 4], slice(None)), (None, 1, slice(None), [3])]:
        check(x[index], a[index])


def test_bad_indexes_raise_index_errors(pair):
    x, _ = pair
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 7"):
        x[7]
    with pytest.raises(IndexError, match="out of bounds for axis 1"):
        x[:, [0, 9]]
    with pytest.raises(IndexError, match="too many indices"):
        x[1, 2, 3]
    with pytest.raises(IndexError, match="tessera array"):
        x[x > 0]
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 1


def test_shape_operations(pair):
    x, a = pair
    check(x.T, a.T)
    check(x.transpose(1, 0), a.transpose(1, 0))
    check(np.transpose(x), np.transpose(a))
    check(x.reshape(9, 7), a.reshape(9, 7))
    check(x.reshape(-1), a.reshape(-1))
    check(np.reshape(x, (3, 21)), np.reshape(a, (3, 21)))
    check(x.ravel(), a.ravel())
    check(ts.expand_dims(x, 1), np.expand_dims(a, 1))
    check(ts.squeeze(x[:1]), np.squeeze(a[:1]))
    check(ts.squeeze(ts.expand_dims(x, (0, 2)), axis=2), np.squeeze(np.expand_dims(a, (0, 2)), axis=2))
    check(ts.moveaxis(ts.expand_dims(x, 0), 0, -1), np.moveaxis(np.expand_dims(a, 0), 0, -1))
    check(ts.swapaxes(x, 0, 1), np.swapaxes(a, 0, 1))
    check(ts.take(x, [5, 0, 2], axis=1), np.take(a, [5, 0, 2], axis=1))
    check(x.rechunk((5, 5)), a)
    assert x.rechunk((5, 5)).chunks == ((5, 2), (5, 4))
    assert x.rechunk({1: -1}).chunks[1] == (9,)
    check(np.concatenate([x, x[:2]], axis=0), np.concatenate([a, a[:2]], axis=0))
    check(ts.concatenate([x, x.astype("float32")], axis=1), np.concatenate([a, a.astype("float32")], axis=1))
    check(ts.stack([x, x * 2], axis=1), np.stack([a, a * 2], axis=1))
    check(np.stack([x, x], axis=-1), np.stack([a, a], axis=-1))
    check(ts.vstack([x[0], x[1]]), np.vstack([a[0], a[1]]))
    check(ts.hstack([x, x]), np.hstack([a, a]))


def test_reshape_errors_name_both_shapes(pair):
    x, _ = pair
    with pytest.raises(ValueError, match=r"\(7, 9\).*\(10, 6\)|\(10, 6\).*\(7, 9\)"):
        x.reshape(10, 6)


def test_matrix_products(rng):
    a = rng.standard_normal((9, 7))
    b = rng.standard_normal((7, 5))
    v = rng.standard_normal(7)
    x, y, z = ts.from_numpy(a, chunks=(4, 3)), ts.from_numpy(b, chunks=(2, 4)), ts.from_numpy(v, chunks=3)
    check(x @ y, a @ b, exact=False)
    check(np.matmul(x, y), a @ b, exact=False)
    check(x @ z, a @ v, exact=False)
    check(z @ y, v @ b, exact=False)
    check(x.dot(y), a.dot(b), exact=False)
    check(np.dot(x, z), np.dot(a, v), exact=False)
    check(x.T @ x, a.T @ a, exact=False)
    c = rng.standard_normal((3, 4, 5))
    d = rng.standard_normal((4, 5, 2))
    check(ts.tensordot(ts.from_numpy(c, chunks=2), ts.from_numpy(d, chunks=3), axes=2), np.tensordot(c, d, axes=2),
          exact=False)
    check(np.tensordot(ts.from_numpy(c, chunks=2), ts.from_numpy(d), axes=([1], [0])),
          np.tensordot(c, d, axes=([1], [0])), exact=False)
    with pytest.raises(ts.InvalidArgumentError, match="int64"):
        ts.arange(4).reshape(2, 2) @ ts.arange(4).reshape(2, 2)


# ---- blocks


def test_map_blocks(pair):
    x, a = pair
    check(x.map_blocks(lambda b: b * 2 + 1), a * 2 + 1)
    check(ts.map_blocks(np.add, x, x, dtype=float), a + a)
    check(x.map_blocks(lambda b, k: b * k, 3.0), a * 3.0)
    check(x.map_blocks(lambda b, k=1: b + k, k=5), a + 5)
    check(x.map_blocks(lambda b: (b > 0).astype(np.int16)), (a > 0).astype(np.int16))
    ids = x.map_blocks(lambda b, block_id=None: np.full(b.shape, block_id[0] * 100 + block_id[1]),
                       dtype="int64").compute()
    starts = [np.cumsum((0,) + c[:-1]) for c in x.chunks]
    for i, r0 in enumerate(starts[0]):
        for j, c0 in enumerate(starts[1]):
            assert ids[r0, c0] == i * 100 + j


def test_map_blocks_changing_shapes():
    a = np.arange(24.0).reshape(4, 6)
    x = ts.from_numpy(a, chunks=(2, 3))
    check(x.map_blocks(lambda b: b.sum(axis=1), drop_axis=1, dtype=float), a.sum(axis=1))
    check(x.map_blocks(lambda b: b[..., None] * np.ones(2), new_axis=2, chunks=(2, 3, 2), dtype=float),
          a[..., None] * np.ones(2))
    check(x.map_blocks(lambda b: b[:, :1], chunks=((2, 2), (1, 1)), dtype=float), a[:, [0, 3]])
    check(x.map_blocks(lambda b: b.sum(axis=0), drop_axis=0, chunks=(3,), dtype=float), a.sum(axis=0))
    with pytest.raises(ValueError, match="drop_axis and new_axis"):
        x.map_blocks(lambda b: b, drop_axis=0, new_axis=1)
    with pytest.raises(ValueError, match="chunks"):
        x.map_blocks(lambda b: b, chunks=((2, 2), (3, 3), (1,)), dtype=float)


def test_map_blocks_errors_name_the_chunk():
    x = ts.from_numpy(np.zeros((4, 4)), chunks=2)
    with pytest.raises(ts.TaskError, match=r"returned float64 \(3,\) for chunk"):
        x.map_blocks(lambda b: np.zeros(3), dtype=float).compute()
    with pytest.raises(ts.TaskError) as e:
        x.map_blocks(lambda b: b / undefined_name, dtype=float).compute()  # noqa: F821
    assert e.value.exception_type == "NameError" and "undefined_name" in e.value.traceback


def test_map_blocks_keeps_no_reference_to_freed_chunks():
    kept = []
    x = ts.arange(100, chunks=10) * 2
    x.map_blocks(lambda b: kept.append(b) or b, dtype="int64").compute()
    assert len(kept) == 10
    kept.sort(key=lambda b: b[0])  # blocks ran in parallel
    np.testing.assert_array_equal(np.concatenate(kept), np.arange(100) * 2)


@pytest.mark.parametrize("boundary", ["none", "periodic", "reflect", 0.5])
def test_map_overlap(boundary, rng):
    a = rng.standard_normal((10, 8))
    x = ts.from_numpy(a, chunks=(3, 4))

    def smooth(b):
        out = b.copy()
        out[1:-1] = (b[:-2] + b[1:-1] + b[2:]) / 3
        return out

    got = x.map_overlap(smooth, depth={0: 1}, boundary=boundary).compute()
    if boundary == "none":
        pad = a
        expected = smooth(pad)
    else:
        mode = {"periodic": "wrap", "reflect": "symmetric"}.get(boundary, "constant")
        kw = {"constant_values": boundary} if mode == "constant" else {}
        pad = np.pad(a, ((1, 1), (0, 0)), mode=mode, **kw)
        expected = smooth(pad)[1:-1]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# ---- computing, NumPy protocols, metadata


def test_compute_returns_numpy_and_scalars(pair):
    x, a = pair
    values = ts.compute(x, x.sum(), {"m": x.mean(axis=0), "n": [x.max(), 3]}, "text")
    assert isinstance(values[0], np.ndarray)
    np.testing.assert_array_equal(values[0], a)
    assert isinstance(values[1], np.floating)
    np.testing.assert_allclose(values[2]["m"], a.mean(axis=0), rtol=1e-12)
    assert values[2]["n"][0] == a.max() and values[2]["n"][1] == 3 and values[3] == "text"
    r = x.compute()
    r[0, 0] = 123.0  # results belong to the caller
    assert x.compute()[0, 0] == a[0, 0]


def test_persist_reuses_chunks_and_results_stay_private(pair):
    x, a = pair
    p = (x * 2).persist()
    check(p + 1, a * 2 + 1)
    first = p.compute()
    first[...] = 0
    check(p, a * 2)


def test_numpy_protocols(pair):
    x, a = pair
    np.testing.assert_array_equal(np.asarray(x), a)
    np.testing.assert_array_equal(np.array(x, dtype="float32"), a.astype("float32"))
    assert isinstance(np.mean(x, axis=0), ts.Array)  # lazy
    assert isinstance(np.sin(x), ts.Array)
    assert isinstance(a + x, ts.Array)  # NumPy defers to tessera's operator
    with pytest.warns(ts.NotLazyWarning, match="numpy.diff is not lazy"):
        d = np.diff(x, axis=0)
    np.testing.assert_array_equal(d, np.diff(a, axis=0))
    assert float(x.sum()) == pytest.approx(a.sum())
    assert bool(x[0, 0] == a[0, 0])
    assert len(x) == 7 and [r.shape for r in x][0] == (9,)


def test_description_like_dask(pair):
    x, a = pair
    assert x.shape == a.shape and x.ndim == 2 and x.size == a.size and x.nbytes == a.nbytes
    assert x.dtype == np.float64 and x.itemsize == 8
    assert x.numblocks == tuple(len(c) for c in x.chunks)
    assert x.npartitions == np.prod(x.numblocks)
    assert x.chunksize == tuple(max(c) for c in x.chunks)
    assert repr(x).startswith("tessera.Array<shape=(7, 9), dtype=float64, chunksize=")
    assert "<table>" in x._repr_html_()


def test_unsupported_operations_say_what_to_do(pair):
    x, _ = pair
    with pytest.raises(ValueError, match="out= is not supported"):
        x.sum(out=np.zeros(()))
    with pytest.raises(ValueError, match="nonzero"):
        ts.where(x > 0)
    with pytest.raises(ValueError, match="trim=False"):
        x.map_overlap(lambda b: b, depth=1, trim=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.asarray(x)  # no warning for plain conversion
