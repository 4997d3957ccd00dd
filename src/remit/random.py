"""Per-patient random streams that do not depend on chunking or workers.

Each patient's stream is the child ``SeedSequence(seed, spawn_key=(purpose, index))``
(what ``SeedSequence(seed).spawn`` gives child ``index``), condensed into a 128-bit key.
Variates are then a counter-based function of (key, counter): the ``j``-th draw of a
patient is the same whichever chunk, worker or order computes it. The mixing function
is the SplitMix64 finaliser (Steele, Lea & Flood 2014, OOPSLA), applied twice.

Counter layout. Counters are 64-bit; two disjoint ranges are in use:

- below ``POSITIONAL_LIMIT`` (2**32), blocks at fixed offsets, each owned by one piece of
  code and indexed by visit, interval or item: in the CANDIDATE stream 0-9 covariates
  (:mod:`remit.population`), 20-22 lymphocyte set points, 30-39 the disease's onset state,
  95-97 screened enrolment's pre-screen, acceptance and choice of history stream
  (:mod:`remit.enrolment`), 98 a prediction's twin acceptance, 99 prevalence selection; in the HISTORY and TRIAL
  streams, blocks of 1,000,000 counters from 0 (multiple sclerosis, infections and deaths
  of :mod:`remit.observe`), from ``remit.therapies.base.THERAPY_COUNTERS`` (the therapies' own
  observations, e.g. CAR-T's CRS and ICANS) and from ``remit.diseases.base.DISEASE_COUNTERS``
  (the other diseases);
- at or above ``NAMED_COUNTERS`` (2**63), one counter per model parameter, derived from
  its name alone (:func:`parameter_counters`), so that a patient's draw of a parameter does
  not depend on which other parameters the model has or in which order. Used in the
  CANDIDATE stream (per-patient parameters) and the GROUP stream (typical values of a
  prediction's parameter groups).
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import special, stats

# purposes: which part of the simulation a stream feeds
CANDIDATE = 0  # covariates and biological parameters of a candidate patient
HISTORY = 1  # clinical events before enrolment
TRIAL = 2  # clinical events during the trial
GROUP = 3  # population-level (typical) parameter values of a prediction's parameter group
HISTORY_REPLICATE = 100  # + r (r >= 1): history stream r of a candidate in screened enrolment (remit.enrolment)

POSITIONAL_LIMIT = 2**32  # counters of the fixed blocks stay below this
NAMED_COUNTERS = 2**63  # name-derived counters have this bit set
_NAME_PERSON = b"remit.parameter"  # BLAKE2b personalisation: these hashes are for nothing else

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def patient_keys(seed: int, purpose: int, index: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 keys of the spawned child streams ``(purpose, index)`` of ``seed``.

    Equal, bit for bit, to ``SeedSequence(seed, spawn_key=(purpose, i)).generate_state(2, np.uint64)``
    for each ``i`` (tests/test_random.py checks it); computed for all patients at once.
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    fast = (index >= 0) & (index <= _M32)
    if int(seed) < 0 or int(purpose) < 0:
        fast[:] = False
    out = np.empty((index.shape[0], 2), dtype=np.uint64)
    if fast.any():
        out[fast] = _spawned_state(int(seed), int(purpose), index[fast].astype(np.uint32))
    for row in np.flatnonzero(~fast).tolist():  # NumPy's own SeedSequence (and its errors) for anything else
        out[row] = np.random.SeedSequence(seed, spawn_key=(purpose, int(index[row]))).generate_state(2, np.uint64)
    return out


# SeedSequence's entropy pool (O'Neill's seed_seq_fe, as NumPy implements it): 4 words of 32 bits
_M32 = 0xFFFFFFFF
_POOL = 4
_HASH_A, _HASH_A_MUL = 0x43B0D7E5, 0x931E8875  # mixing the entropy into the pool
_HASH_B, _HASH_B_MUL = 0x8B51F9DD, 0x58F38DED  # drawing the state out of the pool
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_SHIFT = np.uint32(16)


def _words(x: int) -> list[int]:
    """An integer as 32-bit words, least significant first (0 is one word)."""
    out = [x & _M32]
    x >>= 32
    while x > 0:
        out.append(x & _M32)
        x >>= 32
    return out


def _spawned_state(seed: int, purpose: int, index: np.ndarray) -> np.ndarray:
    """``generate_state(2, uint64)`` of ``SeedSequence(seed, spawn_key=(purpose, index))``, vectorised over ``index`` (uint32)."""
    n = index.shape[0]
    run = _words(seed)
    run += [0] * (_POOL - len(run))  # padded because a spawn key follows
    entropy = [np.full(n, w, dtype=np.uint32) for w in run + _words(purpose)] + [index]
    hash_const = _HASH_A

    def hashmix(v: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        v = v ^ np.uint32(hash_const)
        hash_const = (hash_const * _HASH_A_MUL) & _M32
        v = v * np.uint32(hash_const)
        return v ^ (v >> _SHIFT)

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = _MIX_L * x - _MIX_R * y
        return r ^ (r >> _SHIFT)

    with np.errstate(over="ignore"):
        pool = [hashmix(entropy[i]) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(_POOL, len(entropy)):
            for dst in range(_POOL):
                pool[dst] = mix(pool[dst], hashmix(entropy[src]))
        state = np.empty((n, _POOL), dtype="<u4")
        h = _HASH_B
        for i in range(_POOL):
            v = pool[i] ^ np.uint32(h)
            h = (h * _HASH_B_MUL) & _M32
            v = v * np.uint32(h)
            state[:, i] = v ^ (v >> _SHIFT)
    return state.view("<u8").astype(np.uint64)


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


def uniforms_at(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """The uniforms of single cells: ``uniforms(keys, counters)`` taken elementwise, for ``keys`` (m, 2)
    and ``counters`` (m,) paired row by row (the same numbers, computed only where needed)."""
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = keys[:, 0] + (c + np.uint64(1)) * _GOLDEN
        z = _mix(_mix(z) ^ keys[:, 1])
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def name_counter(name: str) -> int:
    """The counter of parameter ``name``: ``NAMED_COUNTERS`` plus the first 63 bits of the
    64-bit BLAKE2b digest of its UTF-8 bytes (stable across processes and Python versions,
    unlike the salted built-in ``hash``)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, person=_NAME_PERSON).digest()
    return NAMED_COUNTERS | (int.from_bytes(digest, "little") >> 1)


