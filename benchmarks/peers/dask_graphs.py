"""The no-op graph shapes of benchmarks/bench_graphs.h as raw Dask graphs (dicts of tasks), for the peers."""


def noop(*args):
    return None


def chains(n):
    """8 independent chains of n // 8 tasks; returns (graph, output keys)."""
    length = n // 8
    dsk, outs = {}, []
    for c in range(8):
        dsk[("chain", c, 0)] = (noop,)
        for i in range(1, length):
            dsk[("chain", c, i)] = (noop, ("chain", c, i - 1))
        outs.append(("chain", c, length - 1))
    return dsk, outs


def tree(n, fan_in=8):
    """A reduction over n leaves with the given fan-in; returns (graph, [root key])."""
    dsk = {("leaf", i): (noop,) for i in range(n)}
    level = [("leaf", i) for i in range(n)]
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = []
        for j in range(0, len(level), fan_in):
            key = ("sum", depth, j // fan_in)
            dsk[key] = (noop, *level[j:j + fan_in])
            nxt.append(key)
        level = nxt
    return dsk, [level[0]]


SHAPES = (("chains", chains), ("tree", tree))
