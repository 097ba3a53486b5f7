"""ts.delayed, futures and Python tasks: Dask's delayed examples, results checked against plain Python (and
dask.delayed), errors with keys and tracebacks, and the GIL's rules (a task cannot start a computation)."""
import operator
import threading

import numpy as np
import pytest

import tessera as ts


@ts.delayed
def inc(x):
    return x + 1


@ts.delayed
def double(x):
    return 2 * x


@ts.delayed
def add(x, y):
    return x + y


def test_dask_docs_inc_add_graph():
    # https://docs.dask.org/en/stable/delayed.html
    x = inc(1)
    y = inc(2)
    z = add(x, y)
    assert z.compute() == 5
    assert ts.compute(x, y, z) == (2, 3, 5)


def test_dask_docs_loop_with_sum():
    import dask
    data = [1, 2, 3, 4, 5]
    output = []
    for x in data:
        a = inc(x)
        b = double(x)
        c = add(a, b)
        output.append(c)
    total = ts.delayed(sum)(output)
    assert total.compute() == sum(x + 1 + 2 * x for x in data)
    d_inc, d_double, d_add = (dask.delayed(f.__wrapped__) for f in (inc, double, add))
    d_total = dask.delayed(sum)([d_add(d_inc(x), d_double(x)) for x in data])
    assert total.compute() == d_total.compute(scheduler="sync")


def test_keys_name_the_function_and_the_call():
    a, b = inc(1), inc(1)
    assert a.key.startswith('("inc", ') and a.key != b.key
    assert repr(a) == f"Delayed({a.key})"
    assert ts.delayed(lambda v: v, name="ident")(3).key.startswith('("ident", ')


def test_arguments_nested_in_containers_and_keywords():
    f = ts.delayed(lambda xs, scale=1, extra=None: scale * sum(xs) + sum(extra.values()))
    r = f([inc(1), (inc(2), 3)][0:1] + [inc(5)], scale=add(1, 1), extra={"a": inc(0), "b": 10})
    assert r.compute() == 2 * (2 + 6) + 1 + 10
    g = ts.delayed(lambda d: sorted(d.items()))
    assert g({"k": [inc(1), {"inner": inc(2)}]}).compute() == [("k", [2, {"inner": 3}])]
    shared = inc(10)
    assert add(shared, shared).compute() == 22


def test_a_call_keeps_the_arguments_it_was_given():
    parts = [inc(1), inc(2)]
    options = {"scale": [inc(0)]}
    total = ts.delayed(lambda xs, o: sum(xs) * o["scale"][0])(parts, options)
    parts.append(inc(100))  # changing the caller's containers afterwards changes nothing
    options["scale"][0] = 5
    assert total.compute() == (2 + 3) * 1


def test_operators_attributes_items_and_calls_on_delayed_values():
    x = inc(4)
    assert (x + 1).compute() == 6
    assert (10 - x).compute() == 5
    assert (x * x / 5).compute() == 5.0
    assert (x ** 2 % 7).compute() == 25 % 7
    assert (-x).compute() == -5
    assert ts.delayed([1, 2, 3])[1].compute() == 2
    assert ts.delayed("a,b").split(",").compute() == ["a", "b"]
    assert ts.delayed(np.arange(5)).sum().compute() == 10
    assert ts.delayed(lambda: operator.add)()(2, 3).compute() == 5
    with pytest.raises(TypeError, match="truth"):
        bool(x)
    with pytest.raises(TypeError, match="nout"):
        list(x)


def test_nout_unpacks_results():
    divmod_ = ts.delayed(divmod, nout=2)
    q, r = divmod_(17, 5)
    assert ts.compute(q, r) == (3, 2)


def test_delayed_values_and_literals():
    assert ts.delayed(42).compute() == 42
    assert ts.delayed([inc(1), inc(2)]).compute() == [2, 3]
    assert ts.delayed({"a": inc(1)}).compute() == {"a": 2}
    assert ts.delayed(inc) is inc


def test_arrays_as_arguments_arrive_as_numpy():
    x = ts.arange(12, chunks=5).reshape(3, 4)
    total = ts.delayed(np.sum)(x * 2)
    assert total.compute() == np.arange(12).sum() * 2
    shapes = ts.delayed(lambda a, b: (a.shape, type(b).__name__))(x, x.sum())
    assert shapes.compute() == ((3, 4), "int64")
    assert ts.compute(x.sum(), total) == (66, 132)


def test_results_can_be_any_python_object():
    class Box:
        def __init__(self, v):
            self.v = v
    make = ts.delayed(Box)
    unpack = ts.delayed(lambda b: b.v)
    assert unpack(make(inc(1))).compute() == 2
    lock = ts.delayed(threading.Lock)().compute()  # not picklable: fine on one process
    assert hasattr(lock, "acquire")


