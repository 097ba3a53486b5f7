"""The delayed-call graph shapes of `benchmarks/run python`, built with any delayed function f (ts.delayed or
dask.delayed): 8 chains of n/8 calls, and a reduction over n leaf calls with fan-in 8. Each returns the calls
to compute."""


def noop(*args):
    return None


def chains(f, n):
    outs = []
    for _ in range(8):
        d = f()
        for _ in range(1, n // 8):
            d = f(d)
        outs.append(d)
    return outs


def tree(f, n):
    level = [f() for _ in range(n)]
    while len(level) > 1:
        level = [f(*level[j:j + 8]) for j in range(0, len(level), 8)]
    return level


SHAPES = (("chains", chains), ("tree", tree))
