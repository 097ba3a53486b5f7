"""Chunk specifications as dask.array reads them: 100, (100, -1), ((50, 50), (30, 30, 40)), "auto", "64MiB",
{0: 10}, -1 or None (one chunk along an axis)."""
import math
import numbers

from . import _tessera
from ._errors import InvalidArgumentError

AUTO_CHUNK_BYTES = 128 * 2**20  # what Dask's "auto" aims for (array.chunk-size)


def _blocks(length, size):
    """`length` cut into pieces of `size` (the last one shorter)."""
    if length == 0:
        return (0,)
    size = max(1, min(int(size), length))
    full, rest = divmod(length, size)
    return (size,) * full + ((rest,) if rest else ())


def _auto(shape, fixed, itemsize, limit):
    """Chunk sizes for the axes marked None in `fixed` (the others given), about `limit` bytes per chunk and as
    square as the shape allows, like Dask's "auto"."""
    out = list(fixed)
    auto = [a for a, f in enumerate(fixed) if f is None]
    budget = limit / itemsize
    for a, f in enumerate(fixed):
        if f is not None:
            budget /= max(f, 1)
    budget = max(budget, 1.0)
    # Axes shorter than the even share take their whole length and leave the rest to the others.
    remaining = sorted(auto, key=lambda a: shape[a])
    while remaining:
        share = budget ** (1.0 / len(remaining))
        a = remaining[0]
        if shape[a] <= share:
            out[a] = max(shape[a], 1)
            budget /= max(shape[a], 1)
            remaining.pop(0)
            continue
        for a in remaining:
            size = max(1, int(share))
            # Equal chunks: the smallest size giving the same number of chunks.
            n = math.ceil(shape[a] / size)
            out[a] = max(1, math.ceil(shape[a] / n))
        break
    return out


def normalize_chunks(chunks, shape, itemsize=8, previous=None):
    """The chunk lengths of every axis, as a tuple of tuples. `previous`: the array's current chunks (axes a
    dict leaves out keep them)."""
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    limit = AUTO_CHUNK_BYTES
    if isinstance(chunks, str):
        if chunks != "auto":
            limit = _tessera.parse_size(chunks)
        chunks = ("auto",) * nd
    if chunks is None or (isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool)):
        chunks = (chunks,) * nd
    if isinstance(chunks, dict):
        spec = []
        for a in range(nd):
            c = chunks.get(a, chunks.get(a - nd, None if previous is None else previous[a]))
            spec.append(c)
        chunks = tuple(spec)
    if not isinstance(chunks, (tuple, list)):
        raise InvalidArgumentError(f"chunks={chunks!r}: expected an int, a tuple, a dict, 'auto' or a size")
    chunks = tuple(chunks)
    if nd == 1 and len(chunks) > 1 and all(isinstance(c, numbers.Integral) for c in chunks) \
            and sum(chunks) == shape[0]:
        chunks = (chunks,)  # (2, 2, 1) for a 1-d array of 5: explicit lengths
    if len(chunks) != nd:
        raise InvalidArgumentError(f"chunks {chunks!r} have {len(chunks)} entries for an array of "
                                   f"{nd} dimensions (shape {shape})")
    fixed, explicit = [], {}
    for a, (c, n) in enumerate(zip(chunks, shape)):
        if isinstance(c, (tuple, list)):
            c = tuple(int(x) for x in c)
            if sum(c) != n:
                raise InvalidArgumentError(f"chunks {c} along axis {a} add up to {sum(c)}, but the axis has "
                                           f"length {n}")
            explicit[a] = c
            fixed.append(max(c) if c else 0)
        elif c is None or (isinstance(c, numbers.Integral) and c == -1):
            fixed.append(n)
        elif c == "auto":
            fixed.append(None)
        elif isinstance(c, numbers.Number) and not isinstance(c, bool) and c > 0 and c == int(c):
            fixed.append(int(c))
        else:
            raise InvalidArgumentError(f"chunk size {c!r} along axis {a}: expected a positive int, -1, None, "
                                       f"'auto' or a tuple of lengths")
    if any(f is None for f in fixed):
        fixed = _auto(shape, fixed, itemsize, limit)
    return tuple(explicit[a] if a in explicit else _blocks(shape[a], fixed[a]) for a in range(nd))


def regular_chunk_shape(chunks):
    """The chunk shape if every axis's chunks are equal (but the last), else None."""
    out = []
    for c in chunks:
        if len(c) > 1 and any(x != c[0] for x in c[:-1]) or (len(c) > 1 and c[-1] > c[0]):
            return None
        out.append(c[0] if c else 0)
    return tuple(out)
