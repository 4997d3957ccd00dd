"""Per-patient random streams that do not depend on chunking or workers.

Each patient's stream is the child ``SeedSequence(seed, spawn_key=(purpose, index))``
(what ``SeedSequence(seed).spawn`` gives child ``index``), condensed into a 128-bit key.
Variates are then a counter-based function of (key, counter): the ``j``-th draw of a
patient is the same whichever chunk, worker or order computes it. The mixing function
is the SplitMix64 finaliser (Steele, Lea & Flood 2014, OOPSLA), applied twice.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

# purposes: which part of the simulation a stream feeds
CANDIDATE = 0  # covariates and biological parameters of a candidate patient
HISTORY = 1  # clinical events before enrolment
TRIAL = 2  # clinical events during the trial

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def patient_keys(seed: int, purpose: int, index: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 keys of the spawned child streams ``(purpose, index)`` of ``seed``."""
    index = np.asarray(index, dtype=np.int64)
    out = np.empty((index.shape[0], 2), dtype=np.uint64)
    for row, i in enumerate(index.tolist()):
        out[row] = np.random.SeedSequence(seed, spawn_key=(purpose, i)).generate_state(2, np.uint64)
    return out


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def uniforms(keys: np.ndarray, counters: np.ndarray | int, count: int | None = None) -> np.ndarray:
    """Uniform(0, 1) variates: shape (n, count) for counters ``c0 .. c0+count-1``, or (n, m) for an array of counters."""
    if count is not None:
        counters = np.arange(int(counters), int(counters) + count, dtype=np.uint64)
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = keys[:, 0:1] + (c[None, :] + np.uint64(1)) * _GOLDEN
        z = _mix(_mix(z) ^ keys[:, 1:2])
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normals(u: np.ndarray) -> np.ndarray:
    return special.ndtri(u)


def truncated_normal(u: np.ndarray, mean, sd, lo, hi) -> np.ndarray:
    """Inverse-CDF draw from a normal truncated to [lo, hi]."""
    a = special.ndtr((np.asarray(lo, float) - mean) / sd)
    b = special.ndtr((np.asarray(hi, float) - mean) / sd)
    return np.clip(mean + sd * special.ndtri(a + u * (b - a)), lo, hi)


def poisson(u: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Inverse-CDF Poisson counts (0 where ``mu`` is 0)."""
    mu = np.maximum(mu, 0.0)
    out = stats.poisson.ppf(u, mu)
    return np.where(mu > 0, np.nan_to_num(out), 0.0)