def test_a_failing_task_raises_task_error_with_key_and_traceback():
    @ts.delayed
    def fail(v):
        raise KeyError(f"no entry {v}")
    bad = fail(inc(1))
    with pytest.raises(ts.TaskError) as e:
        add(bad, 1).compute()
    err = e.value
    assert err.key == bad.key
    assert err.exception_type == "KeyError"
    assert "no entry 2" in str(err) and f"task {bad.key} failed: KeyError" in str(err)
    assert err.traceback.startswith("Traceback (most recent call last):")
    assert 'raise KeyError(f"no entry {v}")' in err.traceback
    assert err.rank == -1 and err.code == "invalid_argument"
    assert isinstance(err, ts.Error)


def test_error_codes_of_python_exceptions():
    def raiser(exc):
        def f():
            raise exc
        return ts.delayed(f)()
    for exc, code in [(FileNotFoundError("x.nc"), "not_found"), (OSError("disk"), "io"),
                      (MemoryError(), "resource_exhausted"), (ValueError("v"), "invalid_argument"),
                      (ts.CorruptError("bad"), "corrupt")]:
        with pytest.raises(ts.TaskError) as e:
            raiser(exc).compute()
        assert e.value.code == code, exc


def test_retries_run_the_function_again():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("transient")
        return "ok"
    assert ts.delayed(flaky, retries=2)().compute() == "ok"
    assert len(attempts) == 3
    attempts.clear()
    with pytest.raises(ts.TaskError, match="after 2 attempts"):
        ts.delayed(flaky, retries=1)().compute()


def test_a_task_cannot_start_a_computation():
    inner = ts.delayed(lambda: inc(1).compute())
    with pytest.raises(ts.TaskError, match="compute\\(\\) was called from inside a task"):
        inner().compute()


def test_python_tasks_run_in_parallel_when_they_release_the_gil(runtime):
    import time
    if runtime.threads < 2:
        pytest.skip("needs 2 threads")
    nap = ts.delayed(lambda: time.sleep(0.2) or threading.get_ident())
    t0 = time.perf_counter()
    idents = ts.compute(*[nap() for _ in range(4)])
    assert time.perf_counter() - t0 < 0.7  # 4 x 0.2 s on 2 threads
    assert len(set(idents)) >= 2


def test_futures_submit_map_gather():
    rt = ts.get_runtime()
    f = rt.submit(operator.add, 1, 2)
    assert not f.done()
    squares = rt.map(lambda v: v * v, range(5))
    total = rt.submit(sum, squares)
    assert total.result() == 30 and f.done() and f.result() == 3
    assert rt.gather(squares) == [0, 1, 4, 9, 16]
    assert rt.gather({"a": [f]}) == {"a": [3]}
    # A finished future used again is not recomputed.
    calls = []
    g = rt.submit(lambda: calls.append(1) or 7)
    assert g.result() == 7
    assert rt.submit(operator.mul, g, 2).result() == 14 and calls == [1]
    assert ts.compute(add(g, 1))[0] == 8 and calls == [1]


def test_failed_futures_raise_their_error():
    rt = ts.get_runtime()
    ok = rt.submit(lambda: 1)
    bad = rt.submit(lambda: 1 / 0)
    with pytest.raises(ts.TaskError, match="ZeroDivisionError"):
        bad.result()
    assert isinstance(ok.exception(), ts.TaskError)  # the batch failed as a whole
    assert isinstance(bad.exception(), ts.TaskError)


def test_sync_scheduler_and_closed_runtimes():
    assert inc(1).compute(scheduler="sync") == 2
    with pytest.raises(ValueError, match="scheduler 'processes'"):
        inc(1).compute(scheduler="processes")
    rt = ts.Runtime(threads=1)
    assert rt.compute(inc(1)) == (2,)
    rt.close()
    with pytest.raises(ts.InvalidArgumentError, match="closed"):
        rt.compute(inc(1))
    with ts.Runtime(threads=1, executor="sync") as r:
        assert ts.get_runtime() is r and inc(2).compute() == 3
    assert ts.get_runtime() is not r and r.closed


def test_runtime_options_and_errors():
    with pytest.raises(ValueError, match='executor "gpu"'):
        ts.Runtime(executor="gpu")
    with pytest.raises(ValueError, match="size"):
        ts.Runtime(memory_limit="lots")
    with pytest.raises(ValueError, match="threads=-2"):
        ts.Runtime(threads=-2)
    with ts.Runtime(threads=2, memory_limit="64MiB") as rt:
        assert rt.memory_limit == 64 * 2**20 and rt.threads == 2 and rt.ranks == 1 and rt.rank == 0
        # Python results are pickled when they may be spilled.
        assert rt.compute(add(inc(1), 2))[0] == 4
        with pytest.raises(ts.TaskError, match="cannot be pickled"):
            rt.compute(ts.delayed(threading.Lock)())


def test_ctrl_c_stops_a_computation_and_raises_keyboard_interrupt():
    import os
    import signal
    import time
    done = []

    def slow(i):
        if i == 0:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)
        done.append(i)
        return i
    with pytest.raises(KeyboardInterrupt):
        ts.compute(*[ts.delayed(slow)(i) for i in range(200)])
    assert len(done) < 20  # no new task started after the signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert ts.delayed(slow)(5).compute() == 5
