"""Row sums of mostly-zero arrays, bit for bit what ``numpy.sum(x, axis=-1)`` gives for the full rows.

Relapses happen in a few of hundreds of output intervals; summing their contributions over all
intervals in numpy means building (patients, visits, intervals) arrays that are nearly all zero.
Here only the nonzero terms are stored, and each row's sum is taken over a zero-filled buffer
with the same order of additions as numpy's pairwise summation of a contiguous float64 row
(0 plus the pairwise sum: rows under 8 summed in order; up to 128 in eight interleaved partial
sums combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the remainder in
order; longer rows split at half rounded down to a multiple of 8). Adding zeros is exact, so
the result depends only on where the nonzero terms sit, which the buffer keeps. tests check
the equality against numpy on random rows. Imported on first use (numba is not loaded at start-up).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BLOCK = 128


@njit(cache=True)
def _leaf(a, lo, n):
    """numpy's pairwise sum of a[lo:lo+n] for n <= 128 (no split)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    m = n - (n % 8)
    i = 8
    while i < m:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise(a, n, st_lo, st_n, st_tag, vals):
    """numpy's pairwise sum of a[0:n]: rows over 128 split at n2 = n // 2 rounded down to a multiple
    of 8, left + right. Evaluated with an explicit stack (numba's cache mishandles recursion)."""
    if n <= _BLOCK:
        return _leaf(a, 0, n)
    st_lo[0] = 0
    st_n[0] = n
    st_tag[0] = 0
    sp = 1
    vp = 0
    while sp > 0:
        top = sp - 1
        lo = st_lo[top]
        m = st_n[top]
        if m <= _BLOCK:
            vals[vp] = _leaf(a, lo, m)
            vp += 1
            sp -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        tag = st_tag[top]
        if tag == 0:  # evaluate the left half first
            st_tag[top] = 1
            st_lo[sp] = lo
            st_n[sp] = n2
            st_tag[sp] = 0
            sp += 1
        elif tag == 1:  # then the right half
            st_tag[top] = 2
            st_lo[sp] = lo + n2
            st_n[sp] = m - n2
            st_tag[sp] = 0
            sp += 1
        else:  # both done: left + right
            vals[vp - 2] = vals[vp - 2] + vals[vp - 1]
            vp -= 1
            sp -= 1
    return vals[0]


@njit(cache=True)
def _sparse_row_sums(n_rows, length, cell_row, cell_pos, terms, out):
    """out[r, v] = sum over a zero row of ``length`` with terms[c, v] at cell_pos[c] for the cells c of row r
    (cells sorted by row)."""
    n_cells, n_cols = terms.shape
    buf = np.zeros(length)
    st_lo = np.zeros(128, dtype=np.int64)
    st_n = np.zeros(128, dtype=np.int64)
    st_tag = np.zeros(128, dtype=np.int64)
    vals = np.zeros(128)
    c0 = 0
    while c0 < n_cells:
        r = cell_row[c0]
        c1 = c0
        while c1 < n_cells and cell_row[c1] == r:
            c1 += 1
        for v in range(n_cols):
            for c in range(c0, c1):
                buf[cell_pos[c]] = terms[c, v]
            out[r, v] = 0.0 + _pairwise(buf, length, st_lo, st_n, st_tag, vals)
            for c in range(c0, c1):
                buf[cell_pos[c]] = 0.0
        c0 = c1


def sparse_row_sums(n_rows: int, length: int, cell_row: np.ndarray, cell_pos: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """(n_rows, V): for each row r and column v, ``numpy.sum`` of the length-``length`` row that is zero
    except ``terms[c, v]`` at position ``cell_pos[c]`` for every cell c with ``cell_row[c] == r``
    (cells sorted by row, at most one per position)."""
    out = np.zeros((n_rows, terms.shape[1]))
    if terms.shape[0]:
        _sparse_row_sums(n_rows, length, np.ascontiguousarray(cell_row, dtype=np.int64),
                         np.ascontiguousarray(cell_pos, dtype=np.int64), np.ascontiguousarray(terms, dtype=np.float64), out)
    return out