def parameter_counters(names) -> np.ndarray:
    """uint64 counters of ``names`` (:func:`name_counter`), in their order.

    Raises ValueError if two names get the same counter (their draws would be identical).
    """
    names = list(names)
    out = np.empty(len(names), dtype=np.uint64)
    owner: dict[int, str] = {}
    for j, name in enumerate(names):
        c = name_counter(name)
        first = owner.setdefault(c, name)
        if first != name:
            raise ValueError(f"parameters {first!r} and {name!r} derive the same random counter {c:#x}; "
                             "rename one of them")
        out[j] = c
    return out


def normals(u: np.ndarray) -> np.ndarray:
    return special.ndtri(u)


def truncated_normal(u: np.ndarray, mean, sd, lo, hi) -> np.ndarray:
    """Inverse-CDF draw from a normal truncated to [lo, hi]."""
    a = special.ndtr((np.asarray(lo, float) - mean) / sd)
    b = special.ndtr((np.asarray(hi, float) - mean) / sd)
    return np.clip(mean + sd * special.ndtri(a + u * (b - a)), lo, hi)


def poisson(u: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Inverse-CDF Poisson counts (0 where ``mu`` is 0).

    The same numbers as ``stats.poisson.ppf(u, mu)`` elementwise, but scipy is asked only where
    the count can be above 0: where ``u`` is below P(0) = exp(-mu) (with a margin far wider than
    rounding) the count is 0, which is most of the cells when ``mu`` is small.
    """
    u, mu = np.broadcast_arrays(np.asarray(u, dtype=float), np.maximum(mu, 0.0))
    out = np.zeros(u.shape)
    ask = (mu > 0) & ~((u > 0) & (u < np.exp(-mu) * (1.0 - 1e-9)))
    if ask.any():
        out[ask] = np.nan_to_num(stats.poisson.ppf(u[ask], mu[ask]))
    return out
